"""Where the error of colour from a reference is: the propagation rerun with the truth put into one of its
sources at a time (an oracle), on clips whose true first frame is the reference. The gain of each oracle
over the propagation as it is (`none`) bounds what a better version of that source could give.

- `none`: the propagation as it is (reference_colour.colorize_with_references; equals reference_bench.py).
- `no-check`: the flow trusted everywhere (no forward-backward or photometric check; nothing replaced).
- `match`: where the flow fails, the keyframe match's colour is the truth (its confidence as it is).
- `fill`: the edge-aware fill's colour is the truth (its support as it is).
- `match+fill`: both.
- `replacement`: wherever the flow fails, the truth, fully confident (a perfect match everywhere).
- `fallback`: the fallback (the generator's colour where the confidence is low) is the truth.

PSNR (RGB) is the mean over frames 1..N-1, as in reference_bench.py. Single-shot clips only (the oracle
carrier counts frames from the keyframe, frame 0).

    python benchmarks/reference_ceiling.py [CLIP.mp4 ...] [--model MODEL] [--oracles none,match,...]
        [--subset tune|check|all] [--jobs 2] [--json benchmarks/results/reference_ceiling.json]
"""
import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from deoldify_like.colour import gray_to_rgb, rgb_to_gray
from deoldify_like.metrics import psnr
from deoldify_like.reference_colour import (ChromaCarrier, Reference, Settings, chroma_at, colorize_with_references,
                                            scan_film)
from deoldify_like.video import iter_frames
from reference_bench import TUNE, data_dir, model_fallback

ORACLES = ('none', 'no-check', 'match', 'fill', 'match+fill', 'replacement', 'fallback')


class TruthCarrier(ChromaCarrier):
    "A carrier forward from frame 0 that takes the truth's chroma in the source its `oracle` names."

    def __init__(self, settings, truth, oracle):
        super().__init__(settings)
        self.truth, self.oracle = truth, oracle

    def _true_chroma(self, gray):  # the frame this step colours: steps count from the keyframe, frame 0
        return chroma_at(self.truth[self.steps + 1], gray.shape[::-1])

    def follow(self, gray):
        followed = super().follow(gray)
        if followed is not None and self.oracle == 'no-check':
            followed = (np.ones_like(followed[0]),) + followed[1:]
        return followed

    def match(self, gray, failed):
        if self.oracle == 'replacement':
            return self._true_chroma(gray), np.ones(gray.shape, np.float32)
        matched, confidence = super().match(gray, failed)
        return (self._true_chroma(gray) if self.oracle in ('match', 'match+fill') else matched), confidence

    def fill(self, gray, carried, weight):
        filled, support = super().fill(gray, carried, weight)
        return (self._true_chroma(gray) if self.oracle in ('fill', 'match+fill') else filled), support


def measure(clip, model, render_factor, oracles, settings):
    "PSNR of each oracle on one clip, with the reference at frame 0."
    frames = [rgb for _, rgb in iter_frames(clip)]
    lumas = [rgb_to_gray(f) for f in frames]
    if len(scan_film(lumas, [], settings.work_side).shot_starts) != 1:
        raise SystemExit(f'{clip}: more than one shot; the oracles need a single shot')
    fallback = model_fallback(model, render_factor)[0] if model else gray_to_rgb
    predictions = [np.asarray(fallback(luma)) for luma in lumas]
    row = {'clip': Path(clip).stem.removeprefix('davis_'), 'frames': len(frames)}
    for oracle in oracles:
        start = time.perf_counter()
        given = iter(frames if oracle == 'fallback' else predictions)
        out = colorize_with_references(lambda: iter(lumas), [Reference(frames[0], 0)], lambda _: next(given),
                                       settings, lambda s: TruthCarrier(s, frames, oracle))
        row[oracle] = float(np.mean([psnr(o, t) for n, (o, t) in enumerate(zip(out, frames)) if n > 0]))
        print(f"{row['clip']:20s} {oracle:12s} {row[oracle]:6.2f} dB  ({time.perf_counter() - start:.0f} s)",
              flush=True)
    return row


def table(rows, oracles):
    lines = ['| clip | set | ' + ' | '.join(oracles) + ' |', '|---|---|' + '---|' * len(oracles)]
    for r in rows:
        lines.append(f"| {r['clip']} | {'tune' if r['clip'] in TUNE else 'check'} | "
                     + ' | '.join(f'{r[o]:.2f}' for o in oracles) + ' |')
    for name, keep in (('mean (all)', lambda c: True), ('mean (tune)', lambda c: c in TUNE),
                       ('mean (check)', lambda c: c not in TUNE)):
        sel = [r for r in rows if keep(r['clip'])]
        if sel:
            lines.append(f'| **{name}** ({len(sel)}) | | '
                         + ' | '.join(f'{np.mean([r[o] for r in sel]):.2f}' for o in oracles) + ' |')
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('clips', nargs='*')
    ap.add_argument('--model', help='model file for the fallback (default: gray)')
    ap.add_argument('--render-factor', type=int, default=None)
    ap.add_argument('--oracles', default=','.join(ORACLES))
    ap.add_argument('--subset', choices=('all', 'tune', 'check'), default='all')
    ap.add_argument('--jobs', type=int, default=1, help='clips measured at once, each in its own process')
    ap.add_argument('--json')
    args = ap.parse_args(argv)
    oracles = args.oracles.split(',')
    unknown = sorted(set(oracles) - set(ORACLES))
    if unknown:
        ap.error(f"unknown oracle {', '.join(unknown)}; choose from {', '.join(ORACLES)}")
    clips = args.clips or sorted(str(p) for p in (data_dir() / 'video' / 'davis').glob('*.mp4'))
    if args.subset != 'all':
        clips = [c for c in clips if (Path(c).stem.removeprefix('davis_') in TUNE) == (args.subset == 'tune')]
    with ProcessPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(partial(measure, model=args.model, render_factor=args.render_factor, oracles=oracles,
                                     settings=Settings()), clips))
    print(table(rows, oracles))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({
            'command': 'python benchmarks/reference_ceiling.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
            'model': args.model or 'none (gray fallback)', 'rows': rows}, indent=1) + '\n')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
