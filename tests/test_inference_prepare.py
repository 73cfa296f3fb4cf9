"""Preparing a generator for inference (deoldify_like.inference.prepare): a checkpoint's weights folded
straight into a model prepared from another checkpoint of the same architecture."""
import copy

import torch

from deoldify_like.generator import build_generator
from deoldify_like.inference.prepare import load_folded, prepare_for_inference


def test_load_folded_equals_preparing_the_checkpoint_itself():
    torch.manual_seed(0)
    first = build_generator(arch='resnet18', nf_factor=0.25)
    second = copy.deepcopy(first)
    with torch.no_grad():  # another checkpoint: every weight, spectral norm's u and v, and the statistics moved
        for t in second.state_dict().values():
            if t.is_floating_point():
                t.add_(0.01 * torch.randn_like(t))
    assert any(k.endswith('weight_orig') for k in second.state_dict())
    prepared = prepare_for_inference(first, torch.device('cpu'))
    assert load_folded(prepared, {k: v.clone() for k, v in second.state_dict().items()})
    want = prepare_for_inference(second, torch.device('cpu')).state_dict()
    got = prepared.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    x = torch.rand(1, 3, 64, 64).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        assert torch.equal(prepared(x), prepare_for_inference(second, torch.device('cpu'))(x))


def test_load_folded_refuses_weights_of_another_architecture_and_changes_nothing():
    prepared = prepare_for_inference(build_generator(arch='resnet18', nf_factor=0.25), torch.device('cpu'))
    before = {k: v.clone() for k, v in prepared.state_dict().items()}
    other = build_generator(arch='resnet18', nf_factor=0.5).state_dict()  # the same keys, wider layers
    assert not load_folded(prepared, other)
    assert not load_folded(prepared, {k: v for k, v in other.items() if not k.startswith('layers.0.0')})
    assert all(torch.equal(before[k], v) for k, v in prepared.state_dict().items())
