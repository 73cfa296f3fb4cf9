"""The settings of `deoldify-like pix2pix`, typed, in one place, as train_stages/settings.py has the NoGAN
stages': each field carries its type, default and --help text; the command's signature derives from them
(`settings.stage_command`), and run.json records the checked values under the same names. Not in
settings.py itself, which would pass 400 lines; no recipe sets these."""
import argparse
import dataclasses

from deoldify_like.choices import ENCODERS
from deoldify_like.critic import CriticConfig, critic_min_size
from deoldify_like.errors import SettingsError
from deoldify_like.pix2pix import BODIES, OUTPUTS

from .settings import REQUIRED, StageSettings, option

GAN_LOSSES = ('bce', 'lsgan')


@dataclasses.dataclass
class Pix2PixSettings(StageSettings):
    "`pix2pix`: the conditional GAN trained from the start; run.json records these under `stages.pix2pix.settings`."
    stage = 'pix2pix'
    data: str = option("folder of colour training pictures (see `prepare`)", **REQUIRED)
    run: str = option("run folder (created if new)", **REQUIRED)
    body: str = option("generator: classic (pix2pix's U-Net, --n-down steps) or resnet (the toolkit's ResNet U-Net, "
                       "--arch)", 'classic', choices=BODIES)
    output: str = option("lab: the generator predicts ab on the input's L; rgb: it predicts RGB whose luminance is "
                         "replaced by the input's", 'lab', choices=OUTPUTS)
    n_down: int = option("classic U-Net: down-sampling steps (pix2pix's: 8 at 256 px; --size must be at least "
                         "2 ** n_down)", 8)
    ngf: int = option("classic U-Net: width of the first layer ", 64)
    arch: str = option("resnet U-Net: encoder", 'resnet34')
    nf_factor: float = option("resnet U-Net: decoder width factor", 1.0)
    pretrained: bool = option("resnet U-Net: ImageNet weights for the encoder (pix2pix trains from scratch)", False,
                              action=argparse.BooleanOptionalAction)
    size: int = option("training size in pixels (pix2pix's 256)", 256)
    bs: int = option("batch size", 4)
    iters: int = option("iterations (critic and generator steps together)", 2000)
    save_every: int = option("a generator checkpoint every this many iterations", 250)
    lr: float = option("Adam learning rate of both networks", 2e-4)
    beta1: float = option("Adam beta1", 0.5)
    decay_from: float = option("share of --iters after which the learning rate falls linearly to 0", 0.5)
    l1_weight: float = option("weight of the L1 term of the generator's loss (lambda)", 100.0)
    gan_loss: str = option("adversarial loss: bce (pix2pix's) or lsgan (least squares)", 'bce',
                           choices=GAN_LOSSES)
    critic_nf: int = option("PatchGAN width of the first layer ", 64)
    critic_layers: int = option("PatchGAN stride-2 layers (3: 70x70 patches)", 3)
    limit: int = option("use at most this many pictures of the data folder (a seeded choice)")
    valid_pct: float = option("held-out share of the pictures", 0.1)
    seed: int = option("seed of the split, the shuffling and the initial weights", 42)
    force: bool = option("start over even if the stage is done or was interrupted", False)
    device: str = option("where to train", 'auto')

    @staticmethod
    def check(s):
        "The values `s` (a dict), checked before anything is written; raises SettingsError."
        for key in ('size', 'bs', 'iters', 'save_every', 'n_down', 'ngf', 'critic_nf', 'critic_layers'):
            if int(s[key]) < 1:
                raise SettingsError(f"--{key.replace('_', '-')} must be 1 or more, got {s[key]}")
        if s['body'] not in BODIES:
            raise SettingsError(f"--body: unknown generator {s['body']!r}; choose one of {', '.join(BODIES)}")
        if s['output'] not in OUTPUTS:
            raise SettingsError(f"--output: unknown output {s['output']!r}; choose one of {', '.join(OUTPUTS)}")
        if s['gan_loss'] not in GAN_LOSSES:
            raise SettingsError(f"--gan-loss: choose one of {', '.join(GAN_LOSSES)}, got {s['gan_loss']!r}")
        if s['arch'] not in ENCODERS:
            raise SettingsError(f"--arch: unknown encoder {s['arch']!r}; choose one of {', '.join(ENCODERS)}")
        if s['body'] == 'classic' and s['size'] < 2 ** s['n_down']:
            raise SettingsError(f"--size {s['size']}: the classic U-Net halves it {s['n_down']} times; give --size "
                                f"{2 ** s['n_down']} or more, or fewer --n-down")
        if s['body'] == 'resnet' and (s['size'] < 32 or s['size'] % 8):
            raise SettingsError(f"--size: the resnet U-Net takes multiples of 8 from 32 px, got {s['size']}")
        need = critic_min_size(critic_config(s))
        if s['size'] < need:
            raise SettingsError(f"--size {s['size']}: the PatchGAN with {s['critic_layers']} layers needs {need} px "
                                f"or more")
        if s['lr'] <= 0 or not 0 <= s['beta1'] < 1 or not 0 <= s['decay_from'] <= 1 or s['l1_weight'] < 0:
            raise SettingsError("--lr must be positive, --beta1 in [0, 1), --decay-from in [0, 1], --l1-weight 0 or "
                                "more")
        if not 0 < s['valid_pct'] < 1:
            raise SettingsError(f"--valid-pct must be between 0 and 1, got {s['valid_pct']}")
        return s


def critic_config(s):
    return CriticConfig(nf=int(s['critic_nf']), n_blocks=int(s['critic_layers']), style='patchgan')
