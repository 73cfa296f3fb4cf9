"""`deoldify-like import-deoldify`: a released reference generator (.pth) becomes our self-describing model file.

The .pth is read with `torch.load(weights_only=True)`, so nothing in it runs; every key and shape is checked
against the preset before anything is written. The model file carries the reference's defaults: render
factor 35 for photos (artistic, stable) and 21 for video, ImageNet-normalised 3-channel gray input, and the
original luminance recombined with the predicted chroma.
"""
import hashlib
import re
import warnings
from pathlib import Path
from typing import Annotated

import torch

from .deoldify_compat import (PRESET_FILES, PRESET_RENDER_FACTOR, PRESETS, STYLES, preset_config, preset_name,
                              preset_shapes)
from .errors import ModelFileError
from .generator import build_generator
from .model_file import DEFAULT_COLOUR_MODE, DEFAULT_INPUT, save_model_file
from .progress import say

# A key only one decoder kind has: how a file tells which preset it belongs to.
_KIND_MARKERS = {'deep': 'layers.4.conv1.0.weight_orig', 'wide': 'layers.4.conv.0.weight_orig'}
_KIND_PRESETS = {'deep': 'deoldify-artistic', 'wide': 'deoldify-stable or deoldify-video'}


def read_pth_state_dict(path):
    "The state_dict in a .pth (bare, or under 'model'), loaded without executing code."
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: empty file, not a PyTorch weight file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols of files that are not its own
            warnings.simplefilter('ignore', UserWarning)
            obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as e:  # torch raises many kinds for a file that is not one of its own
        msg = str(e)
        needs = re.search(r'Unsupported global: GLOBAL (\S+)', msg)
        if needs:
            raise ModelFileError(f"{path}: refused: loading it would run code ({needs.group(1)}); "
                                 f"only plain weight files (tensors in dicts) are read") from None
        unpickler = re.search(r'WeightsUnpickler error:\s*(\S[^\n]*)', msg)
        line = unpickler.group(1) if unpickler else (msg.strip().splitlines() or [''])[0]
        reason = f": {line.strip()[:120]}" if line.strip() else ''
        raise ModelFileError(f"{path}: not a PyTorch weight file (torch.load: {type(e).__name__}{reason})") from None
    if isinstance(obj, dict) and isinstance(obj.get('model'), dict):
        obj = obj['model']
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ModelFileError(f"{path}: holds {type(obj).__name__}, not a state_dict "
                             f"(a dict of tensors, bare or as {{'model': state_dict}})")
    return dict(obj)


def _torch10_spectral_stems(own, sd):
    "Spectral-norm modules that `sd` stores in the torch 1.0 layout: `weight`, `weight_orig`, `weight_u`, no `weight_v`."
    stems = {k[:-len('.weight_orig')] for k in own if k.endswith('.weight_orig')}
    return {s for s in stems if f'{s}.weight_v' not in sd and f'{s}.weight' in sd and f'{s}.weight_orig' in sd}


def _from_torch10_spectral(sd, stems):
    """torch 1.0 kept the normalised `weight` (= weight_orig / sigma) and used it as is in eval mode; torch >= 1.1
    computes sigma = u.W.v from a stored v. Give each such module the v along W^T u scaled so that u.W.v is the
    old sigma: the same eval output, and training's power iteration goes on from u. (torch's own load hook
    does this with a pseudo-inverse of W^T W, minutes to hours for these layers on a CPU.)"""
    sd = dict(sd)
    for s in stems:
        w, u = sd[f'{s}.weight_orig'].double(), sd[f'{s}.weight_u'].double()
        weight = sd.pop(f'{s}.weight').double()
        sigma = w.flatten() @ w.flatten() / (w.flatten() @ weight.flatten())  # least squares of weight_orig = sigma * weight
        mat = w.reshape(w.shape[0], -1)
        v = mat.t() @ u
        sd[f'{s}.weight_v'] = (v * (sigma / (u @ (mat @ v)))).to(sd[f'{s}.weight_u'].dtype)
    return sd


def check_state_dict(own, sd, path, preset):
    """Raise a one-line ModelFileError at the first missing, unexpected or misshaped key of the state_dict `sd`
    against `own` ({key: shape}, the preset's)."""
    old = _torch10_spectral_stems(own, sd)
    converted = {f'{s}.weight_v' for s in old} | {f'{s}.weight' for s in old}
    missing = [k for k in own if k not in sd and k not in converted]
    unexpected = [k for k in sd if k not in own and k not in converted]
    misshaped = [k for k in own if k in sd and tuple(sd[k].shape) != own[k]]
    head = f"{path}: not a {preset} weight file: "
    kind = next((kind for kind, marker in _KIND_MARKERS.items() if marker in sd), None)
    hint = f"; it looks like {_KIND_PRESETS[kind]}" if kind and kind != STYLES[PRESETS[preset].style] else ''

    def more(keys):
        return f" (and {len(keys) - 1} more)" if len(keys) > 1 else ''
    if missing:
        k = missing[0]
        raise ModelFileError(f"{head}missing key {k} (expected shape {own[k]}){more(missing)}{hint}")
    if unexpected:
        k = unexpected[0]
        raise ModelFileError(f"{head}unexpected key {k} (shape {tuple(sd[k].shape)}){more(unexpected)}{hint}")
    if misshaped:
        k = misshaped[0]
        raise ModelFileError(f"{head}key {k} has shape {tuple(sd[k].shape)}, expected {own[k]}"
                             f"{more(misshaped)}{hint}")


def _sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 22), b''):
            h.update(block)
    return h.hexdigest()


def load_reference_generator(path, preset):
    """Build `preset` and load the weights of the released file `path` into it, strictly; returns (model, config).
    Spectral norm stored the torch 1.0 way is accepted and converted (see `_from_torch10_spectral`)."""
    preset = preset_name(preset)
    sd = read_pth_state_dict(path)
    own = preset_shapes(preset)
    check_state_dict(own, sd, path, preset)
    sd = _from_torch10_spectral(sd, _torch10_spectral_stems(own, sd))
    cfg = preset_config(preset)
    model = build_generator(cfg, pretrained=False)
    model.load_state_dict(sd, strict=True)
    return model.eval(), cfg


def import_deoldify(file: str,  # a released reference generator, e.g. ColorizeArtistic_gen.pth
                    preset: Annotated[str, "deoldify-artistic | deoldify-stable | deoldify-video (or artistic, stable, video)",
                                      dict(required=True)] = None,
                    out: Annotated[str, "the model file to write (.safetensors)", dict(required=True)] = None,
                    render_factor: int = None,  # default render factor stored in the model (reference: 35 photos, 21 video)
                    ):
    "Import a released reference generator weight file as a self-describing deoldify_like model file."
    try:
        name = preset_name(preset)
    except ValueError as e:
        raise ModelFileError(str(e)) from None
    src, dest = Path(file), Path(out)
    if src.exists() and dest.exists() and dest.resolve() == src.resolve():
        raise ModelFileError(f"{dest}: --out would overwrite the input; choose another path")
    say(f"reading {src} as {name}")
    model, cfg = load_reference_generator(src, name)
    rf = render_factor or PRESET_RENDER_FACTOR[name]
    info = {'source': str(src.resolve()), 'source_bytes': src.stat().st_size, 'source_sha256': _sha256(src),
            'preset': name, 'reference_file': PRESET_FILES[name], 'imported_by': 'deoldify-like import-deoldify'}
    save_model_file(dest, model, 'generator', cfg, render_factor=rf, info=info, input_spec=DEFAULT_INPUT,
                    colour_mode=DEFAULT_COLOUR_MODE)
    n = sum(t.numel() for t in model.state_dict().values())
    say(f"wrote {dest}: {name} ({n / 1e6:.1f} M values), render factor {rf}")
    return 0
