"""What `render --stabilize flow` (two-way) and `--stabilize flow-one-way` cost: each stabiliser's own frames/s
beside the model's at a render factor, measured in one run on the same frames, and the end-to-end frames/s
of `render_film` without a stabiliser and with each.

Speed does not depend on the weights, so without a trained model a freshly built generator of the same
architecture (random weights; default resnet34, nf_factor 1.0, as the long run's model) gives the figures.

    python benchmarks/stabilize_cost.py FILM [--model M] [--frames 48] [--render-factor 21]
        [--json benchmarks/results/stabilize_cost.json]

`--alone`: only the stabilisers alone beside the model, no render end to end.
"""
import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.inference import Colorizer, model_squares
from deoldify_like.inference.measure_engines import model_only_fps
from deoldify_like.model_file import save_generator
from deoldify_like.stabilizers import make_stabilizer, stabilized_rgb
from render.bench import _first_lumas
from render.film import render_film

MODES = ('flow', 'flow-one-way')


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('film')
    ap.add_argument('--model', default=None)
    ap.add_argument('--arch', default='resnet34')
    ap.add_argument('--frames', type=int, default=48)
    ap.add_argument('--render-factor', type=int, default=21)
    ap.add_argument('--alone', action='store_true')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        model = a.model
        if model is None:
            torch.manual_seed(0)
            cfg = GeneratorConfig(arch=a.arch)
            model = save_generator(Path(tmp) / 'random.safetensors', build_generator(cfg), cfg)
        colorizer = Colorizer.from_file(model, device='cpu')
        lumas = _first_lumas(a.film, a.frames)
        model_fps = model_only_fps(colorizer, model_squares(lumas, a.render_factor, colorizer.fit))
        preds = colorizer.predict(lumas, a.render_factor)
        alone = {}
        for mode in MODES:
            t0 = time.perf_counter()
            for _ in stabilized_rgb(make_stabilizer(mode), ((luma, pred, None) for luma, pred in zip(lumas, preds))):
                pass
            alone[mode] = len(lumas) / (time.perf_counter() - t0)
        result = dict(film=Path(a.film).name, frames=a.frames, render_factor=a.render_factor,
                      model=a.model or f'random {a.arch} nf_factor 1.0', precision=colorizer.precision, bs=colorizer.bs,
                      model_only_fps=model_fps, **{f'{m}_alone_fps': fps for m, fps in alone.items()},
                      **{f'{m}_share_of_model_time': model_fps / fps for m, fps in alone.items()},
                      command='python benchmarks/stabilize_cost.py ' + ' '.join(argv or []))
        if not a.alone:
            ends = {}
            for mode in ('none',) + MODES + ('none',):  # none twice (before and after): the machine's drift
                t0 = time.perf_counter()
                render_film(colorizer, a.film, Path(tmp) / f'{mode}.mp4', a.render_factor, limit=a.frames, stabilize=mode)
                ends.setdefault(mode, []).append(a.frames / (time.perf_counter() - t0))
            none_fps = sum(ends['none']) / 2
            result.update(render_none_fps=none_fps, render_none_fps_each=ends['none'],
                          **{f'render_{m}_fps': ends[m][0] for m in MODES},
                          **{f'render_{m}_cost': 1 - ends[m][0] / none_fps for m in MODES})
    print(json.dumps(result, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + '\n')


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
