"""Measuring engines for `--engine auto`: speed and the quality rule, per device.

For each engine/precision that can run here: model-only frames/s (batches of `bs` squares of the render
factor's size, after a warm-up; the best of a few rounds that visit the engines in turn), and the quality of its colour photos next to PyTorch fp32's on the same
photos: each colour photo turned to gray, colorized, and scored against the original (PSNR on RGB, ΔCF =
|mean CF out − mean CF truth|). The rule compares the engine's figures with fp32's (ΔPSNR, and the change
of ΔCF), which holds with any weights, trained or random, since both see the same photos. It also records
how far each engine's pictures are from fp32's own (PSNR and mean CIEDE2000 between the two outputs).
"""
import datetime as dt
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from deoldify_like.colour import rgb_to_lab
from deoldify_like.device import pick_device
from deoldify_like.errors import BadInputError
from deoldify_like.images import find_photos, load_image
from deoldify_like.metrics import ciede2000_lab, colourfulness, psnr
from deoldify_like.model_file import load_generator
from deoldify_like.progress import say

from .colorizer import Colorizer
from .engine_choice import CHOICE_FILE, candidates, device_key, quality_holds
from .render_factor import FILM_RENDER_FACTOR
from .square import model_squares

__all__ = ['colour_photos', 'model_only_fps', 'measure_engines', 'write_choice', 'conditions', 'cpu_name']


def colour_photos(folder, limit=None):
    "(rgb, luma) of the colour photos of `folder` (colourless and unreadable ones left out), at most `limit`."
    out = []
    for f in find_photos(folder):
        try:
            img = load_image(f)
        except BadInputError:
            continue
        if not img.is_gray:
            out.append((img.rgb, img.luma))
        if limit and len(out) >= limit:
            break
    return out


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def model_only_fps(colorizer, squares, repeats=1):
    """Frames/s of the model alone (`colorizer.forward`: the same batches, precision and memory format as
    rendering) over `squares` (`square.model_squares`) in batches of `colorizer.bs`, after one warm-up batch
    (oneDNN picks its kernels on the first pass)."""
    bs = colorizer.bs
    colorizer.forward(squares[:bs])
    _sync(colorizer.device)
    start = time.perf_counter()
    for _ in range(repeats):
        for i in range(0, len(squares), bs):
            colorizer.forward(squares[i:i + bs])
    _sync(colorizer.device)
    return repeats * len(squares) / (time.perf_counter() - start)


def measure_engines(model_path, photos, render_factor=FILM_RENDER_FACTOR, device='cpu', bs=2, pairs=None, speed_frames=8, rounds=3):
    """Figures for every (engine, precision) in `pairs` (default: all that run here); the first measured is
    PyTorch fp32, the reference of the quality rule. Speed is measured in `rounds` rounds that visit every
    engine in turn, and each engine's best round is kept: on a shared machine the load then falls on all
    engines alike, and the best round is the least disturbed."""
    dev = pick_device(device)
    pairs = [('torch', 'fp32'), *[p for p in (pairs or candidates(dev)) if p != ('torch', 'fp32')]]
    model, header = load_generator(model_path)
    lumas = [luma for _, luma in photos]
    truths = [rgb for rgb, _ in photos]
    squares = model_squares((lumas * speed_frames)[:speed_frames], render_factor)
    cf_truth = float(np.mean([colourfulness(t) for t in truths]))
    rows, colorizers, ref_outputs, ref_labs, ref = [], [], None, None, None
    for engine, precision in pairs:
        say(f"engines: quality of {engine} {precision} ...")
        col = Colorizer(model, render_factor, device=dev, header=header, bs=bs, precision=precision, engine=engine)
        outputs = col.colorize(lumas)
        p = float(np.mean([psnr(o, t) for o, t in zip(outputs, truths)]))
        cf = float(np.mean([colourfulness(o) for o in outputs]))
        row = {'engine': engine, 'precision': col.precision, 'bs': col.bs,
               'psnr': round(p, 4), 'cf_output': round(cf, 3), 'cf_truth': round(cf_truth, 3),
               'delta_cf_truth': round(abs(cf - cf_truth), 4)}
        labs = [rgb_to_lab(o) for o in outputs]
        if ref_outputs is None:
            ref_outputs, ref_labs, ref = outputs, labs, row
        row['delta_psnr'] = round(p - ref['psnr'], 4)
        row['delta_cf'] = round(row['delta_cf_truth'] - ref['delta_cf_truth'], 4)
        row['psnr_vs_fp32_output'] = round(float(np.mean([min(psnr(o, r), 99.0) for o, r in zip(outputs, ref_outputs)])), 3)
        row['ciede2000_vs_fp32_output'] = round(float(np.mean([ciede2000_lab(a, b) for a, b in zip(labs, ref_labs)])), 4)
        row['quality_holds'] = quality_holds(row)
        rows.append(row)
        colorizers.append(col)
    for r in range(rounds):
        for row, col in zip(rows, colorizers):
            fps = model_only_fps(col, squares)
            row.setdefault('model_only_fps_rounds', []).append(round(fps, 3))
            say(f"engines: round {r + 1}: {row['engine']} {row['precision']} {fps:.3f} frames/s")
    for row in rows:
        row['model_only_fps'] = max(row['model_only_fps_rounds'])
        row['speed_vs_torch_fp32'] = round(row['model_only_fps'] / rows[0]['model_only_fps'], 3)
    return rows


def cpu_name():
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def write_choice(rows, conditions, device, path=CHOICE_FILE):
    "Store one device's measurements in the choice file, keeping the other devices' entries."
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data.setdefault('rule', {'max_abs_delta_psnr_db': 0.1, 'max_abs_delta_cf': 0.5,
                             'reference': 'torch fp32 on the same photos'})
    data.setdefault('devices', {})[device_key(pick_device(device))] = {'measured': conditions, 'engines': rows}
    path.write_text(json.dumps(data, indent=1) + '\n')
    return path


def conditions(model_path, photos_dir, n_photos, render_factor, device):
    header = load_generator(model_path)[1]
    return {'date': dt.datetime.now(dt.timezone.utc).isoformat(timespec='minutes'), 'cpu': cpu_name(),
            'cores': os.cpu_count(), 'torch_threads': torch.get_num_threads(), 'device': str(device),
            'load_average': [round(x, 2) for x in os.getloadavg()], 'model_config': header.get('config'),
            'model_info': header.get('info', {}).get('note') or header.get('info', {}).get('saved_at'),
            'photos': str(photos_dir), 'photos_measured': n_photos, 'render_factor': render_factor}
