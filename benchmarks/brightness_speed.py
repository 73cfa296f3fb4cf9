"""Frames/s of the brightness deflicker alone (`BrightnessDeflicker`, its defaults unless `--bright k=v,...`) on
the luminance of films with the bench's brightness disturbance, the planes decoded beforehand, so only the
deflicker is timed. Each film `--repeat` times; the best run counts (the CPU is shared).

    python benchmarks/brightness_speed.py FILM [FILM...] [--frames 120] [--repeat 2] [--json OUT.json]
"""
import argparse
import json
import os
import time
from pathlib import Path

from deoldify_like.brightness import deflicker_brightness
from deoldify_like.flicker import BrightnessDisturbance
from deoldify_like.inference.measure_engines import cpu_name
from deflicker_bench import decoded, option_values


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('films', nargs='+')
    ap.add_argument('--frames', type=int, default=120)
    ap.add_argument('--repeat', type=int, default=2)
    ap.add_argument('--bright', default='', help='BrightnessDeflicker options, k=v,...')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    disturb, rows = BrightnessDisturbance(0), []
    for film in a.films:
        planes = [disturb(i, y) for i, (y, _, _) in enumerate(decoded(film, a.frames))]
        best = 0.0
        for _ in range(a.repeat):
            t0 = time.perf_counter()
            out = list(deflicker_brightness(planes, **option_values(a.bright)))
            best = max(best, len(out) / (time.perf_counter() - t0))
        rows.append(dict(film=Path(film).name, frames=len(planes), size=list(planes[0].shape), frames_per_s=best))
        print(f'{Path(film).name}: {len(planes)} frames {planes[0].shape[1]}x{planes[0].shape[0]}, {best:.1f} frames/s')
    if a.json:
        Path(a.json).write_text(json.dumps(dict(rows=rows, options=a.bright, cpu=cpu_name(),
                                                threads=os.environ.get('OMP_NUM_THREADS'),
                                                command='python benchmarks/brightness_speed.py ' + ' '.join(argv or [])),
                                           indent=1))


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
