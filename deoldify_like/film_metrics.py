"""Measures of films, streamed frame by frame (a film is never held in memory).

Colour (reference.md §4):
- `CDCMeter`: colour distribution consistency, mean Jensen–Shannon divergence (log base 2, so 0..1) of
  per-channel 256-bin RGB histograms between frames t and t+d, d = 1, 2, 4, each weighted 1/3.
- `WarpErrorMeter`: mean squared difference (RGB scaled to 0..1) between output frame t and output frame
  t+1 warped back by optical flow computed on the INPUT frames (OpenCV DIS), over pixels that pass the
  forward–backward consistency check of Sundaram et al. (2010).

Brightness (the figure of `evaluate --film` and of the brightness deflicker's bench):
- `brightness_flicker`: the RMS of the frame-mean luminance about its running median over `FLICKER_TREND`
  frames, in levels.
- `BrightnessFlickerMeter`: that, and the mean absolute luminance difference along the flow (levels; the
  warp error of `WarpErrorMeter`, on Y alone), for one or more luminance streams of a film.
"""
import math
from collections import deque

import cv2
import numpy as np

from .colour import rgb_to_gray

CDC_DISTANCES = (1, 2, 4)
# forward-backward consistency (Sundaram, Brox & Keutzer 2010; as in Lai et al. 2018, Ruder et al. 2016):
# a pixel is kept when |F + B(x+F)|^2 < FB_ALPHA * (|F|^2 + |B(x+F)|^2) + FB_BETA (flow in pixels)
FB_ALPHA, FB_BETA = 0.01, 0.5


def consistent_matches(dis, a, b):
    """The forward-backward check (Sundaram et al.), in one place for the warp error and the chroma stabiliser:
    a mask of the pixels of gray frame `a` whose optical-flow match in `b` is trustworthy, and the maps
    x + F(x) into `b` (F: flow from `a` to `b` by OpenCV's DIS `dis`)."""
    return checked_flow(dis.calc(a, b, None), dis.calc(b, a, None))


def checked_flow(fwd, bwd):
    """The forward-backward check of flow `fwd` (a -> b) against `bwd` (b -> a): the mask of a's pixels that
    pass it and the maps x + F(x) into b. `checked_flow(bwd, fwd)` gives the same for b's pixels, so a pair
    of DIS flows serves both directions (the two-way stabiliser)."""
    h, w = fwd.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    mapx, mapy = xs + fwd[..., 0], ys + fwd[..., 1]
    bwd_at = cv2.remap(bwd, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inside = (mapx >= 0) & (mapx <= w - 1) & (mapy >= 0) & (mapy <= h - 1)
    lhs = ((fwd + bwd_at) ** 2).sum(-1)
    rhs = FB_ALPHA * ((fwd ** 2).sum(-1) + (bwd_at ** 2).sum(-1)) + FB_BETA
    return inside & (lhs < rhs), mapx, mapy

def channel_histograms(rgb):
    "Per-channel 256-bin histograms of a uint8 picture, each normalised to sum 1: shape (channels, 256)."
    x = np.asarray(rgb)
    if x.dtype != np.uint8:
        raise ValueError('histograms need uint8 pictures')
    x = x.reshape(-1, x.shape[-1] if x.ndim == 3 else 1)
    h = np.stack([np.bincount(x[:, c], minlength=256) for c in range(x.shape[1])]).astype(np.float64)
    return h / h.sum(axis=1, keepdims=True)


def jensen_shannon(p, q):
    """Jensen–Shannon divergence in bits (log base 2, so 0..1) between distributions along the last axis:
    ½ KL(p‖m) + ½ KL(q‖m), m = ½(p + q), with 0·log 0 = 0."""
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    m = 0.5 * (p + q)

    def kl(a):
        with np.errstate(divide='ignore', invalid='ignore'):
            return np.where(a > 0, a * np.log2(a / m), 0.0).sum(axis=-1)
    return np.clip(0.5 * kl(p) + 0.5 * kl(q), 0.0, 1.0)


class CDCMeter:
    """Colour distribution consistency of a film, fed frame by frame (`add(rgb)`), lower is steadier.

    CDC = Σ_d ⅓ · mean_t JSD(h_t, h_{t+d}) over d = 1, 2, 4, where JSD is the mean over the R, G, B channels
    of the Jensen–Shannon divergence (bits) between 256-bin histograms. Keeps only the last 4 histograms.
    When the film is too short for some d (fewer than d + 1 frames), those d are left out and the weights
    are spread over the rest; NaN for fewer than 2 frames.
    """

    def __init__(self, distances=CDC_DISTANCES):
        self.distances = tuple(distances)
        self.history = deque(maxlen=max(self.distances))
        self.sums = {d: 0.0 for d in self.distances}
        self.counts = {d: 0 for d in self.distances}

    def add(self, rgb):
        h = channel_histograms(rgb)
        for d in self.distances:
            if len(self.history) >= d:
                self.sums[d] += float(jensen_shannon(self.history[-d], h).mean())
                self.counts[d] += 1
        self.history.append(h)
        return self

    def per_distance(self):
        "Mean JSD for each distance d (NaN where the film had no pair that far apart)."
        return {d: self.sums[d] / self.counts[d] if self.counts[d] else math.nan for d in self.distances}

    @property
    def value(self):
        vals = [v for v in self.per_distance().values() if not math.isnan(v)]
        return float(np.mean(vals)) if vals else math.nan


def frame_gray(frame):
    "The uint8 luminance of a frame (gray or RGB)."
    frame = np.asarray(frame)
    if frame.ndim == 3:
        frame = rgb_to_gray(frame)
    return np.ascontiguousarray(frame, dtype=np.uint8)


class WarpErrorMeter:
    """Warp error of one or more output streams of a film, with flow computed on the input frames.

    Feed `add(input_frame, outputs)` frame by frame: `input_frame` is what the colorizer saw (gray or RGB
    uint8, flow is computed on its luminance), `outputs` one uint8 RGB frame per stream (e.g. the colorized
    frame and the colour original, which share the flow). For each pair t, t+1:
    F = DIS flow t→t+1 and B = DIS flow t+1→t on the input; output t+1 is warped back,
    W(x) = O_{t+1}(x + F(x)) (bilinear); a pixel counts when x + F(x) falls inside the frame and passes
    |F + B(x+F)|² < 0.01 (|F|² + |B(x+F)|²) + 0.5 (Sundaram et al. 2010);
    E_t = mean over counted pixels and the 3 channels of (O_t − W)², RGB scaled to 0..1.
    The film's warp error is the mean of E_t over pairs. Holds only the previous frame.
    """

    def __init__(self, streams=1, preset=cv2.DISOPTICAL_FLOW_PRESET_MEDIUM):
        self.streams = streams
        self.dis = cv2.DISOpticalFlow_create(preset)
        self.prev_gray, self.prev_outputs = None, None
        self.sums, self.pairs, self.kept = [0.0] * streams, 0, 0.0

    def _outputs(self, outputs):
        outs = [outputs] if isinstance(outputs, np.ndarray) and outputs.ndim == 3 else list(outputs)
        if len(outs) != self.streams:
            raise ValueError(f'expected {self.streams} output frames, got {len(outs)}')
        return [np.asarray(o, dtype=np.float32) / 255.0 for o in outs]

    def add(self, input_frame, outputs):
        gray, outs = frame_gray(input_frame), self._outputs(outputs)
        if self.prev_gray is not None:
            mask, mapx, mapy = self._valid(self.prev_gray, gray)
            n = int(mask.sum())
            if n:
                for s, (o0, o1) in enumerate(zip(self.prev_outputs, outs)):
                    warped = cv2.remap(o1, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                    self.sums[s] += float(((o0 - warped) ** 2).mean(axis=-1)[mask].mean())
                self.pairs += 1
                self.kept += n / mask.size
        self.prev_gray, self.prev_outputs = gray, outs
        return self

    def _valid(self, g0, g1):
        "Mask of pixels of frame t that have a trustworthy match in t+1, and the maps x + F(x)."
        return consistent_matches(self.dis, g0, g1)

    @property
    def values(self):
        "Warp error per stream (NaN before the second frame)."
        return [s / self.pairs if self.pairs else math.nan for s in self.sums]

    @property
    def value(self):
        return self.values[0]

    @property
    def kept_fraction(self):
        "Mean fraction of pixels that passed the occlusion check."
        return self.kept / self.pairs if self.pairs else math.nan


# ---------------------------------------------------------------- brightness

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
        ref = frame_gray(reference_luma)
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
