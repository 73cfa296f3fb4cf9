"""Writes the notebooks in nbs/ with nbformat. Run it after changing them here:

    python nbs/make_notebooks.py

The notebooks are thin drivers: they call the same library functions as the command line, with tiny
settings in the cell tagged `parameters` (override them there, or inject a cell as the tests do).
"""
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
    out = new_notebook(cells=cells)
    out.metadata['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    return out


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
first sign of going too far). Same as `deoldify-like gan --run RUN --iters N --save-every K`.'''),
    new_code_cell(SETUP),
    params('''RUN = 'runs/notebook'
ITERS, SAVE_EVERY, BS, SIZE, LR = 6, 2, 4, 64, 1e-4
FROM = None   # default: the generator this cycle's critic was trained against
DATA = os.environ.get('DEOLDIFY_LIKE_DATA', '../../shared/data')
PICTURE = f'{DATA}/photos/bsds500_val/101085.jpg'   # shown through every checkpoint'''),
    new_code_cell('''from train_stages.gan import gan
from train_stages.run_folder import RunFolder
gan(run=RUN, iters=ITERS, save_every=SAVE_EVERY, bs=BS, size=SIZE, lr=LR, from_=FROM)
rf = RunFolder(RUN)
cycle = rf.load()['cycle']'''),
    new_markdown_cell('## Losses per checkpoint'),
    new_code_cell('''display(pd.read_csv(rf.log_path(f'gan-c{cycle}', '_checkpoints')))
display(Image(rf.reports / f'gan-c{cycle}_loss.png'))'''),
    new_markdown_cell('## One picture through every checkpoint of the burst'),
    new_code_cell('''from deoldify_like.images import load_image
from render.colorizer import Colorizer
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
before things go wrong. The same pictures and table as `deoldify-like checkpoints --run RUN`.'''),
    new_code_cell(SETUP),
    params('''RUN = 'runs/notebook'   # the run folder of notebooks 1-3
IMAGES = None           # a folder of pictures, or None for the run's fixed validation sample
RENDER_FACTOR = 8       # the model sees RENDER_FACTOR x 16 pixels
LIMIT = 6               # pictures to compare
PROMOTE_TO = None       # a path: promote the checkpoint shown without clicking (as in a script)'''),
    new_code_cell('''from train_stages.picker import CheckpointPicker
picker = CheckpointPicker(RUN, images=IMAGES, render_factor=RENDER_FACTOR, limit=LIMIT)
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

NOTEBOOKS = {'00_quickstart': NB00, '01_pretrain_generator': NB01, '02_pretrain_critic': NB02,
             '03_gan_burst': NB03, '04_pick_checkpoint': NB04}


def main():
    for name, book in NOTEBOOKS.items():
        nbformat.validate(book)
        nbformat.write(book, HERE / f'{name}.ipynb')
        print(f'wrote nbs/{name}.ipynb')


if __name__ == '__main__':
    main()
