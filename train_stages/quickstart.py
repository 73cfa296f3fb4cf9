"""`deoldify-like quickstart`: the whole NoGAN pipeline on the embedded demo data, then a report.

prepare the demo colour photos -> pretrain the generator -> generate images and pretrain the critic ->
GAN burst with checkpoints -> checkpoint grid and metrics -> promote the checkpoint the metrics favour ->
colorize the demo black-and-white photos (with a render-factor sweep) and film -> DIR/report/index.html.
Each step is the same command a user runs by hand; the run folder resumes if interrupted.
It orchestrates training and rendering, so (with its report) it may import `render`, unlike the stages.
"""
import argparse
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

from deoldify_like.cli_support import run_command
from deoldify_like.demo import DEMO_BW, DEMO_COLOUR, DEMO_FILM
from deoldify_like.errors import DeoldifyLikeError, PretrainedWeightsUnavailable
from deoldify_like.pretrained import imagenet_state_dict
from render.cli import render

from .compare import checkpoint_rows, checkpoints
from .gan import gan
from .prepare import prepare
from .pretrain_critic import pretrain_critic
from .pretrain_gen import pretrain_gen
from .promote import promote
from .quickstart_report import write_report
from .run_folder import RunFolder, read_csv


@dataclass
class Settings:
    "How big each step is. 'demo' fits in about ten minutes on a 2-core CPU; 'tiny' is a smoke test."
    arch: str = 'resnet34'
    nf_factor: float = 1.0
    sizes: str = '64,96'
    epochs: str = '8,4'
    bs: int = 4
    critic_size: int = 64
    critic_epochs: int = 3
    critic_nf: int = 64
    gan_iters: int = 30
    save_every: int = 5
    gan_size: int = 64
    valid_pct: float = 0.4  # 2 of the 5 demo colour photos are held out: the checkpoint is chosen on them
    render_factor: int = 8  # for the photos and the grid: the model sees 128 px
    film_render_factor: int = 8
    sweep: str = '4,6,8,12,16'


PRESETS = {
    'demo': Settings(),
    'tiny': Settings(arch='resnet18', nf_factor=0.5, sizes='32', epochs='1', bs=2, critic_epochs=1, critic_nf=16,
                     gan_iters=4, save_every=2, render_factor=2, film_render_factor=2, sweep='2,3'),
}


def pretrained_available(arch):
    "Whether torchvision can load ImageNet weights (cached or by download); says why not in one line."
    try:
        imagenet_state_dict(arch)
        imagenet_state_dict('vgg16_bn')
        return True
    except PretrainedWeightsUnavailable as e:
        print(f"quickstart: going on without ImageNet weights, which gives duller colour: {e}", flush=True)
        return False


def _step(name, func, argv, timings):
    print(f"\n=== quickstart: {name} ===", flush=True)
    t = time.time()
    code = run_command(func, [str(a) for a in argv], f"deoldify-like {name}")
    timings.append((name, time.time() - t))
    if code != 0:
        raise DeoldifyLikeError(f"quickstart: step '{name}' failed (exit {code}); run the quickstart again to resume")


def held_out_pictures(rf, bw_dir, dest):
    """The pictures the checkpoints are compared on: the run's held-out colour photos (it never trained on
    them, so the choice is not a score on its own training data) and two black-and-white ones to look at."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    held = rf.split_files('valid')
    for p in held + sorted(bw_dir.glob('*.jpg'))[:2]:
        shutil.copy(p, dest / p.name)
    return [p.name for p in held]


def favoured_checkpoint(table_csv):
    """The checkpoint the metrics favour: among those without a drift warning, the one whose colourfulness
    is closest to the truth's (lowest ΔCF), ties broken by PSNR; the stage-1 generator if all drift."""
    rows = checkpoint_rows(read_csv(table_csv))
    calm = [r for r in rows if not r.get('drift')]
    if not calm:
        return {**rows[0], 'why': 'every checkpoint shows colour drift, so the stage-1 generator'}

    def key(r):
        dcf = float(r['delta_cf']) if r.get('delta_cf') not in (None, '') else math.inf
        psnr = float(r['psnr']) if r.get('psnr') not in (None, '', 'inf') else 0.0
        return (dcf, -psnr)
    return {**min(calm, key=key), 'why': 'no drift warning and colourfulness closest to the truth'}


def quickstart(
    out: str = 'deoldify_like_quickstart',  # folder for the run, the model, the colorized demo files and the report
    preset: str = 'demo',  # demo (about ten minutes on a 2-core CPU) or tiny (a smoke test in a minute)
    pretrained: Annotated[bool, "ImageNet weights for the encoder and the loss network when torchvision can load them "
                                "(it goes on without them otherwise); --no-pretrained never tries",
                          dict(action=argparse.BooleanOptionalAction)] = True,
    device: str = 'auto',  # where every step runs
):
    "The whole NoGAN pipeline on the embedded demo data, ending with a report to open in a browser."
    if preset not in PRESETS:
        raise DeoldifyLikeError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    s, out = PRESETS[preset], Path(out)
    data, run, model, colorized = out / 'data', out / 'run', out / 'model.safetensors', out / 'colorized'
    t0, timings = time.time(), []
    use_pretrained = pretrained and pretrained_available(s.arch)
    _step('prepare', prepare, [DEMO_COLOUR, '--out', data, '--max-size', 256], timings)
    _step('pretrain-gen', pretrain_gen, ['--data', data, '--run', run, '--arch', s.arch, '--nf-factor', s.nf_factor,
                                         '--sizes', s.sizes, '--epochs', s.epochs, '--bs', s.bs, '--valid-pct', s.valid_pct,
                                         '--pretrained' if use_pretrained else '--no-pretrained',
                                         '--vgg-weights', 'imagenet' if use_pretrained else 'random', '--device', device], timings)
    _step('pretrain-critic', pretrain_critic, ['--run', run, '--epochs', s.critic_epochs, '--bs', s.bs,
                                               '--size', s.critic_size, '--nf', s.critic_nf, '--device', device], timings)
    _step('gan', gan, ['--run', run, '--iters', s.gan_iters, '--save-every', s.save_every, '--bs', s.bs,
                       '--size', s.gan_size, '--device', device], timings)
    compare_dir = out / 'compare'
    held = held_out_pictures(RunFolder(run), DEMO_BW, compare_dir)
    print(f"quickstart: the checkpoints are scored on {len(held)} colour photo(s) the run did not train on "
          f"({', '.join(held)}), beside two black-and-white ones", flush=True)
    grid = run / 'reports' / 'checkpoints.png'
    _step('checkpoints', checkpoints, ['--run', run, '--images', compare_dir, '--render-factor', s.render_factor,
                                       '--out', grid, '--rows', 7, '--device', device], timings)
    chosen = favoured_checkpoint(grid.with_suffix('.csv'))
    chosen['scored_on'] = held
    _step('promote', promote, ['--run', run, '--checkpoint', chosen['checkpoint'], '--out', model], timings)
    print(f"quickstart: promoted {chosen['label']} ({chosen['checkpoint']}): {chosen['why']} (dCF {chosen.get('delta_cf')}). "
          f"A person should confirm it by eye in the grid {grid}; to promote "
          f"another: deoldify-like promote --run {run} --checkpoint NAME --out {model}", flush=True)
    _step('render photos', render, [DEMO_BW, '--model', model, '--out', colorized / 'photos', '--render-factor',
                                    s.render_factor, '--device', device], timings)
    sweep_src = sorted(DEMO_BW.glob('*.jpg'))[0]
    _step('render sweep', render, [sweep_src, '--model', model, '--out', colorized / 'sweep', '--sweep', s.sweep,
                                   '--device', device], timings)
    _step('render film', render, [DEMO_FILM, '--model', model, '--out', colorized / 'film', '--render-factor',
                                  s.film_render_factor, '--device', device, '--web'], timings)
    timings.append(('total', time.time() - t0))
    index = write_report(out / 'report', RunFolder(run), chosen, model, colorized, sweep_src, DEMO_BW, DEMO_FILM,
                         {'preset': preset, 'pretrained': use_pretrained, **asdict(s)}, timings)
    print(f"\nquickstart: done in {timings[-1][1] / 60:.1f} min. Open the report: {index}", flush=True)
    return 0
