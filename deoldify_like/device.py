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
