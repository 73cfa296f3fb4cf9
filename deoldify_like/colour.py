"""Colour spaces (RGB, YUV BT.601 as OpenCV, Lab, gray) and the luminance recombination.

The generator predicts colour at low resolution. `recombine_luminance` keeps the original full-resolution
luminance (Y) and takes only the chroma (U, V) from the upscaled prediction, so detail is untouched and
any input resolution is cheap.
"""
import cv2
import numpy as np
from skimage import color as skcolor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _as_float01(rgb):
    rgb = np.asarray(rgb)
    return rgb.astype(np.float32) / 255.0 if rgb.dtype == np.uint8 else rgb.astype(np.float32)


def rgb_to_yuv(rgb):
    "RGB (uint8, or float in 0..1) to float32 YUV in 0..1 (U, V centred on 0.5), BT.601 as OpenCV."
    return cv2.cvtColor(_as_float01(rgb), cv2.COLOR_RGB2YUV)


def yuv_to_rgb(yuv):
    "Float32 YUV (0..1, U, V centred on 0.5) back to uint8 RGB, clipped to the gamut."
    rgb = cv2.cvtColor(np.asarray(yuv, dtype=np.float32), cv2.COLOR_YUV2RGB)
    return to_uint8(rgb)


def to_uint8(x01):
    "Float image in 0..1 to uint8 with rounding and clipping."
    return np.clip(np.rint(np.asarray(x01) * 255.0), 0, 255).astype(np.uint8)


def rgb_to_gray(rgb):
    "uint8 RGB (H, W, 3) to uint8 luminance (H, W), Y = 0.299 R + 0.587 G + 0.114 B."
    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.uint8), cv2.COLOR_RGB2GRAY)


def gray_to_rgb(gray):
    "uint8 luminance (H, W) to a 3-channel gray RGB image (the generator's input form)."
    return np.repeat(np.asarray(gray)[..., None], 3, axis=-1)


def rgb_to_lab(rgb):
    "RGB (uint8 or float 0..1) to CIE Lab (D65), float64: L in 0..100."
    return skcolor.rgb2lab(_as_float01(rgb).astype(np.float64))


def lab_to_rgb(lab):
    "CIE Lab to uint8 RGB."
    return to_uint8(skcolor.lab2rgb(lab))


def recombine_luminance(luma, prediction_rgb, interpolation=cv2.INTER_CUBIC):
    """Colour for a full-resolution picture from a low-resolution prediction.

    `luma`: uint8 (H, W) luminance of the original (or an RGB image, whose luminance is used).
    `prediction_rgb`: uint8 (h, w, 3) RGB at any size. The prediction is resized to (H, W), converted to
    YUV, and its Y replaced by the original's. Returns uint8 RGB (H, W, 3).
    """
    luma = np.asarray(luma)
    return yuv_to_rgb(luma_with_colour_of(rgb_to_gray(luma) if luma.ndim == 3 else luma, prediction_rgb, interpolation))


def luma_with_colour_of(luma, rgb, interpolation=cv2.INTER_CUBIC):
    "Float32 YUV (0..1) of `rgb` resized to the size of `luma`, with Y set to `luma` (uint8 (H, W))."
    h, w = luma.shape
    rgb = np.asarray(rgb)
    if rgb.shape[:2] != (h, w):
        rgb = cv2.resize(rgb, (w, h), interpolation=interpolation)
    yuv = rgb_to_yuv(rgb)
    yuv[..., 0] = np.asarray(luma).astype(np.float32) / 255.0
    return yuv
