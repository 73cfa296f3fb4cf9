import numpy as np
import cv2

from deoldify_like.colour import (gray_to_rgb, lab_to_rgb, recombine_luminance, rgb_to_gray, rgb_to_lab,
                                  rgb_to_yuv, yuv_to_rgb)


def test_yuv_matches_bt601_by_hand():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], np.uint8)
    yuv = rgb_to_yuv(rgb)
    np.testing.assert_allclose(yuv[0, :, 0], [0.299, 0.587, 0.114, 128 / 255], atol=1e-4)
    # OpenCV's U = 0.492 (B - Y) + 0.5 and V = 0.877 (R - Y) + 0.5 for floats
    np.testing.assert_allclose(yuv[0, 0, 1:], [0.492 * (0 - 0.299) + 0.5, 0.877 * (1 - 0.299) + 0.5], atol=2e-3)
    np.testing.assert_allclose(yuv[0, 3, 1:], [0.5, 0.5], atol=1e-4)


def test_yuv_round_trip_is_exact_to_one_level(colour_image):
    back = yuv_to_rgb(rgb_to_yuv(colour_image))
    assert back.dtype == np.uint8 and back.shape == colour_image.shape
    assert np.abs(back.astype(int) - colour_image).max() <= 1


def test_lab_round_trip_and_known_values(colour_image):
    lab = rgb_to_lab(np.array([[[255, 255, 255], [0, 0, 0]]], np.uint8))
    np.testing.assert_allclose(lab[0, 0], [100, 0, 0], atol=1e-2)  # skimage's D65 white point constant
    np.testing.assert_allclose(lab[0, 1], [0, 0, 0], atol=1e-3)
    assert np.abs(lab_to_rgb(rgb_to_lab(colour_image)).astype(int) - colour_image).max() <= 1


def test_gray_is_bt601_luminance():
    rgb = np.array([[[200, 100, 50]]], np.uint8)
    assert rgb_to_gray(rgb)[0, 0] == round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert gray_to_rgb(np.array([[7]], np.uint8)).tolist() == [[[7, 7, 7]]]


def test_recombine_keeps_original_luminance_and_takes_prediction_chroma(colour_image):
    luma = rgb_to_gray(colour_image)
    small_pred = cv2.resize(colour_image, (16, 12), interpolation=cv2.INTER_AREA)
    out = recombine_luminance(luma, small_pred)
    assert out.shape == colour_image.shape and out.dtype == np.uint8
    # Y of the output is the original Y (within rounding, away from gamut clipping)
    assert np.abs(rgb_to_gray(out).astype(int) - luma).mean() < 1.0
    # chroma comes from the prediction: the red patch is still red
    r, g, b = out[12:18, 12:28].reshape(-1, 3).mean(0)
    assert r > g + 50 and r > b + 50


def test_recombine_with_gray_prediction_gives_gray_output(colour_image):
    luma = rgb_to_gray(colour_image)
    out = recombine_luminance(colour_image, gray_to_rgb(luma))
    assert np.abs(out.astype(int) - gray_to_rgb(luma)).max() <= 1
