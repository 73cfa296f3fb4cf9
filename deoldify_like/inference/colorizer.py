"""Colorizing pictures with a generator: fit to the render-factor square, predict in batches, keep the
original luminance. The one inference path shared by photos, GIFs, films, evaluation and checkpoint grids.

Inference settings (measured on this project's 2-core CPU, see docs/readme_render.md):
- channels_last memory format and batches of 2: oneDNN's fastest convolution layout on CPU;
- spectral norm folded into plain weights on a private copy of the model (the same numbers, without the
  per-layer `weight_orig / sigma` of every forward pass);
- `precision='bf16'` runs under `torch.autocast` (its speed against fp32 on each engine: `deoldify-like bench
  --engines all`, docs/render.md); 'auto', the
  default, picks it where the hardware does bf16 natively (AVX-512 BF16 or AMX CPUs, CUDA GPUs with bf16),
  since it changes no measured quality figure (PSNR by 0.001 dB, dCF by 0.01 on BSDS500 val with a trained
  model: docs/render.md), and fp32 elsewhere.
An out-of-memory error is never turned into an uncolorized picture: the batch is halved and retried, and
at batch 1 `OutOfMemory` is raised.
"""
import copy

import numpy as np
import torch
from torch.nn.utils.spectral_norm import SpectralNorm, remove_spectral_norm
from torch.nn.utils.weight_norm import WeightNorm, remove_weight_norm

from deoldify_like.colour import recombine_luminance
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.model_file import load_generator
from deoldify_like.progress import say

from .engine_choice import pick as pick_engine
from .engines import ENGINE_PRECISIONS, ENGINES, PRECISIONS, make_engine, native_bf16  # noqa: F401 - native_bf16 re-exported
from .render_factor import DEFAULT_FIT, PHOTO_RENDER_FACTOR, crop_prediction, fit_to_square, resolve_render_factor

DEFAULT_PRECISION = 'auto'
PRECISION_CHOICES = ['auto', *PRECISIONS]
DEFAULT_BS = 2
ENGINE_CHOICES = ['auto', *ENGINES]


class OutOfMemory(DeoldifyLikeError):
    "The model does not fit in memory even one picture at a time."


def is_out_of_memory(error):
    "CUDA's OutOfMemoryError, or a RuntimeError from a failed CPU allocation."
    if isinstance(error, torch.OutOfMemoryError):
        return True
    msg = str(error).lower()
    return isinstance(error, (RuntimeError, MemoryError)) and (
        isinstance(error, MemoryError) or 'out of memory' in msg or "can't allocate memory" in msg)


def resolve_precision(precision, device):
    "'auto' is bf16 where the device does it natively, else fp32; other values are kept."
    if precision == 'auto':
        return 'bf16' if native_bf16(device) else 'fp32'
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose auto or one of {', '.join(PRECISIONS)}")
    return precision


def _reparametrisations(model):
    "(module, hook) for every old-style spectral-norm and weight-norm reparametrisation in `model`."
    return [(m, h) for m in model.modules() for h in list(m._forward_pre_hooks.values())
            if isinstance(h, (SpectralNorm, WeightNorm))]


def fold_spectral_norm(model):
    """Replace every spectral-norm (and weight-norm) reparametrisation by the plain weight it computes in eval
    mode (in place): the same output without recomputing the weights at every call."""
    for module, hook in _reparametrisations(model):
        (remove_spectral_norm if isinstance(hook, SpectralNorm) else remove_weight_norm)(module, hook.name)
    return model


def _copyable(model):
    """After a forward pass with gradients, the reparametrised weights are non-leaf tensors that deepcopy
    refuses; detach them (each is recomputed from its parameters on the next call anyway)."""
    for module, hook in _reparametrisations(model):
        weight = getattr(module, hook.name, None)
        if isinstance(weight, torch.Tensor) and not weight.is_leaf:
            setattr(module, hook.name, weight.detach())
    return model


def prepare_for_inference(model, device, channels_last=True, fold=True, copy_model=True):
    "An eval-mode model on `device` for rendering; the caller's model is left untouched when `copy_model`."
    model = copy.deepcopy(_copyable(model)) if copy_model else model
    model = model.eval().to(device)
    if fold:
        fold_spectral_norm(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class Colorizer:
    """Pictures in, colour pictures out, through one inference engine (`render/engines.py`): 'torch' (the
    default here), 'onnxruntime', 'openvino', or 'auto' (the measured choice for this device,
    `render/engine_choice.py`). `compile` wraps the torch model in torch.compile (meant for CUDA)."""

    def __init__(self, model, render_factor=PHOTO_RENDER_FACTOR, fit=DEFAULT_FIT, device='auto', header=None,
                 bs=DEFAULT_BS, precision=DEFAULT_PRECISION, channels_last=True, fold=True, copy_model=True,
                 engine='torch', compile=False):  # noqa: A002
        self.device = pick_device(device) if isinstance(device, str) else device
        self.auto_engine = engine == 'auto'
        if self.auto_engine:
            engine, precision = pick_engine(self.device, precision)
        if precision == 'auto' and engine in ENGINE_PRECISIONS and 'bf16' not in ENGINE_PRECISIONS[engine]:
            precision = 'fp32'  # e.g. onnxruntime: auto is the best precision the engine has
        precision = resolve_precision(precision, self.device)
        if precision == 'fp16' and self.device.type != 'cuda':
            raise ValueError("precision fp16 needs a CUDA device; use bf16 on CPU")
        self.model = prepare_for_inference(model, self.device, channels_last, fold, copy_model)
        self.render_factor, self.fit, self.header = render_factor, fit, header or {}
        self.bs, self.precision, self.channels_last = max(1, int(bs)), precision, channels_last
        self.engine = make_engine(engine, self.model, self.device, precision, self.header, channels_last, compile)

    @classmethod
    def from_file(cls, path, render_factor=None, fit=DEFAULT_FIT, device='auto', **kwargs):
        "A Colorizer for a model file; `render_factor` None means the file's own default, else 35."
        model, header = load_generator(path)
        return cls(model, resolve_render_factor(render_factor, header, 'photo'), fit, device, header, copy_model=False, **kwargs)

    def settings(self):
        "What decides the output pictures (for resume checks and bench reports)."
        return {'render_factor': self.render_factor, 'fit': self.fit, 'precision': self.precision,
                'device': self.device.type, 'engine': self.engine.name}

    def forward(self, squares):
        "The model alone: uint8 (N, side, side) squares to uint8 RGB predictions, in one batch."
        try:
            return self.engine.forward(squares)
        except Exception as e:  # noqa: BLE001 - an engine auto picked that cannot take this model: torch
            if not self.auto_engine or self.engine.name == 'torch' or is_out_of_memory(e):
                raise
            say(f"engine {self.engine.name} failed on this model ({str(e).splitlines()[0][:200]}); using torch")
            self.auto_engine = False
            self.engine = make_engine('torch', self.model, self.device, self.precision, self.header, self.channels_last)
            return self.engine.forward(squares)

    def _forward_batches(self, squares):
        "All squares through the model `self.bs` at a time; halve the batch on out-of-memory, fail at 1."
        out, i = [], 0
        while i < len(squares):
            n = min(self.bs, len(squares) - i)
            try:
                out.append(self.forward(squares[i:i + n]))
            except Exception as e:  # noqa: BLE001 - only out-of-memory is handled, the rest re-raised
                if not is_out_of_memory(e):
                    raise
                if self.device.type == 'cuda':
                    torch.cuda.empty_cache()
                if n == 1:
                    raise OutOfMemory(f"out of memory on {self.device.type} even for one picture at render factor "
                                      f"{self.render_factor}; try a lower --render-factor or another --device") from None
                self.bs = max(1, n // 2)
                say(f"out of memory at batch {n}; retrying with batch {self.bs}")
                continue
            i += n
        return np.concatenate(out) if out else np.zeros((0, 0, 0, 3), np.uint8)

    def predict(self, lumas, render_factor=None):
        "Low-resolution RGB predictions (uint8) for a list of uint8 luminance pictures."
        if not len(lumas):
            return []
        rf = render_factor or self.render_factor
        squares, boxes = zip(*(fit_to_square(luma, rf, self.fit) for luma in lumas))
        preds = self._forward_batches(np.stack(squares))
        return [crop_prediction(p, b) for p, b in zip(preds, boxes)]

    def colorize(self, lumas, render_factor=None):
        "Full-resolution colour pictures (uint8 RGB) for a list of uint8 luminance pictures."
        preds = self.predict(lumas, render_factor)
        return [recombine_luminance(luma, pred) for luma, pred in zip(lumas, preds)]
