"""The pix2pix generator style ('pix2pix'): a U-Net that predicts colour from the luminance, as a model file
rebuilds it, with the toolkit's interface on both ends, so `render`, `export`, the engines and the web page
take it unchanged:

- in: the gray picture as every generator takes it (3 equal channels, ImageNet-normalised);
- body (`extra['body']`): 'classic', the 8-down U-Net of pix2pix (Isola et al. 2017: 4x4 stride-2
  convolutions, BatchNorm, LeakyReLU 0.2 down, ReLU and dropout up, tanh out; fed L scaled to -1..1), or
  'resnet', the toolkit's ResNet U-Net (deoldify_like.generator.ColorUnet) fed the gray picture as is;
- out (`extra['output']`): 'lab', the body predicts ab (scaled by 1/110) and the picture is Lab(L of the input,
  ab) in RGB; or 'rgb', the body predicts RGB whose luminance (BT.601 Y, as `colour.recombine_luminance`) is
  replaced by the input's. Either way the network returns ImageNet-normalised RGB, the default colour mode.

The Lab -> RGB conversion here is in torch, differentiable and traceable (ONNX), D65 as skimage's (the way
back, for the loss, is deoldify_like.colour_loss.lab_ab).
Nothing is clamped inside the network: the pictures are clipped where every generator's output is.
"""
import torch
from torch import nn

from .colour import IMAGENET_MEAN, IMAGENET_STD
from .colour_loss import lab_ab
from .generator_parts import GeneratorConfig, match_size

BODIES = ('classic', 'resnet')
OUTPUTS = ('lab', 'rgb')
AB_SCALE = 110.0  # pix2pix's scale of a and b (-110..110 -> -1..1)

_XYZ_FROM_RGB = torch.tensor([[0.412453, 0.357580, 0.180423],
                              [0.212671, 0.715160, 0.072169],
                              [0.019334, 0.119193, 0.950227]])  # skimage's matrix
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])  # D65, 2 degrees


def _per_channel(values, x):
    return torch.as_tensor(values, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)


def _mix(matrix, x):
    "(3, 3) matrix applied to the channels of (N, 3, H, W)."
    return torch.einsum('ij,njhw->nihw', matrix.to(x.device, x.dtype), x)


def srgb_to_linear(x):
    return torch.where(x > 0.04045, ((x.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4, x / 12.92)


def linear_to_srgb(x):
    return torch.where(x > 0.0031308, 1.055 * x.clamp(min=0.0031308) ** (1 / 2.4) - 0.055, x * 12.92)


def _f(t):
    return torch.where(t > 0.008856, t.clamp(min=0.008856) ** (1 / 3), 7.787 * t + 16 / 116)


def _f_inv(t):
    return torch.where(t > 0.2068966, t.clamp(min=0.2068966) ** 3, (t - 16 / 116) / 7.787)


def lab_to_rgb(lab):
    "Lab (N, 3, H, W) to sRGB in 0..1 (not clipped)."
    L, a, b = lab.unbind(1)
    fy = (L + 16) / 116
    xyz = _f_inv(torch.stack([fy + a / 500, fy, fy - b / 200], 1)) * _per_channel(_WHITE, lab)
    return linear_to_srgb(_mix(torch.linalg.inv(_XYZ_FROM_RGB), xyz))


def gray_lightness(gray01):
    "(N, 1, H, W) gray in 0..1 to its Lab L (a gray's Y is its linear value)."
    return 116 * _f(srgb_to_linear(gray01)) - 16


_YUV = torch.tensor([[0.299, 0.587, 0.114], [-0.14713, -0.28886, 0.436], [0.615, -0.51499, -0.10001]])


def rgb01_to_yuv(rgb01):
    "(N, 3, H, W) RGB in 0..1 to BT.601 Y, U, V (U, V centred on 0), differentiably."
    return _mix(_YUV, rgb01)


def replace_luma(rgb01, gray01):
    "RGB whose BT.601 luma is replaced by `gray01`'s, the chroma kept."
    yuv = rgb01_to_yuv(rgb01)
    return _mix(torch.linalg.inv(_YUV), torch.cat([gray01, yuv[:, 1:]], 1))


def _down(ni, nf, norm=True):
    return nn.Sequential(nn.LeakyReLU(0.2), nn.Conv2d(ni, nf, 4, 2, 1, bias=not norm),
                         *([nn.BatchNorm2d(nf)] if norm else []))


def _up(ni, nf, dropout=False):
    return nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(ni, nf, 4, 2, 1, bias=False), nn.BatchNorm2d(nf),
                         *([nn.Dropout(0.5)] if dropout else []))


class ClassicUnet(nn.Module):
    """pix2pix's U-Net: `n_down` 4x4 stride-2 convolutions (64, 128, 256, 512, 512...), mirrored by transposed
    convolutions with skip connections; dropout 0.5 in the three innermost up-steps; tanh out. Sides that are
    not a multiple of 2**n_down are matched to the skip (nearest), as the toolkit's U-Net does."""

    def __init__(self, n_in=1, n_out=2, ngf=64, n_down=8):
        super().__init__()
        widths = [min(ngf * 2 ** i, ngf * 8) for i in range(n_down)]
        self.first = nn.Conv2d(n_in, widths[0], 4, 2, 1)
        self.downs = nn.ModuleList(_down(widths[i - 1], widths[i], norm=i < n_down - 1) for i in range(1, n_down))
        ups = [_up(widths[-1], widths[-2], dropout=True)]
        for i in range(n_down - 2, 0, -1):
            ups.append(_up(widths[i] * 2, widths[i - 1], dropout=n_down - 1 - i < 3))
        self.ups = nn.ModuleList(ups)
        self.last = nn.Sequential(nn.ReLU(), nn.ConvTranspose2d(widths[0] * 2, n_out, 4, 2, 1), nn.Tanh())

    def forward(self, x):
        skips = [self.first(x)]
        for down in self.downs:
            skips.append(down(skips[-1]))
        y = skips.pop()
        for up in self.ups:
            skip = skips.pop()
            y = torch.cat([match_size(up(y), skip), skip], 1)
        return match_size(self.last(y), x)


class Pix2PixGenerator(nn.Module):
    "A U-Net body between the toolkit's input (gray, ImageNet-normalised) and output (RGB, ImageNet-normalised)."

    def __init__(self, body, body_input, output):
        super().__init__()
        self.body, self.body_input, self.output = body, body_input, output

    def forward(self, x):
        with torch.autocast(x.device.type, enabled=False):  # the colour conversions in float32, also under bf16
            x = x.float()
            gray = (x * _per_channel(IMAGENET_STD, x) + _per_channel(IMAGENET_MEAN, x)).mean(1, keepdim=True)
            light = gray_lightness(gray)
        y = self.body(light / 50 - 1 if self.body_input == 'L' else x)
        with torch.autocast(x.device.type, enabled=False):
            y = y.float()
            if self.output == 'lab':
                rgb = lab_to_rgb(torch.cat([light, y * AB_SCALE], 1))
            else:
                rgb = replace_luma((y + 1) / 2, gray)
            return (rgb - _per_channel(IMAGENET_MEAN, x)) / _per_channel(IMAGENET_STD, x)


def pix2pix_config(body='classic', output='lab', arch='resnet18', ngf=64, n_down=8, **unet):
    "The GeneratorConfig of a pix2pix generator; `unet`: ColorUnet settings of the 'resnet' body (nf_factor...)."
    if body not in BODIES:
        raise ValueError(f"unknown pix2pix body {body!r}; choose one of {', '.join(BODIES)}")
    if output not in OUTPUTS:
        raise ValueError(f"unknown pix2pix output {output!r}; choose one of {', '.join(OUTPUTS)}")
    extra = {'body': body, 'output': output, **({'ngf': int(ngf), 'n_down': int(n_down)} if body == 'classic' else {})}
    return GeneratorConfig(arch=arch, style='pix2pix', n_out=2 if output == 'lab' else 3, y_range=(-1.0, 1.0),
                           extra=extra, **unet)


def build_pix2pix(cfg, pretrained=False, resnet_body=None):
    """The 'pix2pix' generator style (deoldify_like.generator.GENERATOR_STYLES, which passes its ResNet U-Net's
    build function as `resnet_body(cfg, pretrained)`)."""
    extra = cfg.extra
    if extra.get('body') == 'classic':
        body = ClassicUnet(1, cfg.n_out, extra.get('ngf', 64), extra.get('n_down', 8))
        return Pix2PixGenerator(body, 'L', extra['output'])
    return Pix2PixGenerator(resnet_body(cfg, pretrained), 'gray', extra['output'])


def colour_l1(output, target, output_mode):
    """pix2pix's L1: on ab / 110 ('lab'), or on RGB scaled to -1..1 ('rgb'); both ImageNet-normalised in."""
    def unnorm(t):
        return t * _per_channel(IMAGENET_STD, t) + _per_channel(IMAGENET_MEAN, t)
    if output_mode == 'lab':
        return nn.functional.l1_loss(lab_ab(unnorm(output)), lab_ab(unnorm(target))) / AB_SCALE
    return nn.functional.l1_loss(unnorm(output), unnorm(target)) * 2
