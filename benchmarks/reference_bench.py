"""Colour from a reference, measured: each colour clip's true first frame is the reference, its gray frames
are coloured (a) by carrying the reference along the motion (deoldify_like.reference_colour), (b) by the
model alone, (c) by copying frame 0's chroma onto every frame without motion; each against the truth.

PSNR and CIEDE2000 are means over frames 1..N-1 (frame 0 is the reference itself and left out); CDC and
warp error (flow on the gray input) over all frames. The fallback of (a) and the colour of (b) is a model
file's prediction (`--model`), or no colour at all (gray) without one.

    python benchmarks/reference_bench.py [CLIP.mp4 ...] [--model MODEL] [--render-factor N]
        [--set decay=0.99 ...] [--json benchmarks/results/reference_davis.json]

Without clips: the 12 clips of $DEOLDIFY_LIKE_DATA/video/davis (default ../shared/data). `TUNE` are the six
the settings were chosen on; the other six are the check.
"""
import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

from deoldify_like.colour import gray_to_rgb, rgb_to_gray, rgb_to_yuv
from deoldify_like.colour_match import encoder_features, transfer_colour
from deoldify_like.metrics import ciede2000, psnr
from deoldify_like.reference_colour import Settings, blend_frame
from deoldify_like.video import iter_frames
from render.reference_eval import measure_reference_film as measure_clip  # the one measure, shared with `evaluate`

TUNE = ('bmx-trees', 'camel', 'cows', 'drift-straight', 'libby', 'parkour')


def data_dir():
    root = Path(__file__).resolve().parents[1]
    return Path(os.environ.get('DEOLDIFY_LIKE_DATA', root.parent / 'shared' / 'data'))


def model_fallback(path, render_factor):
    "The model's prediction for one luma frame (via the one inference path), and the model."
    from deoldify_like.inference import Colorizer  # noqa: PLC0415
    colorizer = Colorizer.from_file(path, render_factor=render_factor, device='cpu', precision='fp32')
    return (lambda luma: colorizer.predict([luma])[0]), colorizer.model


def measure_photo_pair(path, gap, fallback, model_features=None):
    """A colour photo of the scene (frame 0) and a gray photo to colour (frame `gap`): PSNR and CIEDE2000 of
    the feature-matched transfer (luminance patches; the generator's encoder when given), of the fallback
    alone and of frame 0's chroma copied as it is."""
    frames = {i: rgb for i, rgb in iter_frames(path) if i in (0, gap)}
    photo, truth = frames[0], frames[gap]
    luma = rgb_to_gray(truth)
    pred = np.asarray(fallback(luma))
    outputs = {'transfer': transfer_colour(luma, photo, pred), 'model': blend_frame(luma, pred, None),
               'static': blend_frame(luma, pred, (rgb_to_yuv(photo)[..., 1:], np.ones(luma.shape, np.float32)))}
    if model_features is not None:
        outputs['transfer_encoder'] = transfer_colour(luma, photo, pred, model_features)
    row = {'clip': Path(path).stem, 'gap': gap}
    for m, out in outputs.items():
        row[f'{m}_psnr'], row[f'{m}_ciede2000'] = psnr(out, truth), ciede2000(out, truth)
    return row


def table(rows):
    head = '| clip | set | PSNR ref | PSNR model | PSNR static | dE00 ref | dE00 model | dE00 static | CDC ref | CDC model | warp ref | warp model | warp truth |'
    lines = [head, '|' + '---|' * (head.count('|') - 1)]
    for r in rows:
        name = r['clip'].removeprefix('davis_')
        lines.append(f"| {name} | {'tune' if name in TUNE else 'check'} | {r['reference_psnr']:.2f} | "
                     f"{r['model_psnr']:.2f} | {r['static_psnr']:.2f} | {r['reference_ciede2000']:.2f} | "
                     f"{r['model_ciede2000']:.2f} | {r['static_ciede2000']:.2f} | {r['reference_cdc']:.4f} | "
                     f"{r['model_cdc']:.4f} | {r['reference_warp_error']:.5f} | {r['model_warp_error']:.5f} | "
                     f"{r['warp_error_truth']:.5f} |")
    return '\n'.join(lines)


def summary(rows):
    out = {}
    for subset, keep in (('all', lambda n: True), ('tune', lambda n: n in TUNE), ('check', lambda n: n not in TUNE)):
        sel = [r for r in rows if keep(r['clip'].removeprefix('davis_'))]
        if sel:
            out[subset] = {k: float(np.mean([r[k] for r in sel])) for k in sel[0] if k not in ('clip', 'shot_starts')}
            out[subset]['clips'] = len(sel)
            out[subset]['reference_beats_both'] = sum(r['reference_psnr'] > max(r['model_psnr'], r['static_psnr'])
                                                      for r in sel)
    return out


def photo_main(clips, args, fallback, model):
    features = encoder_features(model) if model is not None else None
    rows = [measure_photo_pair(c, args.photos, fallback, features) for c in clips]
    methods = [k[:-5] for k in rows[0] if k.endswith('_psnr')]
    print('| clip | ' + ' | '.join(f'PSNR {m} | dE00 {m}' for m in methods) + ' |')
    print('|---|' + '---|---|' * len(methods))
    for r in rows + [dict({'clip': 'mean'}, **{k: float(np.mean([x[k] for x in rows])) for k in rows[0]
                                              if k not in ('clip',)})]:
        print(f"| {r['clip'].removeprefix('davis_')} | "
              + ' | '.join(f"{r[m + '_psnr']:.2f} | {r[m + '_ciede2000']:.2f}" for m in methods) + ' |')
    if args.json:
        Path(args.json).write_text(json.dumps({'command': 'python benchmarks/reference_bench.py '
                                               + ' '.join(sys.argv[1:]), 'model': args.model or 'none (gray)',
                                               'rows': rows}, indent=1) + '\n')
    return 0


def _value(text):
    try:
        return json.loads(text)
    except ValueError:
        return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('clips', nargs='*')
    ap.add_argument('--model', help='model file for the fallback and the model-alone row (default: gray)')
    ap.add_argument('--render-factor', type=int, default=None)
    ap.add_argument('--subset', choices=('all', 'tune', 'check'), default='all')
    ap.add_argument('--set', action='append', default=[], metavar='KEY=VALUE', help='a propagation setting')
    ap.add_argument('--ciede-every', type=int, default=1, help='CIEDE2000 on every N-th frame (it is slow)')
    ap.add_argument('--frames', type=int, help='only the first N frames of each clip')
    ap.add_argument('--photos', type=int, metavar='GAP',
                    help='measure photo colour transfer instead: frame 0 as the colour photo, frame GAP to colour')
    ap.add_argument('--json')
    args = ap.parse_args(argv)
    clips = args.clips or sorted(str(p) for p in (data_dir() / 'video' / 'davis').glob('*.mp4'))
    if args.subset != 'all':
        clips = [c for c in clips if (Path(c).stem.removeprefix('davis_') in TUNE) == (args.subset == 'tune')]
    settings = Settings(**{k: _value(v) for k, v in (s.split('=', 1) for s in args.set)})
    fallback, model = model_fallback(args.model, args.render_factor) if args.model else (gray_to_rgb, None)
    if args.photos:
        return photo_main(clips, args, fallback, model)
    rows = []
    for clip in clips:
        rows.append(measure_clip(clip, fallback, settings, args.ciede_every, args.frames))
        r = rows[-1]
        print(f"{r['clip']:28s} ref {r['reference_psnr']:6.2f}  model {r['model_psnr']:6.2f}  "
              f"static {r['static_psnr']:6.2f}  ({r['seconds_per_frame']:.2f} s/frame)", flush=True)
    print(table(rows))
    result = {'command': 'python benchmarks/reference_bench.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
              'model': args.model or 'none (gray fallback)', 'settings': {k: v for k, v in vars(settings).items()
                                                                          if not callable(v)},
              'cpu': '2 cores, AVX-512, shared with other jobs', 'rows': rows, 'summary': summary(rows)}
    print(json.dumps(result['summary'], indent=1, default=str))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=str) + '\n')
    return 0 if all(not math.isnan(r['reference_psnr']) for r in rows) else 1


if __name__ == '__main__':
    raise SystemExit(main())
