"""The renderer on photos, GIFs, sweeps and folders, run through the `render` command on real and
generated files with a tiny random generator."""
import hashlib
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from deoldify_like.colour import rgb_to_gray
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.images import load_image
from render.cli import render
from deoldify_like.inference import Colorizer, OutOfMemory, is_out_of_memory, native_bf16, resolve_precision
from render.folders import plan
from deoldify_like.inference import FILM_RENDER_FACTOR, PHOTO_RENDER_FACTOR, parse_sweep, render_factor_for
from render_helpers import save_tiny_model


@pytest.fixture(scope='module')
def tiny_model(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.safetensors', render_factor=4)


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _upright_size(path):
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).size


def _photo_set(folder, colour):
    "One photo of every mode the core reads; returns {name: expects alpha in output}."
    folder.mkdir()
    rgb = cv2.resize(colour, (61, 45))  # odd sizes
    gray = rgb_to_gray(rgb)
    Image.fromarray(rgb).save(folder / 'rgb.jpg', quality=95)
    Image.fromarray(gray).save(folder / 'gray.png')
    Image.fromarray(gray).convert('1').save(folder / 'bits.bmp')
    Image.fromarray(rgb).convert('P', palette=Image.Palette.ADAPTIVE).save(folder / 'palette.png')
    rgba = Image.fromarray(rgb).convert('RGBA')
    rgba.putalpha(Image.fromarray(np.tile(np.linspace(0, 255, 61, dtype=np.uint8), (45, 1))))
    rgba.save(folder / 'alpha.png')
    la = Image.fromarray(gray).convert('LA')
    la.putalpha(rgba.getchannel('A'))
    la.save(folder / 'gray_alpha.webp', lossless=True)
    Image.fromarray(rgb).convert('CMYK').save(folder / 'cmyk.jpg')
    Image.fromarray((gray.astype(np.uint16) * 257)).save(folder / 'sixteen.png')
    cv2.imwrite(str(folder / 'sixteen_rgb.tif'), (rgb[..., ::-1].astype(np.uint16) * 257))
    Image.fromarray(gray).save(folder / 'plain.pgm')
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees clockwise
    Image.fromarray(rgb).save(folder / 'rotated.jpg', exif=exif.tobytes())
    return {'alpha.png': True, 'gray_alpha.webp': True}


def test_photos_of_every_mode_keep_size_orientation_and_format(tmp_path, tiny_model, colour_image):
    alpha = _photo_set(tmp_path / 'in', colour_image)
    before = {p.name: _digest(p) for p in (tmp_path / 'in').iterdir()}
    assert render([str(tmp_path / 'in')], model=str(tiny_model), out=str(tmp_path / 'out'), render_factor=2) == 0
    for src in (tmp_path / 'in').iterdir():
        assert _digest(src) == before[src.name], f'{src.name} was modified'
        dest = tmp_path / 'out' / 'in' / (src.stem + ('.png' if src.suffix == '.pgm' else src.suffix))
        assert dest.is_file(), dest
        with Image.open(dest) as out:
            assert out.size == _upright_size(src), src.name
            assert ('A' in out.getbands()) == alpha.get(src.name, False), src.name
            rgb = np.array(out.convert('RGB'))
        # the colour comes from the model, the detail (luminance) from the input as the core reads it
        # (away from black and white, where colour cannot be added without clipping)
        luma = load_image(src).luma
        mid = (luma > 20) & (luma < 235)
        if src.name not in alpha and mid.any():
            assert np.abs(rgb_to_gray(rgb).astype(int) - luma)[mid].mean() < 3, src.name
    with Image.open(tmp_path / 'out' / 'in' / 'rotated.jpg') as im:
        assert im.size == (45, 61) and im.getexif().get(0x0112, 1) == 1
    # outputs exist: a second run skips them all, --overwrite redoes them
    assert render([str(tmp_path / 'in')], model=str(tiny_model), out=str(tmp_path / 'out')) == 0


def test_gif_frames_durations_and_loop_kept(tmp_path, tiny_model, colour_image):
    frames = [Image.fromarray(np.roll(colour_image, 9 * i, axis=1)) for i in range(3)]
    frames[0].save(tmp_path / 'loop.gif', save_all=True, append_images=frames[1:], duration=[50, 120, 200], loop=0)
    frames[0].save(tmp_path / 'once.gif', save_all=True, append_images=frames[1:], duration=80)
    assert render([str(tmp_path / 'loop.gif'), str(tmp_path / 'once.gif')], model=str(tiny_model),
                  out=str(tmp_path / 'out'), render_factor=2) == 0
    with Image.open(tmp_path / 'out' / 'loop.gif') as im:
        assert im.n_frames == 3 and im.info.get('loop') == 0 and im.size == (64, 48)
        durations = [f.info['duration'] for f in _frames(im)]
        assert durations == [50, 120, 200]
    with Image.open(tmp_path / 'out' / 'once.gif') as im:
        assert im.n_frames == 3 and 'loop' not in im.info
        assert [f.info['duration'] for f in _frames(im)] == [80, 80, 80]


def _frames(im):
    for i in range(im.n_frames):
        im.seek(i)
        yield im


def test_sweep_writes_one_labelled_grid(tmp_path, tiny_model, shared_data):
    photo = shared_data / 'historic_bw' / '1864UnionSoldier.jpg'
    assert render([str(photo)], model=str(tiny_model), out=str(tmp_path), sweep='2,3,4') == 0
    grid = np.array(Image.open(tmp_path / '1864UnionSoldier.sweep.jpg'))
    h, w = _upright_size(photo)[::-1]
    pw = min(480, w)
    assert grid.shape[1] == 4 * pw  # input + 3 render factors in one row
    panels = [grid[30:, i * pw:(i + 1) * pw].astype(int) for i in range(4)]
    assert np.abs(panels[1] - panels[3]).mean() > 0.5  # render factors 2 and 4 give different colour
    assert (grid[:30] < 128).any()  # a label is drawn above each panel
    with pytest.raises(DeoldifyLikeError):
        render([str(photo)], model=str(tiny_model), out=str(tmp_path), sweep='2,x')


def test_bad_folder_names_each_bad_file_and_goes_on(tmp_path, tiny_model, shared_data, capsys):
    folder = tmp_path / 'mixed'
    (folder / 'sub').mkdir(parents=True)
    film = (shared_data / 'video' / 'slow_traffic_small.mp4').read_bytes()
    (folder / 'sub' / 'truncated.mp4').write_bytes(film[:len(film) // 2])
    (folder / 'notes.jpg').write_text('this is a text file, not a photo')
    (folder / 'empty.png').write_bytes(b'')
    (folder / 'readme.txt').write_text('ignored: not a photo, GIF or film')
    for name in ('1864UnionSoldier.jpg', '1860sSamauris.png'):
        (folder / 'sub' / name).write_bytes((shared_data / 'historic_bw' / name).read_bytes())
    code = render([str(folder)], model=str(tiny_model), out=str(tmp_path / 'out'), render_factor=2)
    err = capsys.readouterr().err
    assert code == 1
    bad = [line for line in err.splitlines() if line.startswith('render: ')]
    assert len(bad) == 3, err
    for name in ('truncated.mp4', 'notes.jpg', 'empty.png'):
        assert sum(name in line for line in bad) == 1, err
    assert 'Traceback' not in err
    out = tmp_path / 'out' / 'mixed'
    assert {p.name for p in (out / 'sub').iterdir()} == {'1864UnionSoldier.jpg', '1860sSamauris.png'}
    assert not (out / 'notes.jpg').exists() and not (out / 'empty.png').exists()


def test_plan_mirrors_tree_and_refuses_to_overwrite_inputs(tmp_path):
    (tmp_path / 'a' / 'b').mkdir(parents=True)
    for name in ('a/x.jpg', 'a/b/y.mkv', 'a/b/z.pgm', 'a/.hidden/w.jpg', 'a/b/film.mpg'):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b'x')
    jobs, problems = plan([tmp_path / 'a', tmp_path / 'nothing.jpg'], tmp_path / 'out')
    got = {str(j.dest.relative_to(tmp_path / 'out')): j.kind for j in jobs}
    assert got == {'a/x.jpg': 'photo', 'a/b/y.mkv': 'film', 'a/b/z.png': 'photo', 'a/b/film.mkv': 'film'}
    assert problems == [f"{tmp_path / 'nothing.jpg'}: no such file or folder"]
    jobs, problems = plan([tmp_path / 'a' / 'x.jpg'], tmp_path / 'a')
    assert not jobs and 'overwrite the input' in problems[0]


def test_render_factor_rule():
    assert render_factor_for({}, 'photo') == PHOTO_RENDER_FACTOR
    assert render_factor_for(None, 'film') == FILM_RENDER_FACTOR
    assert render_factor_for({'render_factor': 35}, 'film') == 21
    assert render_factor_for({'render_factor': 20}, 'photo') == 20
    assert render_factor_for({'render_factor': 20}, 'film', given=10) == 10
    assert parse_sweep('10, 14,18') == [10, 14, 18]
    with pytest.raises(ValueError):
        parse_sweep('0,10')


def test_precision_choice():
    cpu = torch.device('cpu')
    assert resolve_precision('auto', cpu) == ('bf16' if native_bf16(cpu) else 'fp32')
    assert resolve_precision('fp32', cpu) == 'fp32'
    with pytest.raises(ValueError):
        resolve_precision('int4', cpu)
    with pytest.raises(ValueError, match='CUDA'):
        Colorizer(torch.nn.Conv2d(3, 3, 1), 2, device='cpu', precision='fp16')


def test_inference_copy_gives_the_same_numbers(colour_image):
    "Spectral norm folded, channels_last and batching change no number beyond float rounding."
    from deoldify_like.generator import build_generator
    torch.manual_seed(0)
    model = build_generator(arch='resnet18', nf_factor=0.5).eval()
    lumas = [np.roll(rgb_to_gray(colour_image), 5 * i, axis=0) for i in range(3)]
    plain = Colorizer(model, 3, device='cpu', bs=1, precision='fp32', channels_last=False, fold=False).predict(lumas)
    fast = Colorizer(model, 3, device='cpu', bs=2, precision='fp32').predict(lumas)
    for a, b in zip(plain, fast):
        assert np.abs(a.astype(int) - b).max() <= 1
    assert any(hasattr(m, 'weight_orig') for m in model.modules())  # the caller's model is untouched


class FlakyMemoryModel(torch.nn.Module):
    "A generator that runs out of memory above a batch size (the way a big batch does on a small GPU)."

    def __init__(self, max_batch, error):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
        self.max_batch, self.error, self.batches = max_batch, error, []

    def forward(self, x):
        self.batches.append(x.shape[0])
        if x.shape[0] > self.max_batch:
            raise self.error
        return self.conv(x)


@pytest.mark.parametrize('error', [torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB'),
                                   RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB")])
def test_out_of_memory_retries_smaller_then_fails_loudly(error, colour_image):
    assert is_out_of_memory(error) and not is_out_of_memory(RuntimeError('shape mismatch'))
    torch.manual_seed(0)
    flaky = FlakyMemoryModel(2, error)
    lumas = [np.roll(rgb_to_gray(colour_image), i, axis=1) for i in range(5)]
    col = Colorizer(flaky, render_factor=2, device='cpu', bs=8)
    out = col.colorize(lumas)
    assert col.bs == 2 and col.model.batches == [5, 2, 2, 1]  # halved from 5 frames (8 asked) to 2, then kept
    assert flaky.batches == []  # the Colorizer works on its own copy of the model
    steady = Colorizer(flaky.conv, render_factor=2, device='cpu', bs=1).colorize(lumas)
    for a, b in zip(out, steady):
        assert np.abs(a.astype(int) - b).max() <= 1
    never = Colorizer(FlakyMemoryModel(0, error), render_factor=2, device='cpu', bs=4)
    with pytest.raises(OutOfMemory, match='even for one picture'):
        never.colorize(lumas)
    with pytest.raises(RuntimeError, match='shape'):  # other errors are not retried
        Colorizer(FlakyMemoryModel(0, RuntimeError('shape mismatch')), 2, device='cpu').colorize(lumas)


def test_command_line_entry_points(tmp_path, tiny_model, subprocess_env, shared_data):
    photo = shared_data / 'historic_bw' / '1864UnionSoldier.jpg'
    r = subprocess.run([sys.executable, '-m', 'render', 'render', str(photo), '--model', str(tiny_model),
                        '--out', str(tmp_path), '--render-factor', '2', '--bs', '1'],
                       capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / photo.name).is_file()
    r = subprocess.run([sys.executable, '-m', 'train_stages', 'render', str(tmp_path / 'none.jpg'), '--model',
                        str(tiny_model), '--out', str(tmp_path)], capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 1 and 'none.jpg: no such file or folder' in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([sys.executable, '-m', 'train_stages', 'render', str(photo), '--model', str(photo),
                        '--out', str(tmp_path)], capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 1 and 'not a deoldify_like model file' in r.stderr and 'Traceback' not in r.stderr
    r = subprocess.run([sys.executable, '-m', 'train_stages', 'bench', '--help'], capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 0 and '--video' in r.stdout
