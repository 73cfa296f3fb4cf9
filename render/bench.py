"""The film benchmark: how close the real film path comes to the model's own speed, and how much faster it
is than a reference-style path, with peak memory for each.

- engines: each engine and precision available here (`--engines all`, the default), or the one `auto`
  picks, or a list; the row `auto` picks is marked and its gain is the headline figure;
- model only: the generator alone on frames already in memory, batched as the film path batches them;
  measured just before and just after the film path (their mean), so both see the same machine load;
- end to end: `render_film` on the film (decode, colorize, encode, audio), wall clock;
- reference style: every frame written to a JPEG file, each read back and colorized alone (batch 1,
  contiguous memory, fp32, spectral norm recomputed every pass), written to JPEG again, then all encoded
  into a film (libx264 crf 17) with the audio copied; and its own model-only speed.
Peak memory is the resident set size's high-water mark of each phase, sampled every 10 ms (plus CUDA's
peak allocation on a GPU). With `--codecs h264,ffv1,...` the film path is also timed once per codec (end to end,
the same frames) with the size of the file it wrote.
"""
import argparse
import json as jsonlib
import os
import resource
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Annotated

import av
import cv2
import numpy as np
import torch

from deoldify_like.choices import DEVICES, FITS
from deoldify_like.colour import recombine_luminance, rgb_to_gray
from deoldify_like.device import pick_device
from deoldify_like.inference import (DEFAULT_BS, DEFAULT_FIT, DEFAULT_PRECISION, FILM_RENDER_FACTOR, PRECISION_CHOICES,
                                     Colorizer, model_squares, pick_engine, resolve_precision)
from deoldify_like.inference.engine_choice import candidates
from deoldify_like.inference.measure_engines import model_only_fps
from deoldify_like.model_file import load_generator
from deoldify_like.progress import progress, say
from deoldify_like.video import iter_frames, probe_video

from .cli import make_colorizer
from .film import codecs as codec_table, output_suffix, render_film

MODEL_ONLY_FRAMES = 8  # frames per model-only measurement (each side of the film path)


def _rss_bytes():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


class PeakMemory:
    "High-water mark of this process's resident memory (and CUDA allocations) while the block runs."

    def __init__(self, device):
        self.device, self.peak, self.cuda_peak = device, 0, None

    def _sample(self):
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_bytes())

    def __enter__(self):
        self.peak, self._stop = _rss_bytes(), threading.Event()
        if self.device.type == 'cuda':
            torch.cuda.reset_peak_memory_stats(self.device)
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_bytes())
        if self.device.type == 'cuda':
            self.cuda_peak = torch.cuda.max_memory_allocated(self.device)

    def figures(self):
        mb = {'peak_rss_mb': round(self.peak / 2**20, 1)}
        if self.cuda_peak is not None:
            mb['cuda_peak_mb'] = round(self.cuda_peak / 2**20, 1)
        return mb


def reference_render(colorizer, video, dest, render_factor, limit, work):
    "A render the way the reference renderer does it: JPEG files in between, one frame at a time."
    info = probe_video(video)
    frames_dir, colour_dir = work / 'frames', work / 'colour'
    frames_dir.mkdir(), colour_dir.mkdir()
    n = 0
    for i, rgb in iter_frames(video):
        if limit and i >= limit:
            break
        cv2.imwrite(str(frames_dir / f'{i:06d}.jpg'), rgb[..., ::-1])
        n += 1
    for i in progress(range(n), total=n):
        bgr = cv2.imread(str(frames_dir / f'{i:06d}.jpg'))
        luma = rgb_to_gray(bgr[..., ::-1])
        pred = colorizer.predict([luma], render_factor)[0]
        cv2.imwrite(str(colour_dir / f'{i:06d}.jpg'), recombine_luminance(luma, pred)[..., ::-1])
    with av.open(str(video)) as src, av.open(str(dest), 'w') as out:
        vs = out.add_stream('libx264', rate=info.fps, options={'crf': '17'})
        vs.width, vs.height, vs.pix_fmt = info.width, info.height, 'yuv420p' if info.width % 2 == 0 and info.height % 2 == 0 else 'yuv444p'
        audio_in = src.streams.audio[0] if src.streams.audio else None
        audio_out = out.add_stream_from_template(audio_in) if audio_in is not None else None
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(cv2.imread(str(colour_dir / f'{i:06d}.jpg'))[..., ::-1].copy(), format='rgb24')
            frame.pts, frame.time_base = i, 1 / Fraction(info.fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if audio_out is not None:
            end = n / info.fps
            for packet in src.demux(audio_in):
                if packet.size and (packet.pts is None or packet.pts * packet.time_base < end):
                    packet.stream = audio_out
                    out.mux(packet)
    return n


def _first_lumas(video, n):
    lumas = []
    for _, rgb in iter_frames(video):
        lumas.append(rgb_to_gray(rgb))
        if len(lumas) >= n:
            break
    return lumas


ENCODE_ROUNDS = 3  # encoder-only timing: codecs taken in turn, this many times, the median kept


def encode_only_fps(rgbs, rate, names, tmp, rounds=ENCODE_ROUNDS):
    """Frames/s of each codec's encoder alone (RGB frames in memory -> pixel format -> encoder -> file, one
    thread as on CPU renders), the codecs taken in turn `rounds` times so that a shared machine's load
    falls on all of them alike; the median per codec."""
    times = {name: [] for name in names}
    h, w = rgbs[0].shape[:2]
    for _ in range(rounds):
        for name in names:
            codec = codec_table.check(name)
            pix_fmt, options = codec.settings(w, h)
            colorspace, color_range = codec.colour_tags
            start = time.perf_counter()
            with av.open(str(tmp / f'encode_{name}{codec.segment}'), 'w') as out:
                s = out.add_stream(codec.encoder, rate=rate, options=options)
                s.width, s.height, s.pix_fmt = w, h, pix_fmt
                s.codec_context.thread_count = 1
                for i, rgb in enumerate(rgbs):
                    vf = av.VideoFrame.from_ndarray(rgb, format='rgb24').reformat(
                        format=pix_fmt, dst_colorspace=colorspace, dst_color_range=color_range)
                    vf.pts = i
                    out.mux(s.encode(vf))
                out.mux(s.encode(None))
            times[name].append(time.perf_counter() - start)
            (tmp / f'encode_{name}{codec.segment}').unlink()
    return {name: round(len(rgbs) / float(np.median(t)), 1) for name, t in times.items()}


def codec_rows(colorizer, video, render_factor, frames, names, tmp):
    """End-to-end frames/s and file size of the film path with each codec in `names`, and each encoder's own
    frames/s on the film's first frames."""
    info = probe_video(video)
    rgbs = [rgb for _, rgb in zip(range(MODEL_ONLY_FRAMES * 3), (f for _, f in iter_frames(video)))]
    encode = encode_only_fps(rgbs, info.fps, names, tmp)
    rows = []
    for name in names:
        codec = codec_table.check(name)
        dest = tmp / f'codec_{name}{codec_table.output_suffix(video, codec)}'
        say(f"bench: end to end with --codec {name} ...")
        start = time.perf_counter()
        done = render_film(colorizer, video, dest, render_factor, limit=frames, codec=codec)
        seconds = time.perf_counter() - start
        size = dest.stat().st_size
        minutes = done / float(probe_video(dest).fps) / 60
        rows.append({'codec': name, 'encoder': codec.encoder, 'container': dest.suffix, 'lossless': codec.lossless,
                     'frames': done, 'end_to_end_fps': round(done / seconds, 3), 'seconds': round(seconds, 1),
                     'encode_only_fps': encode[name],
                     'file_bytes': size, 'mb_per_minute': round(size / 2**20 / minutes, 2)})
        dest.unlink()
    return rows


def parse_engines(text, device):
    """'all' (every engine and precision that can run here), 'auto', or a list like
    'torch:bf16,openvino:bf16' to [(engine, precision), ...]."""
    if text in (None, '', 'all'):
        return candidates(device)
    pairs = []
    for item in str(text).replace(' ', '').split(','):
        engine, _, precision = item.partition(':')
        pairs.append((engine, precision or DEFAULT_PRECISION))
    return pairs


def _measure_engine(colorizer, lumas, video, render_factor, frames, dest):
    "Model-only frames/s (before and after) and the end-to-end film render of one engine."
    squares = model_squares(lumas, render_factor, colorizer.fit)
    with PeakMemory(colorizer.device) as mem_model:
        before = model_only_fps(colorizer, squares)
    with PeakMemory(colorizer.device) as mem_e2e:
        start = time.perf_counter()
        done = render_film(colorizer, video, dest, render_factor, limit=frames)
        e2e_seconds = time.perf_counter() - start
    after = model_only_fps(colorizer, squares)
    model_fps, e2e_fps = (before + after) / 2, done / e2e_seconds
    return {'config': {'engine': colorizer.engine.name, 'bs': colorizer.bs, 'precision': colorizer.precision,
                       'channels_last': colorizer.channels_last, 'spectral_norm_folded': True, 'fit': colorizer.fit},
            'model_only_fps': round(model_fps, 3), 'model_only_fps_before_after': [round(before, 3), round(after, 3)],
            'end_to_end_fps': round(e2e_fps, 3), 'end_to_end_seconds': round(e2e_seconds, 1),
            'end_to_end_over_model_only': round(e2e_fps / model_fps, 3),
            'model_only_memory': mem_model.figures(), **mem_e2e.figures()}


def run_bench(model, video, render_factor=FILM_RENDER_FACTOR, bs=DEFAULT_BS, precision=DEFAULT_PRECISION,
              device='auto', fit=DEFAULT_FIT, frames=None, reference=True, engines='auto', codecs=None):
    """Measure the film path with each engine of `engines` (see `parse_engines`) and the reference-style
    path on `video`, and with `auto`'s engine each codec of `codecs`; returns the figures as a dict. 'ours' is
    the engine `auto` picks (or the first)."""
    video = Path(video)
    info = probe_video(video)
    n = min(frames, info.frames) if frames else info.frames
    load_before = os.getloadavg()
    dev = pick_device(device)
    auto_engine, auto_precision = pick_engine(dev, precision)
    auto_pick = (auto_engine, resolve_precision(auto_precision, dev))
    pairs = [auto_pick] if engines == 'auto' else parse_engines(engines, dev)
    lumas = _first_lumas(video, max(MODEL_ONLY_FRAMES, bs))
    figures = {'video': str(video), 'frames': n, 'size': f'{info.width}x{info.height}', 'fps': str(info.fps),
               'render_factor': render_factor, 'device': dev.type, 'torch_threads': torch.get_num_threads(),
               'cpu_count': os.cpu_count(), 'model': str(model), 'auto_picks': list(auto_pick), 'engines': []}
    with tempfile.TemporaryDirectory(prefix='deoldify-like-bench-') as tmp:
        tmp = Path(tmp)
        for k, (engine, prec) in enumerate(pairs):
            colorizer = make_colorizer(model, fit, device, bs, prec, engine)
            figures['model_config'] = colorizer.header.get('config')
            say(f"bench: {engine} {colorizer.precision}, batch {colorizer.bs}: model only and end to end, {n} frames ...")
            row = _measure_engine(colorizer, lumas, video, render_factor, frames, tmp / f'film{k}{output_suffix(video)}')
            row['auto'] = (colorizer.engine.name, colorizer.precision) == auto_pick
            figures['engines'].append(row)
            if codecs and row['auto']:
                figures['codecs'] = codec_rows(colorizer, video, render_factor, frames, codecs, tmp)
            del colorizer
        picked = [r for r in figures['engines'] if r['auto']] or figures['engines'][:1]
        figures['ours'] = picked[0]
        if reference:
            base, _ = load_generator(model)
            ref = Colorizer(base, render_factor, fit, device, bs=1, precision='fp32', channels_last=False, fold=False,
                            copy_model=False)
            say("bench: reference style: model only (fp32, batch 1, contiguous) ...")
            ref_model_fps = model_only_fps(ref, model_squares(lumas, render_factor, fit))
            say(f"bench: reference style: end to end through JPEG files, {n} frames ...")
            with PeakMemory(ref.device) as mem_ref:
                start = time.perf_counter()
                done_ref = reference_render(ref, video, tmp / 'reference.mp4', render_factor, frames, tmp)
                ref_seconds = time.perf_counter() - start
            ref_fps = done_ref / ref_seconds
            figures['reference'] = {'config': {'engine': 'torch', 'bs': 1, 'precision': 'fp32', 'channels_last': False,
                                               'spectral_norm_folded': False, 'fit': fit, 'frames_through': 'JPEG files'},
                                    'model_only_fps': round(ref_model_fps, 3), 'end_to_end_fps': round(ref_fps, 3),
                                    'end_to_end_seconds': round(ref_seconds, 1),
                                    'end_to_end_over_model_only': round(ref_fps / ref_model_fps, 3), **mem_ref.figures()}
            for row in figures['engines']:
                row['gain_end_to_end'] = round(row['end_to_end_fps'] / ref_fps, 3)
                row['gain_model_only'] = round(row['model_only_fps'] / ref_model_fps, 3)
            figures['gain_end_to_end'] = figures['ours']['gain_end_to_end']
            figures['gain_model_only'] = figures['ours']['gain_model_only']
    figures['process_peak_rss_mb'] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures['load_average_before_after'] = [round(load_before[0], 2), round(os.getloadavg()[0], 2)]
    return figures


def _row_name(row):
    c = row['config']
    layout = 'channels_last, SN folded' if c['engine'] == 'torch' else 'exported, SN folded'
    return f"{c['engine']} {c['precision']}, batch {c['bs']}, {layout}" + (' ← auto' if row.get('auto') else '')


def format_table(f):
    "The figures as a small Markdown table: one row per engine, then the reference style."
    with_gain = 'reference' in f
    rows = [('path', 'model-only frames/s', 'end-to-end frames/s', 'end-to-end / model-only', 'peak RSS MB',
             *(['end-to-end gain'] if with_gain else []))]
    for r in f['engines']:
        rows.append((f"film path: {_row_name(r)}", r['model_only_fps'], r['end_to_end_fps'],
                     r['end_to_end_over_model_only'], r['peak_rss_mb'], *([f"{r['gain_end_to_end']}x"] if with_gain else [])))
    if with_gain:
        r = f['reference']
        rows.append(('reference style (JPEG files, torch fp32, batch 1)', r['model_only_fps'], r['end_to_end_fps'],
                     r['end_to_end_over_model_only'], r['peak_rss_mb'], '1x'))
    lines = ['| ' + ' | '.join(str(c) for c in row) + ' |' for row in rows]
    lines.insert(1, '|' + '---|' * len(rows[0]))
    head = (f"{f['video']}: {f['frames']} frames {f['size']} at render factor {f['render_factor']} on "
            f"{f['device']} ({f['torch_threads']} torch threads, load average {f['load_average_before_after']})")
    auto = f"auto picks {f['auto_picks'][0]} {f['auto_picks'][1]} (deoldify_like/inference/engine_choice.json)"
    tail = [f"end-to-end gain of auto's engine over the reference style: {f['gain_end_to_end']}x"] if 'gain_end_to_end' in f else []
    if f.get('codecs'):
        tail += ['', '| codec | encoder | container | end-to-end frames/s | encoder alone frames/s | file size MB | MB per minute |',
                 '|---|---|---|---|---|---|---|']
        tail += [f"| {r['codec']}{' (lossless)' if r['lossless'] else ''} | {r['encoder']} | {r['container']} | "
                 f"{r['end_to_end_fps']} | {r['encode_only_fps']} | {r['file_bytes'] / 2**20:.2f} | {r['mb_per_minute']} |"
                 for r in f['codecs']]
    return '\n'.join([head, *lines, auto, *tail])


def bench(model: Annotated[str, "model file", dict(opt=True, required=True)],
          video: Annotated[str, "film to render", dict(opt=True, required=True)],
          render_factor: int = FILM_RENDER_FACTOR,  # render factor for both paths
          json: str = None,  # also write the figures to this JSON file
          bs: int = DEFAULT_BS,  # frames per model batch on the film path
          precision: Annotated[str, "model arithmetic for --engines auto (and auto's pick)", dict(choices=PRECISION_CHOICES)] = DEFAULT_PRECISION,
          device: Annotated[str, "auto is CUDA when present", dict(choices=DEVICES)] = 'auto',
          fit: Annotated[str, "how frames fit the model's square", dict(choices=FITS)] = DEFAULT_FIT,
          frames: int = None,  # only the first N frames of the film (both paths)
          reference: Annotated[bool, "also time the reference-style path", dict(action=argparse.BooleanOptionalAction)] = True,
          engines: str = 'all',  # all (every engine and precision available here), auto, or a list like torch:bf16,openvino:bf16
          codecs: str = None):  # also time the film path (auto's engine) with each of these codecs, e.g. h264,h265,av1,ffv1,prores (frames/s, file size)
    "Model-only vs end-to-end frames/s of the film path on each engine, and the gain over a reference-style render."
    names = [c.strip() for c in codecs.split(',') if c.strip()] if codecs else None
    for name in names or []:
        codec_table.check(name)  # an unknown or unavailable codec fails before anything is measured
    figures = run_bench(model, video, render_factor, bs, precision, device, fit, frames, reference, engines, names)
    print(format_table(figures))
    if json:
        Path(json).parent.mkdir(parents=True, exist_ok=True)
        Path(json).write_text(jsonlib.dumps(figures, indent=1))
    return 0
