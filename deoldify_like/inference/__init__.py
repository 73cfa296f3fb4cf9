"""The model-side path from a gray picture to its colours, shared by the renderer (`render/`), the stages'
checkpoint scoring (`train_stages/compare.py`), the web app and the notebooks:

- `render_factor`: the render-factor rule, `render_factor_for(model, kind)`;
- `square`: what a render factor means in pixels and how a picture fits the model's square;
- `precision`: the precision a device runs and its autocast;
- `prepare`: a trained generator made ready for inference (folded, eval, layout);
- `engines`, `engine_choice`: the engines that run it and `--engine auto`'s measured pick;
- `colorizer`: `Colorizer`, pictures in, colour pictures out, through one engine;
- `export`: the generator as one ONNX / OpenVINO network (the `export` command is render/export.py);
- `measure_engines`: the speed and quality figures `engine_choice` reads.
"""
from .colorizer import DEFAULT_BS, ENGINE_CHOICES, Colorizer, OutOfMemory, is_out_of_memory
from .engine_choice import pick as pick_engine
from .engines import ENGINE_PRECISIONS, ENGINES, make_engine
from .export import export_model_file, export_onnx
from .precision import DEFAULT_PRECISION, PRECISION_CHOICES, PRECISIONS, native_bf16, resolve_precision
from .prepare import fold_spectral_norm, prepare_for_inference
from .render_factor import (FILM_RENDER_FACTOR, PHOTO_RENDER_FACTOR, parse_sweep, render_factor_for,
                            render_factor_for_size)
from .square import DEFAULT_FIT, RENDER_FACTOR_RANGE, crop_prediction, fit_to_square, model_side, model_squares

__all__ = ['Colorizer', 'OutOfMemory', 'is_out_of_memory', 'DEFAULT_BS', 'ENGINE_CHOICES', 'pick_engine',
           'ENGINES', 'ENGINE_PRECISIONS', 'make_engine', 'export_model_file', 'export_onnx',
           'PRECISIONS', 'PRECISION_CHOICES', 'DEFAULT_PRECISION', 'native_bf16', 'resolve_precision',
           'prepare_for_inference', 'fold_spectral_norm',
           'PHOTO_RENDER_FACTOR', 'FILM_RENDER_FACTOR', 'render_factor_for', 'render_factor_for_size', 'parse_sweep',
           'DEFAULT_FIT', 'RENDER_FACTOR_RANGE', 'model_side', 'model_squares', 'fit_to_square', 'crop_prediction']
