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
