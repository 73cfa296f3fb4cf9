"""The perceptual (feature) loss of the NoGAN recipe, and the network it measures with.

L1 between frozen `vgg16_bn` activations of prediction and target taken right before max-pools 3, 4 and 5
(relu3_3, relu4_3, relu5_3), weighted 20, 70, 10, plus a pixel L1 term. Inputs are ImageNet-normalised
RGB, which is what the generator outputs. The activations are read by running the truncated VGG layer by
layer, so no hooks are left behind.

The loss network's weights are a setting of their own (`vgg_weights`): 'imagenet' (torchvision's weights,
never a silent fallback), 'random' (drawn from a fixed seed, so every stage of a run measures with the same
network) or a FILE holding a vgg16_bn state dict (safetensors, or a .pt/.pth of plain tensors). Each is
identified by a fingerprint, the SHA-256 of the used layers' tensors (tensors.state_sha256), which the stages record.
"""
from pathlib import Path

import torch
import torchvision
from torch import nn
from torch.nn import functional as F

from .errors import DeoldifyLikeError
from .pretrained import imagenet_state_dict
from .tensors import state_sha256

VGG_WEIGHTS_CHOICES = ('imagenet', 'random')  # or the path of a state-dict file
RANDOM_VGG_SEED = 1234  # one fixed network for 'random', whatever the run's seed


def _layers_before_pools(features):
    return [i - 1 for i, m in enumerate(features) if isinstance(m, nn.MaxPool2d)]


def _read_state_file(path):
    path = Path(path)
    if not path.is_file():
        raise DeoldifyLikeError(f"{path}: no such loss-network file (--vgg-weights takes imagenet, random or a file)")
    try:
        if path.suffix == '.safetensors':
            from safetensors.torch import load_file
            state = load_file(str(path))
        else:
            state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:
        raise DeoldifyLikeError(f"{path}: not a readable vgg16_bn state dict ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DeoldifyLikeError(f"{path}: expected a vgg16_bn state dict of tensors")
    return state


def loss_network(vgg_weights='random'):
    """The truncated, frozen vgg16_bn the loss reads (up to the activation before max-pool 5) for a
    `vgg_weights` setting; raises one-line errors for weights that cannot be had or do not fit."""
    spec = str(vgg_weights)
    if spec == 'random':
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_VGG_SEED)
            vgg = torchvision.models.vgg16_bn(weights=None)
    else:
        vgg = torchvision.models.vgg16_bn(weights=None)
        state = imagenet_state_dict('vgg16_bn', off='--vgg-weights random') if spec == 'imagenet' else _read_state_file(spec)
        if not any(k.startswith('features.') for k in state):  # a state of `features` alone
            state = {f'features.{k}': v for k, v in state.items()}
        missing = [k for k in vgg.features.state_dict() if f'features.{k}' not in state]
        if missing:
            raise DeoldifyLikeError(f"{spec}: not a vgg16_bn state dict (missing {len(missing)} keys, e.g. features.{missing[0]})")
        try:
            vgg.features.load_state_dict({k[len('features.'):]: v for k, v in state.items() if k.startswith('features.')})
        except RuntimeError as e:
            raise DeoldifyLikeError(f"{spec}: shapes do not fit vgg16_bn ({str(e).splitlines()[-1].strip()[:160]})") from None
    last = _layers_before_pools(vgg.features)[4]
    return vgg.features[:last + 1].eval().requires_grad_(False)



def check_vgg_weights(spec):
    "Validate a --vgg-weights value before anything is written; returns it as recorded (files resolved)."
    spec = str(spec)
    if spec in VGG_WEIGHTS_CHOICES:
        return spec
    path = Path(spec)
    if not path.is_file():
        raise DeoldifyLikeError(f"--vgg-weights: {spec!r} is neither imagenet, random nor an existing file")
    return str(path.resolve())


class FeatureLoss(nn.Module):
    def __init__(self, layer_weights=(20.0, 70.0, 10.0), pixel_weight=1.0, vgg_weights='random'):
        super().__init__()
        self.features = loss_network(vgg_weights)
        # before pools 3 and 4, and the last layer kept (the one before pool 5)
        self.layer_ids = _layers_before_pools(self.features)[2:4] + [len(self.features) - 1]
        self.layer_weights = tuple(float(w) for w in layer_weights)
        self.pixel_weight = float(pixel_weight)
        self.vgg_weights = str(vgg_weights)
        self.fingerprint = state_sha256(self.features)
        self.last_parts = {}  # the terms of the last call, for logging

    def train(self, mode=True):
        "The VGG stays in eval mode (frozen BatchNorm statistics) whatever the surrounding model does."
        super().train(mode)
        self.features.eval()
        return self

    def _activations(self, x):
        out = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in self.layer_ids:
                out.append(x)
        return out

    def forward(self, pred, target):
        pred, target = torch.as_tensor(pred), torch.as_tensor(target)
        first = next(self.features.parameters())
        if first.device != pred.device:
            self.features.to(pred.device)
        pred, target = pred.as_subclass(torch.Tensor), target.as_subclass(torch.Tensor)
        pixel = F.l1_loss(pred, target)
        with torch.no_grad():
            target_feats = self._activations(target)
        feats = [w * F.l1_loss(p, t) for p, t, w in zip(self._activations(pred), target_feats, self.layer_weights)]
        self.last_parts = {'pixel': pixel.detach(), **{f'feat{i}': f.detach() for i, f in enumerate(feats)}}
        return self.pixel_weight * pixel + sum(feats)
