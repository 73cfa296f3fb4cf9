"""Colour from references in a film render (`render_film(..., references=[...])`).

The chroma comes from deoldify_like.reference_colour.colorize_with_references: each reference is carried
along the motion through its shot, and the colorizer's own colour (stabilised as without references when
`--stabilize flow` is set) is the fallback where it is not trusted and in shots without a reference.

It runs in the pipeline's writer thread, on the model's predictions as they come, in frame order. The
propagation reads the film itself through `film_lumas` (a scan for cuts and keyframes, a backward pass when
a keyframe is not its shot's first frame, and the output pass beside the pipeline's own decoding). A resumed
render carries the references from frame 0 again (optical flow only, no model; those frames are dropped), so
it continues exactly; the references are part of its settings key (`references_key`).
"""
import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path

import av
import numpy as np

from deoldify_like.colour import gray_to_rgb, recombine_luminance
from deoldify_like.errors import BadInputError, SettingsError, reraise_as
from deoldify_like.reference_colour import (REVISION, Reference, blend_frame, colorize_with_references, keyframe_from_name,
                                           load_reference)

from .part import parse_time, seek_frames

_FRAME_NUMBER = re.compile(r'^\d+$')


@dataclass(frozen=True)
class GivenReference:
    """A reference as given on the command line: its picture, and where it goes, `at` (a frame number, or a
    time in seconds as a Fraction), else what its file name says, else the frame it resembles most. Placed on
    each film by that film's frame rate (`for_film`)."""
    path: str
    rgb: np.ndarray
    at: object = None

    def for_film(self, fps):
        if self.at is None:
            frame = keyframe_from_name(self.path, fps)
        elif isinstance(self.at, int):
            frame = self.at
        else:
            frame = round(self.at * fps)
        return Reference(self.rgb, frame, Path(self.path).name)


def parse_reference_at(text):
    "--reference-at: a frame number ('120') -> int, or a time ('4.5s', '00:01:02.5') -> seconds (Fraction)."
    text = str(text).strip()
    if _FRAME_NUMBER.match(text):
        return int(text)
    if text.endswith('s') or ':' in text:
        with reraise_as(SettingsError):
            return parse_time(text.removesuffix('s'), '--reference-at')
    raise SettingsError(f"--reference-at {text}: give a frame number (120) or a time (4.5s or 00:00:04.5)")


def given_references(paths, at=None):
    """The --reference pictures, read now (an unreadable or colourless one is a one-line BadInputError before
    anything is written), with --reference-at (None, or one per reference, in order)."""
    paths, at = list(paths or []), list(at or [])
    if at and len(at) != len(paths):
        raise SettingsError(f"--reference-at was given {len(at)} times for {len(paths)} --reference; "
                            f"give one per reference, in order, or none")
    places = [parse_reference_at(a) for a in at] or [None] * len(paths)
    return [GivenReference(str(p), load_reference(p).rgb, a) for p, a in zip(paths, places)]


def references_key(references):
    "What a resumed render must match: each reference's pixels (a hash) and keyframe, and the propagation's REVISION."
    return [{'sha256': hashlib.sha256(np.ascontiguousarray(r.rgb).tobytes()).hexdigest(),
             'shape': list(np.shape(r.rgb)), 'frame': r.frame, 'revision': REVISION} for r in references]


def in_part(references, first, count):
    """The references with their keyframes (frame numbers of the whole film) counted from the rendered part's
    first frame (the film's frame `first`, `count` frames); a keyframe outside the part is a SettingsError."""
    placed = []
    for r in references:
        if r.frame is not None:
            if not first <= r.frame < first + count:
                raise SettingsError(f"{r.name}: keyframe {r.frame} is outside the frames rendered "
                                    f"({first}..{first + count - 1})")
            r = replace(r, frame=r.frame - first)
        placed.append(r)
    return placed


def film_lumas(src, selection, total, check=None):
    """`open_lumas` for the propagation: a new iterator over the luminance of the frames the render colours.
    `check()` is called before each frame (the pipeline's: it raises once the render is told to stop)."""
    def lumas():
        try:
            with av.open(str(src)) as container:
                vs = container.streams.video[0]
                decoded = container.decode(vs) if selection is None else seek_frames(container, vs, selection)
                for _, frame in zip(range(total), decoded):
                    if check is not None:
                        check()
                    yield frame.to_ndarray(format='gray')
        except av.error.FFmpegError as e:
            raise BadInputError(src, f'damaged film, decoding stopped ({str(e).splitlines()[0]})') from None
    return lumas


class _Ended(Exception):
    "The pipeline gave no more frames."


def referenced_frames(items, references, open_lumas, colour, start=0, relight=False, settings=None):
    """(Frame, prediction) pairs in frame order from frame `start` on -> (Frame, uint8 RGB) with the references'
    chroma. `colour(frame, prediction)` is the fallback's colour of a frame (recombined or stabilised; called
    once per frame, in order). Frames before `start` (a resumed render's finished ones) are only carried
    through. Where no reference reaches a frame, the fallback's own frame is written (not its YUV round trip
    through the blend), so a shot without a reference is exactly what a render without references gives.
    `relight`: the frames' luminance differs from the film's (a brightness deflicker): keep the frames' own."""
    items, calls, pending = iter(items), 0, []

    def fallback(luma):
        nonlocal calls
        calls += 1
        if calls <= start:
            return gray_to_rgb(luma)  # a finished frame: its output is dropped, the carried colour is what counts
        item = next(items, None)
        if item is None:
            raise _Ended
        rgb = colour(*item)
        pending.append((item[0], luma, rgb))
        return rgb

    try:
        for n, out in enumerate(colorize_with_references(open_lumas, references, fallback, settings)):
            if n < start:
                continue
            frame, luma, rgb = pending.pop()
            if np.array_equal(out, blend_frame(luma, rgb, None)):  # no reference here: the fallback as it is
                yield frame, rgb
            else:
                yield frame, recombine_luminance(frame.luma, out) if relight else out
    except _Ended:
        return
