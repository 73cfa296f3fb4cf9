"""Writes nbs/05_colorize_photos.ipynb and nbs/06_colorize_film.ipynb (thin drivers of the `render` package).

Run `python nbs/make_render_notebooks.py` after changing a cell here; the notebooks are generated, not
edited by hand, and committed without outputs. The `parameters` cell holds tiny settings (a tiny random
model, render factor 4, a few frames) so the notebooks run headless in the tests in seconds; set MODEL
to a promoted model file and raise the render factors for real use.
"""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

MODEL_CELL = '''\
out = Path(OUT)
out.mkdir(parents=True, exist_ok=True)
if MODEL is None:  # a tiny random generator: shows the mechanics, not colour
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5)
    MODEL = save_generator(out / 'tiny_random.safetensors', build_generator(cfg), cfg, render_factor=RENDER_FACTOR)
colorizer = Colorizer.from_file(MODEL, render_factor=RENDER_FACTOR, device=DEVICE, bs=BS, precision=PRECISION)
print(f'{MODEL}: {colorizer.header["config"]["arch"]} generator on {colorizer.device}, {colorizer.precision}')'''


def photos_notebook():
    return [
        new_markdown_cell('# Colorize photos\n\nPick a render factor with the slider (a live before/after '
                          'preview), compare several in a sweep grid, then render the photo at full size. '
                          'The same as `deoldify-like render PHOTO --model MODEL --out DIR [--sweep A,B,C]`.'),
        new_code_cell('''\
MODEL = None  # a model file from `deoldify-like promote`; None: a tiny random model
PHOTO = None  # a photo to colorize; None: an embedded black-and-white demo photo
RENDER_FACTOR = 4  # where the slider starts (35 is the photo default for a real model)
SLIDER = (2, 8)  # the slider's range (e.g. (7, 45) for a real model)
SWEEP = [2, 3, 4]  # render factors of the sweep grid (e.g. [14, 21, 28, 35])
DEVICE = 'auto'
PRECISION = 'auto'  # bf16 where the hardware does it natively, else fp32
BS = 2
OUT = 'out/05_colorize_photos\'''', metadata={'tags': ['parameters']}),
        new_code_cell('''\
from pathlib import Path

import ipywidgets as widgets
from IPython.display import display

from deoldify_like.demo import DEMO_BW
from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.images import load_image
from deoldify_like.model_file import save_generator
from render.colorizer import Colorizer
from render.photos import render_photo
from render.sweep import sweep_grid'''),
        new_code_cell(MODEL_CELL + '''
photo = Path(PHOTO) if PHOTO else sorted(DEMO_BW.glob('*.jpg'))[0]
luma = load_image(photo).luma
print(photo, luma.shape)'''),
        new_markdown_cell('## Before and after, live\n\nMove the slider: the photo is colorized again at that '
                          'render factor (the model sees a square of render factor × 16 pixels).'),
        new_code_cell('''\
import io
slider = widgets.IntSlider(value=RENDER_FACTOR, min=SLIDER[0], max=SLIDER[1], step=1,
                           description='render factor', continuous_update=False)
preview = widgets.Image(format='png')

def show(change=None):
    buf = io.BytesIO()
    sweep_grid(colorizer, luma, [slider.value]).save(buf, format='PNG')
    preview.value = buf.getvalue()

slider.observe(show, names='value')
show()
widgets.VBox([slider, preview])'''),
        new_markdown_cell('## A sweep\n\nSeveral render factors side by side: lower is more vivid, higher more stable.'),
        new_code_cell('sweep_grid(colorizer, luma, SWEEP)'),
        new_markdown_cell('## Render the photo at full size with the chosen render factor'),
        new_code_cell('''\
dest = render_photo(colorizer, photo, out / photo.name, slider.value)
print(dest)
load_image(dest).rgb.shape == load_image(photo).rgb.shape'''),
    ]


def film_notebook():
    return [
        new_markdown_cell('# Colorize a film\n\nChoose a render factor on one frame (a sweep), render the film '
                          '(decode, colorize in batches, encode, audio kept), and play its web copy here (H.264 4:2:0, even size: what '
                          'browsers play). The same as `deoldify-like render FILM --model MODEL --out DIR [--sweep A,B,C] '
                          '[--codec h264|h265|av1|ffv1|prores] [--web] [--start T --duration D] [--resume]`.'),
        new_code_cell('''\
MODEL = None  # a model file from `deoldify-like promote`; None: a tiny random model
FILM = None  # a film; None: the embedded black-and-white demo film
RENDER_FACTOR = 4  # 21 is the film default for a real model
SWEEP = [2, 3, 4]  # render factors to compare on the middle frame (e.g. [12, 16, 21, 28])
FRAMES = 12  # render only the first frames (None: the whole film)
CODEC = 'h264'  # the master: h264, h265, av1, ffv1 (lossless, .mkv), prores (422 HQ, .mov)
DEVICE = 'auto'
PRECISION = 'auto'  # bf16 where the hardware does it natively, else fp32
BS = 2
OUT = 'out/06_colorize_film\'''', metadata={'tags': ['parameters']}),
        new_code_cell('''\
from pathlib import Path

from IPython.display import Video

from deoldify_like.demo import DEMO_FILM
from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.model_file import save_generator
from deoldify_like.video import probe_video
from render.colorizer import Colorizer
from render.codecs import output_suffix
from render.film import render_film
from render.web import web_path
from render.sweep import film_frame_luma, sweep_grid'''),
        new_code_cell(MODEL_CELL + '''
film = Path(FILM) if FILM else DEMO_FILM
probe_video(film)'''),
        new_markdown_cell('## Sweep on the middle frame'),
        new_code_cell('sweep_grid(colorizer, film_frame_luma(film), SWEEP)'),
        new_markdown_cell('## Render\n\nInterrupted? Run the cell again: `resume=True` continues where it stopped.'),
        new_code_cell('''\
dest = out / (film.stem + output_suffix(film, CODEC))
frames = render_film(colorizer, film, dest, RENDER_FACTOR, resume=True, limit=FRAMES, codec=CODEC, web=True)
info = probe_video(dest)
print(f'{dest}: {frames} frames, {info.width}x{info.height} at {info.fps} frames/s, {info.codec}, audio: {info.audio_codec}')'''),
        new_code_cell('Video(str(web_path(dest)), embed=True, html_attributes="controls loop")  # the web copy'),
    ]


def write(cells, path):
    nb = new_notebook(cells=cells, metadata={'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                                             'language_info': {'name': 'python'}})
    nbformat.validate(nb)
    nbformat.write(nb, str(path))
    return path


NOTEBOOKS = {'05_colorize_photos.ipynb': photos_notebook, '06_colorize_film.ipynb': film_notebook}


def main(folder=HERE):
    return [write(make(), Path(folder) / name) for name, make in NOTEBOOKS.items()]


if __name__ == '__main__':
    for p in main():
        print(p)
