"""Preparing a trained generator for inference, in one place for the Colorizer, its engines and export:
an eval-mode copy on the device, spectral norm (and weight norm) folded into plain weights, gradients off,
and the memory layout (channels_last: oneDNN's fastest convolution layout on CPU; contiguous for export).
The weights stay fp32: reduced precision is autocast at run time (`precision.py`), and export is fp32."""
import copy

import torch
from torch.nn.utils.spectral_norm import SpectralNorm, remove_spectral_norm
from torch.nn.utils.weight_norm import WeightNorm, remove_weight_norm

__all__ = ['prepare_for_inference', 'fold_spectral_norm']


def _reparametrisations(model):
    "(module, hook) for every old-style spectral-norm and weight-norm reparametrisation in `model`."
    return [(m, h) for m in model.modules() for h in list(m._forward_pre_hooks.values())
            if isinstance(h, (SpectralNorm, WeightNorm))]


def fold_spectral_norm(model):
    """Replace every spectral-norm (and weight-norm) reparametrisation by the plain weight it computes in eval
    mode (in place): the same output without recomputing the weights at every call."""
    for module, hook in _reparametrisations(model):
        (remove_spectral_norm if isinstance(hook, SpectralNorm) else remove_weight_norm)(module, hook.name)
    return model


def _copyable(model):
    """After a forward pass with gradients, the reparametrised weights are non-leaf tensors that deepcopy
    refuses; detach them (each is recomputed from its parameters on the next call anyway)."""
    for module, hook in _reparametrisations(model):
        weight = getattr(module, hook.name, None)
        if isinstance(weight, torch.Tensor) and not weight.is_leaf:
            setattr(module, hook.name, weight.detach())
    return model


def prepare_for_inference(model, device, channels_last=True, fold=True, copy_model=True):
    """An eval-mode fp32 model on `device` for inference, in the channels_last layout when asked (else
    contiguous); the caller's model is left untouched when `copy_model`."""
    model = copy.deepcopy(_copyable(model)) if copy_model else model
    model = model.eval().to(device).float()
    if fold:
        fold_spectral_norm(model)
    model = model.to(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    for p in model.parameters():
        p.requires_grad_(False)
    return model
