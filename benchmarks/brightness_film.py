"""Brightness deflicker on a real old film: the brightness-flicker figure before and after (`BrightnessDeflicker`
and FFmpeg's `deflicker` filter), the frame means, and a frame grid at the frames given (cuts, flashes):
input | BrightnessDeflicker | FFmpeg deflicker, one row per frame, as a small JPEG.

    python benchmarks/brightness_film.py FILM --frames-at 43,44,45,131,134,309,310 \
        [--grid docs/figures/brightness_grid.jpg] [--json benchmarks/results/brightness_film.json]
"""
import argparse
import itertools
import json
from pathlib import Path

import cv2
import numpy as np

from deoldify_like.brightness import BrightnessDeflicker
from deoldify_like.film_metrics import BrightnessFlickerMeter
from deflicker_bench import _Clock, bright, decoded, ffmpeg_deflicker


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('film')
    ap.add_argument('--frames-at', default='')
    ap.add_argument('--ffmpeg', default='5:am')
    ap.add_argument('--grid', default=None)
    ap.add_argument('--height', type=int, default=120, help='height of each picture of the grid')
    ap.add_argument('--json', default=None)
    ap.add_argument('--window', type=int, default=None, help="BrightnessDeflicker's window (default: its own)")
    a = ap.parse_args(argv)
    at = [int(x) for x in a.frames_at.split(',') if x]
    src, s1, s2 = itertools.tee(decoded(a.film), 3)
    ours, ff = _Clock(), _Clock()
    probe = BrightnessDeflicker(window=a.window)  # None: its own
    streams = zip(src, bright(s1, ours, window=a.window), ffmpeg_deflicker(s2, ff, *a.ffmpeg.split(':')))
    meter, rows, n = BrightnessFlickerMeter(streams=3), {}, 0
    for planes in streams:
        ys = [p[0] for p in planes]
        meter.add(ys[0], ys)
        if n in at:
            rows[n] = ys
        probe.push(ys[0])
        n += 1
    names = ('input', 'BrightnessDeflicker', f'ffmpeg deflicker {a.ffmpeg}')
    result = dict(film=Path(a.film).name, frames=n, cuts=probe.cuts, events=probe.events,
                  **{name: v for name, v in zip(names, meter.values)},
                  means={name: m for name, m in zip(names, meter.means)},
                  frames_per_s=dict(ours=n / ours.seconds, ffmpeg=n / ff.seconds),
                  command='python benchmarks/brightness_film.py ' + ' '.join(argv or []))
    print(json.dumps({k: v for k, v in result.items() if k != 'means'}, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=1) + '\n')
    if a.grid and rows:
        lines = []
        for i in sorted(rows):
            pics = [cv2.resize(y, (round(y.shape[1] * a.height / y.shape[0]), a.height), interpolation=cv2.INTER_AREA)
                    for y in rows[i]]
            row = np.concatenate([np.pad(p, ((2, 2), (2, 2)), constant_values=255) for p in pics], axis=1)
            cv2.putText(row, f'{i}', (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA)
            lines.append(row)
        cv2.imwrite(a.grid, np.concatenate(lines), [cv2.IMWRITE_JPEG_QUALITY, 80])


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
