"""The render-factor rule, in one place: `render_factor_for(model, kind)`.

The model sees a square of `render_factor * 16` pixels (`square.py`). Defaults: 35 for photos and 21 for
films (the reference's choice: lower is more vivid, higher more stable, and films need stability). A model
file may carry its own default (`header['render_factor']`), which is its photo render factor; films then
use the same 21/35 share of it. The stages stamp each checkpoint with the render factor of its training
size (`render_factor_for_size`: a 128 px model gets 8, not 35).
"""
from .square import model_side

__all__ = ['PHOTO_RENDER_FACTOR', 'FILM_RENDER_FACTOR', 'KINDS', 'render_factor_for', 'render_factor_for_size',
           'parse_sweep']

PHOTO_RENDER_FACTOR = 35
FILM_RENDER_FACTOR = 21
FILM_SHARE = FILM_RENDER_FACTOR / PHOTO_RENDER_FACTOR
KINDS = ('photo', 'film')


def render_factor_for(model, kind='photo', given=None):
    """The render factor for colouring a `kind` ('photo' or 'film'; a GIF is photos) with `model`: `given`
    when set (checked), else the model's own default (films: 21/35 of it), else 35 for photos and 21 for
    films. `model` is a model file's header (the dict `load_generator` returns beside the network), or
    anything carrying one as `.header` (a Colorizer), or None."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    if given:
        model_side(given)
        return int(given)
    own = (getattr(model, 'header', model) or {}).get('render_factor')
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
