"""Shared fixtures. Real pictures and films come from ../shared/data (or $DEOLDIFY_LIKE_DATA);
tests that need them are skipped cleanly where that folder is absent."""
import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault('DEOLDIFY_LIKE_QUIET', '1')
# render's default engine is auto (an exported engine where measured faster); tests of other things keep the
# torch path, which needs no export per tiny model. tests/test_engines.py covers the engines and auto.
os.environ.setdefault('DEOLDIFY_LIKE_ENGINE', 'torch')


def data_dir():
    return Path(os.environ.get('DEOLDIFY_LIKE_DATA', ROOT.parent / 'shared' / 'data'))


@pytest.fixture(scope='session')
def shared_data():
    d = data_dir()
    if not d.is_dir():
        pytest.skip(f'real data folder {d} is absent (set DEOLDIFY_LIKE_DATA)')
    return d


@pytest.fixture
def colour_image():
    "A small synthetic colour picture with smooth gradients and flat patches (uint8 RGB)."
    h, w = 48, 64
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) * 255 // (w + h - 2)], -1).astype(np.uint8)
    img[10:20, 10:30] = (200, 40, 40)
    return img


@pytest.fixture
def subprocess_env():
    "Environment for running the package in a child process from the source tree."
    env = dict(os.environ)
    env['PYTHONPATH'] = str(ROOT) + os.pathsep + env.get('PYTHONPATH', '')
    env['DEOLDIFY_LIKE_QUIET'] = '1'
    return env


@pytest.fixture(scope='session')
def tiny_run(tmp_path_factory):
    """prepare -> pretrain-gen -> pretrain-critic -> gan on the embedded colour photos, tiny settings: a run
    with the stage-1 generator and three GAN checkpoints (iterations 2, 4, 6). Shared by the tests that
    read it; a test that changes it works on a copy."""
    from deoldify_like.cli_support import dispatch
    from deoldify_like.demo import DEMO_COLOUR
    from train_stages.cli import COMMANDS

    def cli(*args):
        return dispatch(COMMANDS, [str(a) for a in args])
    d = tmp_path_factory.mktemp('tiny')
    data, run = d / 'data', d / 'run'
    assert cli('prepare', DEMO_COLOUR, '--out', data, '--max-size', 96) == 0
    assert cli('pretrain-gen', '--data', data, '--run', run, '--arch', 'resnet18', '--nf-factor', 0.5, '--sizes', 32,
               '--epochs', 1, '--bs', 2, '--no-pretrained', '--seed', 1) == 0
    assert cli('pretrain-critic', '--run', run, '--epochs', 1, '--bs', 2, '--size', 64, '--nf', 16) == 0
    assert cli('gan', '--run', run, '--iters', 6, '--save-every', 2, '--bs', 2, '--size', 64) == 0
    return run
