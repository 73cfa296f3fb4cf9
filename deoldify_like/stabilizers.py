"""The chroma stabilisers a film render or an evaluation can use, by name, and one stream for both.

- 'flow': the two-way stabiliser (`two_way.TwoWayStabilizer`, strength 0.96): a frame's colour from the
  frames before and after it along the motion. A film on disk can wait for the frames after a frame, so
  this is the default wherever the whole film is there (`render --stabilize flow`, `deflicker`). It gives a
  frame back `latency` (32) frames after it went in, or at its shot's end.
- 'flow-one-way': the one-way `stabilize.ChromaStabilizer` (strength 0.95): a running memory of the past, one
  frame in, one frame out; for a caller that cannot wait.

`stabilized_rgb(stabilizer, items)` turns (luma, prediction, tag) triples in order into (tag, uint8 RGB)
pairs in the same order for either kind; the luminance is always the frame's own. Measured side by side with
a model: docs/render.md ("The two-way stabiliser in the renderer").
"""
import cv2
import numpy as np

from .colour import rgb_to_yuv, yuv_to_rgb
from .stabilize import DEFAULT_STRENGTH as ONE_WAY_STRENGTH, ChromaStabilizer, check_strength, stabilize_rgb, work_size
from .two_way import STRENGTH as TWO_WAY_STRENGTH, TwoWayStabilizer, stabilize_stream

STABILIZE_CHOICES = ('none', 'flow', 'flow-one-way')
DEFAULT_STRENGTHS = {'flow': TWO_WAY_STRENGTH, 'flow-one-way': ONE_WAY_STRENGTH}


def default_strength(mode):
    "The strength `mode` uses when none is given (None for 'none')."
    return DEFAULT_STRENGTHS.get(mode)


def make_stabilizer(mode='none', strength=None, **kwargs):
    """A stabiliser for `mode` ('flow': `TwoWayStabilizer`, 'flow-one-way': `ChromaStabilizer`), None for
    'none'; `strength` None is the mode's default. ValueError for an unknown mode or a bad strength."""
    if mode in (None, 'none'):
        return None
    if mode not in DEFAULT_STRENGTHS:
        raise ValueError(f"stabilize must be one of {', '.join(STABILIZE_CHOICES)}, got {mode!r}")
    strength = check_strength(default_strength(mode) if strength is None else strength)
    return (TwoWayStabilizer if mode == 'flow' else ChromaStabilizer)(strength, **kwargs)


def stabilized_rgb(stabilizer, items, held=()):
    """(luma, rgb, tag) triples in frame order -> (tag, uint8 RGB) pairs in the same order: the colour of `rgb`
    (any size, e.g. the model's prediction) stabilised, the luminance set to `luma` (uint8 (H, W)).

    The two-way stabiliser is given the chroma at half the frame's size each way (what `deflicker` gives it
    from a 4:2:0 film's own planes, where it was tuned; at most `work_side` a side), so it is a small share of
    the model's time and what it holds for the frames ahead (and a saved state) stays small; its output is
    upscaled to the frame's. `held`: the tags of the frames a stabiliser resumed from a saved state still
    holds (they come out first, with None for their picture)."""
    if not isinstance(stabilizer, TwoWayStabilizer):
        for luma, rgb, tag in items:
            yield tag, stabilize_rgb(stabilizer, luma, rgb)
        return

    def chromas():
        for luma, rgb, tag in items:
            size = work_size((luma.shape[0] + 1) // 2, (luma.shape[1] + 1) // 2, stabilizer.work_side)
            rgb = np.asarray(rgb)
            small = rgb if rgb.shape[1::-1] == size else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA
                                                                   if rgb.shape[1] > size[0] else cv2.INTER_CUBIC)
            yield luma, rgb_to_yuv(small)[..., 1:] * 255, (tag, luma)

    for (tag, luma), chroma in stabilize_stream(stabilizer, chromas(), [(t, None) for t in held]):
        if luma is None:  # a frame from before a resume: only its tag is known, its output is not needed
            yield tag, None
            continue
        h, w = luma.shape
        uv = chroma / 255 if chroma.shape[:2] == (h, w) else cv2.resize(chroma / 255, (w, h), interpolation=cv2.INTER_CUBIC)
        yield tag, yuv_to_rgb(np.dstack([luma.astype(np.float32) / 255, uv.astype(np.float32)]))

