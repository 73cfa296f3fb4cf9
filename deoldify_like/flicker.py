"""A model-independent flicker for measuring stabilisers: each frame's chroma disturbed independently.

`ChromaDisturbance(seed)(index, u, v)` takes the 8-bit U and V planes of a colour frame (any subsampling,
128 = no colour) and returns them disturbed the way frame-by-frame colorization flickers, with frame
`index`'s own random draw (the same index always gives the same disturbance): the (U, V) vector of every
pixel turned by one angle drawn from ±`max_hue` degrees (a global hue rotation), scaled by one saturation
factor drawn from `saturation`, and `blotches` soft local colour stains added (Gaussian, σ of 8–20 % of the
frame's longer side, chroma offsets up to `blotch_amplitude` levels). The luminance is left alone, so the
colour original stays the truth.

`BrightnessDisturbance(seed)(index, y)` does the same for the other flicker, old film's: the 8-bit luminance
of frame `index` multiplied by one gain drawn from `gain` (0.85–1.15: uneven exposure) and by a slow
regional gain field (uneven development): a linear tilt across the frame and `regions` soft Gaussian
patches (σ of 25–50 % of the longer side), each up to ±`regional` (8 %) at its strongest, drawn afresh for
every frame. The chroma is left alone.
"""
import math

import numpy as np

MAX_HUE = 15.0  # degrees
SATURATION = (0.8, 1.2)
BLOTCHES = 3
BLOTCH_AMPLITUDE = 12.0  # U/V levels (of 0..255) at a stain's centre
GAIN = (0.85, 1.15)
REGIONAL = 0.08  # largest relative gain of the tilt and of each regional patch
REGIONS = 2


class ChromaDisturbance:
    def __init__(self, seed=0, max_hue=MAX_HUE, saturation=SATURATION, blotches=BLOTCHES,
                 blotch_amplitude=BLOTCH_AMPLITUDE):
        self.seed, self.max_hue, self.saturation = seed, max_hue, saturation
        self.blotches, self.blotch_amplitude = blotches, blotch_amplitude

    def draw(self, index):
        "Frame `index`'s hue turn (degrees), saturation factor and stains [(cx, cy, sigma, du, dv)] (relative units)."
        rng = np.random.default_rng([self.seed, index])
        hue = rng.uniform(-self.max_hue, self.max_hue)
        sat = rng.uniform(*self.saturation)
        stains = [(rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.2),
                   *rng.uniform(-self.blotch_amplitude, self.blotch_amplitude, 2)) for _ in range(self.blotches)]
        return hue, sat, stains

    def __call__(self, index, u, v):
        hue, sat, stains = self.draw(index)
        cu, cv = np.asarray(u, np.float32) - 128, np.asarray(v, np.float32) - 128
        c, s = math.cos(math.radians(hue)) * sat, math.sin(math.radians(hue)) * sat
        du, dv = c * cu - s * cv, s * cu + c * cv
        h, w = cu.shape
        side = max(h, w)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        for cx, cy, sigma, au, av in stains:
            g = np.exp(-(((xs - cx * w) ** 2 + (ys - cy * h) ** 2) / (2 * (sigma * side) ** 2)))
            du += au * g
            dv += av * g
        to8 = lambda x: np.clip(np.rint(x + 128), 0, 255).astype(np.uint8)  # noqa: E731
        return to8(du), to8(dv)


class BrightnessDisturbance:
    def __init__(self, seed=0, gain=GAIN, regional=REGIONAL, regions=REGIONS):
        self.seed, self.gain, self.regional, self.regions = seed, gain, regional, regions

    def field(self, index, h, w):
        "Frame `index`'s gain, float32 (h, w): the global gain times the regional field."
        rng = np.random.default_rng([self.seed, index, 1])
        gain = rng.uniform(*self.gain)
        tilt = rng.uniform(-self.regional, self.regional, 2)
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
        side = max(h, w)
        rel = tilt[0] * (2 * xs / max(w - 1, 1) - 1) + tilt[1] * (2 * ys / max(h - 1, 1) - 1)
        for _ in range(self.regions):
            cx, cy, sigma, amp = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.25, 0.5), rng.uniform(-1, 1)
            rel += amp * self.regional * np.exp(-((xs - cx * w) ** 2 + (ys - cy * h) ** 2) / (2 * (sigma * side) ** 2))
        return (gain * (1 + rel)).astype(np.float32)

    def __call__(self, index, y):
        y = np.asarray(y)
        return np.clip(np.rint(y.astype(np.float32) * self.field(index, *y.shape)), 0, 255).astype(np.uint8)
