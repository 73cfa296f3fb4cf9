"""The deflicker test bench: CDC, warp error, PSNR and dCF of a colour film, of the same film with its
chroma disturbed frame by frame (deoldify_like.flicker), and of both after the chroma stabiliser at each
strength; plus the stabiliser's frames/s. Everything is computed on the decoded YUV 4:2:0 planes, streamed
(the film is never held in memory), exactly as `deoldify-like deflicker` stabilises them; RGB for the
measures is converted by FFmpeg (swscale) from the planes, as a player would.

    python benchmarks/deflicker_bench.py FILM [FILM...] [--strengths 0.5,0.7,0.8,0.9] [--frames N]
        [--json benchmarks/results/deflicker.json]
"""
import argparse
import json
import math
import time
from pathlib import Path

import av
import numpy as np

from deoldify_like.flicker import ChromaDisturbance
from deoldify_like.metrics import CDCMeter, WarpErrorMeter, colourfulness, psnr
from deoldify_like.progress import progress
from deoldify_like.stabilize import DEFAULT_PRESET, WORK_SIDE, ChromaStabilizer, stabilize_planes
from deoldify_like.video import probe_video


def _split(a, h):
    "yuv420p ndarray (H*3/2, W) -> Y, U, V."
    w = a.shape[1]
    y = a[:h]
    uv = a[h:].reshape(-1)
    n = (h // 2) * (w // 2)
    return y, uv[:n].reshape(h // 2, w // 2), uv[n:].reshape(h // 2, w // 2)


def _rgb(y, u, v):
    a = np.concatenate([y, u.reshape(-1, y.shape[1]), v.reshape(-1, y.shape[1])])
    return av.VideoFrame.from_ndarray(a, format='yuv420p').to_ndarray(format='rgb24')


class _Stream:
    def __init__(self, name):
        self.name, self.cdc, self.psnr, self.cf, self.n, self.seconds = name, CDCMeter(), 0.0, 0.0, 0, 0.0

    def add(self, rgb, truth):
        self.cdc.add(rgb)
        p = psnr(rgb, truth)
        self.psnr += 99.0 if math.isinf(p) else p  # identical frames: capped at 99 dB for the mean
        self.cf += colourfulness(rgb)
        self.n += 1


def bench_film(path, strengths, frames=None, seed=0, preset=DEFAULT_PRESET, work_side=WORK_SIDE, global_fill=True):
    total = probe_video(path).frames
    total = min(total, frames) if frames else total
    disturb = ChromaDisturbance(seed)
    names = ['original', 'disturbed'] + [f'{src} flow {s:g}' for s in strengths for src in ('disturbed', 'original')]
    streams = [_Stream(n) for n in names]
    stabs = [ChromaStabilizer(s, work_side=work_side, preset=preset, global_fill=global_fill) for s in strengths for _ in range(2)]
    warp = WarpErrorMeter(streams=len(streams))
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        for i, frame in enumerate(progress(c.decode(vs), total=total, comment=Path(path).name)):
            if i >= total:
                break
            y, u, v = _split(frame.to_ndarray(format='yuv420p'), frame.height)
            du, dv = disturb(i, u, v)
            planes = [(y, u, v), (y, du, dv)]
            for k, st in enumerate(stabs):
                src = (du, dv) if k % 2 == 0 else (u, v)
                t0 = time.perf_counter()
                planes.append(stabilize_planes(st, y, *src))
                streams[2 + k].seconds += time.perf_counter() - t0
            rgbs = [_rgb(*p) for p in planes]
            for s, rgb in zip(streams, rgbs):
                s.add(rgb, rgbs[0])
            warp.add(y, rgbs)
    cf_truth = streams[0].cf / streams[0].n
    rows = []
    for s, we in zip(streams, warp.values):
        src, _, strength = s.name.partition(' flow ')
        rows.append(dict(film=Path(path).name, input=src, stabilize='flow' if strength else 'none',
                         strength=float(strength) if strength else 0.0, frames=s.n, cdc=s.cdc.value, warp_error=we,
                         psnr=s.psnr / s.n, delta_cf=abs(s.cf / s.n - cf_truth),
                         frames_per_s=s.n / s.seconds if s.seconds else None))
    for r in rows:
        o = rows[0]
        r['cdc_vs_original'] = r['cdc'] / o['cdc']
        r['warp_vs_original'] = r['warp_error'] / o['warp_error']
    return rows, dict(flow_kept=warp.kept_fraction, cuts={n: st.cuts for n, st in zip(names[2:], stabs)},
                      trusted={n: st.trusted_fraction for n, st in zip(names[2:], stabs)})


def table(rows):
    head = f"{'film':24} {'input':10} {'setting':9} {'CDC':>7} {'xorig':>6} {'warp err':>9} {'xorig':>6} {'PSNR':>6} {'dCF':>6} {'fps':>6}"
    lines = [head]
    for r in rows:
        setting = 'none' if r['stabilize'] == 'none' else f"flow {r['strength']:g}"
        fps = f"{r['frames_per_s']:.0f}" if r['frames_per_s'] else '-'
        lines.append(f"{r['film']:24} {r['input']:10} {setting:9} {r['cdc']:7.4f} {r['cdc_vs_original']:6.2f} "
                     f"{r['warp_error']:9.5f} {r['warp_vs_original']:6.2f} {r['psnr']:6.2f} {r['delta_cf']:6.2f} {fps:>6}")
    return '\n'.join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('films', nargs='+')
    ap.add_argument('--strengths', default='0.5,0.7,0.8,0.9')
    ap.add_argument('--frames', type=int, default=None)
    ap.add_argument('--preset', default=DEFAULT_PRESET)
    ap.add_argument('--work-side', type=int, default=WORK_SIDE)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--no-global-fill', action='store_true', help='untrusted pixels keep their own colour')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    strengths = [float(s) for s in a.strengths.split(',')]
    all_rows, extra = [], {}
    for f in a.films:
        rows, ex = bench_film(f, strengths, a.frames, a.seed, a.preset, a.work_side, not a.no_global_fill)
        all_rows += rows
        extra[Path(f).name] = ex
        print(table(rows), flush=True)
        if a.json:  # after each film, so a long run that is stopped keeps what it measured
            Path(a.json).write_text(json.dumps(dict(
                command='python benchmarks/deflicker_bench.py ' + ' '.join(argv or []), preset=a.preset,
                work_side=a.work_side, seed=a.seed, global_fill=not a.no_global_fill, rows=all_rows,
                details=extra), indent=1) + '\n')

if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
