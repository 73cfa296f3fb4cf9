"""Measure every engine and precision that runs on this device (speed, and the quality rule against
PyTorch fp32 on colour photos) and store the figures where `--engine auto` reads them.

    PYTHONPATH=. python benchmarks/engine_choice.py --model MODEL --photos ../shared/data/photos/bsds500_val \
        [--limit 20] [--render-factor 21] [--device cpu|cuda] [--json deoldify_like/inference/engine_choice.json]

A GPU check (benchmarks/gpu_check.sh) runs the same with `--device cuda` to add the 'cuda' entry
(PyTorch eager and torch.compile, ONNX Runtime's CUDA provider where installed).
"""
import argparse
import json
import sys

from deoldify_like.inference.engine_choice import CHOICE_FILE
from deoldify_like.inference.measure_engines import colour_photos, conditions, measure_engines, write_choice


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', required=True)
    p.add_argument('--photos', required=True)
    p.add_argument('--limit', type=int, default=20, help='colour photos measured (default 20)')
    p.add_argument('--render-factor', type=int, default=21)
    p.add_argument('--device', default='cpu')
    p.add_argument('--bs', type=int, default=2)
    p.add_argument('--json', default=str(CHOICE_FILE), help='choice file to update (default deoldify_like/inference/engine_choice.json)')
    a = p.parse_args(argv)
    photos = colour_photos(a.photos, a.limit)
    if not photos:
        sys.exit(f"{a.photos}: no colour photos")
    rows = measure_engines(a.model, photos, a.render_factor, a.device, a.bs)
    write_choice(rows, conditions(a.model, a.photos, len(photos), a.render_factor, a.device), a.device, a.json)
    print(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
