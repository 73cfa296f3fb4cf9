"""Preparing a trained generator for inference, in one place for the Colorizer, its engines and export:
an eval-mode copy on the device, spectral norm (and weight norm) folded into plain weights, gradients off,
and the memory layout (channels_last: oneDNN's fastest convolution layout on CPU; contiguous for export).
The weights stay fp32: reduced precision is autocast at run time (`precision.py`), and export is fp32."""
import copy

import torch
from torch.nn.utils.spectral_norm import SpectralNorm, remove_spectral_norm
from torch.nn.utils.weight_norm import WeightNorm, remove_weight_norm

__all__ = ['prepare_for_inference', 'fold_spectral_norm', 'load_folded']


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


_TRANSPOSED = (torch.nn.ConvTranspose1d, torch.nn.ConvTranspose2d, torch.nn.ConvTranspose3d)


def load_folded(prepared, state):
    """Load a checkpoint's weights (`state`, a state dict of the architecture `prepared` was made from, with
    spectral norm as weight_orig, weight_u, weight_v) into the prepared model in place, each spectral-norm
    weight folded as `fold_spectral_norm` folds it (weight_orig / σ, σ = u·(W v), the eval-mode σ): the same
    numbers as preparing a fresh copy, without copying the model. False, with nothing changed, for a state
    this cannot fold (weight norm, keys or shapes the model does not have); the caller then prepares a copy."""
    own = prepared.state_dict()
    folded = {}
    for key, value in state.items():
        path, _, name = key.rpartition('.')
        if name in ('weight_u', 'weight_v'):
            continue
        if name == 'weight_orig':
            transposed = isinstance(prepared.get_submodule(path), _TRANSPOSED)  # torch's spectral_norm: dim 1 there
            # fresh (aligned) copies: BLAS's sums can round differently on a file's unaligned buffers
            value, u, v = (t.clone() for t in (value, state[f'{path}.weight_u'], state[f'{path}.weight_v']))
            matrix = SpectralNorm(dim=1 if transposed else 0).reshape_weight_to_matrix(value)
            key, value = f'{path}.weight', value / torch.dot(u, torch.mv(matrix, v))  # SpectralNorm.compute_weight
        folded[key] = value
    if folded.keys() != own.keys() or any(folded[k].shape != own[k].shape for k in own):
        return False
    with torch.no_grad():
        for key, value in folded.items():
            own[key].copy_(value)
    return True
