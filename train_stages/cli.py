"""The `deoldify-like` console script: one subcommand per stage or tool, each a plain function.

COMMANDS maps each name to a loader that imports the command's module when the command is used (the imports
are inside the loaders on purpose: `deoldify-like --help` lists the names without importing torch). It
orchestrates both packages, so it and the quickstart are the only train_stages modules that may import `render`
(for the renderer's commands); the stages stand on deoldify_like alone (tests/test_layers.py)."""
import sys

from deoldify_like.cli_support import dispatch
from render.commands import COMMANDS as RENDER_COMMANDS


def _prepare():
    from train_stages.prepare import prepare
    return prepare


def _pretrain_gen():
    from train_stages.pretrain_gen import pretrain_gen
    return pretrain_gen


def _pretrain_critic():
    from train_stages.pretrain_critic import pretrain_critic
    return pretrain_critic


def _gan():
    from train_stages.gan import gan
    return gan


def _pix2pix():
    from train_stages.pix2pix import pix2pix
    return pix2pix


def _checkpoints():
    from train_stages.compare import checkpoints
    return checkpoints


def _promote():
    from train_stages.promote import promote
    return promote


def _import_deoldify():
    from deoldify_like.reference_import import import_deoldify
    return import_deoldify


def _quickstart():
    from train_stages.quickstart import quickstart
    return quickstart


# name -> loader of the command's function; None = not built yet (prints so and exits 2)
COMMANDS = {
    'prepare': _prepare,
    'pretrain-gen': _pretrain_gen,
    'pretrain-critic': _pretrain_critic,
    'gan': _gan,
    'pix2pix': _pix2pix,
    'checkpoints': _checkpoints,
    'promote': _promote,
    **RENDER_COMMANDS,  # render, evaluate, bench, deflicker, export, serve
    'import-deoldify': _import_deoldify,
    'quickstart': _quickstart,
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ['--']:  # `torchrun ... -m train_stages -- pretrain-gen ...` passes the separator on
        argv = argv[1:]
    raise SystemExit(dispatch(COMMANDS, argv, 'deoldify-like',
                              'NoGAN-style colorization: train in stages, pick a checkpoint, render photos and films.'))
