"""What the two offline film filters that look both ways share (`two_way.TwoWayStabilizer`, the chroma;
`brightness.BrightnessDeflicker`, the luminance): a per-frame quantity chained along the motion within a
shot, and its trend over a window of frames on both sides.

Both stream: a frame goes out `window` frames after it came in (or at the end of its shot), so at most
`window` + 1 frames are held, whatever the film's length.
"""
import numpy as np


def local_trend(times, values, t, sigma, degree=1):
    """The value at time `t` of the straight line (`degree` 1) or constant (0) fitted to `values` (n, d) at
    `times` (n,) by least squares with Gaussian weights of width `sigma` (frames) about `t`: a two-sided
    smoothing without lag. A line keeps ramps (a fade, a slow exposure change) exactly, even at the ends of
    a shot, but extrapolates its slope there, noise and all; a constant is steadier at the ends."""
    times = np.asarray(times, np.float64) - t
    values = np.asarray(values, np.float64).reshape(len(times), -1)
    w = np.exp(-0.5 * (times / sigma) ** 2)
    sw, st, stt = w.sum(), (w * times).sum(), (w * times * times).sum()
    sv, stv = (w[:, None] * values).sum(0), (w[:, None] * times[:, None] * values).sum(0)
    det = sw * stt - st * st
    if degree == 0 or det < 1e-9 * max(sw * sw, 1e-30):  # (one frame, or all at one time:) the weighted mean
        return sv / sw
    return (stt * sv - st * stv) / det  # intercept of the weighted fit (t moved to 0)


def bend_kept_trend(times, values, t, sigma, z_from, z_full):
    """`local_trend`'s straight line, moved toward the parabola of the same Gaussian-weighted fit as far as the
    parabola's curvature is significant in the first column of `values`: not at all under `z_from` standard
    errors (estimated from the fit's own residuals), fully from `z_full`. A real change that comes and goes
    within the window (an exposure that rises and falls as a camera rides through shade) is a bend that a line
    cuts short at its top; noise, however large, seldom makes a significant one, so where the values are noisy
    this is the line (a pretest estimator: the parabola only where the data call for it). So is it where the
    window has fewer than `sigma` frames on either side."""
    line = local_trend(times, values, t, sigma)
    times = np.asarray(times, np.float64) - t
    values = np.asarray(values, np.float64).reshape(len(times), -1)
    x = times / sigma
    w = np.exp(-0.5 * x ** 2)
    n_eff = w.sum() ** 2 / (w * w).sum()  # the number of frames the Gaussian weights amount to
    if n_eff < 4 or min((times < 0).sum(), (times > 0).sum()) < sigma:
        return line  # near a shot's end a parabola extrapolates the noise (the 1952 film's flicker 0.83 -> 1.07)
    basis = np.vander(x, 3, increasing=True)
    inverse = np.linalg.inv(basis.T @ (w[:, None] * basis))
    parabola = inverse @ (basis.T @ (w[:, None] * values))
    r = values[:, 0] - basis @ parabola[:, 0]
    noise = (w * r * r).sum() / w.sum() * n_eff / (n_eff - 3)
    variance = (inverse @ (basis.T @ ((w * w)[:, None] * basis)) @ inverse)[2, 2] * noise
    z = abs(parabola[2, 0]) / max(np.sqrt(variance), 1e-12)
    return line + float(np.clip((z - z_from) / (z_full - z_from), 0, 1)) * (parabola[0] - line)


def pack(prefix, items):
    "A list of dicts of arrays as one flat dict of arrays (for np.savez): `{prefix}{i}_{key}`."
    return {f'{prefix}{i}_{k}': np.asarray(v) for i, item in enumerate(items) for k, v in item.items()}


def unpack(prefix, state):
    "The list of dicts `pack` made."
    items = {}
    for name, v in state.items():
        if name.startswith(prefix):
            i, _, k = name[len(prefix):].partition('_')
            items.setdefault(int(i), {})[k] = np.asarray(v)
    return [items[i] for i in sorted(items)]
