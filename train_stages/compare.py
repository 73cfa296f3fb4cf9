"""`deoldify-like checkpoints`: the same pictures through the stage-1 generator and every GAN checkpoint.

A GAN burst improves colour for a while and then breaks (orange skin, red lips, blotches come first);
people pick the checkpoint just before that by eye. This puts what they need side by side: one grid
(a row per picture, a column per checkpoint, gray input and colour truth beside) and one table row per
checkpoint: mean colourfulness, ΔCF, PSNR, SSIM, CIEDE2000 (where colour truth exists), the critic's mean
score of the outputs, the colour drift against the truth with a warning when it grows, and how far the
colours moved from the previous checkpoint of the same series (mean ΔE00 between the two checkpoints'
outputs): small where the burst is steady, large where it jumps. A last row scores the gray input itself
against the truth: a checkpoint that does not beat it is no better than leaving the photo gray.
"""
import csv
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from safetensors import SafetensorError
from safetensors.torch import load_file

from deoldify_like.colour import gray_to_rgb
from deoldify_like.data import list_images, scale_shorter_side, square_crop
from deoldify_like.device import pick_device
from deoldify_like.errors import BadInputError, DeoldifyLikeError, ModelFileError, SettingsError
from deoldify_like.images import atomic_path, load_image
from deoldify_like.inference import Colorizer
from deoldify_like.metrics import PhotoMeter, colourfulness, lab_pictures, mean_ciede2000
from deoldify_like.model_file import load_generator, load_model_file, read_header
from deoldify_like.progress import progress, say
from deoldify_like.scoring import one_cpu_thread
from deoldify_like.tensors import rgb_batch_to_tensor

from .run_folder import RunFolder, burst_checkpoint_name

TABLE_COLUMNS = ('checkpoint', 'label', 'stage', 'cycle', 'iteration', 'cf_output', 'cf_truth', 'delta_cf', 'psnr',
                 'ssim', 'ciede2000', 'critic_score', 'saturation_ratio', 'hue_shift', 'moved', 'drift')
GRAY_INPUT = 'gray input'  # the label (and stage) of the baseline row


@dataclass
class Picture:
    name: str
    luma: np.ndarray
    truth: np.ndarray | None  # colour original, None for black-and-white material
    truth_lab: object = None  # the truth's CIE Lab tensor, worked out once for every checkpoint (truth_labs)


def truth_labs(pictures, device='cpu'):
    "The Lab tensors of the pictures' colour truths (those with one), each converted once and kept."
    todo = [p for p in pictures if p.truth is not None and (p.truth_lab is None or p.truth_lab.device != device)]
    for p, lab in zip(todo, lab_pictures([p.truth for p in todo], device)):
        p.truth_lab = lab
    return [p.truth_lab for p in pictures if p.truth is not None]


@dataclass
class CheckpointResult:
    entry: dict  # the run.json record of the checkpoint, with its path
    label: str
    outputs: list  # uint8 RGB, one per picture
    scores: dict = field(default_factory=dict)
    labs: list = None  # the outputs' Lab tensors while a later checkpoint may still be measured against them


def is_burst_checkpoint(entry):
    return entry.get('stage') == 'gan' or 'iteration' in entry


def checkpoint_label(entry):
    if is_burst_checkpoint(entry):
        cycle, it = entry.get('cycle', 1), entry.get('iteration', '?')
        averaged = entry.get('weights') == 'ema'
        beside = (not averaged and isinstance(it, int)  # the trained generator saved beside an average
                  and entry.get('name') == burst_checkpoint_name(cycle, it, raw=True) + '.safetensors')
        return f"c{cycle} it{it}{' ema' if averaged else ' raw' if beside else ''}"
    return f"stage 1 ({entry.get('size', '?')}px)" if entry.get('size') else 'stage 1'


def weights_kind(entry):
    "'ema' for an averaged generator, 'raw' for a trained one (every checkpoint of a burst without --ema)."
    return entry.get('weights', 'raw')


def generators_to_compare(rf):
    """The last stage-1 generator, then every GAN checkpoint by cycle, averaged before raw, by iteration."""
    gens = rf.list_checkpoints('generator')
    stage1 = [c for c in gens if not is_burst_checkpoint(c)]
    gan = sorted((c for c in gens if is_burst_checkpoint(c)),
                 key=lambda c: (int(c.get('cycle', 1)), weights_kind(c), int(c.get('iteration', 0))))
    chosen = stage1[-1:] + gan
    if not chosen:
        raise DeoldifyLikeError(f"{rf.path}: no generator checkpoints yet; run `deoldify-like pretrain-gen` first")
    return chosen


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


class CriticJudge:
    "The run's critic as a fixed judge: its mean probability of 'real' for a set of outputs."

    def __init__(self, path, size):
        self.model, _ = load_model_file(path, 'critic')
        self.size = int(size)

    @torch.inference_mode()
    def score(self, outputs):
        crops = np.stack([square_crop(scale_shorter_side(o, self.size), self.size) for o in outputs])
        return float(torch.sigmoid(self.model(rgb_batch_to_tensor(crops))).mean())


def critic_judge(rf):
    critics = rf.list_checkpoints('critic')
    if not critics:
        return None
    entry = next((c for c in critics if c['name'] == rf.load()['current'].get('critic')), critics[-1])
    return CriticJudge(entry['path'], entry.get('size', 64))


def score_outputs(pictures, outputs, judge, device='cpu', labs=None):
    """The table's measures of one set of outputs, scored together on `device` (`labs`: the outputs' Lab
    tensors where already known)."""
    device = pick_device(device) if isinstance(device, str) else device
    scores = {}
    has_truth = [p.truth is not None for p in pictures]
    if any(has_truth):
        meter = PhotoMeter()
        meter.add_many([o for o, t in zip(outputs, has_truth) if t], [p.truth for p in pictures if p.truth is not None],
                       device, truth_labs(pictures, device), labs and [lab for lab, t in zip(labs, has_truth) if t])
        scores.update(meter.summary())
    else:
        scores['cf_output'] = float(np.mean([colourfulness(o) for o in outputs]))
    if judge is not None:
        scores['critic_score'] = judge.score(outputs)
    return scores


def generator_models(entries):
    """(entry, model) for each generator checkpoint in turn. The network is built once per architecture and
    each checkpoint's weights are loaded into it: building one (fastai's DynamicUnet runs dummy forward
    passes to size itself) costs seconds, loading the weights milliseconds. The model is the same object
    from one checkpoint to the next, so a user keeps nothing of it (the Colorizer works on its own copy)."""
    model = config = None
    for entry in entries:
        header = read_header(entry['path'])
        if model is not None and header['kind'] == 'generator' and header['config'] == config:
            try:
                model.load_state_dict(load_file(str(entry['path'])))
            except (SafetensorError, OSError, RuntimeError) as e:
                raise ModelFileError(f"{entry['path']}: damaged weights ({str(e).splitlines()[0]})") from None
        else:
            model, header = load_generator(entry['path'])
            config = header['config']
        yield entry, model


MAX_LANES = 8  # each lane holds a model copy (a resnet34 U-Net: about 165 MB)


def cpu_lanes(device):
    """Pictures forwarded at the same time: on a CPU one per torch thread, each lane a Python thread running
    its own pictures with one intra-op thread (`scoring.one_cpu_thread`, held for the whole run). On 2 cores
    this is what keeps both busy: two OpenMP threads on one batch wait for each other at every layer
    (docs/metrics.md). Elsewhere one lane, with the device's own parallelism."""
    return max(1, min(torch.get_num_threads(), MAX_LANES)) if device.type == 'cpu' else 1


def run_checkpoints(rf, pictures, render_factor, bs=4, device='cpu'):
    """Each checkpoint's outputs and scores, in order (the model sees `bs` pictures at a time). The scores of
    one checkpoint are worked out while the next one's pictures go through its model."""
    judge = critic_judge(rf)
    dev = pick_device(device) if isinstance(device, str) else device
    results, entries = [], generators_to_compare(rf)

    def measure(entry, outputs):
        labs = lab_pictures(outputs, dev)
        results.append(CheckpointResult(entry, checkpoint_label(entry), outputs,
                                        score_outputs(pictures, outputs, judge, dev, labs), labs))
        add_move(results)

    lanes = max(1, min(cpu_lanes(dev), len(pictures)))
    cuts = [i * len(pictures) // lanes for i in range(lanes + 1)]
    parts = [[p.luma for p in pictures[a:b]] for a, b in zip(cuts, cuts[1:])]  # a lane's share, in order
    with one_cpu_thread(dev), ThreadPoolExecutor(lanes) as forward, ThreadPoolExecutor(1) as scorer:
        scored = []
        for entry, model in progress(generator_models(entries), total=len(entries), comment='checkpoints'):
            # a Colorizer (a model copy) per lane: the U-Net keeps the encoder's features on shared hooks
            colorizers = [Colorizer(model, render_factor, device=dev, bs=bs) for _ in parts]
            outputs = [o for out in forward.map(lambda c, part: c.colorize(part), colorizers, parts) for o in out]
            scored.append(scorer.submit(measure, entry, outputs))  # runs in order, one at a time
        for f in scored:
            f.result()
    for r in results:
        r.labs = None
    return results


def add_move(results):
    """The last result's `moved` (a burst checkpoint's): the mean ΔE00 between its outputs and those of the
    checkpoint before it of the same kind (averaged or raw; across cycles too), or of the stage-1 generator
    for the first. The Labs of the checkpoint it replaces as the last of its kind are dropped."""
    r = results[-1]
    if not is_burst_checkpoint(r.entry):
        return
    origin, last = None, {}
    for p in results[:-1]:
        if is_burst_checkpoint(p.entry):
            last[weights_kind(p.entry)] = p
        else:
            origin = p
    before = last.get(weights_kind(r.entry), origin)
    if before is not None:
        r.scores['moved'] = mean_ciede2000(r.labs, before.labs)
    if before is not None and before is not origin:
        before.labs = None


def gray_input_row(pictures):
    "The baseline: the gray input itself scored against the colour truth (None without colour truth)."
    if all(p.truth is None for p in pictures):
        return None
    device = next((p.truth_lab.device for p in pictures if p.truth_lab is not None), torch.device('cpu'))
    scores = score_outputs(pictures, [gray_to_rgb(p.luma) for p in pictures], None, device)
    return {'checkpoint': '', 'label': GRAY_INPUT, 'stage': GRAY_INPUT, 'cycle': '', 'iteration': '',
            **{k: scores.get(k, '') for k in ('cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000')}}


def table_rows(results, pictures=None):
    "One row per checkpoint, then (given the pictures, where they have colour truth) the gray input's row."
    rows = []
    for r in results:
        row = {'checkpoint': r.entry['name'], 'label': r.label, 'stage': r.entry.get('stage', ''),
               'cycle': r.entry.get('cycle', ''), 'iteration': r.entry.get('iteration', '')}
        row.update({k: r.scores.get(k, '') for k in TABLE_COLUMNS if k not in row})
        rows.append(row)
    baseline = gray_input_row(pictures) if pictures else None
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
    results = run_checkpoints(rf, pictures, render_factor, bs, device)
    rows_ = table_rows(results, pictures)
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
