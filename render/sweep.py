"""A render-factor sweep: one labelled grid of a photo (or of one frame of a film: the middle one, or the one
shown at a given time) colorized at several render factors, beside the gray input, so the factor can be
chosen by eye."""
from pathlib import Path

import av

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deoldify_like.colour import gray_to_rgb, rgb_to_gray
from deoldify_like.errors import BadInputError
from deoldify_like.images import atomic_path, load_image
from deoldify_like.inference import model_side
from deoldify_like.video import iter_frames, probe_video

from .film import is_film_path
from .gif import read_gif
from .film.part import Span, seek_frames, select

PANEL_WIDTH = 480  # px: each picture in the grid is shown at most this wide
COLUMNS = 4
LABEL_HEIGHT = 30


def film_frame_luma(path, where=0.5, at=None):
    """Luminance of the frame `where` of the way through a film (0.5: the middle), or, with `at` (seconds from
    the film's first frame), of the frame shown at that time."""
    info = probe_video(path)
    if at is not None:
        frame_time = int(at * info.fps) / info.fps  # on the frame grid: the frame that starts at or before `at`
        selection = select(path, Span(frame_time, None, 1), info.fps)
        with av.open(str(path)) as c:
            for frame in seek_frames(c, c.streams.video[0], selection):
                return rgb_to_gray(frame.to_ndarray(format='rgb24'))
    start = min(info.frames - 1, int(info.frames * where))
    for _, rgb in iter_frames(path, start=start):
        return rgb_to_gray(rgb)
    raise BadInputError(path, 'film has no frames')


def sweep_luma(path, at=None):
    "The luminance picture a sweep is made of: the photo, a GIF's first frame, or a film's middle frame (or at `at` s)."
    if is_film_path(path):
        return film_frame_luma(path, at=at)
    if Path(path).suffix.lower() == '.gif':
        return read_gif(path)[0][0]
    return load_image(path).luma


def sweep_grid(colorizer, luma, factors):
    "A PIL image: the gray input, then the picture colorized at each render factor, each labelled."
    panels = [('input (gray)', gray_to_rgb(luma))]
    panels += [(f'render factor {rf} ({model_side(rf)} px)', colour)
               for rf in factors for colour in colorizer.colorize([luma], rf)]
    h, w = luma.shape
    pw = min(PANEL_WIDTH, w)
    ph = max(1, round(h * pw / w))
    cols = min(COLUMNS, len(panels))
    rows = -(-len(panels) // cols)
    grid = Image.new('RGB', (cols * pw, rows * (ph + LABEL_HEIGHT)), 'white')
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=18)
    for i, (label, rgb) in enumerate(panels):
        x, y = (i % cols) * pw, (i // cols) * (ph + LABEL_HEIGHT)
        grid.paste(Image.fromarray(np.asarray(rgb)).resize((pw, ph), Image.Resampling.LANCZOS), (x, y + LABEL_HEIGHT))
        draw.text((x + 6, y + 5), label, fill='black', font=font)
    return grid


def render_sweep(colorizer, src, dest, factors, at=None):
    "Write the sweep grid of `src` to `dest` (JPEG or PNG, by suffix) atomically; returns `dest`."
    grid = sweep_grid(colorizer, sweep_luma(src, at), factors)
    with atomic_path(Path(dest)) as tmp:
        grid.save(tmp, quality=92) if Path(dest).suffix.lower() in ('.jpg', '.jpeg') else grid.save(tmp)
    return dest
