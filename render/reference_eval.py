"""Colour from a reference, measured on a colour film (`evaluate --film FILM --reference first` and
benchmarks/reference_bench.py): the film's true first frame is the reference, its gray frames are coloured
  reference: by carrying the reference along the motion (deoldify_like.reference_colour), the fallback's
             colour where it is not trusted;
  model:     by the fallback alone (the model's prediction, or gray);
  static:    by frame 0's chroma copied onto every frame without motion;
each against the truth. PSNR and CIEDE2000 are means over frames 1..N-1 (frame 0 is the reference itself and
left out; CIEDE2000 on every `de_every`-th of them); CDC and warp error (flow on the gray input) over all
frames. The film's frames are held in memory (a clip, or `limit` frames of a film).
"""
import time
from pathlib import Path

import numpy as np

from deoldify_like.colour import rgb_to_gray, rgb_to_yuv
from deoldify_like.film_metrics import CDCMeter, WarpErrorMeter
from deoldify_like.metrics import ciede2000, psnr
from deoldify_like.reference_colour import Reference, blend_frame, colorize_with_references, scan_film
from deoldify_like.video import iter_frames

METHODS = ('reference', 'model', 'static')


def measure_reference_film(path, fallback, settings=None, de_every=1, limit=None):
    """One row of figures for colour film `path`: `{METHOD}_psnr`, `_ciede2000`, `_cdc`, `_warp_error` for each
    of `METHODS`, `warp_error_truth`, the clip's name, frame count, shot starts and the propagation's seconds per
    frame. `fallback(luma)`: uint8 RGB of any size for a luminance frame (the model's prediction); `settings`: a
    `reference_colour.Settings` (None: the defaults)."""
    frames = [rgb for i, rgb in iter_frames(path) if limit is None or i < limit]
    lumas = [rgb_to_gray(f) for f in frames]
    predictions = [np.asarray(fallback(luma)) for luma in lumas]
    cache = iter(predictions)
    t0 = time.perf_counter()
    carried = list(colorize_with_references(lambda: iter(lumas), [Reference(frames[0], 0)], lambda _: next(cache),
                                            settings))
    seconds = (time.perf_counter() - t0) / len(frames)
    static = (rgb_to_yuv(frames[0])[..., 1:], np.ones(lumas[0].shape, np.float32))  # frame 0's chroma, everywhere
    outputs = {'reference': carried,
               'model': [blend_frame(luma, p, None) for luma, p in zip(lumas, predictions)],
               'static': [blend_frame(luma, p, static) for luma, p in zip(lumas, predictions)]}
    warp = WarpErrorMeter(streams=len(METHODS) + 1)
    cdc = {m: CDCMeter() for m in METHODS}
    for t, luma in enumerate(lumas):
        warp.add(luma, [outputs[m][t] for m in METHODS] + [frames[t]])
        for m in METHODS:
            cdc[m].add(outputs[m][t])
    row = {'clip': Path(path).stem, 'frames': len(frames), 'seconds_per_frame': seconds,
           'shot_starts': scan_film(iter(lumas), []).shot_starts,
           'warp_error_truth': warp.values[-1]}
    for i, m in enumerate(METHODS):
        row[f'{m}_psnr'] = float(np.mean([psnr(outputs[m][t], frames[t]) for t in range(1, len(frames))]))
        row[f'{m}_ciede2000'] = float(np.mean([ciede2000(outputs[m][t], frames[t])
                                               for t in range(1, len(frames), de_every)]))
        row[f'{m}_cdc'] = cdc[m].value
        row[f'{m}_warp_error'] = warp.values[i]
    return row


def method_rows(row, render_factor=None):
    "The figures of `measure_reference_film` as one row per method (for evaluate's table and JSON)."
    return [dict(method=m, render_factor=render_factor, count=row['frames'], psnr=row[f'{m}_psnr'],
                 ciede2000=row[f'{m}_ciede2000'], cdc=row[f'{m}_cdc'], warp_error=row[f'{m}_warp_error'],
                 warp_error_truth=row['warp_error_truth']) for m in METHODS]
