"""The render-factor rule, in one place.

The model sees a square of `render_factor * 16` pixels. How a non-square picture is fitted into it:
- 'stretch': resized to the square, aspect ratio ignored (what the reference renderer did);
- 'pad': resized to fit inside the square keeping its aspect ratio, the rest filled by edge replication;
  the prediction is cropped back to the picture before upscaling.
Either way only the prediction's colour is used, on the original full-resolution luminance.

Defaults: 35 for photos and 21 for films (the reference's choice: lower is more vivid, higher more stable,
and films need stability). A model file may carry its own default (`header['render_factor']`), which is
its photo render factor; films then use the same 21/35 share of it. The stages stamp each checkpoint with
the render factor of its training size (`render_factor_for_size`: a 128 px model gets 8, not 35).
"""
import cv2
import numpy as np

from deoldify_like.choices import FITS

PHOTO_RENDER_FACTOR = 35
FILM_RENDER_FACTOR = 21
FILM_SHARE = FILM_RENDER_FACTOR / PHOTO_RENDER_FACTOR
DEFAULT_FIT = 'stretch'
RENDER_FACTOR_RANGE = (1, 128)  # the smallest and largest render factor the renderer takes


def model_side(render_factor):
    low, high = RENDER_FACTOR_RANGE
    if not low <= int(render_factor) <= high:
        raise ValueError(f"render factor must be between {low} and {high}, got {render_factor}")
    return int(render_factor) * 16


def resolve_render_factor(given=None, header=None, kind='photo'):
    "The render factor to use: the one given, else the model file's default, else 35 (photos) / 21 (films)."
    if given:
        model_side(given)
        return int(given)
    own = (header or {}).get('render_factor')
    if kind == 'film':
        return max(1, round(own * FILM_SHARE)) if own else FILM_RENDER_FACTOR
    return int(own) if own else PHOTO_RENDER_FACTOR


def render_factor_for_size(size):
    "The default render factor of a model trained at `size` pixels: it sees the size it learned on."
    return max(1, round(int(size) / 16))


def parse_sweep(text):
    "'10,14,18' to [10, 14, 18] (each a valid render factor)."
    try:
        factors = [int(t) for t in str(text).replace(' ', '').split(',') if t]
    except ValueError:
        raise ValueError(f"--sweep wants render factors separated by commas, e.g. 10,14,18; got {text!r}") from None
    for rf in factors:
        model_side(rf)
    if not factors:
        raise ValueError("--sweep needs at least one render factor")
    return factors


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
