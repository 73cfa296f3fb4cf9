"""The generator: a fastai-style dynamic U-Net over a torchvision ResNet, built by name.

Spectral norm, blur, self-attention and `y_range` as in fastai's `DynamicUnet`, plus a decoder width factor
(`nf_factor`, the reference used 1.5 to 2). Everything needed to rebuild a generator is in
`GeneratorConfig`, which model files store beside the weights.
"""
from functools import partial

import torch
from fastai.callback.hook import dummy_eval, hook_outputs, model_sizes
from fastai.layers import (BatchNorm, ConvLayer, MergeLayer, NormType, PixelShuffle_ICNR, ResBlock,
                           SelfAttention, SequentialEx, SigmoidRange)
from fastai.torch_core import Module, apply_init
from fastai.vision.models.unet import ResizeToOrig, _get_sz_change_idxs
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.spectral_norm import SpectralNorm

from .deoldify_compat import build_deoldify_unet
from .generator_parts import GeneratorConfig, match_size, resnet_encoder
from .generator_parts import any_input_size  # noqa: F401 - offered here too (the export traces inside it)
from .pix2pix import build_pix2pix

NORMS = {'spectral': NormType.Spectral, 'batch': NormType.Batch, 'weight': NormType.Weight, 'none': None}


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


class ChromaHead(nn.Module):
    """CIC's ab head (Zhang et al. 2016): a 1x1 conv from the generator's last decoder features (the input of
    its final 1x1 conv) to logits over quantised a*b* bins (deoldify_like.colour_loss). It runs beside the
    RGB output only while `active` (training with the chroma term, or a caller that asks for them), keeping
    the last result in `logits`; otherwise the generator computes exactly what it did without it."""

    def __init__(self, ni, bins):
        super().__init__()
        self.conv = nn.Conv2d(ni, bins, 1)
        self.active, self.logits = False, None

    def tap(self, module, args):
        "A forward pre-hook on the final conv: the logits from the same features."
        if self.active:
            self.logits = self.conv(args[0])


def final_conv(model):
    "The generator's last layer before its output range (the 1x1 conv to RGB), whose input the ab head reads."
    layers = [m for m in model.layers if not isinstance(m, SigmoidRange)]
    return layers[-1]


def attach_chroma_head(model, bins, registered=True):
    """Hook a new ChromaHead onto `model`'s final conv and return it. Registered, it is `model.ab_head` and
    saved with the model; otherwise it stays outside the model (a training-only head, never saved with it)."""
    conv = final_conv(model)
    ni = next(m for m in conv.modules() if isinstance(m, nn.Conv2d)).in_channels
    head = ChromaHead(ni, bins).to(next(conv.parameters()).device)
    if registered:
        model.ab_head = head
    conv.register_forward_pre_hook(head.tap)
    return head


def build_unet(cfg, pretrained):
    return ColorUnet(resnet_encoder(cfg.arch, pretrained), cfg)


# Generator styles by name: the function that builds each (the reference's two in deoldify_like.deoldify_compat).
GENERATOR_STYLES = {
    'unet': build_unet,
    'deoldify_deep': build_deoldify_unet,
    'deoldify_wide': build_deoldify_unet,
    'pix2pix': partial(build_pix2pix, resnet_body=build_unet),  # pix2pix's U-Net, or the one above as its body
}


def style_builder(style):
    "The function that builds generators of `style` (a key of GENERATOR_STYLES)."
    if style not in GENERATOR_STYLES:
        raise ValueError(f"unknown generator style {style!r}; known: {', '.join(GENERATOR_STYLES)}")
    return GENERATOR_STYLES[style]


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
    model = style_builder(cfg.style)(cfg, pretrained)
    if cfg.ab_bins:
        attach_chroma_head(model, cfg.ab_bins)
    return settle_spectral_norm(model)


def encoder_of(generator):
    "The encoder part (for freezing and discriminative learning rates)."
    return generator[0]
