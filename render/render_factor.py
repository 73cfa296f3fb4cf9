"""The render-factor rule, in one place.

The model sees a square of `render_factor * 16` pixels. How a non-square picture is fitted into it:
- 'stretch': resized to the square, aspect ratio ignored (what the reference renderer did);
- 'pad': resized to fit inside the square keeping its aspect ratio, the rest filled by edge replication;
  the prediction is cropped back to the picture before upscaling.
Either way only the prediction's colour is used, on the original full-resolution luminance.
"""
import cv2
import numpy as np

PHOTO_RENDER_FACTOR = 35
FILM_RENDER_FACTOR = 21
FITS = ('stretch', 'pad')
DEFAULT_FIT = 'stretch'


def model_side(render_factor):
    if not 1 <= int(render_factor) <= 128:
        raise ValueError(f"render factor must be between 1 and 128, got {render_factor}")
    return int(render_factor) * 16


def fit_to_square(luma, render_factor, fit=DEFAULT_FIT):
    """uint8 luminance (H, W) to a (side, side) uint8 square for the model, plus the box (y0, x0, h, w)
    inside the square that holds the picture."""
    side = model_side(render_factor)
    h, w = luma.shape[:2]
    if fit == 'stretch':
        return cv2.resize(luma, (side, side), interpolation=cv2.INTER_AREA if min(h, w) > side else cv2.INTER_CUBIC), (0, 0, side, side)
    if fit != 'pad':
        raise ValueError(f"unknown fit {fit!r}; choose one of {', '.join(FITS)}")
    scale = side / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = cv2.resize(luma, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    y0, x0 = (side - nh) // 2, (side - nw) // 2
    square = cv2.copyMakeBorder(small, y0, side - nh - y0, x0, side - nw - x0, cv2.BORDER_REPLICATE)
    return square, (y0, x0, nh, nw)


def crop_prediction(pred_rgb, box):
    y0, x0, h, w = box
    return pred_rgb[y0:y0 + h, x0:x0 + w]
