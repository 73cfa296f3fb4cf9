"""The model's square: what a render factor means in pixels, and how a picture is fitted into it.

The model sees a square of `render_factor * 16` pixels. How a non-square picture is fitted into it:
- 'stretch': resized to the square, aspect ratio ignored (what the reference renderer did);
- 'pad': resized to fit inside the square keeping its aspect ratio, the rest filled by edge replication;
  the prediction is cropped back to the picture before upscaling.
Either way only the prediction's colour is used, on the original full-resolution luminance.
"""
import cv2
import numpy as np

from deoldify_like.choices import FITS

__all__ = ['DEFAULT_FIT', 'RENDER_FACTOR_RANGE', 'model_side', 'render_factor_of_side', 'fit_to_square',
           'model_squares', 'crop_prediction']

DEFAULT_FIT = 'stretch'
RENDER_FACTOR_RANGE = (1, 128)  # the smallest and largest render factor the renderer takes
PIXELS_PER_FACTOR = 16


def model_side(render_factor):
    "The side of the model's square for `render_factor` (checked against RENDER_FACTOR_RANGE)."
    low, high = RENDER_FACTOR_RANGE
    if not low <= int(render_factor) <= high:
        raise ValueError(f"render factor must be between {low} and {high}, got {render_factor}")
    return int(render_factor) * PIXELS_PER_FACTOR


def render_factor_of_side(side):
    "The render factor whose square has this side (the inverse of `model_side`, for labelling exports)."
    return int(side) // PIXELS_PER_FACTOR


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


def model_squares(lumas, render_factor, fit=DEFAULT_FIT):
    "uint8 (N, side, side): the squares the model sees for a list of luminance pictures."
    return np.stack([fit_to_square(luma, render_factor, fit)[0] for luma in lumas])


def crop_prediction(pred_rgb, box):
    "The part of a square's prediction that holds the picture (the whole square with 'stretch')."
    y0, x0, h, w = box
    return pred_rgb[y0:y0 + h, x0:x0 + w]
