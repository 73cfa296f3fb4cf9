"""Brightness flicker of films (the figure of `evaluate --film` and of the brightness deflicker's bench).

- `brightness_flicker`: the RMS of the frame-mean luminance about its running median over `FLICKER_TREND`
  frames, in levels.
- `BrightnessFlickerMeter`: that, and the mean absolute luminance difference along the flow (levels; the
  warp error of `metrics.WarpErrorMeter`, on Y alone), for one or more luminance streams of a film.
"""
import math

import cv2
import numpy as np

from .metrics import _gray, consistent_matches


FLICKER_TREND = 9  # frames: the running median that `brightness_flicker` takes as the film's own trend


def brightness_flicker(means, trend=FLICKER_TREND):
    """Brightness flicker of a film from its frame-mean luminances (levels): the RMS of each mean about the
    median of the `trend` frames centred on it (fewer at the ends, as many on either side). A running median follows ramps (a pan
    into shade, a fade) and steps (a cut, a light switched on) that last more than half its width, so what
    is left is the change that does not persist: flicker. NaN for fewer than 3 frames."""
    m = np.asarray(means, dtype=np.float64)
    if m.size < 3:
        return math.nan
    half = trend // 2
    reach = [min(half, t, m.size - 1 - t) for t in range(m.size)]  # symmetric, so a ramp is its own median
    med = np.array([np.median(m[t - r:t + r + 1]) for t, r in enumerate(reach)])
    return float(np.sqrt(np.mean((m - med) ** 2)))


class BrightnessFlickerMeter:
    """Brightness flicker of one or more luminance streams of a film, fed `add(reference_luma, lumas)` frame by
    frame (uint8 (H, W); the flow is computed on `reference_luma`, e.g. the original's, shared by all streams).
    `values`: per stream, dict(flicker=`brightness_flicker` of the frame means, warp_luma_error=mean over
    pairs of the mean |Y_t − Y_{t+1}(x + F(x))| over the pixels that pass the forward–backward check, in
    levels). Holds the frame means (one float a frame) and the previous frame."""

    def __init__(self, streams=1, preset=cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.streams = streams
        self.dis = cv2.DISOpticalFlow_create(preset)
        self.means = [[] for _ in range(streams)]
        self.sums, self.pairs, self.prev_ref, self.prev = [0.0] * streams, 0, None, None

    def add(self, reference_luma, lumas):
        lumas = [lumas] if isinstance(lumas, np.ndarray) else list(lumas)
        if len(lumas) != self.streams:
            raise ValueError(f'expected {self.streams} luminance frames, got {len(lumas)}')
        ref = _gray(reference_luma)
        lumas = [np.asarray(y, np.float32) for y in lumas]
        for m, y in zip(self.means, lumas):
            m.append(float(y.mean()))
        if self.prev_ref is not None:
            mask, mapx, mapy = consistent_matches(self.dis, self.prev_ref, ref)
            if mask.any():
                for s, (y0, y1) in enumerate(zip(self.prev, lumas)):
                    warped = cv2.remap(y1, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    self.sums[s] += float(np.abs(y0 - warped)[mask].mean())
                self.pairs += 1
        self.prev_ref, self.prev = ref, lumas
        return self

    @property
    def values(self):
        return [dict(flicker=brightness_flicker(m), warp_luma_error=s / self.pairs if self.pairs else math.nan)
                for m, s in zip(self.means, self.sums)]
