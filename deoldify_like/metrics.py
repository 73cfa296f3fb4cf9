"""Colour-quality measures of colorization, computed offline (reference.md §4).

Photos (output against its colour original, both uint8 RGB of the same size; computed by the batched torch
code of `deoldify_like.scoring`, on any device, many pictures at once with `score_photos`):
- `colourfulness`: Hasler & Süsstrunk (2003), absolute-value form on RGB 0..255.
- `delta_cf`: |mean CF of outputs − mean CF of truths| over a set.
- `psnr`: on RGB 0..255, MSE over all pixels and channels; inf for identical pictures.
- `ssim`: window `SSIM_WINDOW` (Gaussian σ = 1.5, 11×11, as Wang et al. 2004), per RGB channel, averaged.
- `ciede2000`: mean CIEDE2000 colour difference on CIE Lab (D65).
- `drift`: saturation ratio and hue shift against the truth in Lab a*b* (the orange-skin sign of a GAN
  burst gone too far); `drift_warning` turns them into a verdict with a reason.

Films (CDC, warp error, brightness flicker): `deoldify_like.film_metrics`.
"""
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from . import scoring
from .colour import rgb_to_lab

SSIM_WINDOW = 'Gaussian sigma 1.5, 11x11 (Wang et al. 2004), mean of R, G, B'
SSIM_LABEL = 'SSIM (Gaussian 11x11, sigma 1.5)'
# drift defaults: chroma more than 20 % above the truth's, or mean hue turned by more than 8 degrees
MAX_SATURATION_RATIO, MAX_HUE_SHIFT = 1.2, 8.0


def _rgb(x):
    "One RGB picture (H, W, 3) as a batch of one tensor (uint8 as is; float arrays are taken to be 0..255)."
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f'expected an RGB picture (H, W, 3), got shape {x.shape}')
    return torch.from_numpy(np.ascontiguousarray(x if x.dtype == np.uint8 else x.astype(np.float64)))[None]


def _same_shape(output, truth):
    if np.shape(output) != np.shape(truth):
        raise ValueError(f'output {np.shape(output)} and truth {np.shape(truth)} differ in size')


def _lab(rgb):
    "CIE Lab of one RGB picture as a batch of one tensor (uint8 through scoring.lab, else colour.rgb_to_lab)."
    x = np.asarray(rgb)
    return scoring.lab(_rgb(x)) if x.dtype == np.uint8 else torch.from_numpy(rgb_to_lab(x))[None]


def _lab_tensor(lab):
    return lab if isinstance(lab, torch.Tensor) else torch.from_numpy(np.asarray(lab, dtype=np.float64))


# ---------------------------------------------------------------- photos
# One definition of each measure: the batched tensor code of deoldify_like.scoring; these functions take
# one picture (NumPy) and return a float.

def colourfulness(rgb):
    """Hasler–Süsstrunk colourfulness of an RGB picture on the 0..255 scale.

    rg = |R − G|, yb = |½(R + G) − B|; CF = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²), with
    population standard deviations over all pixels. 0 for a gray picture.
    """
    return float(scoring.colourfulness(_rgb(rgb))[0])


def delta_cf(outputs, truths):
    "ΔCF = |mean CF of `outputs` − mean CF of `truths`| (lists of RGB pictures, or of their CF values)."
    cf = lambda xs: float(np.mean([x if np.ndim(x) == 0 else colourfulness(x) for x in xs]))  # noqa: E731
    return abs(cf(outputs) - cf(truths))


def psnr(output, truth, data_range=255.0):
    "Peak signal-to-noise ratio in dB on RGB 0..255: 10·log10(255² / MSE); inf when the pictures are equal."
    _same_shape(output, truth)
    return float(scoring.psnr(_rgb(output), _rgb(truth), data_range)[0])


def ssim(output, truth, data_range=255.0):
    """Structural similarity on RGB 0..255 with the window of Wang et al. (2004): Gaussian weights,
    σ = 1.5, 11×11 (skimage's truncate 3.5), K1 = 0.01, K2 = 0.03, population covariances; computed per
    channel and averaged (`SSIM_WINDOW`). NaN for pictures smaller than 11 pixels on a side."""
    _same_shape(output, truth)
    return float(scoring.ssim(_rgb(output), _rgb(truth), data_range)[0])


def ciede2000_lab(lab_output, lab_truth):
    "Mean CIEDE2000 difference between two CIE Lab pictures (or arrays of Lab triples)."
    return float(scoring.ciede2000_map(_lab_tensor(lab_truth), _lab_tensor(lab_output)).mean())


def ciede2000(output, truth):
    "Mean CIEDE2000 colour difference (kL = kC = kH = 1) between two RGB pictures, via CIE Lab (D65)."
    _same_shape(output, truth)
    return float(scoring.ciede2000(_lab(output), _lab(truth))[0])


@dataclass
class Drift:
    """How far colour has moved from the truth, in CIE Lab a*b*.

    `saturation_ratio` = mean chroma C*ab of the output / mean chroma of the truth (1 = as saturated as the
    truth, >1 oversaturated, <1 washed out). `hue_shift` = the chroma-weighted circular mean of the per-pixel
    hue difference, in degrees in (−180, 180]: arg Σ (a_o + i b_o)·conj(a_t + i b_t), i.e. each pixel's hue
    turn weighted by C_o·C_t, so pixels gray in either picture do not count. Positive = turned
    counter-clockwise in a*b* (red → yellow → green → blue), e.g. skin going orange; negative = toward
    red/magenta, e.g. lips going red.
    """
    saturation_ratio: float
    hue_shift: float
    output_chroma: float = math.nan
    truth_chroma: float = math.nan


class DriftMeter:
    "Accumulates drift over a set: each picture counts once (per-picture means), whatever its size."

    def __init__(self):
        self.chroma_o = self.chroma_t = 0.0
        self.cross = 0j
        self.n = 0

    def add_sums(self, sums):
        "One picture's `scoring.drift_sums` row: mean chroma of output and truth, mean cross term (re, im)."
        chroma_o, chroma_t, re, im = (float(v) for v in sums)
        self.chroma_o += chroma_o
        self.chroma_t += chroma_t
        self.cross += complex(re, im)
        self.n += 1
        return self

    def add_lab(self, lab_output, lab_truth):
        lo, lt = _lab_tensor(lab_output), _lab_tensor(lab_truth)
        return self.add_sums(scoring.drift_sums(lo.reshape(1, -1, 3), lt.reshape(1, -1, 3))[0])

    def add(self, output, truth):
        _same_shape(output, truth)
        return self.add_sums(scoring.drift_sums(_lab(output), _lab(truth))[0])

    @property
    def value(self):
        if not self.n:
            return Drift(math.nan, math.nan)
        co, ct = self.chroma_o / self.n, self.chroma_t / self.n
        ratio = co / ct if ct > 0 else math.nan
        hue = math.degrees(math.atan2(self.cross.imag, self.cross.real)) if abs(self.cross) > 0 else math.nan
        return Drift(ratio, hue, co, ct)


def drift(output, truth):
    "`Drift` of one output picture against its colour original (both uint8 RGB)."
    return DriftMeter().add(output, truth).value


def drift_warning(d, max_saturation_ratio=MAX_SATURATION_RATIO, max_hue_shift=MAX_HUE_SHIFT,
                  min_saturation_ratio=None):
    """'' when `d` (a `Drift`) stays near the truth, else 'drift: <reasons>'.

    Warns when chroma exceeds the truth's by more than `max_saturation_ratio` or the mean hue turns by more
    than `max_hue_shift` degrees: the first signs of a GAN burst gone too far (orange skin, red lips).
    Washed-out colour is the normal state of an early generator, so `min_saturation_ratio` is off unless
    given.
    """
    reasons = []
    if d.saturation_ratio > max_saturation_ratio:
        reasons.append(f'saturation x{d.saturation_ratio:.2f} of the truth (> x{max_saturation_ratio:g})')
    if min_saturation_ratio is not None and d.saturation_ratio < min_saturation_ratio:
        reasons.append(f'saturation x{d.saturation_ratio:.2f} of the truth (< x{min_saturation_ratio:g})')
    if abs(d.hue_shift) > max_hue_shift:
        toward = 'toward yellow/orange' if d.hue_shift > 0 else 'toward red/magenta'
        reasons.append(f'hue turned {d.hue_shift:+.1f} deg {toward} (> {max_hue_shift:g})')
    return 'drift: ' + '; '.join(reasons) if reasons else ''


PHOTO_COLUMNS = ('cf_output', 'cf_truth', 'psnr', 'ssim', 'ciede2000', 'saturation_ratio', 'hue_shift')


def lab_pictures(pictures, device='cpu', batch=8):
    "The CIE Lab tensors (H, W, 3) on `device` of uint8 RGB pictures, converted in batches of one size."
    labs = [None] * len(pictures)
    with scoring.one_cpu_thread(device):
        for idx in scoring.batches([np.shape(p) for p in pictures], batch):
            for i, lab in zip(idx, scoring.lab(scoring.as_batch([pictures[i] for i in idx], device))):
                labs[i] = lab
    return labs


def ciede2000_pairs(labs_a, labs_b):
    "The mean CIEDE2000 of each pair of two lists of Lab tensors (`lab_pictures`)."
    with scoring.one_cpu_thread(labs_a[0].device if labs_a else 'cpu'):
        return [float(scoring.ciede2000(a[None], b[None])[0]) for a, b in zip(labs_a, labs_b)]


def score_photos(outputs, truths, device='cpu', truth_labs=None, output_labs=None, batch=8):
    """Every photo measure of each output against its colour original (lists of uint8 RGB, pairwise the
    same size), scored on `device` in batches of up to `batch` same-sized pictures, each at full size.

    Returns `(rows, sums, labs)` in the order given: a dict per picture keyed by `PHOTO_COLUMNS`, its
    `scoring.drift_sums` row, and its output's Lab tensor (on `device`; e.g. for the ΔE00 between two sets
    of outputs without converting them again). `truth_labs`, `output_labs`: Lab tensors where already
    known (`lab_pictures`; e.g. the same truths scored against the outputs of several checkpoints)."""
    for o, t in zip(outputs, truths):
        _same_shape(o, t)
    n = len(outputs)
    rows, sums, labs = [None] * n, [None] * n, [None] * n
    with scoring.one_cpu_thread(device):
        _score_batches(outputs, truths, device, truth_labs, output_labs, batch, rows, sums, labs)
    return rows, sums, labs


def _score_batches(outputs, truths, device, truth_labs, output_labs, batch, rows, sums, labs):
    for idx in scoring.batches([np.shape(t) for t in truths], batch):
        out = scoring.as_batch([outputs[i] for i in idx], device)
        tru = scoring.as_batch([truths[i] for i in idx], device)
        lab_o = torch.stack([output_labs[i] for i in idx]) if output_labs is not None else scoring.lab(out)
        lab_t = torch.stack([truth_labs[i] for i in idx]) if truth_labs is not None else scoring.lab(tru)
        values = dict(cf_output=scoring.colourfulness(out), cf_truth=scoring.colourfulness(tru),
                      psnr=scoring.psnr(out, tru), ssim=scoring.ssim(out, tru),
                      ciede2000=scoring.ciede2000(lab_o, lab_t))
        drift_rows = scoring.drift_sums(lab_o, lab_t).cpu()
        values = {k: v.cpu().tolist() for k, v in values.items()}
        for j, i in enumerate(idx):
            d = DriftMeter().add_sums(drift_rows[j]).value
            rows[i] = {**{k: v[j] for k, v in values.items()}, 'saturation_ratio': d.saturation_ratio,
                       'hue_shift': d.hue_shift}
            sums[i], labs[i] = drift_rows[j], lab_o[j]


def photo_scores(output, truth):
    "All per-picture measures of an output against its colour original, as a dict keyed by `PHOTO_COLUMNS`."
    return score_photos([output], [truth])[0][0]


@dataclass
class PhotoMeter:
    "Accumulates `photo_scores` over a set and summarises them (means, ΔCF, drift over the set)."
    rows: list = field(default_factory=list)
    _drift: DriftMeter = field(default_factory=DriftMeter)

    def add(self, output, truth):
        return self.add_many([output], [truth])[0]

    def add_many(self, outputs, truths, device='cpu', truth_labs=None, output_labs=None):
        "Score many pictures at once (`score_photos`); returns their rows."
        rows, sums, _ = score_photos(outputs, truths, device, truth_labs, output_labs)
        self.add_scored(rows, sums)
        return rows

    def add_scored(self, rows, sums):
        "Pictures already scored by `score_photos`: their rows and drift sums."
        for s in sums:
            self._drift.add_sums(s)
        self.rows += rows
        return self

    def summary(self):
        "Means over the set: cf_output, cf_truth, delta_cf, psnr, ssim, ciede2000, set drift and its warning."
        if not self.rows:
            return dict(count=0)
        mean = lambda k: float(np.nanmean([r[k] for r in self.rows]))  # noqa: E731
        d = self._drift.value
        return dict(count=len(self.rows), cf_output=mean('cf_output'), cf_truth=mean('cf_truth'),
                    delta_cf=abs(mean('cf_output') - mean('cf_truth')), psnr=mean('psnr'), ssim=mean('ssim'),
                    ciede2000=mean('ciede2000'), saturation_ratio=d.saturation_ratio, hue_shift=d.hue_shift,
                    drift=drift_warning(d))
