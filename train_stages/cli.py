"""The `deoldify-like` console script: one subcommand per stage or tool, each a plain function.

It orchestrates both packages, so it is one of the few train_stages modules that may import `render` (for the
renderer's commands); the stages themselves stand on deoldify_like alone (tests/test_layers.py)."""
import sys

from deoldify_like.cli_support import dispatch
from render.commands import COMMANDS as RENDER_COMMANDS

# name -> 'module:function'; None = not built yet (prints so and exits 2)
COMMANDS = {
    'prepare': 'train_stages.prepare:prepare',
    'pretrain-gen': 'train_stages.pretrain_gen:pretrain_gen',
    'pretrain-critic': 'train_stages.pretrain_critic:pretrain_critic',
    'gan': 'train_stages.gan:gan',
    'pix2pix': 'train_stages.pix2pix:pix2pix',
    'checkpoints': 'train_stages.compare:checkpoints',
    'promote': 'train_stages.promote:promote',
    **RENDER_COMMANDS,  # render, evaluate, bench, deflicker, export, serve
    'import-deoldify': 'deoldify_like.reference_import:import_deoldify',
    'quickstart': 'train_stages.quickstart:quickstart',
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['--']:  # `torchrun ... -m train_stages -- pretrain-gen ...` passes the separator on
        argv = argv[1:]
    raise SystemExit(dispatch(COMMANDS, argv, 'deoldify-like',
                              'NoGAN-style colorization: train in stages, pick a checkpoint, render photos and films.'))
