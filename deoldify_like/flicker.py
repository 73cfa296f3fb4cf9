"""A model-independent flicker for measuring stabilisers: each frame's chroma disturbed independently.

`ChromaDisturbance(seed)(index, u, v)` takes the 8-bit U and V planes of a colour frame (any subsampling,
128 = no colour) and returns them disturbed the way frame-by-frame colorization flickers, with frame
`index`'s own random draw (the same index always gives the same disturbance): the (U, V) vector of every
pixel turned by one angle drawn from ±`max_hue` degrees (a global hue rotation), scaled by one saturation
factor drawn from `saturation`, and `blotches` soft local colour stains added (Gaussian, σ of 8–20 % of the
frame's longer side, chroma offsets up to `blotch_amplitude` levels). The luminance is left alone, so the
colour original stays the truth.
"""
import math

import numpy as np

MAX_HUE = 15.0  # degrees
SATURATION = (0.8, 1.2)
BLOTCHES = 3
BLOTCH_AMPLITUDE = 12.0  # U/V levels (of 0..255) at a stain's centre


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
