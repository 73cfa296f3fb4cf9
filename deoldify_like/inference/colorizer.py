"""Colorizing pictures with a generator: fit to the render-factor square, predict in batches, keep the
original luminance. The one inference path shared by photos, GIFs, films, evaluation and checkpoint grids.

Inference settings (measured on this project's 2-core CPU, see docs/render.md):
- channels_last memory format and batches of 2: oneDNN's fastest convolution layout on CPU;
- spectral norm folded into plain weights on a private copy of the model (the same numbers, without the
  per-layer `weight_orig / sigma` of every forward pass), both by `prepare.prepare_for_inference`;
- `precision='bf16'` runs under `torch.autocast` (its speed against fp32 on each engine: `deoldify-like bench
  --engines all`, docs/render.md); 'auto', the
  default, picks it where the hardware does bf16 natively (AVX-512 BF16 or AMX CPUs, CUDA GPUs with bf16),
  since it changes no measured quality figure (PSNR by 0.001 dB, dCF by 0.01 on BSDS500 val with a trained
  model: docs/render.md), and fp32 elsewhere.
An out-of-memory error is never turned into an uncolorized picture: the batch is halved and retried, and
at batch 1 `OutOfMemory` is raised.
"""
import numpy as np
import torch

from deoldify_like.colour import recombine_luminance
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.model_file import load_generator
from deoldify_like.progress import say

from .engine_choice import pick as pick_engine
from .engines import ENGINE_PRECISIONS, ENGINES, make_engine
from .precision import DEFAULT_PRECISION, resolve_precision
from .prepare import prepare_for_inference
from .render_factor import render_factor_for
from .square import DEFAULT_FIT, crop_prediction, fit_to_square

__all__ = ['Colorizer', 'OutOfMemory', 'is_out_of_memory', 'DEFAULT_BS', 'ENGINE_CHOICES']

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


class Colorizer:
    """Pictures in, colour pictures out, through one inference engine (`engines.py`): 'torch' (the
    default here), 'onnxruntime', 'openvino', or 'auto' (the measured choice for this device,
    `engine_choice.py`). `compile` wraps the torch model in torch.compile (meant for CUDA).

    `render_factor` is the one `colorize` uses when it is given none; None (the default) means the model's
    own, by the rule (`render_factor_for(header, 'photo')`), decided when it is first needed."""

    def __init__(self, model, render_factor=None, fit=DEFAULT_FIT, device='auto', header=None,
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
        self.given_render_factor, self.fit, self.header = render_factor, fit, header or {}
        self.bs, self.precision, self.channels_last = max(1, int(bs)), precision, channels_last
        self.engine = make_engine(engine, self.model, self.device, precision, self.header, channels_last, compile)

    @classmethod
    def from_file(cls, path, render_factor=None, fit=DEFAULT_FIT, device='auto', **kwargs):
        "A Colorizer for a model file; `render_factor` None means the file's own default, else 35."
        model, header = load_generator(path)
        return cls(model, render_factor, fit, device, header, copy_model=False, **kwargs)

    @property
    def render_factor(self):
        "The render factor `colorize` uses when given none: the one this Colorizer was made with, else the rule's."
        return render_factor_for(self.header, 'photo', self.given_render_factor)

    def settings(self):
        "What decides the output pictures besides the render factor, which each call may choose (for resume checks)."
        return {'fit': self.fit, 'precision': self.precision, 'device': self.device.type, 'engine': self.engine.name}

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

    def _forward_batches(self, squares, render_factor):
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
                                      f"{render_factor}; try a lower --render-factor or another --device") from None
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
        preds = self._forward_batches(np.stack(squares), rf)
        return [crop_prediction(p, b) for p, b in zip(preds, boxes)]

    def colorize(self, lumas, render_factor=None):
        "Full-resolution colour pictures (uint8 RGB) for a list of uint8 luminance pictures."
        preds = self.predict(lumas, render_factor)
        return [recombine_luminance(luma, pred) for luma, pred in zip(lumas, preds)]
