"""Colorizing one photo: any picture the core reads, written with the same size, orientation and format.

The output is upright (EXIF rotation applied to the pixels, so it shows the way the input shows), keeps
the input's suffix (PGM, a gray-only format, becomes PNG), and keeps the input's transparency where the
output format can hold it (PNG, WebP, TIFF). 16-bit inputs are written in 8 bits.
"""
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from deoldify_like.colour_match import encoder_features, transfer_colour
from deoldify_like.errors import BadInputError
from deoldify_like.images import atomic_path, load_image

GRAY_ONLY = {'.pgm': '.png'}  # formats that cannot hold colour, and what to write instead
ALPHA_FORMATS = {'PNG', 'WEBP', 'TIFF'}
QUALITY = 95


def output_suffix(src):
    suffix = Path(src).suffix
    return GRAY_ONLY.get(suffix.lower(), suffix)


def read_alpha(path):
    "The upright alpha channel of a picture with transparency (uint8 (H, W)), else None."
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with Image.open(path) as img:
                if not (img.mode in ('RGBA', 'LA', 'PA') or 'transparency' in img.info):
                    return None
                img = ImageOps.exif_transpose(img)
                return np.array(img.convert('RGBA').getchannel('A'))
    except (OSError, ValueError, SyntaxError):
        return None


def save_photo(rgb, dest, alpha=None, quality=QUALITY):
    "Write uint8 RGB (with an optional alpha channel) to `dest` atomically; the format follows the suffix."
    dest = Path(dest)
    fmt = Image.registered_extensions().get(dest.suffix.lower())
    if fmt is None:
        raise BadInputError(dest, f'unknown image format {dest.suffix!r} for output')
    img = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    if alpha is not None and fmt in ALPHA_FORMATS and alpha.shape == img.size[::-1]:
        img.putalpha(Image.fromarray(alpha))
    kwargs = {'quality': quality} if fmt in ('JPEG', 'WEBP') else {}
    if fmt == 'JPEG':
        kwargs['subsampling'] = 0  # 4:4:4: the colour is what this tool makes, keep all of it
    with atomic_path(dest) as tmp:
        img.save(tmp, format=fmt, **kwargs)
    return dest


def photo_colours(colorizer, lumas, render_factor=None, reference=None):
    """Full-resolution colour (uint8 RGB) for luminance pictures: the model's, or with `reference` (uint8 RGB of
    a similar colour photo, any size) the reference's chroma matched by the generator's encoder features
    (`colour_match.transfer_colour`), the model's colour where the match is weak. The luminance is kept."""
    if reference is None:
        return colorizer.colorize(lumas, render_factor)
    features = encoder_features(colorizer.model)
    return [transfer_colour(luma, reference, pred, features)
            for luma, pred in zip(lumas, colorizer.predict(lumas, render_factor))]


def render_photo(colorizer, src, dest, render_factor=None, reference=None):
    "Colorize the photo `src` into `dest` (colour from `reference`, uint8 RGB, when given: `photo_colours`); returns `dest`."
    img = load_image(src)
    rgb = photo_colours(colorizer, [img.luma], render_factor, reference)[0]
    return save_photo(rgb, dest, read_alpha(src))
