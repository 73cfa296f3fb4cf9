import torch

from .errors import SettingsError


def pick_device(name='auto'):
    "'auto' is CUDA when present, else CPU; 'cuda' without a GPU is an error."
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise SettingsError("--device cuda asked for, but no CUDA device is available (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError:
        raise SettingsError(f"--device: unknown device {name!r}; choose auto, cpu or cuda") from None


# Batch sizes that keep each device busy: CPU oneDNN is fastest at 2 (docs/readme_render.md); a GPU needs
# more pictures per call to fill it (8 at render factor 35 is ~0.5 GiB with resnet34, far below any GPU's memory).
RENDER_BS = {'cpu': 2, 'cuda': 8}


def render_batch_size(device):
    "Pictures or film frames per model batch for `device` (a torch.device or its name)."
    kind = device if isinstance(device, str) else device.type
    return RENDER_BS.get(kind, RENDER_BS['cpu'])


def reduced_precision(device):
    "The reduced precision a device runs in: bf16 on CPU and on GPUs that do it natively, else fp16 (CUDA)."
    if device.type == 'cuda':
        return 'bf16' if torch.cuda.is_bf16_supported() else 'fp16'
    return 'bf16'
