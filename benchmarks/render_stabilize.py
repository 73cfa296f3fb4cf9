"""`render --stabilize` with a model, measured on colour clips: the model's own colour, the two-way stabiliser
('flow') and the one-way one ('flow-one-way'), each against the colour original (`evaluate_film`, the
measure behind `deoldify-like evaluate --film F --stabilize none,flow,flow-one-way`).

    python benchmarks/render_stabilize.py [CLIP.mp4 ...] --model MODEL [--render-factor N] [--max-frames N]
        [--json benchmarks/results/render_stabilize.json]

Without clips: the 12 DAVIS clips of $DEOLDIFY_LIKE_DATA/video/davis (default ../shared/data), bikes.mp4 and
slow_traffic_small.mp4.
"""
import argparse
import json
import os
import time
from pathlib import Path

from deoldify_like.inference import Colorizer, render_factor_for
from render.evaluate import evaluate_film, parse_stabilize

SETTINGS = 'none,flow,flow-one-way'
COLUMNS = ('psnr', 'ciede2000', 'cdc', 'cdc_truth', 'warp_error', 'warp_error_truth', 'frames_per_s')


def default_clips():
    data = Path(os.environ.get('DEOLDIFY_LIKE_DATA', Path(__file__).resolve().parents[2] / 'shared' / 'data')) / 'video'
    return sorted((data / 'davis').glob('*.mp4')) + [data / 'bikes.mp4', data / 'slow_traffic_small.mp4']


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('clips', nargs='*')
    ap.add_argument('--model', required=True)
    ap.add_argument('--render-factor', type=int, default=None)
    ap.add_argument('--max-frames', type=int, default=None)
    ap.add_argument('--stabilize', default=SETTINGS)
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    colorizer = Colorizer.from_file(a.model, device='cpu')
    rf = a.render_factor or render_factor_for(colorizer, 'film')
    settings = parse_stabilize(a.stabilize)
    rows = []
    for clip in a.clips or default_clips():
        t0 = time.perf_counter()
        _, summaries = evaluate_film(clip, colorizer.colorize, [rf], max_frames=a.max_frames, stabilize=settings)
        for s in summaries:
            rows.append({'clip': Path(clip).name, 'stabilize': s['stabilize'], 'frames': s['count'],
                         **{c: s[c] for c in COLUMNS}})
            print(' '.join(f'{k}={v:.5g}' if isinstance(v, float) else f'{k}={v}' for k, v in rows[-1].items()), flush=True)
        print(f'{Path(clip).name}: {time.perf_counter() - t0:.0f} s', flush=True)
    doc = {'model': Path(a.model).name, 'render_factor': rf, 'max_frames': a.max_frames, 'rows': rows,
           'command': 'python benchmarks/render_stabilize.py ' + ' '.join(argv or [])}
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=1) + '\n')


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
