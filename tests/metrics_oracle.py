"""The photo measures as they were computed before deoldify_like.scoring, with NumPy and scikit-image, one
picture at a time: the oracle the batched tensor code is compared with (tests/test_scoring.py)."""
import math

import numpy as np
from skimage.color import deltaE_ciede2000
from skimage.metrics import structural_similarity

from deoldify_like.colour import rgb_to_lab


def colourfulness(rgb):
    x = np.asarray(rgb, dtype=np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    rg, yb = np.abs(r - g), np.abs(0.5 * (r + g) - b)
    return float(math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean()))


def psnr(output, truth):
    mse = float(np.mean((np.asarray(output, np.float64) - np.asarray(truth, np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


def ssim(output, truth):
    return float(structural_similarity(np.asarray(output, np.float64), np.asarray(truth, np.float64),
                                       data_range=255.0, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))


def ciede2000(output, truth):
    return float(np.mean(deltaE_ciede2000(rgb_to_lab(truth), rgb_to_lab(output))))


def drift_sums(output, truth):
    "Mean chroma of output and truth, mean (a_o + i b_o)·conj(a_t + i b_t): what DriftMeter adds per picture."
    lo, lt = rgb_to_lab(output), rgb_to_lab(truth)
    zo, zt = lo[..., 1] + 1j * lo[..., 2], lt[..., 1] + 1j * lt[..., 2]
    return float(np.abs(zo).mean()), float(np.abs(zt).mean()), complex((zo * np.conj(zt)).mean())


def photo_summary(outputs, truths):
    "PhotoMeter.summary's numbers: means of the per-picture measures, ΔCF, and the drift of the set."
    rows = [dict(cf_output=colourfulness(o), cf_truth=colourfulness(t), psnr=psnr(o, t), ssim=ssim(o, t),
                 ciede2000=ciede2000(o, t)) for o, t in zip(outputs, truths)]
    mean = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
    sums = [drift_sums(o, t) for o, t in zip(outputs, truths)]
    co, ct = np.mean([s[0] for s in sums]), np.mean([s[1] for s in sums])
    cross = sum(s[2] for s in sums)
    mean.update(delta_cf=abs(mean['cf_output'] - mean['cf_truth']), saturation_ratio=co / ct,
                hue_shift=math.degrees(math.atan2(cross.imag, cross.real)))
    return rows, mean
