"""Colorizing animated GIFs: every frame, with each frame's duration and the loop setting kept.

Frames are read fully composed (Pillow applies each frame's disposal), transparency is flattened over
white as for photos, and each colour frame gets its own palette. Pillow merges consecutive frames that are
identical into one longer frame when it writes a GIF; the total time is kept.
"""
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence

from deoldify_like.colour import rgb_to_gray
from deoldify_like.errors import BadInputError
from deoldify_like.images import atomic_path, load_image

DEFAULT_DURATION = 100  # ms, what browsers use for a frame without one


def _flatten(frame):
    rgba = frame.convert('RGBA')
    white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
    return np.array(Image.alpha_composite(white, rgba).convert('RGB'))


def read_gif(path):
    "Luminance of every frame, their durations (ms) and the loop count (None: play once)."
    load_image(path)  # one clear line for an empty, damaged or tiny file
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with Image.open(path) as im:
                loop = im.info.get('loop')
                lumas, durations = [], []
                for frame in ImageSequence.Iterator(im):
                    lumas.append(rgb_to_gray(_flatten(frame)))
                    durations.append(int(frame.info.get('duration') or DEFAULT_DURATION))
    except (OSError, ValueError, SyntaxError) as e:
        raise BadInputError(path, f'damaged GIF ({str(e).splitlines()[0]})') from None
    return lumas, durations, loop


def render_gif(colorizer, src, dest, render_factor=None):
    "Colorize every frame of the GIF `src` into `dest`; returns `dest`."
    lumas, durations, loop = read_gif(src)
    frames = [Image.fromarray(rgb) for rgb in colorizer.colorize(lumas, render_factor)]
    kwargs = {} if loop is None else {'loop': loop}
    with atomic_path(Path(dest)) as tmp:
        frames[0].save(tmp, format='GIF', save_all=True, append_images=frames[1:], duration=durations,
                       disposal=1, optimize=False, **kwargs)
    return dest
