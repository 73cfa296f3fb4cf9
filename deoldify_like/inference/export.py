"""Models people can take elsewhere: a generator exported to ONNX or OpenVINO IR as one self-contained
network, gray in and RGB out.

The exported network (`GrayToColour`) takes a gray picture N×1×H×W, float32 in 0..1 (the luminance Y of
BT.601), copies it into 3 channels, normalises it for ImageNet, runs the generator (spectral norm folded
into plain weights), undoes the normalisation and clamps: N×3×H×W RGB in 0..1. H and W are fixed to the
render factor's square (render_factor × 16) unless `dynamic`; the batch size is always free.

What the network does not do, and a port must (the files say so in their metadata): resize the picture
to the square, and after the model keep the input's own full-resolution luminance and take only the
chroma from the prediction resized back to the picture (YUV BT.601 as OpenCV's COLOR_RGB2YUV).

ONNX goes through torch's TorchScript-based exporter (`dynamo=False`): the dynamo exporter needs
onnxscript, which is not a dependency here. onnx and openvino are imported only when exporting.
"""
import json
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from deoldify_like.colour import IMAGENET_MEAN, IMAGENET_STD
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.generator import any_input_size
from deoldify_like.model_file import load_generator

from .prepare import prepare_for_inference
from .render_factor import render_factor_for
from .square import model_side, render_factor_of_side

__all__ = ['FORMATS', 'GrayToColour', 'exportable', 'metadata', 'export_onnx', 'onnx_to_openvino', 'export_model_file']

FORMATS = ('onnx', 'openvino')
OPSET = 17
INPUT_NAME, OUTPUT_NAME = 'gray', 'rgb'
COLOUR_HANDLING = ("keep input luminance, take chroma: YUV BT.601. Resize the gray picture (Y = 0.299 R + "
                   "0.587 G + 0.114 B) to the model's square, run the model, resize its RGB prediction back to "
                   "the picture's size (bicubic), convert it to YUV BT.601 (OpenCV COLOR_RGB2YUV: U, V centred "
                   "on 0.5) and replace its Y by the original full-resolution luminance.")


class GrayToColour(nn.Module):
    "Gray N×1×H×W in 0..1 -> RGB N×3×H×W in 0..1, with the ImageNet normalisation inside."

    def __init__(self, generator):
        super().__init__()
        self.generator = generator
        self.register_buffer('mean', torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer('std', torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, gray):
        x = (gray.expand(-1, 3, -1, -1) - self.mean) / self.std
        return (self.generator(x) * self.std + self.mean).clamp(0, 1)


def exportable(model):
    "A folded, eval-mode, fp32 CPU copy of `model` wrapped as `GrayToColour` (the caller's model is untouched)."
    folded = prepare_for_inference(model, torch.device('cpu'), channels_last=False, fold=True, copy_model=True)
    return GrayToColour(folded).eval()


def metadata(header, side, dynamic):
    "The key/value pairs every exported file carries, for a network made for `side`-pixel squares."
    return {'deoldify_like.render_factor': str(render_factor_of_side(side)),
            'deoldify_like.input': (f"{INPUT_NAME}: float32 N x 1 x {'H x W' if dynamic else f'{side} x {side}'}, "
                                    "gray (luminance Y, BT.601) in 0..1"),
            'deoldify_like.output': f"{OUTPUT_NAME}: float32 N x 3 x H x W, RGB in 0..1",
            'deoldify_like.size': 'dynamic' if dynamic else f'{side}x{side}',
            'deoldify_like.colour_handling': COLOUR_HANDLING,
            'deoldify_like.model': json.dumps(header or {}, sort_keys=True)}


def export_onnx(model, dest, side, header=None, dynamic=False, wrapped=False):
    """Write `model` (a generator, or `GrayToColour` when `wrapped`) to the ONNX file `dest`, traced on
    `side`-pixel squares (the model square of a render factor, `square.model_side`); returns `dest`."""
    import onnx  # noqa: PLC0415 - optional extra, imported only when exporting

    net = model if wrapped else exportable(model)
    axes = {0: 'n', 2: 'height', 3: 'width'} if dynamic else {0: 'n'}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f'.{dest.name}.partial')
    example = torch.rand(1, 1, side, side)
    with warnings.catch_warnings(), torch.no_grad(), (any_input_size() if dynamic else _nothing()):
        warnings.simplefilter('ignore')  # tracer warnings about shapes turned into constants (sizes are fixed or handled)
        torch.onnx.export(net, (example,), str(tmp), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes}, opset_version=OPSET, dynamo=False)
    proto = onnx.load(str(tmp))
    for key, value in metadata(header, side, dynamic).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = 'deoldify_like'
    onnx.save(proto, str(tmp))
    tmp.replace(dest)
    return dest


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def onnx_to_openvino(onnx_path, dest_xml, meta=None):
    "Convert an ONNX file to OpenVINO IR (`dest_xml` and its .bin), weights kept in fp32; metadata in rt_info."
    import openvino as ov  # noqa: PLC0415 - optional extra

    ov_model = ov.convert_model(str(onnx_path))
    for key, value in (meta or {}).items():
        ov_model.set_rt_info(value, ['deoldify_like', key.split('.', 1)[-1]])
    dest_xml = Path(dest_xml)
    dest_xml.parent.mkdir(parents=True, exist_ok=True)
    ov.save_model(ov_model, str(dest_xml), compress_to_fp16=False)
    return dest_xml


def export_model_file(model_path, fmt, out, render_factor=None, dynamic=False):
    "Export the generator of a model file; returns the written path (the .onnx, or the IR's .xml)."
    if fmt not in FORMATS:
        raise DeoldifyLikeError(f"unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}")
    model, header = load_generator(model_path)
    side = model_side(render_factor_for(header, 'photo', render_factor))
    out = Path(out)
    meta = metadata(header, side, dynamic)
    if fmt == 'onnx':
        return export_onnx(model, out, side, header, dynamic)
    with tempfile.TemporaryDirectory(prefix='deoldify-like-export-') as tmp:
        onnx_path = export_onnx(model, Path(tmp) / 'model.onnx', side, header, dynamic)
        return onnx_to_openvino(onnx_path, out if out.suffix == '.xml' else out.with_suffix('.xml'), meta)
