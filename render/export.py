"""The `export` command (the export itself is deoldify_like/inference/export.py, which the engines share)."""
from typing import Annotated

from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.inference.export import FORMATS, export_model_file
from deoldify_like.progress import say


def export(model: Annotated[str, "model file (what `promote` writes)", dict(opt=True, required=True)],
           format: Annotated[str, "onnx, or openvino (IR: .xml + .bin)", dict(opt=True, required=True, choices=FORMATS)],  # noqa: A002
           out: Annotated[str, "file to write (.onnx, or .xml for openvino)", dict(opt=True, required=True)],
           render_factor: int = None,  # the fixed input square is render_factor*16 px; default: the model file's, else 35
           dynamic: bool = False):  # leave the input's height and width open (any multiple of 16 is safe)
    "Export a generator to ONNX or OpenVINO: gray N×1×H×W (0..1) in, RGB (0..1) out, metadata inside."
    try:
        path = export_model_file(model, format, out, render_factor, dynamic)
    except ImportError as e:
        raise DeoldifyLikeError(f"export to {format} needs the optional packages of the 'engines' extra "
                                f"(pip install 'deoldify-like[engines]'): {e}") from None
    say(f"export: wrote {path}")
    print(path)
    return 0
