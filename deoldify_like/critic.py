"""The critics, by style:
- 'nogan' (the default): fastai's spectral-norm patch critic (self-attention in the first strided block,
  LeakyReLU 0.2, dropout), returning a flat vector of patch logits per image;
- 'patchgan': pix2pix's 70x70 PatchGAN (Isola et al. 2017): 4x4 convolutions 64-128-256 stride 2, 512 stride
  1, then one logit per 70x70 patch; BatchNorm, LeakyReLU 0.2.
Real maps to 1, generated to 0."""
from dataclasses import asdict, dataclass

from fastai.vision.gan import gan_critic
from torch import nn

from .generator import settle_spectral_norm

CRITIC_STYLES = ('nogan', 'patchgan')


@dataclass
class CriticConfig:
    nf: int = 256  # width of the first block (the reference used 256; pix2pix's PatchGAN 64)
    n_blocks: int = 3  # strided blocks after the first (the PatchGAN: its stride-2 layers; 3 = 70x70 patches)
    dropout: float = 0.15  # nogan only
    n_channels: int = 3
    style: str = 'nogan'  # a key of CRITIC_STYLES

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


def critic_min_size(cfg: CriticConfig):
    """The smallest picture the critic takes. nogan: it halves the size n_blocks + 1 times and ends in a 4x4
    convolution; patchgan: n_blocks halvings, then two 4x4 stride-1 convolutions (one side pixel less each)."""
    if cfg.style == 'patchgan':
        return 3 * 2 ** cfg.n_blocks
    return 4 * 2 ** (cfg.n_blocks + 1)


def patch_gan(n_channels=3, nf=64, n_blocks=3):
    "pix2pix's PatchGAN (NLayerDiscriminator): n_blocks=3 gives 70x70 patches."
    layers = [nn.Conv2d(n_channels, nf, 4, 2, 1), nn.LeakyReLU(0.2)]
    width = nf
    for i in range(1, n_blocks + 1):
        nxt = nf * min(2 ** i, 8)
        layers += [nn.Conv2d(width, nxt, 4, 2 if i < n_blocks else 1, 1, bias=False), nn.BatchNorm2d(nxt),
                   nn.LeakyReLU(0.2)]
        width = nxt
    return nn.Sequential(*layers, nn.Conv2d(width, 1, 4, 1, 1))


def build_critic(cfg: CriticConfig = None, **overrides):
    cfg = CriticConfig(**overrides) if cfg is None else cfg
    if cfg.style == 'patchgan':
        return patch_gan(cfg.n_channels, cfg.nf, cfg.n_blocks)
    if cfg.style != 'nogan':
        raise ValueError(f"unknown critic style {cfg.style!r}; known: {', '.join(CRITIC_STYLES)}")
    return settle_spectral_norm(gan_critic(n_channels=cfg.n_channels, nf=cfg.nf, n_blocks=cfg.n_blocks, p=cfg.dropout))
