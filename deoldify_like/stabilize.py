"""Chroma stabilisation of films: colour that follows the motion instead of flickering.

Frame-by-frame colorization (and any per-frame colour process) makes chroma flicker: a wall turns beige,
blue, beige. `ChromaStabilizer` is fed the frames of a film in order, each as its luminance (what the flow
is computed on: the input of a colorization, or the film's own Y plane) and its chroma (two planes, U and V,
at any resolution, e.g. the half-size planes of YUV 4:2:0). It keeps a running chroma S carried along the
motion and returns, for frame t,

    S_t = C_t + strength · (T_t − C_t),    T_t = trust_t · warp(S_{t-1}) + (1 − trust_t) · G_t(C_t)

where warp() follows OpenCV DIS optical flow from frame t back to t−1 computed on the luminance, and
trust_t (0..1 per pixel) is 1 only where the flow passes the forward–backward check of Sundaram et al.
(2010, the same check as the warp-error measure) and the warped luminance matches (a soft photometric
check). Occluded, newly visible and badly tracked pixels are not carried: they keep their own colour,
turned, scaled and shifted as a whole by G_t, the similarity of the (U, V) plane that best takes the
frame's chroma to the carried chroma over the trusted pixels (flicker is largely global: a hue turn, a
saturation change; on a steady film G_t is close to the identity). `global_fill=False` leaves them
exactly as they are instead. A recursive blend of strength a averages about (1 + a) / (1 − a) frames of
independent flicker. Luminance is never touched: only chroma goes in and out.

Shot cuts are detected on the luminance (Bhattacharyya distance of 32-bin histograms, or too few pixels
with consistent flow): the stabiliser then restarts and that frame's chroma is returned exactly as given.

Flow and blending run at a reduced working resolution (longer side `work_side`, chroma being
low-resolution anyway); when the chroma given is larger, only the smooth correction S_t − C_t is upscaled
and added, so the chroma's own detail is kept. The whole state is two small arrays and a histogram
(`state()` / `load_state()`), which is what a resumed render needs at a segment boundary.
"""
import math

import cv2
import numpy as np

from .colour import luma_with_colour_of, yuv_to_rgb
from .film_metrics import consistent_matches

# Chosen by measurement (docs/render.md "Films without flicker") for rendering with this toolkit's model (0.99
# raised a promoted model's warp error on the demo film, 0.95 lowered it). `render --stabilize flow` and
# `deflicker` use the two-way stabiliser (deoldify_like/two_way.py, stabilizers.py, docs/deflicker.md);
# this one is `--stabilize flow-one-way`.
DEFAULT_STRENGTH = 0.95
WORK_SIDE = 640  # longer side of the working resolution, pixels
CUT_DISTANCE = 0.35  # Bhattacharyya distance of luma histograms above which frame t starts a new shot
MIN_TRUSTED = 0.2  # fewer pixels than this with consistent flow: treated as a cut as well
PHOTO_TOLERANCE = 8.0  # luma levels: full trust up to this warped-luma error e, none from twice it (linear between)
HIST_BINS = 32
# flow preset -> (OpenCV's DIS preset, finest scale or None for the preset's own). 'fine' is 'medium' searched
# down to full resolution (finest scale 0, not 1): about 1.2x its time; chosen for carrying a reference's colour
# (docs/reference_colour.md)
PRESETS = {'ultrafast': (cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, None), 'fast': (cv2.DISOPTICAL_FLOW_PRESET_FAST, None),
           'medium': (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, None), 'fine': (cv2.DISOPTICAL_FLOW_PRESET_MEDIUM, 0)}
DEFAULT_PRESET = 'fast'


def dis_flow(preset):
    "OpenCV's DIS optical flow for a preset name of `PRESETS`."
    if preset not in PRESETS:
        raise ValueError(f'flow preset must be one of {", ".join(PRESETS)}, got {preset!r}')
    cv_preset, finest_scale = PRESETS[preset]
    dis = cv2.DISOpticalFlow_create(cv_preset)
    if finest_scale is not None:
        dis.setFinestScale(finest_scale)
    return dis


def check_strength(strength):
    "The blend strength as a float in [0, 1), or ValueError."
    s = float(strength)
    if not (0.0 <= s < 1.0) or math.isnan(s):
        raise ValueError(f'strength must be at least 0 and below 1, got {strength}')
    return s


def work_size(height, width, work_side=WORK_SIDE):
    "(width, height) of the working resolution: the given size scaled down to a longer side of `work_side`."
    scale = min(1.0, work_side / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def luma_histogram(gray):
    "32-bin luminance histogram, normalised to sum 1: what the cut test compares."
    h = cv2.calcHist([gray], [0], None, [HIST_BINS], [0, 256])
    return h / max(float(h.sum()), 1.0)


def is_cut(prev_hist, hist, cut_distance=CUT_DISTANCE):
    "The cut test every film filter shares: the histograms' Bhattacharyya distance is above `cut_distance`."
    return cv2.compareHist(prev_hist, hist, cv2.HISTCMP_BHATTACHARYYA) > cut_distance


class ChromaStabilizer:
    """Streaming chroma stabiliser; `step(luma, chroma)` for each frame in order returns the new chroma.

    `luma`: uint8 (H, W). `chroma`: (h, w, 2) U and V (uint8 or float, any scale centred anywhere: the
    blend is linear), at the luma's resolution or lower. The result is float32 of the chroma's shape; for
    uint8 planes round it (`stabilize_planes` does). `strength` 0 returns every frame's chroma unchanged.
    """
    REVISION = 1  # raised whenever the same settings give another output: a render resumed across it starts again

    def __init__(self, strength=DEFAULT_STRENGTH, work_side=WORK_SIDE, preset=DEFAULT_PRESET,
                 cut_distance=CUT_DISTANCE, min_trusted=MIN_TRUSTED, photo_tolerance=PHOTO_TOLERANCE,
                 global_fill=True):
        self.strength = check_strength(strength)
        self.work_side, self.preset = int(work_side), preset
        self.cut_distance, self.min_trusted, self.photo_tolerance = cut_distance, min_trusted, photo_tolerance
        self.global_fill = global_fill
        self.dis = dis_flow(preset)
        self.frames, self.cuts, self.trusted_sum = 0, [], 0.0
        self.reset()

    def reset(self):
        "Forget the past: the next frame starts a new shot."
        self.prev_gray = self.prev_hist = self.prev_chroma = None

    # -- state at a segment boundary (resumable renders)
    @property
    def pending(self):
        "Frames that went in and have not come out: none (each frame comes out as it goes in)."
        return []

    def state(self):
        "The carried state as a dict of arrays (empty before the first frame)."
        if self.prev_gray is None:
            return {}
        return dict(gray=self.prev_gray.copy(), hist=self.prev_hist.copy(), chroma=self.prev_chroma.copy())

    def load_state(self, state):
        if not state:
            return self.reset()
        self.prev_gray = np.ascontiguousarray(state['gray'], dtype=np.uint8)
        self.prev_hist = np.asarray(state['hist'], dtype=np.float32)
        self.prev_chroma = np.asarray(state['chroma'], dtype=np.float32)

    @property
    def trusted_fraction(self):
        "Mean share of pixels blended with the past, over the frames that had a past."
        n = self.frames - len(self.cuts)
        return self.trusted_sum / n if n > 0 else math.nan

    def _cut(self, hist):
        if self.prev_gray is None:
            return True
        return is_cut(self.prev_hist, hist, self.cut_distance)

    def _trust(self, g0, g1):
        "Per-pixel trust of frame t (g1) in its match in t−1 (g0), and the maps x + B(x) into frame t−1."
        consistent, mapx, mapy = consistent_matches(self.dis, g1, g0)  # t -> t-1, checked back
        g0_at = cv2.remap(g0, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.abs(g1.astype(np.float32) - g0_at.astype(np.float32))
        trust = consistent.astype(np.float32) * np.clip(2 - err / self.photo_tolerance, 0, 1)
        return trust, mapx, mapy

    def step(self, luma, chroma):
        luma = np.asarray(luma)
        chroma = np.asarray(chroma, dtype=np.float32)
        if luma.ndim != 2 or chroma.ndim != 3 or chroma.shape[-1] != 2:
            raise ValueError(f'expected luma (H, W) and chroma (h, w, 2), got {luma.shape} and {chroma.shape}')
        ch, cw = chroma.shape[:2]
        size = work_size(ch, cw, self.work_side)
        gray = cv2.resize(luma, size, interpolation=cv2.INTER_AREA) if luma.shape[::-1] != size else luma
        gray = np.ascontiguousarray(gray, dtype=np.uint8)
        small = cv2.resize(chroma, size, interpolation=cv2.INTER_AREA) if (cw, ch) != size else chroma
        hist = luma_histogram(gray)
        self.frames += 1
        out, trusted = chroma, None
        if self.strength > 0 and not self._cut(hist) and self.prev_chroma.shape == small.shape:
            trust, mapx, mapy = self._trust(self.prev_gray, gray)
            share = float((trust > 0.5).mean())
            if share >= self.min_trusted:
                trusted = share
                trust = cv2.GaussianBlur(trust, (3, 3), 0)
                carried = cv2.remap(self.prev_chroma, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                weight = self.strength * trust
                target = carried
                if self.global_fill:
                    # where the flow is not trusted, the frame's colour turned, scaled and shifted as a whole
                    # to match the carried colour where it is (flicker is largely global: a hue turn, a
                    # saturation change; on a steady film this is close to the identity)
                    fitted = _similar_chroma(small, carried, trust)
                    target = trust[..., None] * carried + (1 - trust[..., None]) * fitted
                    weight = np.full_like(trust, self.strength)
                blended = small + weight[..., None] * (target - small)
                if (cw, ch) == size:
                    out = blended
                else:
                    out = chroma + cv2.resize(blended - small, (cw, ch), interpolation=cv2.INTER_LINEAR)
                small = blended
        if trusted is None:
            self.cuts.append(self.frames - 1)
        else:
            self.trusted_sum += trusted
        self.prev_gray, self.prev_hist = gray, hist
        self.prev_chroma = np.array(small, dtype=np.float32)
        return np.array(out, dtype=np.float32)


def _similar_chroma(source, dest, weight):
    "`source` (h, w, 2) turned, scaled and shifted in the (u, v) plane to match `dest` where `weight` is high."
    return apply_similarity(source, *chroma_similarity(source, dest, weight))


def chroma_similarity(src, dest, weight):
    """(a, b) complex, z_dest ≈ a z_src + b over the `weight`ed pixels, z = U + iV: the turn of the weighted
    orthogonal Procrustes fit, the scale that matches the spreads (not the least-squares slope, which would
    wash the colour out a little on every frame), and the means. Identity without a fit."""
    w = weight.reshape(-1).astype(np.float64)
    total = w.sum()
    if total < 1:
        return 1 + 0j, 0j
    zs = src[..., 0].reshape(-1) + 1j * src[..., 1].reshape(-1)
    zd = dest[..., 0].reshape(-1) + 1j * dest[..., 1].reshape(-1)
    ms, md = (w * zs).sum() / total, (w * zd).sum() / total
    xs, xd = zs - ms, zd - md
    cross = (w * xd * np.conj(xs)).sum()
    spread_s, spread_d = (w * np.abs(xs) ** 2).sum(), (w * np.abs(xd) ** 2).sum()
    if spread_s < 1e-6 * total or abs(cross) < 1e-12:
        return 1 + 0j, md - ms
    a = cross / abs(cross) * math.sqrt(spread_d / spread_s)
    return a, md - a * ms


def apply_similarity(z, a, b):
    "Chroma (h, w, 2) through z -> a z + b."
    c = (z[..., 0] + 1j * z[..., 1]) * a + b
    return np.stack([c.real, c.imag], -1).astype(np.float32)


def stabilize_planes(stabilizer, y, u, v):
    "One frame of 8-bit planar YUV (any subsampling): Y returned as is (the same array), U and V stabilised."
    uv = stabilizer.step(y, np.stack([u, v], -1))
    uv = np.clip(np.rint(uv), 0, 255).astype(np.uint8)
    return y, uv[..., 0], uv[..., 1]


def stabilize_rgb(stabilizer, luma, rgb, interpolation=cv2.INTER_CUBIC):
    """`recombine_luminance` with the chroma stabilised: colour from `rgb` (uint8 RGB of any size, e.g. the
    model's prediction; resized to the luma's size), chroma through `stabilizer` in YUV (BT.601), Y set to
    `luma`. Returns uint8 RGB; on a frame that starts a shot, exactly what `recombine_luminance` gives."""
    yuv = luma_with_colour_of(luma, rgb, interpolation)
    yuv[..., 1:] = stabilizer.step(luma, yuv[..., 1:])
    return yuv_to_rgb(yuv)
