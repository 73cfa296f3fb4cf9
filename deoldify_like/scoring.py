"""The photo measures of `deoldify_like.metrics` as batched torch code on any device (definitions: metrics.py,
reference.md §4): sRGB -> CIE Lab, CIEDE2000, SSIM, PSNR, colourfulness and the drift sums.

Each function takes a batch of same-sized pictures, uint8 RGB tensors (N, H, W, 3) (or Lab float tensors
(..., 3)), and returns one value per picture, so `checkpoints`, the picker and `evaluate` score a whole set
at once instead of one full-size picture at a time in NumPy/scikit-image. `batches` groups pictures of
different sizes into same-sized stacks; every picture is scored at its full size.

The numbers follow scikit-image exactly (the tests compare them on real photos within 1e-3):
- Lab: `skimage.color.rgb2lab` (D65, 2° observer) of uint8 / 255 taken through float32 as
  `deoldify_like.colour.rgb_to_lab` does; the sRGB gamma and the XYZ matrix are three 256-entry tables.
- CIEDE2000: `skimage.color.deltaE_ciede2000` term by term (kL = kC = kH = 1).
- SSIM: `structural_similarity(..., gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
  data_range=255, channel_axis=-1)`: separable 11-tap Gaussian (truncate 3.5), population covariances,
  the mean over the picture without a 5-pixel border (skimage crops it), each channel, then their mean.
  The filters run only where they are kept ('valid'), so scipy's border mode never matters.
- PSNR and colourfulness come from exact integer sums (int64), so they equal the NumPy values.
`DTYPE` (float32) is the precision of Lab, CIEDE2000 and SSIM (sums in float64): within 1e-5 of the
float64 NumPy values on real photos, and twice as fast as float64 on a CPU.
"""
import contextlib
import math

import numpy as np
import torch

DTYPE = torch.float32
SSIM_SIGMA, SSIM_TRUNCATE, SSIM_K1, SSIM_K2 = 1.5, 3.5, 0.01, 0.03
SSIM_RADIUS = int(SSIM_TRUNCATE * SSIM_SIGMA + 0.5)  # 5: an 11-tap window, as scipy.ndimage computes it
DATA_RANGE = 255.0
XYZ_FROM_RGB = np.array([[0.412453, 0.357580, 0.180423],  # sRGB -> XYZ (skimage's xyz_from_rgb)
                         [0.212671, 0.715160, 0.072169],
                         [0.019334, 0.119193, 0.950227]])
D65_WHITE = np.array([0.95047, 1.0, 1.08883])  # 2° observer


def _linear_table():
    "sRGB gamma expansion of each uint8 value v / 255 (taken through float32, as colour.rgb_to_lab): (256,)."
    v = (np.arange(256, dtype=np.float32) / np.float32(255.0)).astype(np.float64)
    return np.where(v > 0.04045, np.power((v + 0.055) / 1.055, 2.4), v / 12.92)


_LINEAR = torch.from_numpy(_linear_table())
_XYZ_WHITE = torch.from_numpy(XYZ_FROM_RGB.T / D65_WHITE)  # linear RGB row vector -> XYZ / white
_TABLE_CACHE = {}


def _tables(device, dtype):
    key = (str(device), dtype)
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = (_LINEAR.to(device=device, dtype=dtype), _XYZ_WHITE.to(device=device, dtype=dtype))
    return _TABLE_CACHE[key]


def as_batch(pictures, device='cpu'):
    "Same-sized RGB pictures (arrays or tensors, uint8 or 0..255 floats) as one tensor (N, H, W, 3) on `device`."
    if isinstance(pictures, torch.Tensor):
        return pictures.to(device)
    return torch.from_numpy(np.stack([np.asarray(p) for p in pictures])).to(device)


def batches(shapes, size=8):
    """Indices of pictures grouped into batches of at most `size` pictures of one shape, in first-seen order
    of the shapes: `shapes` is a list of (H, W[, 3])."""
    groups = {}
    for i, s in enumerate(shapes):
        groups.setdefault(tuple(s), []).append(i)
    return [idx[k:k + size] for idx in groups.values() for k in range(0, len(idx), size)]


def chunk_pixels(device):
    """Pixels per piece of work: on a CPU, pieces whose temporaries stay in the cache and in memory the
    allocator reuses (fresh large tensors cost page faults that take longer than the arithmetic); on a GPU,
    whole batches."""
    return 1 << 16 if torch.device(device).type == 'cpu' else 1 << 24


@contextlib.contextmanager
def one_cpu_thread(device):
    """Scoring on a CPU runs with one intra-op thread: its pieces are small, and on a shared CPU OpenMP
    workers spin waiting for each other (measured: 1.65 s of CPU per picture pair with 2 threads, 0.071 s
    with 1; docs/metrics.md). Other devices are left alone."""
    if torch.device(device).type != 'cpu':
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _lab_pixels(rgb):
    """uint8 (P, 3) -> Lab (P, 3), worked out in float64 and kept in `DTYPE`: a* and b* are differences of
    nearly equal cube roots, and a gray pixel's few thousandths (skimage's matrix is not exactly D65) would
    lose their digits in float32, and with them the hue of a gray output."""
    linear, to_xyz = _tables(rgb.device, torch.float64)
    xyz = to_xyz.T @ linear.take(_planes(rgb).long())  # X, Y, Z as planes (3, P)
    fx, fy, fz = torch.where(xyz > 0.008856, xyz.clamp(min=0).pow(1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-1).to(DTYPE)


def lab(rgb):
    "uint8 RGB (..., 3) tensor -> CIE Lab (D65) in `DTYPE`, as skimage.color.rgb2lab."
    flat = rgb.reshape(-1, 3)
    out = torch.empty(flat.shape, dtype=DTYPE, device=rgb.device)
    step = chunk_pixels(rgb.device)
    for i in range(0, len(flat), step):
        out[i:i + step] = _lab_pixels(flat[i:i + step])
    return out.view(*rgb.shape[:-1], 3)


def gray_lab(luma):
    """`lab` of the gray RGB picture (v, v, v) of a uint8 luminance tensor (..., H, W), from a table of the
    256 gray levels (the same numbers as `lab` of the picture, without its arithmetic)."""
    key = ('gray', str(luma.device))
    if key not in _TABLE_CACHE:
        _TABLE_CACHE[key] = lab(torch.arange(256, dtype=torch.uint8, device=luma.device)[:, None].expand(256, 3))
    return _TABLE_CACHE[key][luma.long()]


def _picture_means(fn, *stacks):
    """Mean over each picture's pixels of `fn(*chunks)`, a function of pixel chunks (N, p, C) -> K planes
    (N, p), for stacks of pictures (N, H, W, C): (N, K) in float64, accumulated chunk by chunk. Planes, not
    one (N, p, K) tensor: a sum over contiguous values is three times as fast as over a strided view."""
    flat = [b.reshape(b.shape[0], -1, b.shape[-1]) for b in stacks]
    n, pixels = flat[0].shape[:2]
    step = max(1, chunk_pixels(flat[0].device) // n)
    total = 0
    for i in range(0, pixels, step):
        total = total + torch.stack([plane.double().sum(1) for plane in fn(*(f[:, i:i + step] for f in flat))], -1)
    return total / pixels


def _planes(x):
    "The channels of (..., C) as C contiguous tensors (...): elementwise work on strided views is slower."
    return x.movedim(-1, 0).contiguous()


def ciede2000_map(lab1, lab2):
    """Per-pixel CIEDE2000 (kL = kC = kH = 1) between Lab tensors (..., 3), as skimage.color.deltaE_ciede2000.

    The hue terms come from the two chroma vectors without their angles (atan2 was a third of the time of
    the direct formula; this is 1.5 times as fast on a CPU): 2·sin(Δh/2) is the chord between the unit
    vectors, signed by their cross product, and the mean hue h̄ (the midpoint of the shorter arc; the other
    hue where one chroma is 0) is the direction of their sum, so cos h̄ and sin h̄ need no trigonometry and
    h̄ one atan2."""
    L1, a1, b1 = _planes(lab1)
    L2, a2, b2 = _planes(lab2)
    cbar = 0.5 * (torch.hypot(a1, b1) + torch.hypot(a2, b2))
    scale = 1.5 - 0.5 * _chroma_weight(cbar)
    a1, a2 = a1 * scale, a2 * scale
    C1, C2 = torch.hypot(a1, b1), torch.hypot(a2, b2)
    tmp = 0.5 * (L1 + L2) - 50
    tmp = tmp * tmp
    l_term = (L2 - L1) / (1 + 0.015 * tmp / torch.sqrt(20 + tmp))
    cbar = 0.5 * (C1 + C2)
    c_term = (C2 - C1) / (1 + 0.045 * cbar)
    # unit chroma vectors, 0 for no chroma (a = b = 0 there; `where` is several times slower than arithmetic)
    inv1, inv2 = 1 / C1.clamp(min=_TINY), 1 / C2.clamp(min=_TINY)
    u1a, u1b, u2a, u2b = a1 * inv1, b1 * inv1, a2 * inv2, b2 * inv2
    da, db = u2a - u1a, u2b - u1b
    chord = torch.hypot(da, db)
    dh_term = torch.sqrt(C1 * C2) * torch.copysign(chord, u1a * u2b - u1b * u2a)  # 2·√(C1·C2)·sin(Δh/2)
    va, vb = u1a + u2a, u1b + u2b  # along the mean hue
    norm = torch.hypot(va, vb)
    # for hues more than 90° apart the sum loses digits; (-db, da), perpendicular to the difference, is
    # then the accurate direction, with the sum's sign
    wide = (chord > norm).to(chord.dtype)  # 1 or 0: lerp picks one side exactly
    side = torch.copysign(torch.ones_like(da), da * vb - db * va)
    va, vb, norm = torch.lerp(va, -db * side, wide), torch.lerp(vb, da * side, wide), torch.lerp(norm, chord, wide)
    none = (norm == 0).to(norm.dtype)  # no mean hue (both chroma 0): h̄ = 0, as skimage
    va, norm = va + none, norm + none
    c, s = va / norm, vb / norm  # cos h̄, sin h̄
    hbar = torch.rad2deg(torch.atan2(vb, va))
    hbar = hbar + 360 * (hbar < 0)  # in [0, 360)
    # T of the formula from cos and sin of h̄ alone (multiple-angle identities)
    c2, s2 = 2 * c * c - 1, 2 * s * c
    c3, s3 = c * (2 * c2 - 1), s * (2 * c2 + 1)
    c4, s4 = 2 * c2 * c2 - 1, 2 * s2 * c2
    t = (1 - 0.17 * (c * _COS30 + s * _SIN30) + 0.24 * c2 + 0.32 * (c3 * _COS6 - s3 * _SIN6)
         - 0.20 * (c4 * _COS63 + s4 * _SIN63))
    h_term = dh_term / (1 + 0.015 * cbar * t)
    e = (hbar - 275) / 25
    dtheta = math.radians(30) * torch.exp(-(e * e).clamp(max=80))  # exp(-80) ~ 2e-35: far from 275° it is 0
    # either way, and exp of a large negative number (a result below float32's range) is 4 times slower
    r_term = -torch.sin(2 * dtheta) * (2 * _chroma_weight(cbar)) * c_term * h_term
    return torch.sqrt((l_term * l_term + c_term * c_term + h_term * h_term + r_term).clamp(min=0))


_TINY = 1e-30  # a chroma below this counts as none


def _chroma_weight(c):
    "sqrt(c⁷ / (c⁷ + 25⁷)), the chroma weight of the a* scale and of the rotation term."
    c2 = c * c
    c7 = c2 * c2 * c2 * c
    return torch.sqrt(c7 / (c7 + 25.0 ** 7))


_COS30, _SIN30 = math.cos(math.radians(30)), math.sin(math.radians(30))
_COS6, _SIN6 = math.cos(math.radians(6)), math.sin(math.radians(6))
_COS63, _SIN63 = math.cos(math.radians(63)), math.sin(math.radians(63))


def ciede2000(lab_output, lab_truth):
    "Mean CIEDE2000 per picture of a batch of Lab tensors (N, H, W, 3), as metrics.ciede2000_lab: (N,)."
    return _picture_means(lambda o, t: (ciede2000_map(t, o),), lab_output, lab_truth)[:, 0]


def _gaussian_taps():
    "scipy.ndimage's Gaussian kernel: exp(-x²/2σ²) for x in -r..r, normalised to sum 1."
    x = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    w = np.exp(-0.5 / SSIM_SIGMA ** 2 * x ** 2)
    return (w / w.sum()).tolist()


SSIM_TAPS = _gaussian_taps()


def _filter_valid(x, dim):
    "The Gaussian window along `dim`, kept only where it lies inside (2·radius shorter)."
    n = x.shape[dim] - 2 * SSIM_RADIUS
    out = x.narrow(dim, 0, n) * SSIM_TAPS[0]
    for k, w in enumerate(SSIM_TAPS[1:], 1):
        out.add_(x.narrow(dim, k, n), alpha=w)  # one fused pass per tap: three times faster than `out += x * w`
    return out


def _ssim_band(x, y, data_range):
    "Sum of the SSIM map over the valid part of a band of rows: x, y (C, rows, W) -> (C,)."
    # each channel minus its mean over the band: the (co)variances do not change, and in float32 they no
    # longer lose their digits to the cancellation in E[x²] − E[x]² (exact for flat pictures)
    x, y = x.to(DTYPE), y.to(DTYPE)
    mx, my = x.mean((1, 2), keepdim=True), y.mean((1, 2), keepdim=True)
    x, y = x - mx, y - my
    maps = torch.stack([x, y, x * x, y * y, x * y])
    ux, uy, uxx, uyy, uxy = _filter_valid(_filter_valid(maps, 3), 2)
    vx, vy, vxy = uxx - ux * ux, uyy - uy * uy, uxy - ux * uy
    ux, uy = ux + mx, uy + my
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.double().sum((1, 2))


def ssim(output, truth, data_range=DATA_RANGE):
    """SSIM per picture of a batch of uint8 RGB tensors (N, H, W, 3), as metrics.ssim: (N,); NaN where a
    side is under 11 pixels. Computed in bands of rows (each with the window's 10 rows of overlap)."""
    n, h, w, _ = truth.shape
    r = SSIM_RADIUS
    if min(h, w) < 2 * r + 1:
        return torch.full((n,), math.nan, dtype=torch.float64, device=truth.device)
    x = output.permute(0, 3, 1, 2).reshape(n * 3, h, w)
    y = truth.permute(0, 3, 1, 2).reshape(n * 3, h, w)
    rows = max(2 * r + 1, 4 * chunk_pixels(truth.device) // (w * 3 * n))  # output rows per band (4 chunks: fewer
    # overlapping rows to filter twice; measured fastest on this project's CPU)
    total = 0
    for top in range(0, h - 2 * r, rows):
        band = slice(top, min(h, top + rows + 2 * r))
        total = total + _ssim_band(x[:, band], y[:, band], data_range)
    return (total / ((h - 2 * r) * (w - 2 * r))).view(n, 3).mean(1)


def psnr(output, truth, data_range=DATA_RANGE):
    """PSNR in dB per picture of a batch of RGB tensors (N, H, W, 3) on the 0..255 scale, as metrics.psnr:
    (N,), inf for identical pictures. Exact for uint8 pictures: a pixel's sum of three squared differences
    (at most 3·255²) is an integer that float32 holds exactly, and the sums over pixels are in float64
    (other dtypes are worked in float64)."""
    dtype = torch.float32 if output.dtype == truth.dtype == torch.uint8 else torch.float64
    mse = _picture_means(lambda o, t: (((o.to(dtype) - t.to(dtype)) ** 2).sum(-1),), output, truth)[:, 0] / 3
    return 10.0 * torch.log10(data_range ** 2 / mse)  # mse 0 -> inf


def colourfulness(rgb):
    """Hasler–Süsstrunk colourfulness per picture of a batch of RGB tensors (N, H, W, 3) on the 0..255
    scale, as metrics.colourfulness: (N,). Sums in float64 (exact for uint8 pictures)."""
    def parts(x):
        r, g, b = _planes(x).double()
        rg, yb = (r - g).abs(), (0.5 * (r + g) - b).abs()
        return rg, yb, rg * rg, yb * yb
    m_rg, m_yb, m2_rg, m2_yb = _picture_means(parts, rgb).unbind(1)
    var = (m2_rg - m_rg ** 2).clamp(min=0) + (m2_yb - m_yb ** 2).clamp(min=0)
    return torch.sqrt(var) + 0.3 * torch.sqrt(m_rg ** 2 + m_yb ** 2)


def drift_sums(lab_output, lab_truth):
    """Per picture of a batch of Lab tensors (N, H, W, 3): mean chroma of the output, of the truth, and the
    mean of (a_o + i b_o)·conj(a_t + i b_t) as real and imaginary parts: (N, 4), what `DriftMeter` adds up."""
    def sums(o, t):
        (_, ao, bo), (_, at, bt) = _planes(o), _planes(t)
        return torch.hypot(ao, bo), torch.hypot(at, bt), ao * at + bo * bt, bo * at - ao * bt
    return _picture_means(sums, lab_output, lab_truth)
