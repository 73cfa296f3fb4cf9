"""The reference generators: exact outputs on the shared fixture, `import-deoldify` on .pth files, the renderer
on an imported model. Large (the artistic preset is 63.8 M values, stable 218.5 M): each is built once."""
import gc
import subprocess
import sys
import types

import numpy as np
import pytest
import torch
from reference_fixture import filled_state_dict, fixture_io, fixture_keys
from safetensors.torch import load_file

from deoldify_like.cli_support import dispatch
from deoldify_like.colour import rgb_to_gray
from deoldify_like.deoldify_compat import PRESETS, preset_config, preset_shapes
from deoldify_like.errors import ModelFileError
from deoldify_like.generator import GeneratorConfig, build_generator, encoder_of
from deoldify_like.images import load_image
from deoldify_like.model_file import load_generator, read_header, save_generator
from deoldify_like.reference_import import check_state_dict, load_reference_generator
from deoldify_like.inference import Colorizer
from train_stages.cli import COMMANDS

TOL = 1e-4


@pytest.fixture(scope='module')
def fixture_dir(shared_data):
    d = shared_data / 'deoldify_compat'
    if not (d / 'artistic_keys.json').is_file():
        pytest.skip(f'{d} holds no reference fixture')
    return d


@pytest.fixture(scope='module')
def artistic(fixture_dir):
    "The artistic preset with the fixture's weights, its filled state_dict, the fixture input and output."
    keys = fixture_keys(fixture_dir, 'artistic')
    sd = filled_state_dict(keys)
    model = build_generator(preset_config('deoldify-artistic'))
    model.load_state_dict(sd, strict=True)  # after build_generator's power iteration: the stored u, v win
    x, y = fixture_io(fixture_dir, 'artistic')
    return types.SimpleNamespace(keys=keys, sd=sd, model=model, x=x, y=y)


@pytest.fixture
def big_tmp(tmp_path):
    "tmp_path, emptied after the test: .pth and model files here are hundreds of MB."
    yield tmp_path
    for p in tmp_path.iterdir():
        if p.is_file():
            p.unlink()


def import_cli(*args):
    return dispatch(COMMANDS, ['import-deoldify', *map(str, args)])


def max_diff(model, x, y):
    with torch.no_grad():
        return (model.eval()(x) - y).abs().max().item()


def test_artistic_has_the_reference_keys_and_reproduces_its_output(artistic):
    own = artistic.model.state_dict()
    assert [(k, tuple(v.shape)) for k, v in own.items()] == [(k, s) for k, s, _ in artistic.keys]
    assert list(preset_shapes('artistic').items()) == [(k, s) for k, s, _ in artistic.keys]
    assert max_diff(artistic.model, artistic.x, artistic.y) < TOL


def test_stable_has_the_reference_keys_and_reproduces_its_output(fixture_dir):
    keys = fixture_keys(fixture_dir, 'stable')
    model = build_generator(preset_config('stable'))
    assert [(k, tuple(v.shape)) for k, v in model.state_dict().items()] == [(k, s) for k, s, _ in keys]
    model.load_state_dict(filled_state_dict(keys), strict=True)
    assert max_diff(model, *fixture_io(fixture_dir, 'stable')) < TOL
    del model
    gc.collect()


def test_presets_and_their_names():
    assert preset_config('artistic') == PRESETS['deoldify-artistic']
    assert preset_config('deoldify-artistic').style == 'deoldify_deep'
    assert preset_config('VIDEO') == preset_config('deoldify-stable')  # the video model has the stable shape
    assert preset_config('stable').arch == 'resnet101' and preset_config('stable').nf_factor == 2
    assert preset_config('artistic') is not preset_config('artistic')  # a fresh copy each time
    with pytest.raises(ValueError, match='unknown preset'):
        preset_config('deoldify-sharp')
    assert list(preset_shapes('video')) == list(preset_shapes('stable'))


def test_import_writes_a_model_file_the_renderer_uses(artistic, big_tmp, shared_data):
    # released files date from 2019: torch's legacy (non-zip) format, a bare state_dict
    src = big_tmp / 'ColorizeArtistic_gen.pth'
    torch.save(artistic.sd, src, _use_new_zipfile_serialization=False)
    out = big_tmp / 'artistic.safetensors'
    assert import_cli(src, '--preset', 'deoldify-artistic', '--out', out) == 0
    header = read_header(out)
    assert header['render_factor'] == 35 and header['config']['style'] == 'deoldify_deep'
    assert header['input']['normalize'] == 'imagenet' and header['input']['channels'] == 'gray3'
    assert 'original-luma' in header['colour_mode']
    assert header['info']['preset'] == 'deoldify-artistic' and header['info']['source'] == str(src.resolve())
    assert header['info']['source_bytes'] == src.stat().st_size

    photo = load_image(sorted((shared_data / 'historic_bw').iterdir())[0])
    luma = photo.luma
    colorizer = Colorizer.from_file(out, render_factor=6, device='cpu')  # rebuilt from the header alone
    assert colorizer.render_factor == 6 and colorizer.header['render_factor'] == 35
    own = load_generator(out)[0].state_dict()  # the stored u, v replaced those of build_generator's power iteration
    assert all(torch.equal(own[k], v) for k, v in artistic.sd.items())
    assert max_diff(colorizer.model, artistic.x, artistic.y) < TOL
    (rgb,) = colorizer.colorize([luma])
    assert rgb.shape == (*luma.shape, 3) and rgb.dtype == np.uint8
    assert np.abs(rgb_to_gray(rgb).astype(int) - luma.astype(int)).mean() < 2  # the original luminance is kept
    assert np.array_equal(colorizer.predict([luma])[0],
                          Colorizer(artistic.model, render_factor=6, device='cpu').predict([luma])[0])

    # the {'model': state_dict, ...} form, as fastai's Learner.save writes it, in torch's zip format
    wrapped = big_tmp / 'wrapped.pth'
    torch.save({'model': artistic.sd, 'opt': {'lr': 1e-3}}, wrapped)
    out2 = big_tmp / 'video-like.safetensors'
    assert import_cli(wrapped, '--preset', 'artistic', '--out', out2, '--render-factor', '21') == 0
    assert read_header(out2)['render_factor'] == 21
    stored = load_file(str(out2))
    assert stored.keys() == artistic.sd.keys() and all(torch.equal(stored[k], v) for k, v in artistic.sd.items())


def test_missing_or_misshaped_key_is_one_line(artistic, big_tmp, subprocess_env):
    missing = dict(artistic.sd)
    del missing['layers.5.conv2.3.gamma']
    src = big_tmp / 'missing.pth'
    torch.save(missing, src)
    out = big_tmp / 'm.safetensors'
    r = subprocess.run([sys.executable, '-m', 'train_stages', 'import-deoldify', str(src), '--preset', 'artistic',
                        '--out', str(out)], capture_output=True, text=True, env=subprocess_env, timeout=300)
    errors = [line for line in r.stderr.splitlines() if 'error:' in line]
    assert r.returncode == 1 and 'Traceback' not in r.stderr and len(errors) == 1
    assert 'missing key layers.5.conv2.3.gamma (expected shape (1,))' in errors[0]
    assert not out.exists()

    misshaped = dict(artistic.sd)
    misshaped['layers.11.0.weight_orig'] = torch.zeros(3, 300, 1, 1)
    torch.save({'model': misshaped}, src)
    with pytest.raises(ModelFileError) as e:
        load_reference_generator(src, 'artistic')
    msg = str(e.value)
    assert '\n' not in msg
    assert 'key layers.11.0.weight_orig has shape (3, 300, 1, 1), expected (3, 303, 1, 1)' in msg


def test_a_file_of_the_other_preset_is_named(artistic):
    stable = preset_shapes('stable')
    with pytest.raises(ModelFileError, match=r'missing key layers\.0\.4\.0\.conv3\.weight .*looks like deoldify-artistic$'):
        check_state_dict(stable, artistic.sd, 'ColorizeArtistic_gen.pth', 'deoldify-stable')
    extra = {**artistic.sd, 'layers.99.weight': torch.zeros(2)}
    with pytest.raises(ModelFileError, match=r'unexpected key layers\.99\.weight \(shape \(2,\)\)$'):
        check_state_dict(preset_shapes('artistic'), extra, 'x.pth', 'deoldify-artistic')


def test_torch_1_0_spectral_layout_is_accepted(artistic, big_tmp):
    "torch 1.0 stored spectral norm as weight, weight_orig, weight_u (no weight_v): converted on import."
    old = {}
    for k, v in artistic.sd.items():
        if k.endswith('.weight_v') and k[:-2] + '_orig' in artistic.sd:
            stem = k[:-2]
            w = artistic.sd[stem + '_orig']
            sigma = artistic.sd[stem + '_u'] @ w.reshape(w.shape[0], -1) @ v
            old[stem] = w / sigma
        else:
            old[k] = v
    assert 'layers.3.0.0.weight' in old and 'layers.3.0.0.weight_v' not in old
    src = big_tmp / 'old.pth'
    torch.save(old, src)
    model, _ = load_reference_generator(src, 'artistic')
    assert max_diff(model, artistic.x, artistic.y) < TOL


@pytest.mark.parametrize('content', [b'', b'PK\x03\x04 not really a zip', b'\x80\x02}q\x00.garbage'])
def test_not_a_weight_file_is_one_line(tmp_path, capsys, content):
    src = tmp_path / 'weights.pth'
    src.write_bytes(content)
    assert import_cli(src, '--preset', 'stable', '--out', tmp_path / 'o.safetensors') == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(src) in err
    assert 'weight file' in err


def test_a_pickle_that_needs_code_is_refused(tmp_path, capsys):
    src = tmp_path / 'code.pth'
    torch.save({'model': types.SimpleNamespace(w=torch.ones(1))}, src)
    assert import_cli(src, '--preset', 'artistic', '--out', tmp_path / 'o.safetensors') == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'would run code (types.SimpleNamespace)' in err
    torch.save(torch.ones(3), src)
    assert import_cli(src, '--preset', 'artistic', '--out', tmp_path / 'o.safetensors') == 1
    assert 'not a state_dict' in capsys.readouterr().err
    assert import_cli(src, '--preset', 'sharp', '--out', tmp_path / 'o.safetensors') == 1
    assert 'unknown preset' in capsys.readouterr().err


@pytest.mark.parametrize('style,nf', [('deoldify_deep', 0.5), ('deoldify_wide', 0.25)])
def test_small_reference_style_generators_save_load_and_train(tmp_path, style, nf):
    cfg = GeneratorConfig(arch='resnet18', style=style, nf_factor=nf)
    torch.manual_seed(0)
    g = build_generator(cfg)
    x = torch.randn(1, 3, 64, 96)
    g.train()
    y = g(x)
    assert y.shape == x.shape and y.min() >= -3 and y.max() <= 3
    y.mean().backward()
    assert encoder_of(g)[0].weight.grad is not None and g[-2][0].weight_orig.grad is not None
    g.eval()
    path = save_generator(tmp_path / 'g.safetensors', g, cfg, render_factor=8)
    g2, header = load_generator(path)
    assert header['config']['style'] == style
    with torch.no_grad():
        assert torch.equal(g(x), g2(x))
    with pytest.raises(ValueError, match='always blurs'):
        build_generator(GeneratorConfig(arch='resnet18', style=style, blur=False))
