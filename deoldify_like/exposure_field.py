"""Smooth exposure fields of a film's frames, and how they move with the camera (for `brightness.py`).

A field is a polynomial in the frame's normalised coordinates x, y in [-1, 1], held as its coefficients
(`terms`: 1, x, y, x², xy, y² for degree 2). The camera's motion from one frame to the one before is an
affine map of those coordinates (3×3, `camera_motion`, fitted to the optical flow), under which a polynomial
field stays a polynomial of the same degree (`FieldAlgebra.moved`).

Why the motion matters (wave 9, docs/deflicker.md): the flow matches frame t's pixel x with x' = A x in
frame t−1, so a pair of frames measures D_t(x) − D_{t−1}(A x), not D_t(x) − D_{t−1}(x). Adding such pair
fits as if the camera stood still leaves, at each step, the previous field's change over the motion: on a
panning shot under a field drawn afresh for every frame, a random walk that the trend cannot take out
(`davis_paragliding-launch` at 1.65× its own flicker, 1.88× even with exact pair fits; 0.52× with the motion).
"""
import numpy as np

from .lookahead import bend_kept_trend, local_trend

SAMPLES = 5  # points a side on which `moved` is solved (exact for a polynomial of degree <= 4)
GRID = 9  # points a side on which the trend is taken
STRIDE = 4  # `camera_motion` fits every 4th pixel each way: thousands of points for 6 unknowns, 16x less time


def terms(x, y, degree):
    "The polynomial terms x^i y^j (i + j <= degree) at points x, y (arrays of one shape): shape (..., terms)."
    return np.stack([x ** i * y ** (d - i) for d in range(degree + 1) for i in range(d, -1, -1)], -1)


def basis(h, w, degree):
    "The terms on a (h, w) pixel grid, x and y spanning [-1, 1]: float32 (terms, h, w)."
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    planes = terms(2 * xs / max(w - 1, 1) - 1, 2 * ys / max(h - 1, 1) - 1, degree)
    return np.ascontiguousarray(np.moveaxis(planes, -1, 0))


def _square(n):
    g = np.linspace(-1, 1, n)
    gx, gy = np.meshgrid(g, g)
    return np.stack([gx.ravel(), gy.ravel()], -1)


def _apply(motion, points):
    return points @ motion[:2, :2].T + motion[:2, 2]


def camera_motion(mask, mapx, mapy, shift_only=False):
    """The affine map (3×3, normalised coordinates) that best takes the pixels of `mask` to `mapx`, `mapy`
    (where the flow puts them in the other frame; every `STRIDE`th pixel each way): least squares, refitted
    once without the pixels that move otherwise (a person walking across a pan). `shift_only`: a translation
    alone, for a flow that matched only a patch of the frame, which cannot tell a zoom from a shift (on
    `davis_drift-straight`, fast pan and motion blur, an affine fitted on 21–30 % of the frame zoomed by up to
    20 % a frame)."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask[::STRIDE, ::STRIDE])
    ys, xs = ys * STRIDE, xs * STRIDE
    sx, sy = 2 / max(w - 1, 1), 2 / max(h - 1, 1)
    source = np.stack([xs * sx - 1, ys * sy - 1, np.ones(len(xs))], -1)
    target = np.stack([mapx[ys, xs] * sx - 1, mapy[ys, xs] * sy - 1], -1)
    fit = np.linalg.lstsq(source, target, rcond=None)[0]
    miss = np.linalg.norm(source @ fit - target, axis=1)
    keep = miss <= max(3 * float(np.median(miss)), 1e-3)
    if keep.sum() > 12:
        fit = np.linalg.lstsq(source[keep], target[keep], rcond=None)[0]
    motion = np.vstack([fit.T, [0, 0, 1]])
    if shift_only:
        motion[:2, :2] = np.eye(2)
    return motion


class FieldAlgebra:
    "Fields of one degree: moved by a camera motion, read on a grid of points, and back."

    def __init__(self, degree):
        self.degree = degree
        self.samples = _square(SAMPLES)
        self._sample_inverse = np.linalg.pinv(terms(*self.samples.T, degree))
        self.grid = _square(GRID)
        self._grid_inverse = np.linalg.pinv(terms(*self.grid.T, degree))

    def moved(self, motion):
        "The matrix M with coefficients(x -> L(motion x)) = M @ coefficients(L): exact for a polynomial."
        return self._sample_inverse @ terms(*_apply(motion, self.samples).T, self.degree)

    def on_grid(self, coefficients, motion):
        """The field at the grid points of a frame, moved by `motion` into the frame the field belongs to and
        held inside it: where the content was out of that frame's view, its nearest edge, not the polynomial
        extrapolated (which, on a fast pan, multiplied each pair's error by the square of the distance)."""
        points = np.clip(_apply(motion, self.grid), -1, 1)
        return terms(*points.T, self.degree) @ coefficients

    def from_grid(self, values):
        "The coefficients of the polynomial through `values` at the grid points (least squares)."
        return self._grid_inverse @ values


def static_field(pairs, changes, ridge):
    """The part of the exposure fixed to the frame (a lens's vignette, a gate's uneven light) that the pairs
    show: with the camera moving, a fixed field V makes each pair measure V(x) − V(A x) besides the flicker.
    Solved (its non-constant terms; ridge `ridge` per pair) from the pairs' non-constant terms; a still camera
    leaves it undetermined and the ridge takes it to zero. Without it, a field fixed to the frame was taken for
    flicker along the motion: `davis_drift-straight`, undisturbed, lost 4 dB. `changes[i]`: the matrix that
    takes a field's coefficients to those of V(x) − V(A x) for pair i's motion A."""
    a = np.concatenate([change[1:, 1:] for change in changes])
    b = np.concatenate([pair[1:] for pair in pairs])
    v = np.linalg.solve(a.T @ a + ridge * len(pairs) * np.eye(a.shape[1]), a.T @ b)
    return np.concatenate([[0.0], v])


def flicker_correction(times, pairs, motions, t, algebra, sigma, bend_z, ridge):
    """The log gain field (coefficients) that takes frame `t`'s flicker out, from consecutive frames `times`
    of one shot: `pairs[i]`, the fitted field of frame times[i] relative to the frame before (pairs[0] is not
    used), and `motions[i]`, the camera motion from frame times[i] to the one before.

    The frame-fixed field (`static_field`) is taken out of every pair; what is left is summed along the
    motion into each frame's field relative to frame t, read at frame t's grid points where that content was
    in each frame; the trend over the frames (`lookahead.bend_kept_trend`, its bend tested on the grid mean)
    minus frame t's own (zero) is the correction."""
    changes = [np.eye(len(p)) - algebra.moved(m) for p, m in zip(pairs, motions)]
    fixed = static_field(pairs[1:], changes[1:], ridge)
    flicker = [p - change @ fixed for p, change in zip(pairs, changes)]
    me = times.index(t)
    relative = {t: np.zeros(len(algebra.grid))}
    motion, total = np.eye(3), np.zeros(len(algebra.grid))
    for i in range(me - 1, -1, -1):  # frame times[i] relative to frame t: minus the pairs in between
        total = total - algebra.on_grid(flicker[i + 1], motion)
        relative[times[i]] = total
        motion = motions[i + 1] @ motion
    motion, total = np.eye(3), np.zeros(len(algebra.grid))
    for i in range(me + 1, len(times)):
        motion = np.linalg.inv(motions[i]) @ motion
        total = total + algebra.on_grid(flicker[i], motion)
        relative[times[i]] = total
    values = np.array([np.concatenate([[relative[s].mean()], relative[s]]) for s in times])
    trend = local_trend(times, values, t, sigma) if bend_z is None else \
        bend_kept_trend(times, values, t, sigma, bend_z, bend_z + 2)
    return algebra.from_grid(trend[1:])
