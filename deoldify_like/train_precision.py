"""The precision a stage trains in (`--precision auto|fp32|bf16|fp16`) and the channels-last layout, put on a
fastai Learner as fastai's own callbacks (`MixedPrecision` in fp16 or bf16 mode, made to follow the learner's device,
and `ChannelsLast`).

`auto` follows rendering's rule and record, not one of its own: a reduced precision only where a quality
check of it on this device is recorded and passed (the engine-choice record, deoldify_like/inference/engine_choice.json, whose
entries carry the rendering rule's verdict `quality_holds`; a training check goes in the device's `training`
list), else fp32. No training check is recorded for any device yet, so `auto` is fp32 everywhere today.
"""
import torch
from fastai.callback.channelslast import ChannelsLast
from fastai.callback.fp16 import MixedPrecision

from .choices import PRECISION_CHOICES, PRECISIONS
from .device import reduced_precision
from .errors import SettingsError

PRECISION_HELP = ("training precision: auto is fp32 unless a recorded quality check on this device says its "
                  "reduced precision keeps the results (bf16 or fp16 mixed precision)")
CHANNELS_LAST_HELP = "train in the channels-last memory layout (faster convolutions on recent GPUs and CPUs)"


class DeviceMixedPrecision(MixedPrecision):
    """fastai's MixedPrecision on the learner's own device: fastai 2.8 always opens `autocast('cuda')`, which
    leaves a CPU learner in fp32 without a word."""

    def before_fit(self):
        super().before_fit()
        kind = torch.device(self.learn.dls.device or 'cpu').type
        dtype = torch.bfloat16 if self.amp_mode.value == 'bf16' else torch.float16
        self.autocast = torch.autocast(kind, dtype=dtype)
        self.learn.scaler = torch.amp.GradScaler(kind, **self.kwargs)


def _verdict(entry):
    return entry.get('quality_holds') is True


def resolve_train_precision(precision, device, checks=(), holds=_verdict):
    """'auto' -> the device's reduced precision (`device.reduced_precision`) if one of `checks` (the recorded
    training checks for this device) is of that precision and passes `holds` (default: the verdict stored in
    the entry; pass the rendering rule's `quality_holds` to re-apply it), else 'fp32'. Others are kept."""
    if precision not in PRECISION_CHOICES:
        raise SettingsError(f"--precision: unknown precision {precision!r}; choose one of {', '.join(PRECISION_CHOICES)}")
    if precision != 'auto':
        return precision
    low = reduced_precision(device)
    return low if any(e.get('precision') == low and holds(e) for e in checks) else 'fp32'


def set_precision(learn, precision, channels_last=False):
    """Put `learn` into `precision` ('fp32', 'bf16' or 'fp16'; resolve 'auto' first) and, if asked, the
    channels-last layout; returns `learn`. fp16 scales the loss (fastai's GradScaler), bf16 needs no scaling."""
    if precision == 'auto':
        raise ValueError("resolve 'auto' with resolve_train_precision first")
    if precision in ('bf16', 'fp16'):
        learn.add_cb(DeviceMixedPrecision(amp_mode=precision))
    elif precision != 'fp32':
        raise SettingsError(f"--precision: unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if channels_last:
        learn.add_cb(ChannelsLast())
    return learn
