"""Between pictures and the generator's tensors: gray copied into 3 channels and ImageNet-normalised in,
ImageNet-normalised RGB out."""
import hashlib

import numpy as np
import torch

from .colour import IMAGENET_MEAN, IMAGENET_STD

_MEAN = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)


def normalize(x01):
    "(N, 3, H, W) float in 0..1 to ImageNet-normalised."
    return (x01 - _MEAN.to(x01.device, x01.dtype)) / _STD.to(x01.device, x01.dtype)


def denormalize(x):
    "ImageNet-normalised (N, 3, H, W) back to 0..1 (not clipped)."
    return x * _STD.to(x.device, x.dtype) + _MEAN.to(x.device, x.dtype)


def gray_batch_to_input(grays, device='cpu', dtype=torch.float32):
    "uint8 luminance pictures of one size, (N, H, W) array or list, to the generator's (N, 3, H, W) input."
    g = torch.from_numpy(np.ascontiguousarray(np.stack(list(grays)) if not isinstance(grays, np.ndarray) else grays))
    g = g.to(device).to(dtype).div_(255.0).unsqueeze(1).expand(-1, 3, -1, -1)
    return normalize(g)


def rgb_batch_to_tensor(rgbs, device='cpu', dtype=torch.float32):
    "uint8 RGB pictures of one size (N, H, W, 3) to ImageNet-normalised (N, 3, H, W)."
    x = torch.from_numpy(np.ascontiguousarray(np.stack(list(rgbs)) if not isinstance(rgbs, np.ndarray) else rgbs))
    return normalize(x.to(device).permute(0, 3, 1, 2).to(dtype).div_(255.0))


def output_to_rgb(out):
    "Generator output (N, 3, H, W), ImageNet-normalised, to uint8 RGB (N, H, W, 3) on the CPU."
    x = denormalize(out.detach().float()).clamp_(0, 1).mul_(255.0).round_()
    return x.to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def state_sha256(module):
    """SHA-256 of a module's state dict (names, shapes, dtypes and bytes, in key order): which network this is.
    The loss network's recorded fingerprint and the key of an exported engine's cache."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().to('cpu').contiguous()
        h.update(f'{name}:{tuple(t.shape)}:{t.dtype};'.encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b'')
    return h.hexdigest()
