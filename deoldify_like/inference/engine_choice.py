"""`--engine auto`: per device, the fastest measured engine and precision whose quality holds.

The measurements live in `engine_choice.json` beside this module (written by `benchmarks/engine_choice.py`, which
another device's check, e.g. benchmarks/gpu_check.sh, runs with `--device cuda` to add its own entry):

  {"devices": {"cpu-bf16": {"measured": {...conditions...},
                            "engines": [{"engine": "openvino", "precision": "bf16", "model_only_fps": 3.6,
                                         "delta_psnr": 0.001, "delta_cf": 0.01, ...}, ...]}}}

The quality rule: an engine/precision may be picked only if its PSNR is within 0.1 dB and its ΔCF within
0.5 of PyTorch fp32 on the same colour photos. Among those that pass, are installed and fit the device,
`auto` takes the highest model-only frames/s. A device with no entry (or no file) gets PyTorch; a GPU with
no entry runs it in fp32, since no check on it has said a reduced precision holds (run
`python benchmarks/engine_choice.py --device cuda ...` on it to add its entry).
"""
import json
from pathlib import Path

from .engines import ENGINE_PRECISIONS, engine_installed
from .precision import native_bf16

__all__ = ['CHOICE_FILE', 'device_key', 'candidates', 'quality_holds', 'load_choices', 'pick']

CHOICE_FILE = Path(__file__).with_name('engine_choice.json')
MAX_DELTA_PSNR, MAX_DELTA_CF = 0.1, 0.5
FALLBACK = 'torch'


def device_key(device):
    "The name a device's measurements go under: cuda, cpu-bf16 (native bf16 CPUs) or cpu."
    if device.type == 'cuda':
        return 'cuda'
    return 'cpu-bf16' if native_bf16(device) else device.type


def candidates(device):
    "(engine, precision) pairs that can run on `device` with what is installed."
    out = []
    for engine, precisions in ENGINE_PRECISIONS.items():
        if not engine_installed(engine) or (engine == 'openvino' and device.type != 'cpu') \
                or (engine == 'torch-compile' and device.type != 'cuda'):
            continue
        for precision in precisions:
            if precision == 'bf16' and not native_bf16(device):
                continue
            if precision == 'fp16' and device.type != 'cuda':
                continue
            out.append((engine, precision))
    return out


def quality_holds(entry):
    "The quality rule on one measured entry."
    try:
        return abs(float(entry['delta_psnr'])) <= MAX_DELTA_PSNR and abs(float(entry['delta_cf'])) <= MAX_DELTA_CF
    except (KeyError, TypeError, ValueError):
        return False


def load_choices(path=CHOICE_FILE):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def pick(device, precision='auto', path=CHOICE_FILE):
    """(engine, precision) for `--engine auto`: the fastest measured pair that passes the quality rule and
    can run here; (torch, `precision`) where nothing is measured for this device. A precision other than
    auto limits the pick to that precision."""
    entries = load_choices(path).get('devices', {}).get(device_key(device), {}).get('engines', [])
    runnable = set(candidates(device))
    ok = [e for e in entries if (e.get('engine'), e.get('precision')) in runnable and quality_holds(e)
          and precision in ('auto', e.get('precision')) and e.get('model_only_fps')]
    if not ok:
        unchecked_gpu = device.type == 'cuda' and precision == 'auto' and not entries
        return FALLBACK, 'fp32' if unchecked_gpu else precision
    best = max(ok, key=lambda e: float(e['model_only_fps']))
    return best['engine'], best['precision']
