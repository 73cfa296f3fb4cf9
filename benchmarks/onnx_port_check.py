"""An exported ONNX file run by plain onnxruntime (examples/onnx_colorize.py: onnxruntime, numpy, Pillow,
OpenCV only) against `render`'s output on the same photos: mean CIEDE2000 per photo.

    PYTHONPATH=. python benchmarks/onnx_port_check.py --model MODEL --photos ../shared/data/photos/bsds500_val \
        --render-factor 21 [--engine auto] [--limit N] [--work /tmp/port] [--json docs/figures/onnx_port.json]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from deoldify_like.colour import rgb_to_lab
from deoldify_like.images import load_image
from deoldify_like.metrics import ciede2000_lab

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', required=True)
    p.add_argument('--photos', required=True)
    p.add_argument('--render-factor', type=int, default=21)
    p.add_argument('--engine', default='auto', help="render's engine (auto: what render does by default)")
    p.add_argument('--precision', default='auto')
    p.add_argument('--limit', type=int)
    p.add_argument('--work', default='/tmp/onnx_port_check')
    p.add_argument('--json')
    a = p.parse_args(argv)
    work = Path(a.work)
    photos = sorted(Path(a.photos).glob('*.jpg'))[:a.limit]
    onnx = work / 'model.onnx'
    t = {}
    start = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'train_stages', 'export', '--model', a.model, '--format', 'onnx',
                    '--out', str(onnx), '--render-factor', str(a.render_factor)], check=True)
    t['export_s'] = time.perf_counter() - start
    start = time.perf_counter()
    r = subprocess.run([sys.executable, str(ROOT / 'examples' / 'onnx_colorize.py'), str(onnx), *map(str, photos),
                        '--out', str(work / 'port')], env={'PATH': '/usr/bin:/bin'})  # no PYTHONPATH: nothing of this package
    t['plain_onnxruntime_s'] = time.perf_counter() - start
    if r.returncode:
        sys.exit('the plain onnxruntime script failed')
    start = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'train_stages', 'render', *map(str, photos), '--model', a.model, '--out',
                    str(work / 'render'), '--render-factor', str(a.render_factor), '--engine', a.engine,
                    '--precision', a.precision, '--overwrite'], check=True)
    t['render_s'] = time.perf_counter() - start
    des = {}
    for f in photos:
        x, y = load_image(work / 'port' / f.name).rgb, load_image(work / 'render' / f.name).rgb
        des[f.name] = round(ciede2000_lab(rgb_to_lab(x), rgb_to_lab(y)), 4)
    v = np.array(list(des.values()))
    out = {'photos': len(des), 'render_factor': a.render_factor, 'render_engine': a.engine, 'render_precision': a.precision,
           'mean_ciede2000': round(float(v.mean()), 4), 'max_ciede2000': round(float(v.max()), 4),
           'photos_within_1': int((v < 1).sum()), 'seconds': {k: round(s, 1) for k, s in t.items()}, 'per_photo': des}
    print(json.dumps({k: v for k, v in out.items() if k != 'per_photo'}, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + '\n')


if __name__ == '__main__':
    main()
