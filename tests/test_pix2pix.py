"""`deoldify-like pix2pix`: the networks (Lab in torch, the classic U-Net, the PatchGAN), and a tiny run that
trains, checkpoints, resumes after an interruption as an uninterrupted run goes, and whose promoted model
renders a photo and a film."""
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import color

from deoldify_like.cli_support import dispatch
from deoldify_like.critic import CriticConfig, build_critic, critic_min_size
from deoldify_like.demo import DEMO_COLOUR
from deoldify_like.generator import build_generator
from deoldify_like.images import load_image
from deoldify_like.model_file import load_generator, read_header, save_generator
from deoldify_like.colour_loss import lab_ab
from deoldify_like.pix2pix import gray_lightness, lab_to_rgb, pix2pix_config
from deoldify_like.tensors import gray_batch_to_input, output_to_rgb
from train_stages.cli import COMMANDS
from train_stages.pix2pix import pix2pix
from train_stages.run_folder import RunFolder, read_csv

from interrupts import Interrupt, InterruptAfter, call
from notebook_runner import outputs_of, run_notebook
from render_helpers import decoded_frames, make_film

TINY = dict(size=32, n_down=5, ngf=8, critic_nf=8, iters=6, save_every=2, bs=4, device='cpu')


def cli(*args):
    return dispatch(COMMANDS, [str(a) for a in args])


def test_lab_in_torch_is_skimage_lab():
    rgb = np.random.default_rng(0).random((2, 3, 8, 8), dtype=np.float32)
    expected = torch.from_numpy(np.stack([color.rgb2lab(x.transpose(1, 2, 0)).transpose(2, 0, 1) for x in rgb]))
    assert (lab_to_rgb(expected.float()) - torch.from_numpy(rgb)).abs().max() < 1e-4
    assert (lab_ab(lab_to_rgb(expected.float())) - expected[:, 1:]).abs().max() < 1e-2  # the loss's way back
    gray = torch.from_numpy(rgb[:, :1])
    lightness = [color.rgb2lab(np.repeat(g.transpose(1, 2, 0), 3, -1))[..., 0] for g in rgb[:, :1]]
    assert (gray_lightness(gray)[:, 0] - torch.from_numpy(np.stack(lightness)).float()).abs().max() < 1e-3


@pytest.mark.parametrize('body,output', [('classic', 'lab'), ('classic', 'rgb'), ('resnet', 'lab')])
def test_a_pix2pix_generator_keeps_the_luminance_and_rebuilds_from_its_file(tmp_path, body, output):
    torch.manual_seed(0)
    unet = {'nf_factor': 0.5} if body == 'resnet' else {}
    cfg = pix2pix_config(body, output, arch='resnet18', ngf=8, n_down=5, **unet)
    model = build_generator(cfg).eval()
    gray = np.random.default_rng(1).integers(0, 256, (2, 40, 48), dtype=np.uint8)  # sides not a multiple of 32
    with torch.no_grad():
        out = output_to_rgb(model(gray_batch_to_input(gray)))
    assert out.shape == (2, 40, 48, 3)
    # the picture's lightness is the input's: Lab's L (lab) or BT.601 luma (rgb), up to gamut clipping and rounding
    luma = out.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    assert np.median(np.abs(luma - gray)) < 3
    path = save_generator(tmp_path / 'g.safetensors', model, cfg)
    again, header = load_generator(path)
    assert header['config']['style'] == 'pix2pix' and header['config']['extra']['output'] == output
    with torch.no_grad():
        assert torch.equal(again(gray_batch_to_input(gray)), model(gray_batch_to_input(gray)))


def test_the_patchgan_sees_70_pixel_patches():
    critic = build_critic(CriticConfig(nf=8, style='patchgan'))
    assert critic_min_size(CriticConfig(style='patchgan')) == 24
    assert critic(torch.zeros(1, 3, 24, 24)).shape == (1, 1, 1, 1)
    # one output logit depends on a 70 x 70 patch of the input: the support of its gradient
    critic.eval()
    x = torch.randn(1, 3, 160, 160, requires_grad=True)
    critic(x)[0, 0, 8, 8].backward()
    support = x.grad.abs().sum((0, 1)) > 0
    assert support.any(1).sum() == 70 and support.any(0).sum() == 70


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp('pix2pix')
    data = d / 'data'
    assert cli('prepare', DEMO_COLOUR, '--out', data, '--max-size', 96) == 0
    out = {'dir': d, 'data': data}
    # interrupted in iteration 3 (checkpoints at 2, 4, 6): resumes from iteration 2
    out['interrupted'] = call(pix2pix, data=str(data), run=str(d / 'run'), cbs=[InterruptAfter(3)], **TINY)
    out['status_after_interrupt'] = RunFolder(d / 'run').stage('pix2pix')['status']
    out['resumed'] = call(pix2pix, data=str(data), run=str(d / 'run'), **TINY)
    out['again'] = call(pix2pix, data=str(data), run=str(d / 'run'), **TINY)
    out['whole'] = call(pix2pix, data=str(data), run=str(d / 'whole'), **TINY)
    return out


def test_a_tiny_run_trains_and_checkpoints(tiny):
    res, text = tiny['whole']
    assert res == 0 and 'pix2pix: done; 6 iterations' in text
    rf = RunFolder(tiny['dir'] / 'whole')
    doc = rf.load()
    assert doc['stages']['pix2pix']['status'] == 'done'
    settings = doc['stages']['pix2pix']['settings']
    assert settings['l1_weight'] == 100.0 and settings['body'] == 'classic' and settings['decay_start'] == 3
    names = [c['name'] for c in rf.list_checkpoints('generator')]
    assert names == [f'pix2pix-i00000{i}.safetensors' for i in (2, 4, 6)]
    header = read_header(rf.checkpoint_path(names[-1]))
    assert header['info']['stage'] == 'pix2pix' and header['info']['iteration'] == 6 and header['render_factor']
    rows = read_csv(rf.log_path('pix2pix'))
    assert [r['mode'] for r in rows] == ['critic', 'generator'] * 3  # one step of each in turn
    lrs = [float(r['lr_generator']) for r in rows]
    assert lrs[:3] == [2e-4] * 3 and lrs[3] > lrs[4] > lrs[5] > 0  # constant, then linearly down
    assert all(float(r['feature']) > 0 for r in rows if r['mode'] == 'generator')  # the L1 term
    assert (rf.reports / 'pix2pix_loss.png').is_file() and (rf.logs / 'pix2pix_settings.json').is_file()


def test_an_interrupted_run_resumes_as_an_uninterrupted_one_goes(tiny):
    res, _ = tiny['interrupted']
    assert isinstance(res, Interrupt) and tiny['status_after_interrupt'] == 'interrupted'
    res, text = tiny['resumed']
    assert res == 0 and 'resumed from' in text and 'at iteration 2 of 6 (next step: critic)' in text
    assert 'iteration 4/6' in text and 'iteration 2/6' not in text  # only what was not saved is trained again
    resumed, whole = RunFolder(tiny['dir'] / 'run'), RunFolder(tiny['dir'] / 'whole')
    keys = ('iteration', 'mode', 'lr_generator', 'lr_critic')
    assert ([{k: r[k] for k in keys} for r in read_csv(resumed.log_path('pix2pix'))]
            == [{k: r[k] for k in keys} for r in read_csv(whole.log_path('pix2pix'))])
    assert ([c['name'] for c in resumed.list_checkpoints()] == [c['name'] for c in whole.list_checkpoints()])
    assert [r['iteration'] for r in read_csv(resumed.log_path('pix2pix', '_checkpoints'))] == ['2', '4', '6']
    assert resumed.load()['stages']['pix2pix']['resumed'] == 1
    res, text = tiny['again']
    assert res == 0 and 'already done' in text


def test_settings_are_checked_before_anything_is_written(tiny, tmp_path, capsys):
    run = tmp_path / 'run'
    assert cli('pix2pix', '--data', tiny['data'], '--run', run, '--size', 32) == 2  # 8 down-steps need 256 px
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and '--n-down' in err
    assert cli('pix2pix', '--data', tmp_path / 'nothing', '--run', run, '--size', 32, '--n-down', 5) == 2
    assert cli('pix2pix', '--data', tiny['data'], '--run', run, '--size', 32, '--n-down', 5, '--critic-layers', 4) == 2
    assert not run.exists()


def test_the_promoted_model_renders_a_photo_and_a_film(tiny, tmp_path):
    model = tmp_path / 'model.safetensors'
    assert cli('promote', '--run', tiny['dir'] / 'whole', '--checkpoint', 'pix2pix-i000006', '--out', model) == 0
    photo = tmp_path / 'in' / 'photo.png'
    photo.parent.mkdir()
    Image.fromarray(load_image(sorted(tiny['data'].iterdir())[0]).luma).save(photo)
    film = tmp_path / 'in' / 'film.mp4'
    make_film(film, frames=6, audio=False)
    out = tmp_path / 'out'
    assert cli('render', '--model', model, '--out', out, '--render-factor', 2, '--device', 'cpu', photo, film) == 0
    rendered = load_image(next(out.glob('photo*')))
    assert rendered.rgb.shape[:2] == load_image(photo).luma.shape and not rendered.is_gray
    frames = decoded_frames(next(out.glob('film*')))
    assert len(frames) == 6 and frames[0][1].shape == (48, 64, 3)


def test_notebook_07_runs_headless(shared_data, tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    for f in sorted((shared_data / 'photos' / 'bsds500_train').glob('*.jpg'))[:8]:
        shutil.copy(f, src / f.name)
    run = tmp_path / 'run'
    book = run_notebook('07_pix2pix', {'DATA': str(shared_data), 'SOURCES': [str(src)], 'TRAIN': str(tmp_path / 'data'),
                                       'RUN': str(run), 'LIMIT': 8, 'NGF': 8, 'ITERS': 4, 'SAVE_EVERY': 2}, timeout=300)
    assert len(outputs_of(book, 'image/png')) >= 3
    assert not [t for t in outputs_of(book, 'stream') if 'Warning' in t]
    assert sorted(p.name for p in (run / 'checkpoints').glob('pix2pix-*')) == ['pix2pix-i000002.safetensors',
                                                                               'pix2pix-i000004.safetensors']
    assert read_header(run / 'pix2pix.safetensors')['info']['promoted_from'] == 'pix2pix-i000004.safetensors'
