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
