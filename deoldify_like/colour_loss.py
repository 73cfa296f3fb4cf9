"""Colour terms for the generator's loss, beside the perceptual loss (issue 24: the feature loss alone
leaves a sepia wash, ΔCF ~25 on held-out photos).

- `ColourfulnessLoss`: DDColor's colourfulness loss (Kang et al., ICCV 2023, §3.4; their code
  basicsr/losses/losses.py: per picture `1 - CF(pred)` with CF the Hasler & Süsstrunk measure on RGB in
  0..1, absolute-value form, weight 0.5), here clipped at the truth's own colourfulness:
  `relu(CF(truth) - CF(pred))`. Below the truth's CF its gradient is DDColor's; at or above it the term is
  0, so it never rewards colour beyond the truth's (DDColor's authors note their term makes "unreasonable
  colour artifacts" at times).
- `ChromaClassLoss`: CIC (Zhang, Isola & Efros, ECCV 2016, §2.1-2.3): the ab plane quantised on a grid of
  10, each truth ab soft-encoded to its 5 nearest bins with a Gaussian of sigma 5, a cross-entropy weighted
  per pixel by the class-rebalancing weight of its nearest bin, `w ∝ ((1-λ) p̃ + λ/Q)^-1` with p̃ the
  empirical prior smoothed by a Gaussian of sigma 5 and λ = 0.5, normalised so `E_p̃[w] = 1`. The logits
  come from the generator's ab head (generator.ChromaHead); `annealed_mean` (T = 0.38) decodes them.
  The bins are those that sRGB colours reach (`ab_bins`: 261 of a 10-grid; Zhang et al.'s hull file,
  313 bins, is not shipped, and their larger count includes bins no sRGB colour quantises to).
  The prior comes from the training pictures (`empirical_ab_prior`, cached), not ImageNet's.
- `ColourTermsLoss`: the feature loss plus the weighted terms, with each term's last value in `last_parts`.

Every tensor is the generator's output convention: ImageNet-normalised RGB, (B, 3, H, W).
"""
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from .colour import IMAGENET_MEAN, IMAGENET_STD, rgb_to_lab

AB_GRID, SOFT_NEIGHBOURS, SOFT_SIGMA = 10.0, 5, 5.0
PRIOR_SIGMA, PRIOR_LAMBDA, ANNEALED_T = 5.0, 0.5, 0.38
LOSS_SIDE = 64  # the classification is scored at most this many pixels a side (CIC scores at 1/4 size)
PRIOR_SIDE = 64  # training pictures are read at this side to count the prior


def to_rgb01(x):
    "ImageNet-normalised RGB (B, 3, H, W) to RGB in 0..1 (clamped), differentiably."
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x * std + mean).clamp(0, 1)


def lab_ab(rgb01):
    "RGB in 0..1 (B, 3, H, W) to CIE a*, b* (D65), (B, 2, H, W), differentiably (the same formulas as skimage)."
    lin = torch.where(rgb01 > 0.04045, ((rgb01 + 0.055) / 1.055).clamp_min(1e-8) ** 2.4, rgb01 / 12.92)
    m = rgb01.new_tensor([[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]])
    xyz = torch.einsum('ij,bjhw->bihw', m, lin) / rgb01.new_tensor([0.95047, 1.0, 1.08883]).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-8) ** (1 / 3), 7.787 * xyz + 16 / 116)
    return torch.stack([500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], 1)


def colourfulness01(rgb01):
    "Hasler & Süsstrunk colourfulness of each picture (B,), absolute-value form, on RGB in 0..1 (x255 = the metric's)."
    r, g, b = rgb01[:, 0].flatten(1), rgb01[:, 1].flatten(1), rgb01[:, 2].flatten(1)
    rg, yb = (r - g).abs(), (0.5 * (r + g) - b).abs()
    spread = (rg.var(1, unbiased=False) + yb.var(1, unbiased=False) + 1e-10).sqrt()
    centre = (rg.mean(1) ** 2 + yb.mean(1) ** 2 + 1e-10).sqrt()
    return spread + 0.3 * centre


class ColourfulnessLoss(nn.Module):
    "DDColor's colourfulness loss, clipped at the truth's colourfulness (see the module's docstring)."

    def forward(self, pred, target):
        with torch.no_grad():
            want = colourfulness01(to_rgb01(target))
        return F.relu(want - colourfulness01(to_rgb01(pred))).mean()


@lru_cache(maxsize=1)
def _ab_bins_np():
    v = np.arange(0, 256, 3, dtype=np.float64) / 255.0
    cube = np.stack(np.meshgrid(v, v, v, indexing='ij'), -1).reshape(-1, 1, 3)
    ab = rgb_to_lab(cube)[:, 0, 1:]
    return np.unique(np.round(ab / AB_GRID), axis=0).astype(np.float32) * AB_GRID


def ab_bins():
    "The centres (Q, 2) of the 10-unit a*b* grid cells that sRGB colours reach (Q = 261), in a fixed order."
    return torch.from_numpy(_ab_bins_np().copy())


def soft_encode(ab, centres, k=SOFT_NEIGHBOURS, sigma=SOFT_SIGMA):
    """CIC's soft encoding: (B, 2, H, W) ab to (B, Q, H, W) weights on the `k` nearest bin centres,
    Gaussian in the distance (sigma 5), summing to 1; also the index of the nearest bin (B, H, W)."""
    d2 = ((ab.unsqueeze(1) - centres.view(1, -1, 2, 1, 1)) ** 2).sum(2)  # (B, Q, H, W)
    near, idx = d2.topk(k, dim=1, largest=False)
    w = torch.softmax(-near / (2 * sigma ** 2), dim=1)
    return torch.zeros_like(d2).scatter_(1, idx, w), idx[:, 0]


def empirical_ab_prior(files, cache=None, side=PRIOR_SIDE):
    """The share of pixels of the pictures `files` whose a*b* falls in each bin (Q,), read at `side` px.
    With `cache` (a JSON path) it is read from there when it was counted from the same files, else counted
    and written there."""
    names = sorted(str(Path(f).resolve()) for f in files)
    if cache and Path(cache).is_file():
        doc = json.loads(Path(cache).read_text())
        if doc.get('files') == names and doc.get('side') == side:
            return torch.tensor(doc['prior'], dtype=torch.float32)
    centres = _ab_bins_np()
    counts = np.zeros(len(centres))
    for f in names:
        with Image.open(f) as im:
            im = im.convert('RGB')
            im.thumbnail((side, side))
            ab = rgb_to_lab(np.asarray(im))[..., 1:].reshape(-1, 2)
        nearest = ((ab[:, None, :] - centres[None]) ** 2).sum(-1).argmin(1)
        counts += np.bincount(nearest, minlength=len(centres))
    prior = counts / max(counts.sum(), 1)
    if cache:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        Path(cache).write_text(json.dumps({'files': names, 'side': side, 'grid': AB_GRID, 'prior': prior.tolist()}))
    return torch.tensor(prior, dtype=torch.float32)


def rebalancing_weights(prior, centres, lam=PRIOR_LAMBDA, sigma=PRIOR_SIGMA):
    "CIC's class-rebalancing weights (Q,) from an empirical prior over the bins (see the module's docstring)."
    prior = torch.as_tensor(prior, dtype=torch.float64)
    d2 = ((centres.double().unsqueeze(1) - centres.double().unsqueeze(0)) ** 2).sum(-1)
    smooth = torch.exp(-d2 / (2 * sigma ** 2)) @ prior
    smooth = smooth / smooth.sum()
    w = 1.0 / ((1 - lam) * smooth + lam / len(prior))
    return (w / (smooth * w).sum()).float()


def annealed_mean(logits, centres, t=ANNEALED_T):
    "CIC's annealed-mean decoding: logits (B, Q, H, W) to a*b* (B, 2, H, W), softmax(logits / T) · centres."
    p = torch.softmax(logits / t, dim=1)
    return torch.einsum('bqhw,qc->bchw', p, centres.to(p))


class ChromaClassLoss(nn.Module):
    "CIC's rebalanced multinomial cross-entropy of ab-bin logits (B, Q, H, W) against the truth (see above)."

    def __init__(self, weights):
        super().__init__()
        self.register_buffer('centres', ab_bins())
        self.register_buffer('weights', torch.as_tensor(weights, dtype=torch.float32))

    def forward(self, logits, target):
        h, w = logits.shape[-2:]
        if max(h, w) > LOSS_SIDE:
            f = LOSS_SIDE / max(h, w)
            logits = F.adaptive_avg_pool2d(logits, (max(1, round(h * f)), max(1, round(w * f))))
        with torch.no_grad():
            ab = lab_ab(F.adaptive_avg_pool2d(to_rgb01(target), logits.shape[-2:]))
            z, nearest = soft_encode(ab, self.centres)
            w = self.weights[nearest]
        ce = -(z * F.log_softmax(logits, dim=1)).sum(1)
        return (w * ce).mean()


class ColourTermsLoss(nn.Module):
    """`base` (the feature loss) plus weighted colour terms: `colourfulness` (DDColor), `chroma_class` (CIC,
    reading the logits the generator's ab head kept from the same forward pass: `head.logits`)."""

    def __init__(self, base, colourfulness=0.0, chroma_class=0.0, head=None, class_weights=None):
        super().__init__()
        if chroma_class and head is None:
            raise ValueError("the chroma classification term needs the generator's ab head")
        self.base, self.head = base, head
        self.colourfulness, self.chroma_class = float(colourfulness), float(chroma_class)
        self.cf_loss = ColourfulnessLoss()
        self.class_loss = ChromaClassLoss(class_weights if class_weights is not None else torch.ones(len(_ab_bins_np())))
        self.last_parts = {}

    def forward(self, pred, target):
        pred, target = torch.as_tensor(pred).as_subclass(torch.Tensor), torch.as_tensor(target).as_subclass(torch.Tensor)
        total = self.base(pred, target)
        parts = dict(getattr(self.base, 'last_parts', {}))
        if self.colourfulness:
            cf = self.cf_loss(pred, target)
            parts['colourfulness'] = cf.detach()
            total = total + self.colourfulness * cf
        if self.chroma_class:
            ce = self.class_loss(self.head.logits, target)
            parts['chroma_class'] = ce.detach()
            total = total + self.chroma_class * ce
        self.last_parts = parts
        return total
