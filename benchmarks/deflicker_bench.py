"""The deflicker test bench, on the decoded YUV 4:2:0 planes of colour films (streamed: a film is never held
in memory; RGB for the measures is converted by FFmpeg (swscale) from the planes, as a player would).

Chroma (`--chroma`, the default): each film, the same film with its chroma disturbed frame by frame
(`flicker.ChromaDisturbance`), and both through the two-way stabiliser (`two_way.TwoWayStabilizer`, its
defaults unless `--two-way k=v,...`) and, with `--one-way S,...`, the one-way `ChromaStabilizer` at those
strengths: CDC, warp error (flow on the original's luminance), PSNR against the original, ΔCF, frames/s.

Brightness (`--brightness`): the film, the film with its luminance disturbed (`flicker.BrightnessDisturbance`),
and both through `brightness.BrightnessDeflicker` (`--bright k=v,...`) and through FFmpeg's `deflicker`
filter (PyAV filter graph; `--ffmpeg size:mode,...`): the brightness-flicker figure and the warp error of
the luminance (`film_metrics`), PSNR against the original. Beside them, 'exact field': the disturbed film
divided by the disturbance's own field, the best any gain can do once rounding and clipping have lost their
part (`--seed` draws another disturbance).

    python benchmarks/deflicker_bench.py FILM [FILM...] [--brightness] [--frames N] [--json OUT.json]
"""
import argparse
import itertools
import json
import math
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from deoldify_like.brightness import BrightnessDeflicker
from deoldify_like.flicker import BrightnessDisturbance, ChromaDisturbance
from deoldify_like.film_metrics import BrightnessFlickerMeter
from deoldify_like.metrics import colourfulness, psnr
from deoldify_like.film_metrics import CDCMeter, WarpErrorMeter
from deoldify_like.progress import progress
from deoldify_like.stabilize import ChromaStabilizer, stabilize_planes
from deoldify_like.two_way import TwoWayStabilizer, stabilize_stream
from deoldify_like.video import probe_video


def _split(a, h):
    "yuv420p ndarray (H*3/2, W) -> Y, U, V."
    w = a.shape[1]
    y = a[:h]
    uv = a[h:].reshape(-1)
    n = (h // 2) * (w // 2)
    return y, uv[:n].reshape(h // 2, w // 2), uv[n:].reshape(h // 2, w // 2)


def _joined(y, u, v):
    return np.concatenate([y, u.reshape(-1, y.shape[1]), v.reshape(-1, y.shape[1])])


def _rgb(y, u, v):
    return av.VideoFrame.from_ndarray(_joined(y, u, v), format='yuv420p').to_ndarray(format='rgb24')


def decoded(path, frames=None):
    "The film's (Y, U, V) planes, frame by frame."
    with av.open(str(path)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if frames is not None and i >= frames:
                break
            yield _split(frame.to_ndarray(format='yuv420p'), frame.height)


class _Clock:
    "Seconds spent inside a stream's own processing."
    def __init__(self):
        self.seconds = 0.0

    def wrap(self, gen):
        while True:
            t0 = time.perf_counter()
            try:
                item = next(gen)
            except StopIteration:
                return
            finally:
                self.seconds += time.perf_counter() - t0
            yield item


def two_way(frames, clock, **options):
    "Planes with U, V through a `TwoWayStabilizer`."
    stab = TwoWayStabilizer(**options)
    inputs = ((y, np.stack([u, v], -1), y) for y, u, v in frames)
    for y, uv in clock.wrap(stabilize_stream(stab, inputs)):
        uv = np.clip(np.rint(uv), 0, 255).astype(np.uint8)
        yield y, uv[..., 0], uv[..., 1]


def one_way(frames, clock, strength):
    stab = ChromaStabilizer(strength)
    for p in frames:
        t0 = time.perf_counter()
        out = stabilize_planes(stab, *p)
        clock.seconds += time.perf_counter() - t0
        yield out


def bright(frames, clock, **options):
    "Planes with Y through a `BrightnessDeflicker`."
    bd = BrightnessDeflicker(**options)
    pending = []
    for y, u, v in frames:
        pending.append((u, v))
        t0 = time.perf_counter()
        done = bd.push(y)
        clock.seconds += time.perf_counter() - t0
        for yo in done:
            yield (yo, *pending.pop(0))
    for yo in bd.flush():
        yield (yo, *pending.pop(0))


def ffmpeg_deflicker(frames, clock, size=5, mode='am'):
    "Planes through FFmpeg's `deflicker` filter (PyAV filter graph)."
    graph = None
    tb = Fraction(1, 24)

    def pulled():
        out = []
        while True:
            try:
                out.append(_split(graph.pull().to_ndarray(format='yuv420p'), h))
            except (av.error.BlockingIOError, av.error.EOFError):
                return out
    for i, (y, u, v) in enumerate(frames):
        h, w = y.shape
        t0 = time.perf_counter()
        if graph is None:
            graph = av.filter.Graph()
            src = graph.add_buffer(width=w, height=h, format='yuv420p', time_base=tb)
            flt = graph.add('deflicker', f'size={size}:mode={mode}')
            sink = graph.add('buffersink')
            src.link_to(flt)
            flt.link_to(sink)
            graph.configure()
        vf = av.VideoFrame.from_ndarray(_joined(y, u, v), format='yuv420p')
        vf.pts, vf.time_base = i, tb
        graph.push(vf)
        out = pulled()
        clock.seconds += time.perf_counter() - t0
        yield from out
    if graph is not None:
        graph.push(None)
        yield from pulled()


def _chroma_streams(path, frames, seed, two_way_options, one_way_strengths):
    disturb = ChromaDisturbance(seed)
    originals = decoded(path, frames)
    originals, a, b = itertools.tee(originals, 3)
    disturbed = ((y, *disturb(i, u, v)) for i, (y, u, v) in enumerate(a))
    disturbed, *copies = itertools.tee(disturbed, 1 + 2 * (1 + len(one_way_strengths)))
    origs = itertools.tee(b, 1 + len(one_way_strengths))
    names, gens, clocks = ['original', 'disturbed'], [originals, disturbed], [None, None]
    methods = [('two-way', lambda f, c: two_way(f, c, **two_way_options))] + \
        [(f'one-way {s:g}', lambda f, c, s=s: one_way(f, c, s)) for s in one_way_strengths]
    for k, (name, fn) in enumerate(methods):
        for src, stream in (('disturbed', copies[2 * k]), ('original', origs[k])):
            clock = _Clock()
            names.append(f'{src}|{name}')
            gens.append(fn(stream, clock))
            clocks.append(clock)
    return names, gens, clocks


def _divided(y, field):
    "The disturbed luminance divided by the disturbance's own field: what is left is what rounding and clipping lost."
    return np.clip(np.rint(y / field), 0, 255).astype(np.uint8)


def _brightness_streams(path, frames, seed, bright_options, ffmpeg_settings):
    disturb = BrightnessDisturbance(seed)
    originals = decoded(path, frames)
    originals, a, b = itertools.tee(originals, 3)
    disturbed = ((disturb(i, y), u, v) for i, (y, u, v) in enumerate(a))
    n = 1 + len(ffmpeg_settings)
    disturbed, exact, *copies = itertools.tee(disturbed, 2 + n)
    origs = itertools.tee(b, n)
    exact = ((_divided(y, disturb.field(i, *y.shape)), u, v) for i, (y, u, v) in enumerate(exact))
    names, gens, clocks = ['original', 'disturbed', 'disturbed|exact field'], [originals, disturbed, exact], [None] * 3
    methods = [('brightness', lambda f, c: bright(f, c, **bright_options))] + \
        [(f'ffmpeg deflicker {s}', lambda f, c, s=s: ffmpeg_deflicker(f, c, *s.split(':'))) for s in ffmpeg_settings]
    for k, (name, fn) in enumerate(methods):
        for src, stream in (('disturbed', copies[k]), ('original', origs[k])):
            clock = _Clock()
            names.append(f'{src}|{name}')
            gens.append(fn(stream, clock))
            clocks.append(clock)
    return names, gens, clocks


def bench_film(path, kind, frames=None, seed=0, chroma_options=None, one_way_strengths=(), bright_options=None,
               ffmpeg_settings=('5:am',)):
    total = probe_video(path).frames
    total = min(total, frames) if frames else total
    if kind == 'chroma':
        names, gens, clocks = _chroma_streams(path, frames, seed, chroma_options or {}, one_way_strengths)
        cdc, warp = [CDCMeter() for _ in names], WarpErrorMeter(streams=len(names))
    else:
        names, gens, clocks = _brightness_streams(path, frames, seed, bright_options or {}, ffmpeg_settings)
        flick = BrightnessFlickerMeter(streams=len(names))
    sums, cf, n = np.zeros(len(names)), np.zeros(len(names)), 0
    for planes in progress(zip(*gens), total=total, comment=f'{Path(path).name} {kind}'):
        rgbs = [_rgb(*p) for p in planes]
        for k, rgb in enumerate(rgbs):
            p = psnr(rgb, rgbs[0])
            sums[k] += 99.0 if math.isinf(p) else p  # identical frames: capped at 99 dB for the mean
            cf[k] += colourfulness(rgb)
        if kind == 'chroma':
            for m, rgb in zip(cdc, rgbs):
                m.add(rgb)
            warp.add(planes[0][0], rgbs)
        else:
            flick.add(planes[0][0], [p[0] for p in planes])
        n += 1
    rows = []
    for k, name in enumerate(names):
        src, _, method = name.partition('|')
        row = dict(film=Path(path).name, kind=kind, input=src, method=method or 'none', frames=n,
                   psnr=sums[k] / n, delta_cf=abs(cf[k] - cf[0]) / n,
                   frames_per_s=n / clocks[k].seconds if clocks[k] and clocks[k].seconds else None)
        if kind == 'chroma':
            row.update(cdc=cdc[k].value, warp_error=warp.values[k])
        else:
            row.update(flick.values[k])
        rows.append(row)
    keys = ('cdc', 'warp_error') if kind == 'chroma' else ('flicker', 'warp_luma_error')
    for r in rows:
        for key in keys:
            r[f'{key}_vs_original'] = r[key] / rows[0][key] if rows[0][key] else math.nan
        r['psnr_gain'] = r['psnr'] - rows[1]['psnr']
    return rows


def table(rows):
    kind = rows[0]['kind']
    keys = ('cdc', 'warp_error') if kind == 'chroma' else ('flicker', 'warp_luma_error')
    lines = [f"| film | input | method | {keys[0]} (× orig) | {keys[1]} (× orig) | PSNR dB | ΔCF | frames/s |",
             '|---|---|---|---|---|---|---|---|']
    for r in rows:
        fps = f"{r['frames_per_s']:.0f}" if r['frames_per_s'] else '–'
        lines.append(f"| {r['film']} ({r['frames']}) | {r['input']} | {r['method']} | {r[keys[0]]:.4g} "
                     f"({r[keys[0] + '_vs_original']:.2f}) | {r[keys[1]]:.4g} ({r[keys[1] + '_vs_original']:.2f}) | "
                     f"{r['psnr']:.2f} | {r['delta_cf']:.2f} | {fps} |")
    return '\n'.join(lines)


def option_values(text):
    "k=v,k=v -> dict of floats (ints where whole)."
    out = {}
    for part in filter(None, (text or '').split(',')):
        k, v = part.split('=')
        out[k] = int(v) if v.lstrip('-').isdigit() else float(v)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('films', nargs='+')
    ap.add_argument('--brightness', action='store_true', help='the brightness bench instead of the chroma bench')
    ap.add_argument('--frames', type=int, default=None)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--two-way', default='', help='TwoWayStabilizer options, k=v,...')
    ap.add_argument('--one-way', default='', help='also the one-way ChromaStabilizer at these strengths, S,...')
    ap.add_argument('--bright', default='', help='BrightnessDeflicker options, k=v,...')
    ap.add_argument('--ffmpeg', default='5:am', help="FFmpeg deflicker settings size:mode,... ('' for none)")
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    kind = 'brightness' if a.brightness else 'chroma'
    strengths = [float(s) for s in a.one_way.split(',') if s]
    ffmpeg = [s for s in a.ffmpeg.split(',') if s]
    all_rows = []
    for f in a.films:
        rows = bench_film(f, kind, a.frames, a.seed, option_values(a.two_way), strengths, option_values(a.bright),
                          ffmpeg)
        all_rows += rows
        print(table(rows), flush=True)
        if a.json:  # after each film, so a long run that is stopped keeps what it measured
            Path(a.json).write_text(json.dumps(dict(
                command='python benchmarks/deflicker_bench.py ' + ' '.join(argv or []), kind=kind, seed=a.seed,
                two_way=option_values(a.two_way), bright=option_values(a.bright), rows=all_rows), indent=1) + '\n')


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
