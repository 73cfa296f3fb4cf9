"""The critic: fastai's spectral-norm patch critic (self-attention in the first strided block, LeakyReLU 0.2,
dropout), returning a flat vector of patch logits per image. Real maps to 1, generated to 0."""
from dataclasses import asdict, dataclass

from fastai.vision.gan import gan_critic

from .generator import settle_spectral_norm


@dataclass
class CriticConfig:
    nf: int = 256  # width of the first block (the reference used 256)
    n_blocks: int = 3  # strided blocks after the first
    dropout: float = 0.15
    n_channels: int = 3

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**d)


def critic_min_size(cfg: CriticConfig):
    "The smallest picture the critic takes: it halves the size n_blocks + 1 times and ends in a 4x4 convolution."
    return 4 * 2 ** (cfg.n_blocks + 1)


def build_critic(cfg: CriticConfig = None, **overrides):
    cfg = CriticConfig(**overrides) if cfg is None else cfg
    return settle_spectral_norm(gan_critic(n_channels=cfg.n_channels, nf=cfg.nf, n_blocks=cfg.n_blocks, p=cfg.dropout))
