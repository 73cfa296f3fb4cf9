"""Brightness flicker: the disturbance of the bench, the deflicker that removes it along the motion while a
real change (a light switched on, a cut, a pan into shade) survives, and the brightness-flicker figure."""
import io

import cv2
import numpy as np
import pytest

from deoldify_like.brightness import BrightnessDeflicker, deflicker_brightness
from deoldify_like.flicker import BrightnessDisturbance
from deoldify_like.film_metrics import BrightnessFlickerMeter, brightness_flicker
from deoldify_like.lookahead import bend_kept_trend, local_trend

H, W = 64, 96


def _pan(seed, frames, speed=2, lo=50, hi=190):
    "Luma frames of a camera panning `speed` px a frame over a textured canvas."
    rng = np.random.default_rng(seed)
    big = W + speed * frames
    canvas = cv2.GaussianBlur(rng.uniform(0, 255, (H, big)).astype(np.float32), (0, 0), 2)
    canvas = cv2.normalize(canvas, None, lo, hi, cv2.NORM_MINMAX)
    return [np.rint(canvas[:, k * speed:k * speed + W]).astype(np.uint8) for k in range(frames)]


def _psnr(a, b):
    mse = np.mean((np.asarray(a, float) - np.asarray(b, float)) ** 2)
    return 99.0 if mse == 0 else 10 * np.log10(255 ** 2 / mse)


def test_the_disturbance_is_a_smooth_gain_drawn_per_frame():
    d = BrightnessDisturbance(seed=3)
    y = np.full((H, W), 100, np.uint8)
    f0, f1 = d.field(0, H, W), d.field(1, H, W)
    assert np.array_equal(d.field(0, H, W), f0)  # the same index, the same draw
    assert not np.allclose(f0, f1)
    for f in (f0, f1):  # a global gain of 0.85..1.15 times a regional field within ±3 × 8 %
        assert 0.85 * 0.76 <= f.min() and f.max() <= 1.15 * 1.24
        assert np.abs(np.diff(f, axis=1)).max() < 0.01  # slow: under 1 % a pixel
    gains = [d(i, y).mean() / 100 for i in range(200)]
    assert 0.8 < min(gains) < 0.9 and 1.1 < max(gains) < 1.2


def test_flicker_is_removed_along_the_motion():
    clean = _pan(0, 40)
    d = BrightnessDisturbance(seed=1)
    noisy = [d(i, y) for i, y in enumerate(clean)]
    out = list(deflicker_brightness(noisy, window=12))
    assert len(out) == len(noisy) and all(o.shape == (H, W) and o.dtype == np.uint8 for o in out)
    means = lambda frames: [f.mean() for f in frames]  # noqa: E731
    assert brightness_flicker(means(noisy)) > 5
    assert brightness_flicker(means(out)) < 0.15 * brightness_flicker(means(noisy))
    assert np.mean([_psnr(o, c) for o, c in zip(out, clean)]) > np.mean([_psnr(n, c) for n, c in zip(noisy, clean)]) + 6


def test_an_undisturbed_pan_into_shade_is_kept():
    # the camera pans over a canvas whose right half is in shade: the frame mean falls by a third, but every
    # surface keeps its brightness along the motion, so nothing is changed
    rng = np.random.default_rng(4)
    big = W + 3 * 40
    canvas = cv2.normalize(cv2.GaussianBlur(rng.uniform(0, 255, (H, big)).astype(np.float32), (0, 0), 2), None,
                           80, 220, cv2.NORM_MINMAX)
    canvas[:, big // 2:] *= 0.45
    clean = [np.rint(canvas[:, k * 3:k * 3 + W]).astype(np.uint8) for k in range(40)]
    assert clean[-1].mean() < 0.75 * clean[0].mean()
    out = list(deflicker_brightness(clean, window=12))
    assert min(_psnr(o, c) for o, c in zip(out, clean)) > 40


def test_a_light_switched_on_and_a_cut_survive():
    first = _pan(2, 30)
    first = [y if i < 15 else np.clip(y.astype(float) * 1.8, 0, 255).astype(np.uint8) for i, y in enumerate(first)]
    second = _pan(9, 12, lo=150, hi=250)  # another shot
    frames = first + second
    bd = BrightnessDeflicker(window=8)
    out = [o for y in frames for o in bd.push(y)] + bd.flush()
    assert bd.events == [15] and bd.cuts == [0, 15, 30]
    for o, y in zip(out, frames):  # nothing to remove, and the light and the cut are kept as they were
        assert _psnr(o, y) > 45


def test_state_carries_the_deflicker_across_a_boundary_exactly():
    d = BrightnessDisturbance(seed=5)
    noisy = [d(i, y) for i, y in enumerate(_pan(3, 20))]
    whole = list(deflicker_brightness(noisy, window=6))
    a = BrightnessDeflicker(window=6)
    head = [o for y in noisy[:9] for o in a.push(y)]
    buf = io.BytesIO()
    np.savez(buf, **a.state())
    buf.seek(0)
    b = BrightnessDeflicker(window=6)
    with np.load(buf) as z:
        b.load_state({k: z[k] for k in z.files})
    tail = [o for y in noisy[9:] for o in b.push(y)] + b.flush()
    assert len(head + tail) == len(whole)
    assert all(np.array_equal(x, y) for x, y in zip(whole, head + tail))


def test_the_brightness_flicker_figure():
    steady = [100.0] * 20 + [160.0] * 20  # a cut: a step, no flicker
    assert brightness_flicker(steady) == 0
    assert brightness_flicker(list(np.linspace(50, 150, 40))) < 1e-9  # a fade: no flicker
    flicker = np.array(steady) * np.where(np.arange(40) % 2, 1.1, 0.9)
    assert brightness_flicker(flicker) > 5
    clean = _pan(6, 6)
    meter = BrightnessFlickerMeter(streams=2)
    for i, y in enumerate(clean):
        meter.add(y, [y, np.clip(y * (1.2 if i % 2 else 1.0), 0, 255).astype(np.uint8)])
    same, flick = meter.values
    assert same['warp_luma_error'] < 2 and flick['warp_luma_error'] > 10
    with pytest.raises(ValueError):
        meter.add(clean[0], [clean[0]])


def test_a_pair_matched_on_a_patch_gets_a_tilt_at_most():
    # the flow matches only the left part of the frame (the rest is new content): a polynomial of degree 2
    # fitted there would be extrapolated over the rest; under `full_share` of the frame, a tilt at most
    g0 = _pan(4, 1)[0]
    rng = np.random.default_rng(5)
    g1 = np.rint(g0 * 1.1).astype(np.uint8)
    g1[:, 40:] = np.rint(cv2.GaussianBlur(rng.uniform(50, 190, (H, W - 40)).astype(np.float32), (0, 0), 2))
    bd = BrightnessDeflicker(full_share=0.9)
    coef, motion = bd._pair_gains(g0, g1)
    assert len(coef) == 6 and np.array_equal(motion[:2, :2], np.eye(2))  # a patch: a shift at most
    assert np.all(coef[3:] == 0) and abs(coef[0] - np.log(1.1)) < 0.05
    full = BrightnessDeflicker(full_share=0.0)._pair_gains(g0, g1)[0]
    assert np.any(full[3:] != 0)


@pytest.mark.parametrize('gain, tilt', [(1.3, 0.08), (0.8, 0.05)])
def test_a_still_real_scene_under_a_change_of_exposure_gives_the_exact_field(shared_data, gain, tilt):
    # DIS normalises patch means but not contrast, so a change of exposure alone bends its flow on a still
    # scene; the second pass computes the flow on frames brought to the same exposure by the first
    import av
    from deoldify_like.exposure_field import basis as field_basis
    with av.open(str(shared_data / 'video' / 'slow_traffic_small.mp4')) as c:
        frame = next(c.decode(video=0)).to_ndarray(format='gray')
    g0 = cv2.resize(frame, (160, 90), interpolation=cv2.INTER_AREA)
    basis = field_basis(90, 160, 2)
    field = gain * (1 + tilt * basis[1])
    g1 = np.clip(np.rint(g0 * field), 0, 255).astype(np.uint8)
    truth = np.linalg.lstsq(basis.reshape(6, -1).T.astype(np.float64), np.log(field).ravel(), rcond=None)[0]
    bd = BrightnessDeflicker()
    error = lambda coef: np.abs(np.tensordot(coef - truth, basis, 1)).max()  # noqa: E731  (log gain, worst pixel)
    assert error(bd._pair_gains(g0, g1)[0]) < 5e-4
    assert error(bd._fit(g0, g1, g0)[0]) > 3 * error(bd._pair_gains(g0, g1)[0])  # one pass: the flow of the change


def test_the_trend_follows_a_real_bend_but_not_the_noise():
    t = np.arange(49)
    bump = 0.13 * np.exp(-0.5 * ((t - 24) / 9.0) ** 2)  # an exposure that rises and falls: a ride through shade
    line, kept = local_trend(t, bump, 24, 8), bend_kept_trend(t, bump, 24, 8, 3, 5)
    assert bump[24] - line[0] > 0.03  # the straight line cuts the top short by a quarter
    assert abs(bump[24] - kept[0]) < 0.35 * (bump[24] - line[0])  # the parabola most of the way up
    near_end = t[:30]  # 5 frames after frame 24: at a shot's end the parabola would extrapolate, so the line
    assert np.array_equal(bend_kept_trend(near_end, bump[:30], 24, 8, 3, 5), local_trend(near_end, bump[:30], 24, 8))
    noise = np.random.default_rng(0).uniform(-0.15, 0.15, 49)  # the bench's flicker alone: no bend to keep
    for at in range(8, 41):
        assert np.array_equal(bend_kept_trend(t, noise, at, 8, 3, 5), local_trend(t, noise, at, 8))


def test_a_real_rise_and_fall_of_exposure_is_kept_and_flicker_on_it_removed():
    clean = _pan(6, 60)
    gain = 1 + 0.15 * np.exp(-0.5 * ((np.arange(60) - 30) / 8.0) ** 2)
    clean = [np.clip(np.rint(y * g), 0, 255).astype(np.uint8) for y, g in zip(clean, gain)]
    kept = list(deflicker_brightness(clean))
    cut_short = list(deflicker_brightness(clean, bend_z=None))
    assert min(_psnr(o, c) for o, c in zip(kept, clean)) > 40
    assert min(_psnr(o, c) for o, c in zip(cut_short, clean)) < 38  # the line alone darkens the top
    d = BrightnessDisturbance(seed=2)
    noisy = [d(i, y) for i, y in enumerate(clean)]
    out = list(deflicker_brightness(noisy))
    means = lambda frames: [f.mean() for f in frames]  # noqa: E731
    assert brightness_flicker(means(out)) < 0.15 * brightness_flicker(means(noisy))
