"""Exposure fields moving with the camera (`deoldify_like/exposure_field.py`) and what that changes in the
brightness deflicker: a field drawn afresh for every frame of a pan is taken out, a field fixed to the frame
(a vignette) is kept."""
import numpy as np

from deoldify_like.brightness import deflicker_brightness
from deoldify_like.exposure_field import FieldAlgebra, basis, camera_motion, terms
from deoldify_like.film_metrics import brightness_flicker
from deoldify_like.flicker import BrightnessDisturbance
from test_brightness import H, W, _pan, _psnr


def test_the_camera_motion_is_recovered_from_the_flow_and_a_patch_gives_a_shift():
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    mapx, mapy = 1.05 * xs - 3.0, ys + 2.0  # a zoom of 5 % across and a shift
    mask = np.ones((H, W), bool)
    mask[:10, :10] = False
    mapx_noisy = mapx.copy()
    mapx_noisy[30:34, 40:44] += 25  # something moving on its own: left out by the refit
    motion = camera_motion(mask, mapx_noisy, mapy)
    sx, sy = 2 / (W - 1), 2 / (H - 1)
    expected = np.array([[1.05, 0, (1.05 - 1) - 3.0 * sx], [0, 1, 2.0 * sy], [0, 0, 1]])
    assert np.allclose(motion, expected, atol=1e-4)
    shift = camera_motion(mask, mapx, mapy, shift_only=True)
    assert np.array_equal(shift[:2, :2], np.eye(2)) and np.allclose(shift[:2, 2], expected[:2, 2], atol=1e-4)


def test_a_field_moved_by_the_camera_is_the_same_polynomial_read_elsewhere():
    algebra = FieldAlgebra(2)
    rng = np.random.default_rng(0)
    coef = rng.normal(0, 0.1, 6)
    motion = np.array([[0.97, 0.02, 0.3], [-0.01, 1.02, -0.2], [0, 0, 1]])
    points = rng.uniform(-1, 1, (50, 2))
    moved_points = points @ motion[:2, :2].T + motion[:2, 2]
    assert np.allclose(terms(*points.T, 2) @ (algebra.moved(motion) @ coef), terms(*moved_points.T, 2) @ coef)
    assert np.allclose(algebra.from_grid(algebra.on_grid(coef, np.eye(3))), coef)
    far = np.array([[1, 0, 5.0], [0, 1, 0], [0, 0, 1]])  # content out of that frame's view: its nearest edge
    edge = terms(np.ones(len(algebra.grid)), np.clip(algebra.grid[:, 1], -1, 1), 2) @ coef
    assert np.allclose(algebra.on_grid(coef, far), edge)


def test_a_regional_field_drawn_afresh_on_a_pan_is_taken_out_along_the_motion():
    # with the camera moving, a pair measures D_t(x) - D_{t-1}(x + motion); summed as if the camera stood
    # still, the previous field's change over the motion walks at random (1.47x the clean figure here)
    clean = _pan(0, 60, speed=2)
    d = BrightnessDisturbance(seed=1, gain=(1, 1))  # the regional field alone: no global gain
    noisy = [d(i, y) for i, y in enumerate(clean)]
    out = list(deflicker_brightness(noisy))
    means = lambda frames: [f.mean() for f in frames]  # noqa: E731
    assert brightness_flicker(means(noisy)) > 20 * brightness_flicker(means(clean))
    assert brightness_flicker(means(out)) < 1.2 * brightness_flicker(means(clean))
    assert np.mean([_psnr(o, c) for o, c in zip(out, clean)]) > np.mean([_psnr(n, c) for n, c in zip(noisy, clean)]) + 10


def test_a_vignette_fixed_to_the_frame_of_a_pan_is_kept():
    b = basis(H, W, 2)
    vignette = np.exp(-0.25 * (b[3] + b[5]))  # darker toward the edges, the same in every frame
    frames = [np.clip(np.rint(y * vignette), 0, 255).astype(np.uint8) for y in _pan(0, 60, speed=3)]
    kept = list(deflicker_brightness(frames))
    assert min(_psnr(o, y) for o, y in zip(kept, frames)) > 42
    # without the frame-fixed field, the content's darkening toward the edges is taken for flicker
    taken = list(deflicker_brightness(frames, ridge=1e6))
    assert min(_psnr(o, y) for o, y in zip(taken, frames)) < 40
