"""Writes every notebook in nbs/ (00-07) with nbformat. Run it after changing a cell here:

    python nbs/make_notebooks.py              # all of them
    python nbs/make_notebooks.py 07_pix2pix   # only those named

The notebooks are generated, not edited by hand, and committed without outputs. They are thin drivers:
they call the same library functions as the command line, with small settings in the cell tagged
`parameters` (override them there, or inject a cell after it as the tests do).
"""
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = '''import os, sys
from pathlib import Path
ROOT = Path.cwd() if (Path.cwd() / 'train_stages').is_dir() else Path.cwd().parent
sys.path.insert(0, str(ROOT))  # the package from this source tree
from IPython.display import Image, display
import pandas as pd'''


def nb(cells):
    return new_notebook(cells=cells, metadata={
        'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
        'language_info': {'name': 'python'}})


def params(src):
    cell = new_code_cell(src)
    cell.metadata['tags'] = ['parameters']
    return cell


NB01 = nb([
    new_markdown_cell('''# 1. Pretrain the generator (NoGAN stage 1)

The generator (a U-Net over a ResNet) learns to colour gray pictures with the perceptual (feature) loss
only: encoder frozen first (useful with ImageNet weights), then unfrozen with discriminative learning rates,
one size after another. Same as `deoldify-like prepare ...` then `deoldify-like pretrain-gen ...`.

Everything goes to the run folder `RUN`: `run.json`, `checkpoints/`, `logs/` (CSV), `reports/` (pictures).
Interrupt it and run the cell again: it resumes at the epoch it was in.'''),
    new_code_cell(SETUP),
    params('''# tiny settings that run in a minute on a CPU; for a real run use e.g. resnet34, '64,128', '1,1', pretrained=True
DATA = os.environ.get('DEOLDIFY_LIKE_DATA', '../../shared/data')
SOURCES = [f'{DATA}/photos/bsds500_train']   # photos, folders, films
TRAIN = 'runs/notebook_data'                 # the prepared colour training pictures
RUN = 'runs/notebook'                        # the run folder, shared by notebooks 01-03
MAX_SIZE = 128
ARCH, NF_FACTOR = 'resnet18', 0.5
SIZES, EPOCHS, BS, LIMIT = '32,64', '1,1', 4, 16
PRETRAINED = False
CRAPPIFY = 'noise=0.3,jpeg=0.3'              # degradations besides gray, with probabilities'''),
    new_markdown_cell('## Prepare the training pictures\nColourless sources are skipped with a note; unreadable files get one line each.'),
    new_code_cell('''from train_stages.prepare import prepare
prepare(SOURCES, out=TRAIN, max_size=MAX_SIZE)'''),
    new_markdown_cell('## A sample batch: degraded gray inputs and their colour targets'),
    new_code_cell('''from deoldify_like.data import ColourPairs, list_images
from train_stages.plots import samples_png
from train_stages.run_folder import RunFolder
import torch
rf = RunFolder(RUN).create()
ds = ColourPairs(list_images(TRAIN)[:6], int(SIZES.split(',')[-1]), train=True, crappifier=CRAPPIFY)
xs, ys = zip(*(ds[i] for i in range(len(ds))))
display(Image(samples_png([torch.stack(xs), torch.stack(ys)], rf.reports / 'sample_batch.png', titles=('input', 'target'))))'''),
    new_markdown_cell('## Train'),
    new_code_cell('''from train_stages.pretrain_gen import pretrain_gen
pretrain_gen(data=TRAIN, run=RUN, arch=ARCH, nf_factor=NF_FACTOR, sizes=SIZES, epochs=EPOCHS, bs=BS,
             limit=LIMIT, pretrained=PRETRAINED, crappify=CRAPPIFY)'''),
    new_markdown_cell('## Loss curves and results'),
    new_code_cell('''display(pd.read_csv(rf.log_path('pretrain-gen')))
display(Image(rf.reports / 'pretrain-gen_loss.png'))
for png in sorted(rf.reports.glob('pretrain-gen_*_samples.png')):
    print(png.name, '(input / output / target)')
    display(Image(png))'''),
])

NB02 = nb([
    new_markdown_cell('''# 2. Pretrain the critic (NoGAN stage 2)

The current generator (or `FROM`, a checkpoint name or model file) colours part of the training set into
`RUN/generated/cN/`; the critic then learns to tell real colour pictures (1) from generated ones (0).
Same as `deoldify-like pretrain-critic --run RUN ...`. Run notebook 01 first.'''),
    new_code_cell(SETUP),
    params('''RUN = 'runs/notebook'
FROM = None          # e.g. 'gan-c1-i000050' to start the next cycle from a chosen checkpoint
EPOCHS, BS, SIZE, NF = 1, 4, 64, 16'''),
    new_code_cell('''from train_stages.pretrain_critic import pretrain_critic
from train_stages.run_folder import RunFolder
pretrain_critic(run=RUN, from_=FROM, epochs=EPOCHS, bs=BS, size=SIZE, nf=NF)
rf = RunFolder(RUN)
cycle = rf.load()['cycle']'''),
    new_markdown_cell('## Some of the generated pictures the critic learned from'),
    new_code_cell('''from deoldify_like.images import load_image
import matplotlib.pyplot as plt
fakes = sorted((rf.generated / f'c{cycle}').glob('*.png'))[:6]
fig, axes = plt.subplots(1, len(fakes), figsize=(2 * len(fakes), 2.2), squeeze=False)
for ax, f in zip(axes[0], fakes):
    ax.imshow(load_image(f).rgb); ax.axis('off')
plt.show()'''),
    new_markdown_cell('## Loss and held-out accuracy'),
    new_code_cell('''display(pd.read_csv(rf.log_path(f'pretrain-critic-c{cycle}')))
display(Image(rf.reports / f'pretrain-critic-c{cycle}_loss.png'))
display(Image(rf.reports / f'pretrain-critic-c{cycle}_samples.png'))  # R/G: real or generated, with P(real)'''),
])

NB03 = nb([
    new_markdown_cell('''# 3. The GAN burst (NoGAN stage 3)

A short GAN run from the pretrained generator and critic, with a self-describing generator checkpoint every
`SAVE_EVERY` iterations. Pick the best one by eye, just before the glitches (orange skin, red lips are the
first sign of going too far). Same as `deoldify-like gan --run RUN --iters N --save-every K`.

The generator's learning rate is the stage's own default, 2e-5 (the critic's is 5 times that), as the
reference used for its stable model; its artistic model used 1e-5 and its video model 5e-6. Set `LR` to
change it.

Each checkpoint holds an exponential moving average of the generator's weights (`EMA`, 0.95 per generator
step), which moves smoothly where the trained generator swings from one cast to the next; `EMA = 0` saves
the trained generator instead, as the reference did (docs/stages.md, "The averaged generator").'''),
    new_code_cell(SETUP),
    params('''RUN = 'runs/notebook'
ITERS, SAVE_EVERY, BS, SIZE = 6, 2, 4, 64
LR = None     # None: the stage's own default, 2e-5 (the reference's GAN: 2e-5 stable, 1e-5 artistic, 5e-6 video)
FROM = None   # default: the generator this cycle's critic was trained against
EMA = None    # None: the stage's default, an average with decay 0.95; 0: the trained generator (the reference)
DATA = os.environ.get('DEOLDIFY_LIKE_DATA', '../../shared/data')
PICTURE = f'{DATA}/photos/bsds500_val/101085.jpg'   # shown through every checkpoint'''),
    new_code_cell('''from train_stages.gan import gan
from train_stages.run_folder import RunFolder
lr = {} if LR is None else {'lr': LR}  # None: the stage's default
gan(run=RUN, iters=ITERS, save_every=SAVE_EVERY, bs=BS, size=SIZE, from_=FROM, ema=EMA, **lr)
rf = RunFolder(RUN)
cycle = rf.load()['cycle']'''),
    new_markdown_cell('## Losses per checkpoint'),
    new_code_cell('''display(pd.read_csv(rf.log_path(f'gan-c{cycle}', '_checkpoints')))
display(Image(rf.reports / f'gan-c{cycle}_loss.png'))'''),
    new_markdown_cell('## One picture through every checkpoint of the burst'),
    new_code_cell('''from deoldify_like.images import load_image
from deoldify_like.inference import Colorizer
import matplotlib.pyplot as plt
luma = load_image(PICTURE).luma
ckpts = [c for c in rf.list_checkpoints('generator') if c.get('cycle') == cycle]
fig, axes = plt.subplots(1, len(ckpts) + 1, figsize=(2.4 * (len(ckpts) + 1), 2.4), squeeze=False)
axes[0][0].imshow(luma, cmap='gray'); axes[0][0].set_title('input', fontsize=8)
for ax, c in zip(axes[0][1:], ckpts):
    ax.imshow(Colorizer.from_file(c['path'], render_factor=SIZE // 16, device='cpu').colorize([luma])[0])
    ax.set_title(f"iteration {c['iteration']}", fontsize=8)
for ax in axes[0]: ax.axis('off')
plt.show()'''),
])


NB00 = nb([
    new_markdown_cell('''# 0. Quickstart: the whole NoGAN pipeline on the embedded demo data

Prepare the demo colour photos, pretrain the generator, generate pictures and pretrain the critic, run a
short GAN burst with checkpoints, compare the checkpoints, promote the one the metrics favour, and colorize
real black-and-white photos and a 1952 film with it. The same as `deoldify-like quickstart --out OUT`;
about ten minutes on a 2-core CPU with the `demo` preset. Everything lands in `OUT`, with a report to open
in a browser at `OUT/report/index.html`.'''),
    new_code_cell(SETUP),
    params('''OUT = 'quickstart'     # where the run, the model, the colorized files and the report go
PRESET = 'demo'       # 'demo' (about ten minutes on a CPU) or 'tiny' (a smoke test)
PRETRAINED = True     # ImageNet weights when torchvision can load them; goes on without otherwise'''),
    new_code_cell('''from train_stages.quickstart import quickstart
quickstart(out=OUT, preset=PRESET, pretrained=PRETRAINED)'''),
    new_markdown_cell('## The checkpoints side by side, with their metrics'),
    new_code_cell('''reports = Path(OUT) / 'run' / 'reports'
display(Image(reports / 'checkpoints.png'))
display(pd.read_csv(reports / 'checkpoints.csv'))'''),
    new_markdown_cell('## Real black-and-white photographs, colorized'),
    new_code_cell('''for p in sorted((Path(OUT) / 'colorized' / 'photos').rglob('*.jpg'))[:3]:
    display(Image(p, width=480))'''),
    new_markdown_cell('## The render-factor sweep: vivid and flicker-prone at the left, steady and pale at the right'),
    new_code_cell('''for p in sorted((Path(OUT) / 'colorized' / 'sweep').glob('*')):
    display(Image(p, width=900))'''),
    new_markdown_cell('## The colorized film'),
    new_code_cell('''from IPython.display import Video
film = next((Path(OUT) / 'colorized' / 'film').glob('*.mp4'))
Video(str(film), embed=True, width=480)'''),
    new_code_cell('''print('report:', (Path(OUT) / 'report' / 'index.html').resolve())'''),
])

NB04 = nb([
    new_markdown_cell('''# 4. Pick the best checkpoint by eye

The GAN burst improves colour for a while and then breaks: orange skin, red lips and blotches come first.
Move through the checkpoints below, look at the same pictures each time, read the metrics beside them
(a **drift** warning means saturation or hue is moving away from the truth), and promote the last one
before things go wrong. The same pictures and table as `deoldify-like checkpoints --run RUN`.

The pick is only as good as the pictures it is scored on: by default the run's validation sample (pictures
it did not train on); set `IMAGES` to a folder of your own kind of pictures (with colour originals, for the
scores). **moved ΔE00** says how far the colours moved since the previous checkpoint: large values are where
the burst jumps (a burst run with `gan --ema` moves smoothly). The last row scores the gray input itself.'''),
    new_code_cell(SETUP),
    params('''RUN = 'runs/notebook'   # the run folder of notebooks 1-3
IMAGES = None           # a folder of your own pictures to score on, or None for the run's validation sample
RENDER_FACTOR = 8       # the model sees RENDER_FACTOR x 16 pixels
LIMIT = 6               # pictures to compare
PROMOTE_TO = None       # a path: promote the checkpoint shown without clicking (as in a script)'''),
    new_code_cell('''from train_stages.picker import CheckpointPicker
picker = CheckpointPicker(RUN, images=IMAGES, render_factor=RENDER_FACTOR, limit=LIMIT)
print(picker.scored_on)
picker'''),
    new_markdown_cell('All checkpoints at once:'),
    new_code_cell('''from train_stages.compare import format_table
print(format_table(picker.rows))'''),
    new_markdown_cell('''Promote with the button above, or here (the same as
`deoldify-like promote --run RUN --checkpoint NAME --out MODEL`):'''),
    new_code_cell('''if PROMOTE_TO:
    picker.out_path.value = str(PROMOTE_TO)
    print('written:', picker.promote_shown())'''),
])

# Notebooks 05 and 06 drive the `render` package.

# Where the quickstart promotes its model, seen from nbs/: notebook 00 (OUT='quickstart'), then the README's
# `deoldify-like quickstart --out quickstart` run from the repository root.
QUICKSTART_MODELS = ['quickstart/model.safetensors', '../quickstart/model.safetensors']

MODEL_CELL = '''\
out = Path(OUT)
out.mkdir(parents=True, exist_ok=True)
if MODEL is None:  # the quickstart's promoted model, where it exists
    MODEL = next((p for p in map(Path, %r) if p.is_file()), None)
if MODEL is None:
    print('No MODEL given and no quickstart model found (run nbs/00_quickstart.ipynb first, or set MODEL): '
          'showing a tiny RANDOM generator, which paints meaningless colour (magenta casts).')
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5)
    MODEL = save_generator(out / 'tiny_random.safetensors', build_generator(cfg), cfg, render_factor=RENDER_FACTOR)
colorizer = Colorizer.from_file(MODEL, render_factor=RENDER_FACTOR, device=DEVICE, bs=BS, precision=PRECISION)
origin = colorizer.header.get('info', {}).get('promoted_from')
print(f'model shown: {Path(MODEL).resolve()}', f'(promoted from {origin})' if origin else '')
print(f'{colorizer.header["config"]["arch"]} generator on {colorizer.device}, {colorizer.precision}')''' % QUICKSTART_MODELS


NB05 = nb([
    new_markdown_cell('# Colorize photos\n\nPick a render factor with the slider (a live before/after '
                      'preview), compare several in a sweep grid, then render the photo at full size. '
                      'The same as `deoldify-like render PHOTO --model MODEL --out DIR [--sweep A,B,C]`.'),
    new_code_cell('''\
MODEL = None  # a model file from `deoldify-like promote`; None: the quickstart's model, else a tiny random one
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
from deoldify_like.inference import Colorizer
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
                           description='render factor', continuous_update=False,
                           style={'description_width': 'initial'})  # the label reads whole
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
])


NB06 = nb([
    new_markdown_cell('# Colorize a film\n\nChoose a render factor on one frame (a sweep), render the film '
                      '(decode, colorize in batches, encode, audio kept), and play its web copy here (H.264 4:2:0, even '
                      'size: what browsers play). The same as `deoldify-like render FILM --model MODEL --out DIR '
                      '[--sweep A,B,C] [--codec h264|h265|av1|ffv1|prores] [--web] [--start T --duration D] [--resume]`.'),
    new_code_cell('''\
MODEL = None  # a model file from `deoldify-like promote`; None: the quickstart's model, else a tiny random one
FILM = None  # a film; None: the embedded black-and-white demo film
RENDER_FACTOR = 4  # 21 is the film default for a real model
SWEEP = [2, 3, 4]  # render factors to compare on the middle frame (e.g. [12, 16, 21, 28])
FRAMES = 12  # render only the first frames (None: the whole film)
CODEC = 'h264'  # the master: h264, h265, av1, ffv1 (lossless, .mkv), prores (422 HQ, .mov)
REFERENCES = {}  # {frame: colour picture}: attached to the shot holding that frame and rendered, without clicking
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
from deoldify_like.inference import Colorizer
from render.film import output_suffix, render_film, web_path
from render.shot_references import ShotReferences
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
    new_markdown_cell('## Colour from a reference, shot by shot\n\nA colour picture per shot, carried through the shot.'),
    new_code_cell('ShotReferences(colorizer, film, out, RENDER_FACTOR, limit=FRAMES, references=REFERENCES, render=bool(REFERENCES))'),
])


NB07 = nb([
    new_markdown_cell('''# 7. pix2pix: the conditional GAN trained from the start

pix2pix's recipe in the toolkit's run folder: a U-Net (pix2pix's classic one, or the toolkit's ResNet U-Net)
predicts ab on L (or RGB with the luminance replaced), a 70x70 PatchGAN judges it; L1 x 100 plus the
adversarial loss; Adam 2e-4, beta1 0.5, then a linear decay. Same as `deoldify-like pix2pix --data TRAIN --run
RUN ...`; `checkpoints`, `promote`, `render` take its checkpoints (notebooks 04-06); docs/pix2pix.md compares it.'''),
    new_code_cell(SETUP),
    params('''DATA = os.environ.get('DEOLDIFY_LIKE_DATA', '../../shared/data')
SOURCES = [f'{DATA}/photos/bsds500_train']
TRAIN, RUN, MAX_SIZE, LIMIT = 'runs/notebook_pix2pix_data', 'runs/notebook_pix2pix', 96, 16
BODY, OUTPUT, GAN_LOSS = 'classic', 'lab', 'bce'   # or 'resnet'; 'rgb'; 'lsgan'
SIZE, N_DOWN, NGF, BS, ITERS, SAVE_EVERY = 32, 5, 16, 4, 20, 10  # tiny; pix2pix's: 256, 8, 64, 1, 1000s, -
HELD_OUT = f'{DATA}/photos/bsds500_val'            # scored at every checkpoint'''),
    new_code_cell('''from train_stages.prepare import prepare
from train_stages.pix2pix import pix2pix
from train_stages.run_folder import RunFolder
prepare(SOURCES, out=TRAIN, max_size=MAX_SIZE)
pix2pix(data=TRAIN, run=RUN, body=BODY, output=OUTPUT, gan_loss=GAN_LOSS, size=SIZE, n_down=N_DOWN, ngf=NGF, bs=BS,
        iters=ITERS, save_every=SAVE_EVERY, limit=LIMIT)
rf = RunFolder(RUN)'''),
    new_code_cell('''display(pd.read_csv(rf.log_path('pix2pix', '_checkpoints')))  # losses per checkpoint
display(Image(rf.reports / 'pix2pix_loss.png'))
display(Image(rf.samples_png('pix2pix')))  # input / output / target'''),
    new_markdown_cell('## Every checkpoint on held-out photos, then the chosen one as a model file'),
    new_code_cell('''from train_stages.compare import checkpoints
from train_stages.promote import promote
checkpoints(run=RUN, images=HELD_OUT, limit=4, rows=4)
display(Image(rf.reports / 'checkpoints.png'))
promote(run=RUN, checkpoint=rf.current('generator').name, out=f'{RUN}/pix2pix.safetensors')'''),
])


NOTEBOOKS = {'00_quickstart': NB00, '01_pretrain_generator': NB01, '02_pretrain_critic': NB02,
             '03_gan_burst': NB03, '04_pick_checkpoint': NB04, '05_colorize_photos': NB05, '06_colorize_film': NB06,
             '07_pix2pix': NB07}


def main(folder=HERE, names=None):
    "Writes every notebook (or those `names`) into `folder` (nbs/ by default); returns the paths."
    paths = []
    for name, book in NOTEBOOKS.items():
        if names and name not in names:
            continue
        for i, cell in enumerate(book.cells):
            cell.id = f'cell-{i:02d}'  # stable ids: a rebuild changes only what changed
        nbformat.validate(book)
        paths.append(Path(folder) / f'{name}.ipynb')
        nbformat.write(book, paths[-1])
    return paths


if __name__ == '__main__':
    for p in main(names=sys.argv[1:]):  # e.g. `python nbs/make_notebooks.py 07_pix2pix`: only that one
        print(f'wrote {p}')
