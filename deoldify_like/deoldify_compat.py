"""The reference project's generators, layer for layer, so that its released weight files
(`ColorizeArtistic_gen.pth`, `ColorizeStable_gen.pth`, `ColorizeVideo_gen.pth`) load with their exact keys
and compute exactly what the reference computes.

Two decoders over a torchvision ResNet body, written for fastai v1 and not expressible with fastai v2's
`DynamicUnet` pieces:
- "deep" (artistic: resnet34, nf_factor 1.5): two convs per decoder block;
- "wide" (stable and video: resnet101, nf_factor 2): one conv per block, width 512 * nf_factor.

Where fastai v2 differs from the v1 reference, small modules here keep the reference's behaviour and key names:
- a conv layer is conv (spectral norm) -> ReLU -> BatchNorm (-> self-attention): v2's `ConvLayer` adds no
  BatchNorm after a spectral-norm conv;
- self-attention convs are bare spectral-norm `Conv1d`s (`query.weight_orig`), not v2's `query.0.weight_orig`;
- pixel-shuffle upsampling is conv -> ReLU -> shuffle, then a blur (ReplicationPad2d + AvgPool2d) that the
  reference ALWAYS applies, whatever its `blur` argument says (its modules test `if self.blur`, which is the
  always-truthy AvgPool2d). The final upsampler is the same with weight norm (`weight_g`, `weight_v`).
Spectral norm is torch's hook style (`weight_orig`, `weight_u`, `weight_v`); in eval mode it divides by
u·Wv with the stored u, v, as the reference did.

The styles 'deoldify_deep' and 'deoldify_wide' are named in `generator.GENERATOR_STYLES`, so model files
holding these generators are rebuilt from their header alone; `preset_config(name)` gives the reference presets.
"""
import warnings

import torch
from fastai.callback.hook import hook_outputs, model_sizes
from fastai.layers import BatchNorm, MergeLayer, SelfAttention, SequentialEx, SigmoidRange, icnr_init
from torch import nn
from torch.nn.utils import spectral_norm, weight_norm

from .generator_parts import GeneratorConfig, match_size, resnet_encoder

STYLES = {'deoldify_deep': 'deep', 'deoldify_wide': 'wide'}
PRESETS = {
    'deoldify-artistic': GeneratorConfig(arch='resnet34', style='deoldify_deep', nf_factor=1.5),
    'deoldify-stable': GeneratorConfig(arch='resnet101', style='deoldify_wide', nf_factor=2.0),
    'deoldify-video': GeneratorConfig(arch='resnet101', style='deoldify_wide', nf_factor=2.0),
}
# The reference's render_factor defaults: 35 for photos, 21 for video.
PRESET_RENDER_FACTOR = {'deoldify-artistic': 35, 'deoldify-stable': 35, 'deoldify-video': 21}
# The reference's own weight file names, for messages and docs.
PRESET_FILES = {'deoldify-artistic': 'ColorizeArtistic_gen.pth', 'deoldify-stable': 'ColorizeStable_gen.pth',
                'deoldify-video': 'ColorizeVideo_gen.pth'}


def preset_name(name):
    "The canonical preset name for 'deoldify-artistic' or just 'artistic' (any case)."
    key = str(name).strip().lower()
    key = key if key.startswith('deoldify-') else f'deoldify-{key}'
    if key not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return key


def preset_config(name):
    "The `GeneratorConfig` of a reference preset (a fresh copy)."
    return GeneratorConfig.from_dict(PRESETS[preset_name(name)].to_dict())


class RefSelfAttention(SelfAttention):
    "fastai's SAGAN self-attention with the reference's key names: bare spectral-norm Conv1d query/key/value."

    def _conv(self, n_in, n_out):
        conv = nn.Conv1d(n_in, n_out, 1, bias=False)
        nn.init.kaiming_normal_(conv.weight)
        return spectral_norm(conv)


def ref_conv_layer(ni, nf, ks=3, norm='spectral', extra_bn=False, use_activ=True, self_attention=False):
    "conv -> ReLU -> BatchNorm -> self-attention, in the reference's order; bias only where no BatchNorm follows."
    bn = norm == 'batch' or extra_bn
    conv = nn.Conv2d(ni, nf, ks, padding=(ks - 1) // 2, bias=not bn)
    nn.init.kaiming_normal_(conv.weight)
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    if norm == 'spectral':
        conv = spectral_norm(conv)
    elif norm == 'weight':
        with warnings.catch_warnings():  # the old hook style is what gives the reference's weight_g / weight_v keys
            warnings.simplefilter('ignore', FutureWarning)
            conv = weight_norm(conv)
    layers = [conv]
    if use_activ:
        layers.append(nn.ReLU(inplace=True))
    if bn:
        layers.append(nn.BatchNorm2d(nf))
    if self_attention:
        layers.append(RefSelfAttention(nf))
    return nn.Sequential(*layers)


class RefPixelShuffle(nn.Module):
    "Upsample x2: 1x1 conv (ICNR init) -> ReLU -> PixelShuffle -> blur. The blur is always on, as in the reference."

    def __init__(self, ni, nf=None, norm='spectral', extra_bn=False):
        super().__init__()
        nf = nf or ni
        self.conv = ref_conv_layer(ni, nf * 4, ks=1, norm=norm, extra_bn=extra_bn, use_activ=False)
        conv = self.conv[0]
        with torch.no_grad():
            if hasattr(conv, 'weight_g'):
                conv.weight_v.copy_(icnr_init(conv.weight_v))
                conv.weight_g.copy_(conv.weight_v.flatten(1).norm(dim=1).view_as(conv.weight_g))
            else:
                w = conv.weight_orig if hasattr(conv, 'weight_orig') else conv.weight
                w.copy_(icnr_init(w))
        self.shuf = nn.PixelShuffle(2)
        self.pad = nn.ReplicationPad2d((1, 0, 1, 0))
        self.blur = nn.AvgPool2d(2, stride=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.blur(self.pad(self.shuf(self.relu(self.conv(x)))))


def _upsampled_with_skip(block, up_in):
    "The shared start of both decoder blocks: upsample, match the skip's size, concatenate with the BatchNorm'd skip."
    s = block.hook.stored
    up_out = match_size(block.shuf(up_in), s)
    return block.relu(torch.cat([up_out, block.bn(s)], dim=1))


class DeepUnetBlock(nn.Module):
    "The artistic decoder block: upsample to half the channels, concatenate the skip, two convs."

    def __init__(self, up_in_c, x_in_c, hook, final_div=True, self_attention=False, nf_factor=1.0, norm='spectral'):
        super().__init__()
        extra_bn = norm == 'spectral'
        self.hook = hook
        self.shuf = RefPixelShuffle(up_in_c, up_in_c // 2, norm=norm, extra_bn=extra_bn)
        self.bn = BatchNorm(x_in_c)
        ni = up_in_c // 2 + x_in_c
        nf = int((ni if final_div else ni // 2) * nf_factor)
        self.conv1 = ref_conv_layer(ni, nf, norm=norm, extra_bn=extra_bn)
        self.conv2 = ref_conv_layer(nf, nf, norm=norm, extra_bn=extra_bn, self_attention=self_attention)
        self.relu = nn.ReLU()

    def forward(self, up_in):
        return self.conv2(self.conv1(_upsampled_with_skip(self, up_in)))


class WideUnetBlock(nn.Module):
    "The stable/video decoder block: upsample to n_out/2 channels, concatenate the skip, one conv to n_out/2."

    def __init__(self, up_in_c, x_in_c, n_out, hook, self_attention=False, norm='spectral'):
        super().__init__()
        extra_bn = norm == 'spectral'
        self.hook = hook
        up_out = x_out = n_out // 2
        self.shuf = RefPixelShuffle(up_in_c, up_out, norm=norm, extra_bn=extra_bn)
        self.bn = BatchNorm(x_in_c)
        self.conv = ref_conv_layer(up_out + x_in_c, x_out, norm=norm, extra_bn=extra_bn, self_attention=self_attention)
        self.relu = nn.ReLU()

    def forward(self, up_in):
        return self.conv(_upsampled_with_skip(self, up_in))


def _size_change_idxs(sizes):
    "Encoder layers after which the feature size changes (the reference's rule, first layer included if it halves)."
    szs = [s[-1] for s in sizes]
    idxs = [i for i in range(len(szs) - 1) if szs[i] != szs[i + 1]]
    return ([0] if szs[0] != szs[1] else []) + idxs


def _res_block(ni, nf_inner, norm):
    "Two convs (each followed by ReLU, no BatchNorm under spectral norm) plus the identity."
    return SequentialEx(ref_conv_layer(ni, nf_inner, norm=norm), ref_conv_layer(nf_inner, ni, norm=norm), MergeLayer(dense=False))


class DeoldifyUnet(SequentialEx):
    """The reference's `DynamicUnetDeep` / `DynamicUnetWide`: encoder, BatchNorm + ReLU, two middle convs,
    one decoder block per size change (self-attention in the third from last), a weight-norm pixel shuffle
    back to full size, dense merge of the input, a res block, a 1x1 conv and `SigmoidRange`.

    Unlike our 'unet' style there is no resize to the input size: input sides must be even (the renderer's
    multiples of 16 are)."""

    def __init__(self, encoder, cfg: GeneratorConfig, build_size=64):
        kind = STYLES[cfg.style]
        if not cfg.blur:
            raise ValueError(f"style {cfg.style!r} always blurs after upsampling (as the reference does); blur=False is not offered")
        norm, n_in = cfg.norm, 3
        extra_bn = norm == 'spectral'
        sizes = model_sizes(encoder, size=(build_size, build_size))
        idxs = list(reversed(_size_change_idxs(sizes)))
        self.sfs = hook_outputs([encoder[i] for i in idxs], detach=False)
        ni = sizes[-1][1]
        middle = nn.Sequential(ref_conv_layer(ni, ni * 2, norm=norm, extra_bn=extra_bn),
                               ref_conv_layer(ni * 2, ni, norm=norm, extra_bn=extra_bn))
        layers = [encoder, BatchNorm(ni), nn.ReLU(), middle]
        up_in_c, nf = ni, int(512 * cfg.nf_factor)
        for i, idx in enumerate(idxs):
            not_final, x_in_c = i != len(idxs) - 1, sizes[idx][1]
            sa = cfg.self_attention and i == len(idxs) - 3
            if kind == 'deep':
                block = DeepUnetBlock(up_in_c, x_in_c, self.sfs[i], final_div=not_final, self_attention=sa,
                                      nf_factor=cfg.nf_factor, norm=norm)
                up_in_c = block.conv2[0].out_channels
            else:
                block = WideUnetBlock(up_in_c, x_in_c, nf if not_final else nf // 2, self.sfs[i], self_attention=sa, norm=norm)
                up_in_c = block.conv[0].out_channels
            layers.append(block)
        ni = up_in_c
        if sizes[0][-2:] != (build_size, build_size):
            layers.append(RefPixelShuffle(ni, norm='weight'))
        if cfg.last_cross:
            layers.append(MergeLayer(dense=True))
            ni += n_in
            layers.append(_res_block(ni, ni // 2 if cfg.bottle else ni, norm))
        layers.append(ref_conv_layer(ni, cfg.n_out, ks=1, norm=norm, use_activ=False))
        if cfg.y_range is not None:
            layers.append(SigmoidRange(*cfg.y_range))
        super().__init__(*layers)

    def __del__(self):
        if hasattr(self, 'sfs'):
            self.sfs.remove()


def preset_shapes(name):
    "{key: shape} of a preset's state_dict, in order; built on the meta device (no memory, well under a second)."
    cfg = preset_config(name)
    with torch.device('meta'):
        model = DeoldifyUnet(resnet_encoder(cfg.arch, pretrained=False), cfg)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def build_deoldify_unet(cfg, pretrained=False):
    return DeoldifyUnet(resnet_encoder(cfg.arch, pretrained), cfg)
