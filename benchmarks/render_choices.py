"""Measure the renderer's two default choices on colour photos with a trained model:
- the fit of non-square pictures: 'stretch' (the reference) vs 'pad' (keeps the aspect ratio);
- the precision: fp32 vs bf16 autocast (bf16 may be the default only if it changes PSNR by < 0.1 dB and
  dCF by < 0.5).
Each colour photo is turned to gray, colorized, and compared with the original (render.evaluate).

    PYTHONPATH=. python benchmarks/render_choices.py --model MODEL --images ../shared/data/photos/bsds500_val \
        [--render-factors 35] [--limit N] [--json out/render_choices.json]
"""
import argparse
import json
import time
from pathlib import Path

from deoldify_like.images import find_photos
from deoldify_like.inference import Colorizer
from render.evaluate import evaluate_photos

COLUMNS = ('psnr', 'delta_cf', 'cf_output', 'cf_truth', 'ssim', 'ciede2000')


def measure(model, images, render_factors, limit=None, configs=(('stretch', 'fp32'), ('pad', 'fp32'),
                                                                  ('stretch', 'bf16'), ('pad', 'bf16'))):
    files = find_photos(images)[:limit]
    results = []
    for fit, precision in configs:
        col = Colorizer.from_file(model, fit=fit, device='cpu', precision=precision)
        start = time.perf_counter()
        _, summaries, _, _ = evaluate_photos(files, col.colorize, render_factors, bs=2)
        seconds = time.perf_counter() - start
        for s in summaries:
            row = {'fit': fit, 'precision': precision, 'render_factor': s['render_factor'], 'count': s['count'],
                   **{k: round(float(s[k]), 4) for k in COLUMNS}, 'seconds': round(seconds, 1)}
            print(row, flush=True)
            results.append(row)
    return results


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--model', required=True)
    p.add_argument('--images', required=True)
    p.add_argument('--render-factors', default='35')
    p.add_argument('--limit', type=int)
    p.add_argument('--json')
    a = p.parse_args()
    rows = measure(a.model, a.images, [int(x) for x in a.render_factors.split(',')], a.limit)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(rows, indent=1))


if __name__ == '__main__':
    main()
