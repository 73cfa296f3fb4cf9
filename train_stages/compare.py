"""`deoldify-like checkpoints`: the same pictures through the stage-1 generator and every GAN checkpoint.

A GAN burst improves colour for a while and then breaks (orange skin, red lips, blotches come first);
people pick the checkpoint just before that by eye. This puts what they need side by side: one grid
(a row per picture, a column per checkpoint, gray input and colour truth beside) and one table row per
checkpoint: mean colourfulness, ΔCF, PSNR, SSIM, CIEDE2000 (where colour truth exists), the critic's mean
score of the outputs, the colour drift against the truth with a warning when it grows, and how far the
colours moved from the previous checkpoint of the same series (mean ΔE00 between the two checkpoints'
outputs): small where the burst is steady, large where it jumps. A last row scores the gray input itself
against the truth: a checkpoint that does not beat it is no better than leaving the photo gray. The outputs
and measures come from `checkpoint_scores.run_checkpoints`.
"""
import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from deoldify_like.colour import gray_to_rgb
from deoldify_like.data import list_images
from deoldify_like.device import pick_device
from deoldify_like.errors import BadInputError, DeoldifyLikeError, SettingsError
from deoldify_like.images import atomic_path, load_image
from deoldify_like.progress import say

from .checkpoint_scores import generators_to_compare, run_checkpoints
from .run_folder import RunFolder

TABLE_COLUMNS = ('checkpoint', 'label', 'stage', 'cycle', 'iteration', 'cf_output', 'cf_truth', 'delta_cf', 'psnr',
                 'ssim', 'ciede2000', 'critic_score', 'saturation_ratio', 'hue_shift', 'moved', 'drift')
GRAY_INPUT = 'gray input'  # the label (and stage) of the baseline row


@dataclass
class Picture:
    name: str
    luma: np.ndarray
    truth: np.ndarray | None  # colour original, None for black-and-white material
    truth_lab: object = None  # the truth's CIE Lab tensor, worked out once for every checkpoint (truth_labs)


def pictures_from(rf, images=None, limit=None):
    "Pictures to compare: the files of `images` (a folder or file), or the run's fixed validation sample."
    if images:
        src = Path(images)
        files = [src] if src.is_file() else list_images(src)
        if not files:
            raise DeoldifyLikeError(f"{src}: no pictures found")
    else:
        if not rf.has_split():
            raise DeoldifyLikeError(f"{rf.path}: no validation sample recorded (split.json); pass --images DIR")
        files = rf.split_files('valid')
    pictures = []
    for f in sorted(files)[:limit]:
        try:
            img = load_image(f)
        except BadInputError as e:
            print(f"skipped: {e}", flush=True)
            continue
        pictures.append(Picture(Path(f).stem, img.luma, None if img.is_gray else img.rgb))
    if not pictures:
        raise DeoldifyLikeError("no usable pictures to compare")
    return pictures


def gray_input_row(gray):
    "The baseline row: the gray input itself scored against the colour truth (`gray`: its scores, or None)."
    if gray is None:
        return None
    return {'checkpoint': '', 'label': GRAY_INPUT, 'stage': GRAY_INPUT, 'cycle': '', 'iteration': '',
            **{k: gray.get(k, '') for k in ('cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000')}}


def table_rows(results, gray=None):
    "One row per checkpoint, then (given its scores, where the pictures have colour truth) the gray input's row."
    rows = []
    for r in results:
        row = {'checkpoint': r.entry['name'], 'label': r.label, 'stage': r.entry.get('stage', ''),
               'cycle': r.entry.get('cycle', ''), 'iteration': r.entry.get('iteration', '')}
        row.update({k: r.scores.get(k, '') for k in TABLE_COLUMNS if k not in row})
        rows.append(row)
    baseline = gray_input_row(gray)
    return rows + [baseline] if baseline else rows


def checkpoint_rows(rows):
    "The rows of checkpoints (without the gray input's)."
    return [r for r in rows if r.get('stage') != GRAY_INPUT]


def _fmt(v):
    if isinstance(v, float):
        return 'inf' if math.isinf(v) else f'{v:.3f}' if abs(v) < 10 else f'{v:.2f}'
    return str(v)


def format_table(rows):
    cols = [c for c in TABLE_COLUMNS if c not in ('checkpoint', 'stage') and any(r.get(c) not in ('', None) for r in rows)]
    cells = [[_fmt(r.get(c, '')) for c in cols] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
    lines = ['  '.join(c.ljust(w) for c, w in zip(cols, widths))]
    lines += ['  '.join(v.ljust(w) for v, w in zip(row, widths)) for row in cells]
    return '\n'.join(lines)


def write_table(rows, dest):
    with atomic_path(dest) as tmp:
        with open(tmp, 'w', newline='') as f:
            w = csv.DictWriter(f, fieldnames=TABLE_COLUMNS)
            w.writeheader()
            w.writerows({k: _fmt(v) if isinstance(v, float) else v for k, v in r.items()} for r in rows)
    return dest


def _font(size):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _thumb(rgb, height):
    img = Image.fromarray(rgb)
    return img.resize((max(1, round(img.width * height / img.height)), height), Image.LANCZOS)


def grid_image(pictures, results, cell_height=128, max_rows=8):
    """A row per picture: gray input, each checkpoint's output, colour truth (where it exists);
    columns labelled with the checkpoint (iteration); a '!' marks a checkpoint with a drift warning."""
    pictures = pictures[:max_rows]
    columns = [('gray input', [gray_to_rgb(p.luma) for p in pictures])]
    columns += [(r.label + (' !' if r.scores.get('drift') else ''), r.outputs[:max_rows]) for r in results]
    if any(p.truth is not None for p in pictures):
        columns.append(('truth', [p.truth if p.truth is not None else np.full_like(gray_to_rgb(p.luma), 255)
                                  for p in pictures]))
    thumbs = [(label, [_thumb(img, cell_height) for img in images]) for label, images in columns]
    col_w = max(t.width for _, ts in thumbs for t in ts)
    pad, head = 4, 22
    font = _font(14)
    sheet = Image.new('RGB', (len(columns) * (col_w + pad) + pad, head + len(pictures) * (cell_height + pad) + pad), 'white')
    draw = ImageDraw.Draw(sheet)
    for ci, (label, ts) in enumerate(thumbs):
        x = pad + ci * (col_w + pad)
        draw.text((x + 2, 4), label, fill='black', font=font)
        for ri, t in enumerate(ts):
            sheet.paste(t, (x + (col_w - t.width) // 2, head + ri * (cell_height + pad)))
    return sheet


def checkpoints(
    run: Annotated[str, "run folder", dict(required=True)] = None,
    images: str = None,  # folder (or file) of pictures; default: the run's fixed validation sample (pictures it did not train on)
    render_factor: int = 8,  # the model sees render_factor x 16 pixels
    out: str = None,  # grid picture (PNG); default RUN/reports/checkpoints.png; the table goes beside it as .csv
    limit: int = None,  # at most this many pictures (sorted by name)
    rows: int = 6,  # pictures shown in the grid
    bs: int = 4,  # batch size
    device: str = 'auto',  # where the models run
):
    "The same pictures through every checkpoint: a grid picture plus a metrics table."
    if not run:
        raise SettingsError("--run is required")
    pick_device(device)
    rf = RunFolder(run)
    rf.load()
    pictures = pictures_from(rf, images, limit)
    say(f"checkpoints: {len(pictures)} pictures through {len(generators_to_compare(rf))} generators at render factor {render_factor}")
    results, gray = run_checkpoints(rf, pictures, render_factor, bs, device)
    rows_ = table_rows(results, gray)
    out = Path(out) if out else rf.reports / 'checkpoints.png'
    with atomic_path(out) as tmp:
        grid_image(pictures, results, max_rows=rows).save(tmp, format='PNG')
    table = write_table(rows_, out.with_suffix('.csv'))
    print(format_table(rows_))
    for r in rows_:
        if r.get('drift'):
            print(f"warning: {r['label']}: {r['drift']}")
    print(f"grid: {out}\ntable: {table}")
    return 0
