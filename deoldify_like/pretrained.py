"""ImageNet weights through torchvision's weights API, with one clear line when they cannot be had.

torchvision downloads them for a user who is online, or reads `$TORCH_HOME/hub/checkpoints/<file>`.
"""
import contextlib
import io
import os
import sys
from pathlib import Path

import torch
from torchvision.models import get_model_weights

from .errors import PretrainedWeightsUnavailable


def hub_checkpoints_dir():
    return Path(torch.hub.get_dir()) / 'checkpoints'


def imagenet_state_dict(arch, progress=False, off='--no-pretrained / pretrained=False'):
    """The torchvision DEFAULT ImageNet weights of `arch` (e.g. 'resnet34', 'vgg16_bn') as a state_dict.
    `off` names the setting that does without them, for the message when they cannot be had."""
    weights = get_model_weights(arch).DEFAULT
    filename = os.path.basename(weights.url)
    cached = (hub_checkpoints_dir() / filename).is_file()
    talk = io.StringIO()
    try:
        with contextlib.redirect_stderr(talk):  # torch.hub's "Downloading: ..." only if it really downloads
            state = weights.get_state_dict(progress=progress)
    except Exception as e:  # URLError, HTTPError, OSError, a damaged cached file...
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise PretrainedWeightsUnavailable(
            f"ImageNet weights for {arch} are not available ({reason}): go online once so torchvision can "
            f"download {weights.url}, or put {filename} in {hub_checkpoints_dir()}, or turn them off ({off})") from None
    if not cached:
        print(f"downloaded {weights.url} to {hub_checkpoints_dir()}", file=sys.stderr)
    return state
