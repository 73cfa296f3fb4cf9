import os
import stat
import subprocess
import sys
import urllib.error

import numpy as np
import pytest
import torch

from deoldify_like.critic import build_critic
from deoldify_like.errors import ModelFileError, PretrainedWeightsUnavailable
from deoldify_like.feature_loss import FeatureLoss
from deoldify_like.generator import GeneratorConfig, build_generator, encoder_of
from deoldify_like.model_file import load_generator, read_header, save_generator
from deoldify_like.pretrained import hub_checkpoints_dir, imagenet_state_dict
from deoldify_like.tensors import gray_batch_to_input, output_to_rgb

TINY = GeneratorConfig(arch='resnet18', nf_factor=0.5)


@pytest.fixture(scope='module')
def tiny_gen():
    torch.manual_seed(0)
    return build_generator(TINY).eval()


@pytest.mark.parametrize('arch', ['resnet18', 'resnet34', 'resnet50'])
def test_generator_shapes_and_range(arch):
    g = build_generator(arch=arch, nf_factor=0.5).eval()
    with torch.no_grad():
        y = g(torch.randn(2, 3, 64, 96))
    assert y.shape == (2, 3, 64, 96)
    assert y.min() >= -3 and y.max() <= 3


def test_generator_has_spectral_norm_self_attention_and_width_factor():
    g1 = build_generator(arch='resnet18', nf_factor=1.0)
    g2 = build_generator(arch='resnet18', nf_factor=2.0)
    keys = g1.state_dict().keys()
    assert any(k.endswith('weight_orig') for k in keys)  # spectral norm
    assert any('gamma' in k for k in keys)  # self-attention
    assert sum(p.numel() for p in g2.parameters()) > 1.5 * sum(p.numel() for p in g1.parameters()) - 11.2e6
    enc = sum(p.numel() for p in encoder_of(g1).parameters())
    assert 11.0e6 < enc < 11.3e6  # resnet18 body


def test_unknown_arch_is_a_clear_error():
    with pytest.raises(ValueError, match='unknown encoder'):
        build_generator(arch='vgg11')


def test_critic_outputs_patch_logits():
    c = build_critic(nf=16).eval()
    assert c(torch.randn(2, 3, 64, 64)).shape == (2, 1)
    assert c(torch.randn(2, 3, 128, 128)).shape == (2, 25)
    assert any(k.endswith('weight_orig') for k in c.state_dict())


def test_feature_loss_is_zero_on_equal_inputs_and_follows_input_device():
    fl = FeatureLoss(layer_weights=(20, 70, 10))
    assert fl.layer_ids == [22, 32, 42]
    x = torch.randn(2, 3, 64, 64)
    assert fl(x, x).item() == pytest.approx(0.0, abs=1e-6)
    pred = torch.randn(2, 3, 64, 64, requires_grad=True)
    loss = fl(pred, torch.randn(2, 3, 64, 64))
    loss.backward()
    assert loss.item() > 0 and pred.grad.abs().sum() > 0
    assert all(p.grad is None for p in fl.parameters())  # VGG frozen
    fl.train()
    assert not fl.features.training  # BatchNorm statistics stay fixed
    assert set(fl.last_parts) == {'pixel', 'feat0', 'feat1', 'feat2'}
    x64 = torch.randn(1, 3, 32, 32, dtype=torch.float64)
    fl.double()
    assert fl(x64, x64).dtype == torch.float64
    assert not any(fl.features[i]._forward_hooks for i in range(len(fl.features)))


def test_model_file_round_trip_in_a_new_process(tmp_path, tiny_gen, subprocess_env):
    path = save_generator(tmp_path / 'g.safetensors', tiny_gen, TINY, render_factor=21, trained_on='test')
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # safetensors writes 0600; a model file is an ordinary file
    header = read_header(path)
    assert header['kind'] == 'generator' and header['render_factor'] == 21
    assert header['config']['arch'] == 'resnet18' and header['info']['trained_on'] == 'test'
    torch.manual_seed(1)
    x = torch.randn(1, 3, 64, 64)
    torch.save(x, tmp_path / 'x.pt')
    with torch.no_grad():
        expected = tiny_gen(x)
    code = ("import torch,sys; from deoldify_like.model_file import load_generator;"
            f"g,_=load_generator(r'{path}'); x=torch.load(r'{tmp_path / 'x.pt'}');"
            f"torch.save(g(x).detach(), r'{tmp_path / 'y.pt'}')")
    subprocess.run([sys.executable, '-c', code], check=True, env=subprocess_env)
    assert torch.equal(torch.load(tmp_path / 'y.pt'), expected)


@pytest.mark.parametrize('content,expected', [
    (b'', 'not a deoldify_like model file'),
    (b'hello world, not weights at all', 'not a deoldify_like model file'),
])
def test_wrong_files_get_one_line(tmp_path, content, expected):
    path = tmp_path / 'm.safetensors'
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match=expected) as e:
        load_generator(path)
    assert '\n' not in str(e.value)


def test_damaged_and_foreign_files(tmp_path, tiny_gen):
    from safetensors.torch import save_file
    foreign = tmp_path / 'other.safetensors'
    save_file({'a': torch.zeros(2)}, str(foreign))
    with pytest.raises(ModelFileError, match='not a deoldify_like model'):
        load_generator(foreign)
    good = save_generator(tmp_path / 'g.safetensors', tiny_gen, TINY)
    cut = tmp_path / 'cut.safetensors'
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ModelFileError, match='damaged'):
        load_generator(cut)
    pth = tmp_path / 'old.pth'
    torch.save(tiny_gen.state_dict(), pth)
    with pytest.raises(ModelFileError, match='not a deoldify_like model file'):
        load_generator(pth)
    with pytest.raises(ModelFileError, match='no such model file'):
        load_generator(tmp_path / 'missing.safetensors')


def test_weights_that_do_not_fit_the_config(tmp_path, tiny_gen):
    path = save_generator(tmp_path / 'g.safetensors', tiny_gen, GeneratorConfig(arch='resnet18', nf_factor=1.0))
    with pytest.raises(ModelFileError, match='shape'):
        load_generator(path)


def test_pretrained_unavailable_says_how_to_get_weights(monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError('no network')
    monkeypatch.setattr('torchvision.models._api.load_state_dict_from_url', offline)
    with pytest.raises(PretrainedWeightsUnavailable) as e:
        build_generator(arch='resnet18', pretrained=True)
    msg = str(e.value)
    assert 'resnet18' in msg and 'checkpoints' in msg and '--no-pretrained' in msg and '\n' not in msg


def test_pretrained_weights_are_read_from_torch_hub_cache(tmp_path, monkeypatch):
    import torchvision
    monkeypatch.setenv('TORCH_HOME', str(tmp_path))
    ref = torchvision.models.resnet18(weights=None)
    with torch.no_grad():
        ref.conv1.weight.fill_(0.125)
    url = torchvision.models.ResNet18_Weights.DEFAULT.url
    hub_checkpoints_dir().mkdir(parents=True)
    torch.save(ref.state_dict(), hub_checkpoints_dir() / url.rsplit('/', 1)[1])
    assert torch.equal(imagenet_state_dict('resnet18')['conv1.weight'], ref.conv1.weight)
    g = build_generator(arch='resnet18', nf_factor=0.5, pretrained=True)
    assert torch.all(encoder_of(g)[0].weight == 0.125)


def test_tensor_conversions_round_trip(colour_image):
    from deoldify_like.tensors import rgb_batch_to_tensor
    t = rgb_batch_to_tensor(colour_image[None])
    assert t.shape == (1, 3, 48, 64)
    assert np.array_equal(output_to_rgb(t)[0], colour_image)
    gin = gray_batch_to_input(np.zeros((2, 8, 8), np.uint8))
    assert gin.shape == (2, 3, 8, 8) and torch.allclose(gin[:, 0], torch.tensor(-0.485 / 0.229))
