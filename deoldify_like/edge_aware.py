"""Edge-aware smoothing guided by luminance, for filling chroma where it cannot be trusted.

`recursive_filter` is the domain transform's recursive filter (Gastal and Oliveira, SIGGRAPH 2011): a
one-tap recursive (IIR) smoothing along rows and columns whose feedback weakens with the distance in the
domain transform, 1 + sigma_s / sigma_r * |dI|, so smoothing reaches far (sigma_s pixels) within a region
of like luminance and hardly crosses a strong luminance edge. `normalized_fill` uses it as normalised
convolution (Knutsson and Westin 1993): smooth(x·c) / smooth(c) fills low-confidence pixels with the
confident values of their own luminance region, and smooth(c) says how much support each pixel had.
OpenCV's ximgproc (contrib) has the same filter; this one needs only NumPy.
"""
import numpy as np

SIGMA_SPACE = 60.0  # pixels
SIGMA_RANGE = 0.08  # luminance, 0..1
ITERATIONS = 3


def _pass(planes, weights):
    "One left-to-right and right-to-left recursive pass along axis 0 of `planes` (N, M, C), in place."
    for i in range(1, planes.shape[0]):
        planes[i] += weights[i] * (planes[i - 1] - planes[i])
    for i in range(planes.shape[0] - 2, -1, -1):
        planes[i] += weights[i + 1] * (planes[i + 1] - planes[i])


def recursive_filter(guide, src, sigma_s=SIGMA_SPACE, sigma_r=SIGMA_RANGE, iterations=ITERATIONS):
    """Domain-transform recursive filter of `src` (H, W) or (H, W, C) guided by `guide` (H, W), 0..1."""
    guide = np.asarray(guide, dtype=np.float32)
    out = np.array(src, dtype=np.float32)
    flat = out.ndim == 2
    if flat:
        out = out[..., None]
    ratio = sigma_s / sigma_r
    dx = np.zeros(guide.shape, np.float32)  # domain-transform derivative between a pixel and the one before it
    dx[:, 1:] = 1 + ratio * np.abs(np.diff(guide, axis=1))
    dy = np.zeros(guide.shape, np.float32)
    dy[1:] = 1 + ratio * np.abs(np.diff(guide, axis=0))
    rows = np.ascontiguousarray(out.transpose(1, 0, 2))  # (W, H, C): a column per step along x
    for i in range(iterations):
        sigma_i = sigma_s * np.sqrt(3) * 2 ** (iterations - i - 1) / np.sqrt(4 ** iterations - 1)
        a = np.float32(np.exp(-np.sqrt(2) / sigma_i))
        _pass(rows, (a ** dx.T)[..., None])
        cols = np.ascontiguousarray(rows.transpose(1, 0, 2))  # (H, W, C)
        _pass(cols, (a ** dy)[..., None])
        rows = np.ascontiguousarray(cols.transpose(1, 0, 2))
    out = rows.transpose(1, 0, 2)
    return np.ascontiguousarray(out[..., 0] if flat else out)


def normalized_fill(guide, values, confidence, sigma_s=SIGMA_SPACE, sigma_r=SIGMA_RANGE):
    """Edge-aware normalised convolution: `values` (H, W, C) where `confidence` (H, W, 0..1) is low replaced by
    the confidence-weighted mean of like-luminance neighbours. Returns (filled (H, W, C), support (H, W))."""
    c = np.asarray(confidence, dtype=np.float32)[..., None]
    stacked = np.concatenate([np.asarray(values, np.float32) * c, c], -1)
    smooth = recursive_filter(guide, stacked, sigma_s, sigma_r)
    support = smooth[..., -1]
    return smooth[..., :-1] / np.maximum(support, 1e-6)[..., None], support
