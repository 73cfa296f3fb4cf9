"""What every generator style is built from: its configuration (`GeneratorConfig`, stored in model files),
the ResNet encoder, and the decoder's size matching. The styles themselves (deoldify_like.generator's U-Net,
deoldify_like.deoldify_compat's reference generators) import these, and deoldify_like.generator names every
style in GENERATOR_STYLES, a plain dict of their build functions."""
import contextlib
from dataclasses import asdict, dataclass, field, fields

import torchvision
from fastai.vision.learner import create_body
from torch.nn import functional as F

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
    ab_bins: int = 0  # with a CIC ab head over this many a*b* bins (generator.ChromaHead); 0: none, as before

    def to_dict(self):
        d = asdict(self)
        d['y_range'] = list(self.y_range)
        if not self.ab_bins:  # a model without the head is described exactly as before the head existed
            del d['ab_bins']
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
