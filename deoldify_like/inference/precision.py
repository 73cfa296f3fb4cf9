"""Model arithmetic: which precision a device runs, and the autocast that runs it. The names and their
dtypes are the one table `deoldify_like.choices.PRECISIONS`."""
import contextlib

import torch

from deoldify_like.choices import PRECISION_CHOICES, PRECISIONS

__all__ = ['PRECISIONS', 'PRECISION_CHOICES', 'DEFAULT_PRECISION', 'native_bf16', 'resolve_precision',
           'autocast_dtype', 'inference_context']

DEFAULT_PRECISION = 'auto'


def native_bf16(device):
    "Whether `device` computes in bfloat16 natively (elsewhere autocast to bf16 is slower than fp32)."
    if device.type == 'cuda':
        return torch.cuda.is_bf16_supported()
    if device.type == 'cpu':
        checks = [getattr(torch.cpu, name, None) for name in ('_is_avx512_bf16_supported', '_is_amx_tile_supported')]
        return any(check() for check in checks if check is not None)
    return False


def resolve_precision(precision, device):
    "'auto' is bf16 where the device does it natively, else fp32; other values are kept."
    if precision == 'auto':
        return 'bf16' if native_bf16(device) else 'fp32'
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose auto or one of {', '.join(PRECISIONS)}")
    return precision


def autocast_dtype(precision):
    "The torch dtype autocast runs `precision` in; None for fp32 (no autocast)."
    name = PRECISIONS[precision]
    return getattr(torch, name) if name else None


@contextlib.contextmanager
def inference_context(device, precision):
    "Inference mode, under autocast to the precision's dtype where it has one."
    dtype = autocast_dtype(precision)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        yield
