import subprocess
import sys
from fractions import Fraction

import pytest

from deoldify_like.errors import BadInputError
from deoldify_like.video import iter_frames, probe_video


def test_probe_real_films(shared_data):
    info = probe_video(shared_data / 'video' / 'slow_traffic_small.mp4')
    assert (info.width, info.height, info.fps, info.frames) == (640, 360, Fraction(30000, 1001), 914)
    assert info.audio_codec == 'aac'
    bikes = probe_video(shared_data / 'video' / 'bikes.mp4')
    assert (bikes.width, bikes.height, bikes.frames, bikes.audio_codec) == (640, 272, 250, None)


def test_iter_frames_every_n(shared_data):
    frames = list(iter_frames(shared_data / 'video' / 'bikes.mp4', every=50))
    assert [i for i, _ in frames] == [0, 50, 100, 150, 200]
    assert frames[0][1].shape == (272, 640, 3)


@pytest.mark.parametrize('content', [b'', b'plain text pretending to be a film'])
def test_bad_films(tmp_path, content):
    path = tmp_path / 'x.mp4'
    path.write_bytes(content)
    with pytest.raises(BadInputError) as e:
        probe_video(path)
    assert str(path) in str(e.value) and '\n' not in str(e.value)


def test_packages_import_and_cli_help(subprocess_env):
    subprocess.run([sys.executable, '-c', 'import deoldify_like, train_stages, render'], check=True, env=subprocess_env)
    r = subprocess.run([sys.executable, '-m', 'train_stages', '--help'], capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 0 and 'pretrain-gen' in r.stdout and 'render' in r.stdout
    r = subprocess.run([sys.executable, '-m', 'train_stages', 'no-such'], capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 2 and 'unknown command' in r.stderr


def test_demo_data_ships_with_the_package():
    from deoldify_like.demo import DEMO_BW, DEMO_COLOUR, DEMO_DIR, DEMO_FILM
    from deoldify_like.images import load_image
    colour = sorted(DEMO_COLOUR.glob('*.jpg'))
    assert len(colour) >= 5 and all(not load_image(p).is_gray for p in colour)
    bw = sorted(DEMO_BW.glob('*.jpg'))
    assert len(bw) >= 5 and all(load_image(p).is_gray for p in bw)
    assert probe_video(DEMO_FILM).frames == 360
    notice = (DEMO_DIR / 'NOTICE.md').read_text()
    assert all(p.name in notice or p.stem in notice for p in colour + bw + [DEMO_FILM])
