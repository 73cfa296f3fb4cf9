"""Inference engines behind the Colorizer: one class per engine, each turning a batch of uint8 gray squares
(N, side, side) into uint8 RGB predictions (N, side, side, 3).

- `torch`: PyTorch eager (channels_last, spectral norm folded, bf16 autocast where asked);
- `torch-compile`: the same through `torch.compile` (for CUDA devices, where a GPU check may find it the
  fastest; `auto` considers it only there: compiling on a small CPU costs minutes for little);
- `onnxruntime`: the generator exported to ONNX (`export.py`) for the square's fixed size, run by
  ONNX Runtime (CPU provider with one intra-op thread per core; the CUDA provider first on a CUDA device
  where the installed onnxruntime has it). fp32 only.
- `openvino`: the same ONNX file converted to OpenVINO IR and compiled by the CPU plugin for each batch
  shape (latency hint by default), fp32 or bf16 (`inference_precision` hint; bf16 only where the CPU has it).

The exported files are cached on disk (`cache_dir()`), one folder per key (the weights' hash, the square's
side, the exporter and engine versions), with the key beside them in key.json: the second render with the
same model and render factor does not export again. OpenVINO also keeps its compiled blobs there (its
own model cache, keyed by it on precision and plugin version).

onnxruntime and openvino are imported only when their engine is used, so importing the inference package
stays light and neither is needed for the torch engine. `auto` is resolved in `engine_choice.py`.
"""
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.tensors import gray_batch_to_input, output_to_rgb, state_sha256

from .export import export_onnx, metadata, onnx_to_openvino
from .precision import inference_context

__all__ = ['ENGINES', 'ENGINE_PRECISIONS', 'make_engine', 'engine_installed', 'engine_version', 'cache_dir',
           'TorchEngine', 'OnnxRuntimeEngine', 'OpenVinoEngine']

ENGINES = ('torch', 'torch-compile', 'onnxruntime', 'openvino')
ENGINE_PRECISIONS = {'torch': ('fp32', 'bf16', 'fp16'), 'torch-compile': ('fp32', 'bf16', 'fp16'),
                     'onnxruntime': ('fp32',), 'openvino': ('fp32', 'bf16')}
CACHE_VERSION = 1  # bump when the exported network or its cache layout changes
OPENVINO_HINTS = ('LATENCY', 'THROUGHPUT')


def engine_installed(name):
    "Whether the engine's package can be imported (without importing it)."
    if name in ('torch', 'torch-compile'):
        return True
    import importlib.util  # noqa: PLC0415
    return importlib.util.find_spec(name) is not None


def engine_version(name):
    "The installed version of an engine's package (imports it)."
    if name in ('torch', 'torch-compile'):
        return torch.__version__
    module = __import__(name)
    return getattr(module, '__version__', None) or module.get_version()


def cache_dir():
    "Where exported networks are kept: $DEOLDIFY_LIKE_CACHE, else ~/.cache/deoldify_like/engines."
    root = os.environ.get('DEOLDIFY_LIKE_CACHE')
    return Path(root) if root else Path.home() / '.cache' / 'deoldify_like' / 'engines'



def to_rgb_uint8(out01):
    "float (N, 3, H, W) RGB in 0..1 to uint8 (N, H, W, 3), rounded as the torch path rounds."
    return np.clip(np.rint(np.asarray(out01, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)


def gray_input(squares):
    "uint8 (N, side, side) to the exported network's input: float32 (N, 1, side, side) in 0..1."
    return np.ascontiguousarray(np.asarray(squares, dtype=np.float32)[:, None] / 255.0)


class TorchEngine:
    "PyTorch eager on `device`: the model as `prepare_for_inference` left it (the Colorizer prepares it)."
    name = 'torch'

    def __init__(self, model, device, precision='fp32', channels_last=True, compile=False):  # noqa: A002
        self.device, self.precision, self.channels_last = device, precision, channels_last
        self.model = torch.compile(model) if compile else model
        self.name = 'torch-compile' if compile else 'torch'

    def forward(self, squares):
        x = gray_batch_to_input(squares, self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with inference_context(self.device, self.precision):
            out = self.model(x)
        return output_to_rgb(out)


class ExportedEngine:
    "An engine that runs the exported network: exported once per square size, cached on disk."
    name = None

    def __init__(self, model, header=None, precision='fp32', device=None, cache=None):
        if precision not in ENGINE_PRECISIONS[self.name]:
            raise ValueError(f"engine {self.name} runs {' or '.join(ENGINE_PRECISIONS[self.name])}, not {precision}")
        self.model, self.header, self.precision = model, header or {}, precision
        self.device = device or torch.device('cpu')
        self.cache = Path(cache) if cache else cache_dir()
        self._hash, self._runners = None, {}
        self.version = engine_version(self.name)

    def cache_key(self, side):
        if self._hash is None:
            self._hash = state_sha256(self.model)
        return {'weights_sha256': self._hash, 'side': side, 'torch': torch.__version__, 'engine': self.name,
                'engine_version': self.version, 'cache_version': CACHE_VERSION}

    def _folder(self, side):
        "The cache folder for this key, filled (exported) when missing or when its key.json differs."
        key = self.cache_key(side)
        folder = self.cache / hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        key_file = folder / 'key.json'
        try:
            if json.loads(key_file.read_text()) == key:
                return folder, False
        except (OSError, ValueError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self._fill(folder, side)
        key_file.write_text(json.dumps(key, indent=1))  # written last: a folder without it is incomplete
        return folder, True

    def _export_onnx(self, dest, side):
        return export_onnx(self.model, dest, side, self.header)

    def runner(self, n, side):
        raise NotImplementedError

    def forward(self, squares):
        squares = np.asarray(squares)
        n, side = squares.shape[0], squares.shape[-1]
        return to_rgb_uint8(self.runner(n, side)(gray_input(squares)))


class OnnxRuntimeEngine(ExportedEngine):
    name = 'onnxruntime'

    def _fill(self, folder, side):
        self._export_onnx(folder / 'model.onnx', side)

    def providers(self):
        import onnxruntime as ort  # noqa: PLC0415
        if self.device.type == 'cuda' and 'CUDAExecutionProvider' in ort.get_available_providers():
            return ['CUDAExecutionProvider', 'CPUExecutionProvider']
        return ['CPUExecutionProvider']

    def runner(self, n, side):
        if side not in self._runners:
            import onnxruntime as ort  # noqa: PLC0415
            folder, _ = self._folder(side)
            options = ort.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            session = ort.InferenceSession(str(folder / 'model.onnx'), options, providers=self.providers())
            self._runners[side] = lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]
        return self._runners[side]


class OpenVinoEngine(ExportedEngine):
    name = 'openvino'

    def __init__(self, model, header=None, precision='fp32', device=None, cache=None, hint='LATENCY'):
        super().__init__(model, header, precision, device, cache)
        if self.device.type != 'cpu':
            raise ValueError("engine openvino runs on the CPU here; use --device cpu or another engine")
        if hint not in OPENVINO_HINTS:
            raise ValueError(f"unknown OpenVINO performance hint {hint!r}; choose {' or '.join(OPENVINO_HINTS)}")
        self.hint = hint

    def _fill(self, folder, side):
        onnx_path = self._export_onnx(folder / 'export.onnx', side)
        onnx_to_openvino(onnx_path, folder / 'model.xml', metadata(self.header, side, False))
        onnx_path.unlink()

    def runner(self, n, side):
        "A compiled model for batches of exactly `n` squares of `side` (static shapes compile fastest)."
        if (n, side) not in self._runners:
            import openvino as ov  # noqa: PLC0415
            folder, _ = self._folder(side)
            core = ov.Core()
            core.set_property({'CACHE_DIR': str(folder / 'compiled')})
            net = core.read_model(str(folder / 'model.xml'))
            net.reshape([n, 1, side, side])
            config = {'PERFORMANCE_HINT': self.hint,
                      'INFERENCE_PRECISION_HINT': 'bf16' if self.precision == 'bf16' else 'f32'}
            request = core.compile_model(net, 'CPU', config).create_infer_request()
            self._runners[(n, side)] = lambda x: request.infer({0: x})[0].copy()
        return self._runners[(n, side)]


ENGINE_CLASSES = {'onnxruntime': OnnxRuntimeEngine, 'openvino': OpenVinoEngine}


def make_engine(name, model, device, precision, header=None, channels_last=True, compile=False, cache=None):  # noqa: A002
    "The engine `name` for a model already prepared for inference (eval, folded, on `device`)."
    if name in ('torch', 'torch-compile'):
        return TorchEngine(model, device, precision, channels_last, compile or name == 'torch-compile')
    if name not in ENGINE_CLASSES:
        raise ValueError(f"unknown engine {name!r}; choose auto or one of {', '.join(ENGINES)}")
    if not engine_installed(name):
        raise DeoldifyLikeError(f"engine {name} is not installed; pip install 'deoldify-like[engines]' "
                                "(or use --engine torch)")
    return ENGINE_CLASSES[name](model, header, precision, device, cache)
