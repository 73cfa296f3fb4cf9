"""Degrading colour training pictures into the generator's inputs ("crappify").

Grayscale always: the generator learns to put colour back. Optionally the damage old prints and film show,
each applied with its own probability: faded contrast, blur, JPEG artefacts, noise/grain. The reference
recipe used grayscale only (plus noise for its video model), so every probability defaults to 0.

Two halves, so the pixel work runs where it is cheapest: `draw` picks one picture's degradation (whether
each effect happens, and how strongly) from the `numpy.random.Generator` passed in, as a row of numbers;
`degrade` applies a batch of such rows to a batch of gray levels as tensor ops on whatever device the
batch is on (the training device, after collation). A seeded generator gives the same degradations every
time; the noise comes from a torch generator seeded from the drawn row, so it too is fixed by the seed (for
a given device type). JPEG artefacts go through OpenCV on the CPU, picture by picture.
"""
from dataclasses import asdict, dataclass

import cv2
import numpy as np
import torch

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

    @property
    def degrades(self):
        "Whether anything besides the gray conversion can happen."
        return any(getattr(self, e) > 0 for e in EFFECTS)

    def draw(self, rng):
        """One picture's degradation as N_PARAMS numbers (0 = effect off): fade contrast and lift, blur sigma,
        JPEG quality, noise sigma and the noise generator's seed."""
        row = np.zeros(N_PARAMS)
        if self.fade and rng.random() < self.fade:
            row[0], row[1] = rng.uniform(*self.fade_contrast), rng.uniform(0, 40)
        if self.blur and rng.random() < self.blur:
            row[2] = rng.uniform(*self.blur_sigma)
        if self.jpeg and rng.random() < self.jpeg:
            row[3] = int(rng.integers(self.jpeg_quality[0], self.jpeg_quality[1] + 1))
        if self.noise and rng.random() < self.noise:
            row[4], row[5] = rng.uniform(*self.noise_sigma), int(rng.integers(0, 2 ** 31))
        return row

    def __call__(self, rgb, rng=None):
        "uint8 RGB (H, W, 3) -> uint8 degraded gray (H, W): `draw` and `degrade` for one picture, on the CPU."
        rng = np.random.default_rng() if rng is None else rng
        row = torch.from_numpy(self.draw(rng))[None]
        levels = gray_levels(torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)[None])
        return degrade(levels, row)[0, 0].to(torch.uint8).numpy()


N_PARAMS = 6


def gray_levels(rgb):
    """uint8 RGB (N, 3, H, W) -> float (N, 1, H, W) gray levels 0..255, Y = 0.299 R + 0.587 G + 0.114 B in
    the fixed point of OpenCV (5.0), so they equal `colour.rgb_to_gray` exactly on any device (a test checks)."""
    r, g, b = rgb.to(torch.int32).unbind(1)
    return ((r * 9798 + g * 19235 + b * 3735 + 16384) >> 15)[:, None].float()


def _levels(x):
    return x.round().clamp_(0, 255)


def degrade(gray, rows):
    """Gray levels (N, 1, H, W) float 0..255 and `Crappifier.draw` rows (N, N_PARAMS) -> degraded gray levels,
    rounded to whole levels after each effect; in the order fade, blur, JPEG, noise."""
    rows = rows.detach().to('cpu', torch.float64)  # the decisions are taken here, the pixels stay where they are
    if rows[:, 0].any():
        contrast = torch.where(rows[:, 0] > 0, rows[:, 0], 1.0).float().view(-1, 1, 1, 1).to(gray.device)
        lift = rows[:, 1].float().view(-1, 1, 1, 1).to(gray.device)
        gray = _levels((gray - 128.0) * contrast + 128.0 + lift * (1.0 - contrast))
    if rows[:, 2].any():
        gray = _levels(gaussian_blur(gray, rows[:, 2]))
    if rows[:, 3].any():
        gray = jpeg_batch(gray, rows[:, 3])
    if rows[:, 4].any():
        gray = _levels(gray + grain_batch(gray.shape, rows[:, 4], rows[:, 5], gray.device))
    return gray


def gaussian_blur(gray, sigmas):
    """Each picture blurred with its own sigma (0 = unchanged): OpenCV's kernel size for 8-bit pictures
    (6 sigma + 1, odd) and its reflected border, as one grouped convolution."""
    n, _, h, w = gray.shape
    sig = sigmas.double().cpu()
    half = int((torch.round(sig.max() * 6 + 1).long() | 1).item()) // 2
    pos = torch.arange(-half, half + 1, dtype=torch.float64)
    k = torch.exp(-pos[None] ** 2 / (2 * sig.clamp(min=1e-6)[:, None] ** 2))
    own_half = (torch.round(sig * 6 + 1).long() | 1) // 2
    k = torch.where(pos[None].abs() <= own_half[:, None], k, 0.0)
    k = torch.where((sig > 0)[:, None], k, (pos == 0).double()[None])
    k = (k / k.sum(1, keepdim=True)).float().to(gray.device)
    x = torch.nn.functional.pad(gray.reshape(1, n, h, w), (half, half, half, half), mode='reflect')
    x = torch.nn.functional.conv2d(x, k.view(n, 1, 1, -1), groups=n)
    x = torch.nn.functional.conv2d(x, k.view(n, 1, -1, 1), groups=n)
    return x.reshape(n, 1, h, w)


def jpeg_batch(gray, qualities):
    "JPEG artefacts at each picture's quality (0 = none), through OpenCV on the CPU."
    out = gray.clone()
    for i in torch.nonzero(qualities > 0).flatten().tolist():
        pic = gray[i, 0].to(torch.uint8).cpu().numpy()
        out[i, 0] = torch.from_numpy(jpeg_artefacts(pic, int(qualities[i]))).to(gray.device).float()
    return out


def grain_batch(shape, sigmas, seeds, device):
    "Fine Gaussian noise plus coarser grain (noise upscaled from half resolution), each picture from its own seed."
    n, _, h, w = shape
    out = torch.zeros(shape, device=device)
    for i in torch.nonzero(sigmas > 0).flatten().tolist():
        g = torch.Generator(device=device).manual_seed(int(seeds[i]))
        s = float(sigmas[i])
        fine = torch.randn((h, w), generator=g, device=device) * s
        coarse = torch.randn((1, 1, max(1, h // 2), max(1, w // 2)), generator=g, device=device) * (s * 0.7)
        coarse = torch.nn.functional.interpolate(coarse, size=(h, w), mode='bilinear', align_corners=False)
        out[i, 0] = fine + coarse[0, 0]
    return out


def jpeg_artefacts(gray, quality):
    ok, buf = cv2.imencode('.jpg', gray, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE) if ok else gray
