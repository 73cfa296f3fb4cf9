"""`prepare`: photos, folders and films in; colour training pictures out; bad files reported, rest goes on."""
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

from deoldify_like.images import load_image
from train_stages.prepare import prepare


def test_prepare_photos_film_gray_and_bad_files(shared_data, tmp_path, capsys):
    src = tmp_path / 'src'
    (src / 'nested').mkdir(parents=True)
    for name in ['100075.jpg', '100080.jpg']:
        shutil.copy(shared_data / 'photos' / 'bsds500_train' / name, src / 'nested' / name)
    Image.fromarray(np.full((40, 50), 128, np.uint8)).save(src / 'gray.png')
    (src / 'notes.jpg').write_text('not a picture')
    (src / 'empty.png').write_bytes(b'')
    (src / 'README.txt').write_text('ignored: not an image or film')
    out = tmp_path / 'out'
    rc = prepare([str(src), str(shared_data / 'video' / 'bikes.mp4'), str(tmp_path / 'missing.jpg')],
                 out=str(out), every=100, max_size=128)
    text = capsys.readouterr()
    assert rc == 1  # something failed
    written = sorted(p.name for p in out.iterdir())
    assert written == ['bikes_f000000.jpg', 'bikes_f000100.jpg', 'bikes_f000200.jpg',
                       'src__nested__100075.jpg', 'src__nested__100080.jpg']
    for p in out.iterdir():
        img = load_image(p)
        assert max(img.rgb.shape[:2]) == 128 and not img.is_gray
    assert load_image(out / 'bikes_f000100.jpg').rgb.shape == (54, 128, 3)  # 640x272 scaled, aspect kept
    err_lines = text.err.strip().splitlines()
    assert len(err_lines) == 3 and 'Traceback' not in text.err
    assert any('notes.jpg' in l and 'not an image' in l for l in err_lines)
    assert any('empty.png' in l and 'empty' in l for l in err_lines)
    assert any('missing.jpg' in l and 'no such file' in l for l in err_lines)
    assert 'gray.png: skipped, colourless' in text.out
    assert '5 colour pictures' in text.out and '1 colourless source(s) skipped, 3 failed' in text.out


def test_prepare_command_line_exit_codes(shared_data, tmp_path, subprocess_env):
    one = shared_data / 'photos' / 'bsds500_train' / '100075.jpg'
    run = lambda *a: subprocess.run([sys.executable, '-m', 'train_stages', 'prepare', *map(str, a)],  # noqa: E731
                                    capture_output=True, text=True, env=subprocess_env)
    ok = run(one, '--out', tmp_path / 'a', '--max-size', '0')
    assert ok.returncode == 0, ok.stderr
    assert load_image(tmp_path / 'a' / '100075.jpg').rgb.shape == (321, 481, 3)
    (tmp_path / 'bad.mp4').write_text('not a film')
    bad = run(one, tmp_path / 'bad.mp4', '--out', tmp_path / 'b')
    assert bad.returncode == 1 and 'bad.mp4' in bad.stderr and 'Traceback' not in bad.stderr
    assert (tmp_path / 'b' / '100075.jpg').is_file()
