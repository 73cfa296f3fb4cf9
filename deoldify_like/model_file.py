"""Self-describing model files: one safetensors file holding the weights and, in its metadata, everything
needed to rebuild the network (configuration, input normalisation, colour mode, render-factor default,
where and when it was trained). Loading never executes code.

The metadata holds one JSON document under the key 'deoldify_like':
  {"format": "deoldify_like.model", "format_version": 1, "kind": "generator" | "critic",
   "config": {...}, "input": {...}, "colour_mode": "...", "render_factor": 35, "info": {...}}
"""
import datetime as dt
import json
import platform
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .colour import IMAGENET_MEAN, IMAGENET_STD
from .critic import CriticConfig, build_critic
from .errors import ModelFileError
from .generator import GeneratorConfig, build_generator
from .images import atomic_path

FORMAT, FORMAT_VERSION, META_KEY = 'deoldify_like.model', 1, 'deoldify_like'
DEFAULT_INPUT = {'channels': 'gray3', 'normalize': 'imagenet', 'mean': list(IMAGENET_MEAN), 'std': list(IMAGENET_STD)}
# How a prediction becomes a picture: keep the original luminance, take the chroma from the prediction.
DEFAULT_COLOUR_MODE = 'rgb-prediction, original-luma'


def _plain_state_dict(model):
    "Contiguous, unshared CPU copies (safetensors refuses tensors that share memory)."
    return {k: v.detach().to('cpu').contiguous().clone() for k, v in model.state_dict().items()}


def save_model_file(path, model, kind, config, render_factor=None, info=None, input_spec=None,
                    colour_mode=DEFAULT_COLOUR_MODE):
    "Write `model`'s weights and its description to `path` atomically; returns the path."
    header = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'kind': kind,
              'config': config.to_dict() if hasattr(config, 'to_dict') else dict(config),
              'input': input_spec or DEFAULT_INPUT, 'colour_mode': colour_mode, 'render_factor': render_factor,
              'info': {'saved_at': dt.datetime.now(dt.timezone.utc).isoformat(timespec='seconds'),
                       'host': platform.node(), 'torch': torch.__version__, **(info or {})}}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(_plain_state_dict(model), str(tmp), metadata={META_KEY: json.dumps(header)})
    return path


def read_header(path):
    "The description stored in a model file, without reading the weights."
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with open(path, 'rb') as f:
            n = int.from_bytes(f.read(8), 'little')
            if not 2 <= n <= 100_000_000 or path.stat().st_size < 8 + n:
                raise ValueError
            meta = json.loads(f.read(n)).get('__metadata__') or {}
    except (ValueError, UnicodeDecodeError, AttributeError):
        raise ModelFileError(f"{path}: not a deoldify_like model file (expected a safetensors file with "
                             f"'{META_KEY}' metadata; is it a .pth from another tool? see `deoldify-like import-deoldify`)") from None
    if META_KEY not in meta:
        raise ModelFileError(f"{path}: a safetensors file, but not a deoldify_like model (no '{META_KEY}' metadata)")
    try:
        header = json.loads(meta[META_KEY])
    except json.JSONDecodeError:
        raise ModelFileError(f"{path}: damaged deoldify_like metadata") from None
    if header.get('format') != FORMAT or header.get('format_version', 0) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: unsupported model format {header.get('format')!r} "
                             f"version {header.get('format_version')!r} (this toolkit reads {FORMAT} v{FORMAT_VERSION})")
    return header


def _read_weights(path):
    try:
        return load_file(str(path))
    except (SafetensorError, OSError) as e:
        raise ModelFileError(f"{path}: damaged weights ({str(e).splitlines()[0]})") from None


def _load_into(model, state_dict, path, kind):
    missing, unexpected = [], []
    own = model.state_dict()
    for k in own:
        if k not in state_dict:
            missing.append(k)
        elif own[k].shape != state_dict[k].shape:
            raise ModelFileError(f"{path}: {kind} weight {k} has shape {tuple(state_dict[k].shape)}, "
                                 f"the stored architecture needs {tuple(own[k].shape)}")
    unexpected = [k for k in state_dict if k not in own]
    if missing or unexpected:
        raise ModelFileError(f"{path}: weights do not fit the stored {kind} architecture "
                             f"({len(missing)} missing, e.g. {missing[:2]}; {len(unexpected)} unexpected, e.g. {unexpected[:2]})")
    model.load_state_dict(state_dict)
    return model


def copy_model_file(src, dest, info=None):
    "Write the model of `src` to `dest` (atomically) with `info` merged into its description."
    header = read_header(src)
    header['info'] = {**header.get('info', {}), **(info or {})}
    tensors = _read_weights(src)
    with atomic_path(Path(dest)) as tmp:
        save_file(tensors, str(tmp), metadata={META_KEY: json.dumps(header)})
    return Path(dest)


def load_model_file(path, kind='generator', device='cpu'):
    "Rebuild the model stored in `path` (in eval mode) and return `(model, header)`."
    header = read_header(path)
    if header['kind'] != kind:
        raise ModelFileError(f"{path}: holds a {header['kind']}, expected a {kind}")
    try:
        if kind == 'generator':
            model = build_generator(GeneratorConfig.from_dict(header['config']), pretrained=False)
        elif kind == 'critic':
            model = build_critic(CriticConfig.from_dict(header['config']))
        else:
            raise ModelFileError(f"{path}: unknown model kind {kind!r}")
    except (ValueError, TypeError, KeyError) as e:
        raise ModelFileError(f"{path}: cannot rebuild the {kind} it describes ({e})") from None
    _load_into(model, _read_weights(path), path, kind)
    return model.to(device).eval(), header


def save_generator(path, model, config, render_factor=None, **info):
    """Write a generator file; `render_factor` is its own default render factor, None for none (the rule in
    deoldify_like.inference.render_factor then decides)."""
    return save_model_file(path, model, 'generator', config, render_factor=render_factor, info=info)


def load_generator(path, device='cpu'):
    return load_model_file(path, 'generator', device)
