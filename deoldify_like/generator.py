"""The generator: a fastai-style dynamic U-Net over a torchvision ResNet, built by name.

Spectral norm, blur, self-attention and `y_range` as in fastai's `DynamicUnet`, plus a decoder width factor
(`nf_factor`, the reference used 1.5 to 2). Everything needed to rebuild a generator is in
`GeneratorConfig`, which model files store beside the weights.
"""
import contextlib
import importlib
from dataclasses import asdict, dataclass, field, fields

import torch
import torchvision
from fastai.callback.hook import dummy_eval, hook_outputs, model_sizes
from fastai.layers import (BatchNorm, ConvLayer, MergeLayer, NormType, PixelShuffle_ICNR, ResBlock,
                           SelfAttention, SequentialEx, SigmoidRange)
from fastai.torch_core import Module, apply_init
from fastai.vision.learner import create_body
from fastai.vision.models.unet import ResizeToOrig, _get_sz_change_idxs
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.spectral_norm import SpectralNorm

from .choices import ENCODERS
from .pretrained import imagenet_state_dict

_ANY_SIZE = [False]  # set while tracing for an export with a dynamic input size: see `traced_for_any_size`


def traced_for_any_size():
    "Whether a size-matching resize must be recorded even where the traced sizes already agree."
    return _ANY_SIZE[0]


@contextlib.contextmanager
def any_input_size():
    """While tracing a generator for an export whose input size is left open: the size checks of the
    decoder are recorded as resizes (a no-op where sizes agree), not frozen to the traced picture's size."""
    _ANY_SIZE[0] = True
    try:
        yield
    finally:
        _ANY_SIZE[0] = False


def match_size(x, ref):
    "`x` resized (nearest) to `ref`'s height and width where they differ (odd input sides)."
    if traced_for_any_size() or x.shape[-2:] != ref.shape[-2:]:
        x = F.interpolate(x, ref.shape[-2:], mode='nearest')
    return x

NORMS = {'spectral': NormType.Spectral, 'batch': NormType.Batch, 'weight': NormType.Weight, 'none': None}


@dataclass
class GeneratorConfig:
    "What a generator is made of; stored in every model file so it can be rebuilt from the file alone."
    arch: str = 'resnet34'  # torchvision encoder
    style: str = 'unet'  # a key of GENERATOR_STYLES
    nf_factor: float = 1.0  # decoder width factor
    blur: bool = True  # blur after pixel-shuffle upsampling (fewer checkerboard artefacts)
    self_attention: bool = True
    norm: str = 'spectral'  # spectral | batch | weight | none
    y_range: tuple = (-3.0, 3.0)  # output range in ImageNet-normalised RGB
    last_cross: bool = True  # concatenate the input before the last res block
    bottle: bool = False
    n_out: int = 3
    extra: dict = field(default_factory=dict)  # style-specific settings

    def to_dict(self):
        d = asdict(self)
        d['y_range'] = list(self.y_range)
        return d

    @classmethod
    def from_dict(cls, d):
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown generator settings {sorted(unknown)}")
        d = dict(d)
        if 'y_range' in d and d['y_range'] is not None:
            d['y_range'] = tuple(float(v) for v in d['y_range'])
        return cls(**d)


def resnet_encoder(arch, pretrained=False):
    "A torchvision ResNet cut before its pooling head; ImageNet weights through torchvision when `pretrained`."
    if arch not in ENCODERS:
        raise ValueError(f"unknown encoder {arch!r}; choose one of {', '.join(ENCODERS)}")
    model = getattr(torchvision.models, arch)(weights=None)
    if pretrained:
        model.load_state_dict(imagenet_state_dict(arch))
    return create_body(model, n_in=3, pretrained=pretrained)


class WideUnetBlock(Module):
    "fastai's `UnetBlock` with the decoder width scaled by `nf_factor`."

    def __init__(self, up_in_c, x_in_c, hook, final_div=True, blur=False, self_attention=False,
                 nf_factor=1.0, norm_type=None):
        self.hook = hook
        self.shuf = PixelShuffle_ICNR(up_in_c, up_in_c // 2, blur=blur, norm_type=norm_type)
        self.bn = BatchNorm(x_in_c)
        ni = up_in_c // 2 + x_in_c
        nf = int((ni if final_div else ni // 2) * nf_factor)
        self.conv1 = ConvLayer(ni, nf, norm_type=norm_type)
        self.conv2 = ConvLayer(nf, nf, norm_type=norm_type, xtra=SelfAttention(nf) if self_attention else None)
        self.relu = nn.ReLU()
        apply_init(nn.Sequential(self.conv1, self.conv2), nn.init.kaiming_normal_)

    def forward(self, up_in):
        s = self.hook.stored
        up_out = match_size(self.shuf(up_in), s)
        return self.conv2(self.conv1(self.relu(torch.cat([up_out, self.bn(s)], dim=1))))


class ResizeToInput(ResizeToOrig):
    "fastai's `ResizeToOrig` through `match_size` (so a dynamic-size export keeps the resize)."

    def forward(self, x):
        return match_size(x, x.orig)


class ColorUnet(SequentialEx):
    """fastai's `DynamicUnet` layout (encoder, middle convs, one block per size change, pixel-shuffle back
    to full size, dense merge of the input, res block, 1x1 conv, `SigmoidRange`) with a width factor."""

    def __init__(self, encoder, cfg: GeneratorConfig, build_size=64):
        norm_type = NORMS[cfg.norm]
        size = (build_size, build_size)
        sizes = model_sizes(encoder, size=size)
        sz_chg_idxs = list(reversed(_get_sz_change_idxs(sizes)))
        self.sfs = hook_outputs([encoder[i] for i in sz_chg_idxs], detach=False)
        x = dummy_eval(encoder, size).detach()
        ni = sizes[-1][1]
        middle_conv = nn.Sequential(ConvLayer(ni, ni * 2, norm_type=norm_type),
                                    ConvLayer(ni * 2, ni, norm_type=norm_type)).eval()
        x = middle_conv(x)
        layers = [encoder, BatchNorm(ni), nn.ReLU(), middle_conv]
        for i, idx in enumerate(sz_chg_idxs):
            not_final = i != len(sz_chg_idxs) - 1
            block = WideUnetBlock(int(x.shape[1]), int(sizes[idx][1]), self.sfs[i], final_div=not_final,
                                  blur=cfg.blur and not_final, self_attention=cfg.self_attention and i == len(sz_chg_idxs) - 3,
                                  nf_factor=cfg.nf_factor, norm_type=norm_type).eval()
            layers.append(block)
            x = block(x)
        ni = x.shape[1]
        if size != sizes[0][-2:]:
            layers.append(PixelShuffle_ICNR(ni, norm_type=norm_type))
        layers.append(ResizeToInput())
        if cfg.last_cross:
            layers.append(MergeLayer(dense=True))
            ni += 3
            layers.append(ResBlock(1, ni, ni // 2 if cfg.bottle else ni, norm_type=norm_type))
        layers.append(ConvLayer(ni, cfg.n_out, ks=1, act_cls=None, norm_type=norm_type))
        apply_init(nn.Sequential(layers[3], layers[-2]), nn.init.kaiming_normal_)
        if cfg.y_range is not None:
            layers.append(SigmoidRange(*cfg.y_range))
        super().__init__(*layers)

    def __del__(self):
        if hasattr(self, 'sfs'):
            self.sfs.remove()


def build_unet(cfg, pretrained):
    return ColorUnet(resnet_encoder(cfg.arch, pretrained), cfg)


# Generator styles by name, as 'module:function' imported when first built, so that the modules defining
# styles (the reference-compatible presets) can import this one without an import circle.
GENERATOR_STYLES = {
    'unet': 'deoldify_like.generator:build_unet',
    'deoldify_deep': 'deoldify_like.deoldify_compat:build_deoldify_unet',
    'deoldify_wide': 'deoldify_like.deoldify_compat:build_deoldify_unet',
    'pix2pix': 'deoldify_like.pix2pix:build_pix2pix',
}


def style_builder(style):
    "The function that builds generators of `style` (a key of GENERATOR_STYLES)."
    if style not in GENERATOR_STYLES:
        raise ValueError(f"unknown generator style {style!r}; known: {', '.join(GENERATOR_STYLES)}")
    module, func = GENERATOR_STYLES[style].split(':')
    return getattr(importlib.import_module(module), func)


def settle_spectral_norm(model, iters=20):
    """Run the spectral-norm power iteration to convergence on a fresh model.

    torch's spectral norm starts from random u, v and iterates only in training mode, so a new network in
    eval mode divides by a random guess of sigma and its activations explode (NaN on a resnet50).
    """
    with torch.no_grad():
        for m in model.modules():
            for hook in m._forward_pre_hooks.values():
                if isinstance(hook, SpectralNorm):
                    w = hook.reshape_weight_to_matrix(getattr(m, hook.name + '_orig'))
                    u, v = getattr(m, hook.name + '_u'), getattr(m, hook.name + '_v')
                    for _ in range(iters):  # torch's power method, without rebuilding the weight every round
                        v.copy_(F.normalize(torch.mv(w.t(), u), dim=0, eps=hook.eps))
                        u.copy_(F.normalize(torch.mv(w, v), dim=0, eps=hook.eps))
                    setattr(m, hook.name, hook.compute_weight(m, do_power_iteration=False))
    return model


def build_generator(cfg: GeneratorConfig = None, pretrained=False, **overrides):
    "Build a generator from a config (or keyword settings); `pretrained` loads ImageNet encoder weights."
    cfg = GeneratorConfig(**overrides) if cfg is None else cfg
    return settle_spectral_norm(style_builder(cfg.style)(cfg, pretrained))


def encoder_of(generator):
    "The encoder part (for freezing and discriminative learning rates)."
    return generator[0]
