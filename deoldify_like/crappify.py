"""Degrading colour training pictures into the generator's inputs ("crappify").

Grayscale always: the generator learns to put colour back. Optionally the damage old prints and film show,
each applied with its own probability: faded contrast, blur, JPEG artefacts, noise/grain. The reference
recipe used grayscale only (plus noise for its video model), so every probability defaults to 0.

Randomness comes from the `numpy.random.Generator` passed in, so a seeded generator gives the same
degradations every time.
"""
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from .colour import rgb_to_gray

EFFECTS = ('fade', 'blur', 'jpeg', 'noise')


@dataclass
class Crappifier:
    "Probabilities and strengths of each degradation; the order of application is fade, blur, jpeg, noise."
    fade: float = 0.0  # probability of lowered contrast and lifted blacks
    blur: float = 0.0  # probability of a Gaussian blur
    jpeg: float = 0.0  # probability of JPEG compression artefacts
    noise: float = 0.0  # probability of Gaussian noise plus coarse film grain
    fade_contrast: tuple = (0.5, 0.9)  # contrast kept, drawn uniformly
    blur_sigma: tuple = (0.5, 1.5)  # pixels
    jpeg_quality: tuple = (15, 60)
    noise_sigma: tuple = (2.0, 12.0)  # in 0..255 gray levels

    @classmethod
    def parse(cls, spec):
        """From a command-line spec such as 'noise=0.5,jpeg=0.3' (probabilities); '' or 'none' = gray only."""
        if isinstance(spec, Crappifier):
            return spec
        if isinstance(spec, dict):
            return cls(**spec)
        spec = (spec or '').strip()
        if spec.lower() in ('', 'none', 'gray', 'grey'):
            return cls()
        probs = {}
        for part in spec.split(','):
            name, _, value = part.partition('=')
            name = name.strip()
            if name not in EFFECTS:
                raise ValueError(f"unknown degradation {name!r} in {spec!r}; known: {', '.join(EFFECTS)}")
            try:
                p = float(value) if value else 1.0
            except ValueError:
                raise ValueError(f"degradation {name!r}: probability {value!r} is not a number") from None
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"degradation {name!r}: probability {p} is not between 0 and 1")
            probs[name] = p
        return cls(**probs)

    def to_dict(self):
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def __str__(self):
        on = [f"{e}={getattr(self, e):g}" for e in EFFECTS if getattr(self, e) > 0]
        return ','.join(on) or 'none'

    def __call__(self, rgb, rng=None):
        "uint8 RGB (H, W, 3) -> uint8 degraded gray (H, W)."
        rng = np.random.default_rng() if rng is None else rng
        gray = rgb_to_gray(rgb)
        if self.fade and rng.random() < self.fade:
            gray = fade(gray, rng.uniform(*self.fade_contrast), rng.uniform(0, 40))
        if self.blur and rng.random() < self.blur:
            gray = cv2.GaussianBlur(gray, (0, 0), rng.uniform(*self.blur_sigma))
        if self.jpeg and rng.random() < self.jpeg:
            gray = jpeg_artefacts(gray, int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1)))
        if self.noise and rng.random() < self.noise:
            gray = grain(gray, rng.uniform(*self.noise_sigma), rng)
        return gray


def fade(gray, contrast, lift):
    "Lower the contrast around mid-gray and lift the blacks, like a faded print."
    g = gray.astype(np.float32)
    g = (g - 128.0) * contrast + 128.0 + lift * (1.0 - contrast)
    return np.clip(np.rint(g), 0, 255).astype(np.uint8)


def jpeg_artefacts(gray, quality):
    ok, buf = cv2.imencode('.jpg', gray, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else gray


def grain(gray, sigma, rng):
    "Fine Gaussian noise plus coarser grain (noise upscaled from half resolution)."
    h, w = gray.shape
    fine = rng.normal(0.0, sigma, (h, w)).astype(np.float32)
    coarse = rng.normal(0.0, sigma * 0.7, (max(1, h // 2), max(1, w // 2))).astype(np.float32)
    coarse = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_LINEAR)
    return np.clip(np.rint(gray.astype(np.float32) + fine + coarse), 0, 255).astype(np.uint8)
