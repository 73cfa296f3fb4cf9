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
from dataclasses import replace

import av
import numpy as np

from deoldify_like.colour import gray_to_rgb, recombine_luminance
from deoldify_like.errors import BadInputError, SettingsError
from deoldify_like.reference_colour import blend_frame, colorize_with_references

from .part import seek_frames


def references_key(references):
    "What a resumed render must match: each reference's pixels (a hash) and keyframe."
    return [{'sha256': hashlib.sha256(np.ascontiguousarray(r.rgb).tobytes()).hexdigest(),
             'shape': list(np.shape(r.rgb)), 'frame': r.frame} for r in references]


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


def film_lumas(src, selection, total):
    "`open_lumas` for the propagation: a new iterator over the luminance of the frames the render colours."
    def lumas():
        try:
            with av.open(str(src)) as container:
                vs = container.streams.video[0]
                decoded = container.decode(vs) if selection is None else seek_frames(container, vs, selection)
                for _, frame in zip(range(total), decoded):
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
