"""Every measure against values worked out by hand on small arrays and short synthetic films."""
import math

import cv2
import numpy as np
import pytest

from deoldify_like.film_metrics import CDCMeter, WarpErrorMeter, channel_histograms, jensen_shannon
from deoldify_like.metrics import (DriftMeter, PhotoMeter, ciede2000, ciede2000_lab, colourfulness, delta_cf, drift,
                                   drift_warning, photo_scores, psnr, ssim)


def solid(rgb, h=4, w=4):
    return np.broadcast_to(np.array(rgb, np.uint8), (h, w, 3)).copy()


# ---------------------------------------------------------------- colourfulness, ΔCF

def test_colourfulness_of_a_2x2_picture():
    img = np.array([[[255, 0, 0], [0, 255, 0]], [[0, 0, 255], [0, 0, 0]]], np.uint8)
    # rg = |R-G| = 255, 255, 0, 0: mean 127.5, std 127.5
    # yb = |(R+G)/2 - B| = 127.5, 127.5, 255, 0: mean 127.5, std 127.5/sqrt(2)
    expected = math.sqrt(127.5 ** 2 + 127.5 ** 2 / 2) + 0.3 * math.sqrt(2 * 127.5 ** 2)
    assert colourfulness(img) == pytest.approx(expected)
    assert expected == pytest.approx(210.2486, abs=1e-4)


def test_colourfulness_of_flat_and_gray_pictures():
    assert colourfulness(solid((90, 90, 90))) == 0.0
    # (200, 100, 50): rg = 100, yb = |150 - 50| = 100, no spread: 0.3 * sqrt(100² + 100²)
    assert colourfulness(solid((200, 100, 50))) == pytest.approx(0.3 * math.sqrt(2) * 100)
    # the absolute-value form: (100, 200, 250) has rg = |-100|, yb = |150 - 250|, the same CF
    assert colourfulness(solid((100, 200, 250))) == pytest.approx(0.3 * math.sqrt(2) * 100)


def test_delta_cf_over_a_set():
    outputs = [solid((200, 100, 50)), solid((90, 90, 90))]  # CF 42.43, 0 -> mean 21.21
    truths = [solid((255, 0, 0)), solid((90, 90, 90))]  # (255,0,0): rg 255, yb 127.5 -> 0.3*285.1; mean half
    expected = abs(0.3 * math.sqrt(2) * 100 / 2 - 0.3 * math.hypot(255, 127.5) / 2)
    assert delta_cf(outputs, truths) == pytest.approx(expected)
    assert delta_cf([42.0, 0.0], [10.0, 12.0]) == pytest.approx(10.0)  # CF values are accepted as they are
    assert delta_cf(truths, truths) == 0.0


# ---------------------------------------------------------------- PSNR, SSIM

def test_psnr_of_known_mse():
    truth = np.zeros((4, 4, 3), np.uint8)
    assert psnr(truth + 5, truth) == pytest.approx(10 * math.log10(255 ** 2 / 25))  # MSE 25: 34.15 dB
    half = truth.copy()
    half[:2] = 10  # half the values off by 10: MSE 50
    assert psnr(half, truth) == pytest.approx(10 * math.log10(255 ** 2 / 50))
    assert psnr(truth, truth) == math.inf
    with pytest.raises(ValueError):
        psnr(truth, np.zeros((4, 5, 3), np.uint8))


def test_ssim_of_flat_pictures_is_the_luminance_term():
    # flat pictures: no variance, so SSIM = (2 μx μy + C1) / (μx² + μy² + C1), C1 = (0.01 * 255)²
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1)
    assert ssim(solid((100,) * 3, 16, 16), solid((120,) * 3, 16, 16)) == pytest.approx(expected)
    a = np.random.default_rng(0).integers(0, 256, (16, 20, 3), dtype=np.uint8)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(255 - a, a) < 0  # an inverted picture is anti-correlated
    assert math.isnan(ssim(solid((1, 2, 3), 8, 8), solid((1, 2, 3), 8, 8)))  # smaller than the 11x11 window


# ---------------------------------------------------------------- CIEDE2000

@pytest.mark.parametrize('lab1, lab2, expected', [
    # test data of Sharma, Wu & Dalal (2005), "The CIEDE2000 colour-difference formula", table 1
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, -1.3802, -84.2814), (50.0, 0.0, -82.7485), 1.0000),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
])
def test_ciede2000_on_published_pairs(lab1, lab2, expected):
    assert ciede2000_lab(np.array([lab1]), np.array([lab2])) == pytest.approx(expected, abs=1e-4)


def _srgb_lightness(v):
    "CIE L* of the sRGB gray (v, v, v), worked out from the sRGB and CIE formulas."
    c = v / 255
    y = c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    return 116 * y ** (1 / 3) - 16 if y > 216 / 24389 else 24389 / 27 * y


def test_ciede2000_of_gray_pictures_is_the_lightness_term():
    # grays have a* = b* = 0, so ΔE00 = |ΔL| / S_L with S_L = 1 + 0.015 (L̄ - 50)² / sqrt(20 + (L̄ - 50)²)
    l1, l2 = _srgb_lightness(128), _srgb_lightness(160)
    lbar = (l1 + l2) / 2
    sl = 1 + 0.015 * (lbar - 50) ** 2 / math.sqrt(20 + (lbar - 50) ** 2)
    assert ciede2000(solid((128,) * 3), solid((160,) * 3)) == pytest.approx(abs(l2 - l1) / sl, abs=1e-3)
    assert ciede2000(solid((7, 99, 201)), solid((7, 99, 201))) == 0.0


# ---------------------------------------------------------------- drift

def lab_pixels(*ab, lightness=60.0):
    "A 1xN Lab picture from (a*, b*) pairs."
    return np.array([[(lightness, a, b) for a, b in ab]], np.float64)


def test_drift_saturation_ratio_and_hue_shift_by_hand():
    truth = lab_pixels((20, 0))
    d = DriftMeter().add_lab(lab_pixels((0, 30)), truth).value  # chroma 30 vs 20, hue 0 -> 90 degrees
    assert d.saturation_ratio == pytest.approx(1.5) and d.hue_shift == pytest.approx(90.0)
    # two pixels, one turned +90, one kept, equal chroma: the weighted circular mean is +45
    d = DriftMeter().add_lab(lab_pixels((0, 10), (10, 0)), lab_pixels((10, 0), (10, 0))).value
    assert d.hue_shift == pytest.approx(45.0) and d.saturation_ratio == pytest.approx(1.0)
    # a pixel gray in the truth weighs nothing in the hue, but its output chroma counts in the ratio
    d = DriftMeter().add_lab(lab_pixels((0, -10), (10, 0)), lab_pixels((0, 0), (10, 0))).value
    assert d.hue_shift == pytest.approx(0.0) and d.saturation_ratio == pytest.approx((10 + 10) / (0 + 10))
    # across the ±180 seam: truth at 170 deg, output at -170 deg is a turn of +20, not -340
    rad = np.radians
    d = DriftMeter().add_lab(lab_pixels((10 * np.cos(rad(-170)), 10 * np.sin(rad(-170)))),
                             lab_pixels((10 * np.cos(rad(170)), 10 * np.sin(rad(170))))).value
    assert d.hue_shift == pytest.approx(20.0)


def test_drift_warning_names_the_reason():
    truth = lab_pixels((20, 10), (-5, 30))
    same = DriftMeter().add_lab(truth, truth).value
    assert same.saturation_ratio == pytest.approx(1.0) and same.hue_shift == pytest.approx(0.0)
    assert drift_warning(same) == ''
    louder = truth.copy()
    louder[..., 1:] *= 1.3
    w = drift_warning(DriftMeter().add_lab(louder, truth).value)
    assert w.startswith('drift:') and 'saturation x1.30' in w and 'hue' not in w
    turned = DriftMeter().add_lab(lab_pixels((0, 30)), lab_pixels((30, 0))).value  # +90: red -> yellow
    w = drift_warning(turned)
    assert 'hue turned +90.0' in w and 'yellow' in w and 'saturation' not in w
    assert 'red' in drift_warning(DriftMeter().add_lab(lab_pixels((30, 0)), lab_pixels((0, 30))).value)
    washed = DriftMeter().add_lab(truth * [1, 0.3, 0.3], truth).value
    assert drift_warning(washed) == ''  # washed-out is not the burst's sign unless asked for
    assert 'saturation x0.30' in drift_warning(washed, min_saturation_ratio=0.5)


def test_drift_on_rgb_pictures(colour_image):
    assert drift(colour_image, colour_image).saturation_ratio == pytest.approx(1.0)
    gray = np.repeat(cv2.cvtColor(colour_image, cv2.COLOR_RGB2GRAY)[..., None], 3, -1)
    d = drift(gray, colour_image)
    assert d.saturation_ratio < 0.01
    warm = np.clip(colour_image.astype(int) + [40, 10, -30], 0, 255).astype(np.uint8)
    d = drift(warm, colour_image)  # a warm cast: more chroma, hue turned toward yellow
    assert d.saturation_ratio > 1.2 and d.hue_shift > 2 and drift_warning(d).startswith('drift: saturation')


def test_photo_meter_truth_against_truth(colour_image):
    meter = PhotoMeter()
    row = meter.add(colour_image, colour_image)
    assert row == photo_scores(colour_image, colour_image)
    assert row['psnr'] == math.inf and row['ssim'] == pytest.approx(1.0) and row['ciede2000'] == 0.0
    meter.add(colour_image // 2, colour_image)
    s = meter.summary()
    assert s['count'] == 2
    assert s['cf_truth'] == pytest.approx(colourfulness(colour_image))
    assert s['delta_cf'] == pytest.approx(abs(colourfulness(colour_image // 2) - colourfulness(colour_image)) / 2)
    assert s['psnr'] == math.inf  # one identical picture makes the mean infinite
    assert PhotoMeter().summary() == {'count': 0}


# ---------------------------------------------------------------- histograms, JSD, CDC

def test_jensen_shannon_by_hand():
    # P = (1, 0), Q = (½, ½), M = (¾, ¼): ½ log2(4/3) + ½ (½ log2(2/3) + ½ log2 2)
    expected = 0.5 * math.log2(4 / 3) + 0.5 * (0.5 * math.log2(2 / 3) + 0.5)
    assert jensen_shannon([1, 0], [0.5, 0.5]) == pytest.approx(expected)
    assert expected == pytest.approx(0.3113, abs=1e-4)
    assert jensen_shannon([1, 0], [0, 1]) == pytest.approx(1.0)  # disjoint: 1 bit
    assert jensen_shannon([0.2, 0.8], [0.2, 0.8]) == 0.0


def test_channel_histograms():
    img = np.array([[[0, 5, 255], [0, 6, 255]]], np.uint8)
    h = channel_histograms(img)
    assert h.shape == (3, 256) and np.allclose(h.sum(1), 1)
    assert h[0, 0] == 1 and h[1, 5] == h[1, 6] == 0.5 and h[2, 255] == 1


def test_cdc_still_and_flickering_films():
    still = CDCMeter()
    for _ in range(6):
        still.add(solid((10, 20, 30)))
    assert still.value == 0.0
    # frames alternate between two flat colours: every channel's histograms are disjoint at d = 1 (JSD 1)
    # and equal at d = 2 and d = 4 (JSD 0), so CDC = (1 + 0 + 0) / 3
    flicker = CDCMeter()
    for t in range(9):
        flicker.add(solid((10, 20, 30) if t % 2 else (40, 50, 60)))
    assert flicker.per_distance() == {1: pytest.approx(1.0), 2: 0.0, 4: 0.0}
    assert flicker.value == pytest.approx(1 / 3)
    # one channel changing, two not: the channel mean is 1/3 at d = 1
    one = CDCMeter()
    for t in range(5):
        one.add(solid((10, 20, 30) if t % 2 else (11, 20, 30)))
    assert one.per_distance()[1] == pytest.approx(1 / 3) and one.value == pytest.approx(1 / 9)


def test_cdc_short_films():
    m = CDCMeter()
    assert math.isnan(m.add(solid((1, 2, 3))).value)  # one frame: no pair
    m.add(solid((4, 5, 6))).add(solid((1, 2, 3)))  # 3 frames: d = 1 (JSD 1, 1) and d = 2 (JSD 0); no d = 4
    assert math.isnan(m.per_distance()[4]) and m.value == pytest.approx(0.5)


# ---------------------------------------------------------------- warp error

def texture(h, w, seed=0, top=200):
    "A smooth random colour texture (values 0..top, so tints added in the tests never clip)."
    rng = np.random.default_rng(seed)
    t = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3)).astype(np.uint8), (0, 0), 2).astype(np.float32)
    t = (t - t.min()) / (t.max() - t.min()) * top
    return t.round().astype(np.uint8)


def test_warp_error_of_a_still_film_is_zero():
    frame = texture(60, 80)
    m = WarpErrorMeter()
    for _ in range(4):
        m.add(frame, frame)
    assert m.value == 0.0 and m.kept_fraction == 1.0
    assert math.isnan(WarpErrorMeter().add(frame, frame).value)  # one frame: no pair yet


def test_warp_error_of_a_flat_colour_flicker_by_hand():
    # gray input does not move: flow 0, every pixel kept; the output's red channel jumps by 40 every frame:
    # E = (40/255)² / 3 channels at every pair
    gray = np.full((40, 50), 128, np.uint8)
    m = WarpErrorMeter()
    for t in range(5):
        m.add(gray, solid((100 + 40 * (t % 2), 80, 60), 40, 50))
    assert m.value == pytest.approx((40 / 255) ** 2 / 3)


def test_warp_error_translation_is_small_colour_flicker_is_large():
    big = texture(120, 200, seed=1)
    moving, flicker = WarpErrorMeter(streams=2), WarpErrorMeter()
    for t in range(6):
        frame = big[20:100, 10 + 3 * t:130 + 3 * t]  # the camera pans 3 pixels a frame
        tinted = frame.astype(np.int16)
        tinted[..., 0] += 40 * (t % 2)
        moving.add(frame, [frame, frame])  # two streams share the flow
        flicker.add(frame, tinted.astype(np.uint8))
    assert moving.values[0] == moving.values[1] < 1e-4
    assert moving.kept_fraction > 0.9  # only the strip that leaves the frame is occluded
    assert flicker.value == pytest.approx((40 / 255) ** 2 / 3, rel=0.1)
    assert flicker.value > 50 * moving.value


def test_warp_error_checks_stream_count():
    with pytest.raises(ValueError):
        WarpErrorMeter(streams=2).add(texture(20, 20), texture(20, 20))
