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
import queue
import threading
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
from deoldify_like.inference import Colorizer, prepare_for_inference, resolve_precision
from deoldify_like.inference.prepare import load_folded
from deoldify_like.inference.allocator import keep_freed_memory
from deoldify_like.inference.precision import inference_context
from deoldify_like.metrics import PhotoMeter, ciede2000_pairs, colourfulness, lab_pictures, score_photos
from deoldify_like.model_file import load_generator, load_model_file, read_header
from deoldify_like.progress import progress, say
from deoldify_like.scoring import gray_lab, one_cpu_thread
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
    truth_cf: float = None  # the truth's colourfulness, likewise


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


@dataclass
class PictureScores:
    """The measures of one set of outputs picture by picture (a lane's share of the pictures), before they
    are averaged into a table row by `summarise`."""
    rows: list  # `score_photos` rows of the pictures with colour truth
    sums: list  # their drift sums
    colourfulness: list  # of each output, where no picture has colour truth
    critic: list  # the critic's probability of 'real' for each output (empty without a critic)
    moved: list = field(default_factory=list)  # mean ΔE00 of each output to the checkpoint before (burst only)


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
    """The run's critic as a fixed judge: its probability of 'real' for each output. It runs as the
    generators do in `Colorizer`: spectral norm folded, in the device's precision ('auto': bf16 on this
    project's CPU, 2.4 times as fast as fp32 on 64 px crops, each probability within 0.001 of fp32's)."""

    def __init__(self, path, size, device='cpu'):
        self.device = pick_device(device) if isinstance(device, str) else device
        model, _ = load_model_file(path, 'critic')
        self.model = prepare_for_inference(model, self.device, channels_last=False, copy_model=False)
        self.precision = resolve_precision('auto', self.device)
        self.size = int(size)

    def probabilities(self, outputs):
        crops = np.stack([square_crop(scale_shorter_side(o, self.size), self.size) for o in outputs])
        with inference_context(self.device, self.precision):
            out = self.model(rgb_batch_to_tensor(crops, self.device))
        return torch.sigmoid(out.float()).flatten(1).mean(1).tolist()


def critic_judge(rf, device='cpu'):
    critics = rf.list_checkpoints('critic')
    if not critics:
        return None
    entry = next((c for c in critics if c['name'] == rf.load()['current'].get('critic')), critics[-1])
    return CriticJudge(entry['path'], entry.get('size', 64), device)


def picture_scores(pictures, outputs, judge, device='cpu', labs=None):
    "The per-picture measures of `outputs` (`labs`: their Lab tensors where already known) on `device`."
    has_truth = [p.truth is not None for p in pictures]
    rows = sums = cf = []
    if any(has_truth):
        with_truth = [p for p in pictures if p.truth is not None]
        for p in with_truth:
            if p.truth_cf is None:
                p.truth_cf = colourfulness(p.truth)
        rows, sums, _ = score_photos([o for o, t in zip(outputs, has_truth) if t], [p.truth for p in with_truth], device,
                                     truth_labs(pictures, device), labs and [lab for lab, t in zip(labs, has_truth) if t],
                                     truth_cf=[p.truth_cf for p in with_truth])
    else:
        cf = [colourfulness(o) for o in outputs]
    return PictureScores(rows, sums, cf, judge.probabilities(outputs) if judge is not None else [])


def summarise(shares):
    "A table row's measures from the `PictureScores` of every lane's share of one set of outputs, in order."
    joined = PictureScores(*([x for s in shares for x in getattr(s, f)] for f in ('rows', 'sums', 'colourfulness',
                                                                                   'critic', 'moved')))
    scores = {}
    if joined.rows:
        scores.update(PhotoMeter().add_scored(joined.rows, joined.sums).summary())
    else:
        scores['cf_output'] = float(np.mean(joined.colourfulness))
    if joined.critic:
        scores['critic_score'] = float(np.mean(joined.critic))
    if joined.moved:
        scores['moved'] = float(np.mean(joined.moved))
    return scores


def score_outputs(pictures, outputs, judge, device='cpu', labs=None):
    """The table's measures of one set of outputs, scored together on `device` (`labs`: the outputs' Lab
    tensors where already known)."""
    device = pick_device(device) if isinstance(device, str) else device
    return summarise([picture_scores(pictures, outputs, judge, device, labs)])


def checkpoint_colorizers(entries, render_factor, device, bs):
    """(entry, Colorizer) for each generator checkpoint in turn. The network is built and prepared for
    inference once per architecture, and each later checkpoint's weights are folded straight into it
    (`prepare.load_folded`): building one (fastai's DynamicUnet runs dummy forward passes to size itself)
    costs seconds, copying and preparing it a tenth of a second, loading the weights hundredths. The
    Colorizer is the same object from one checkpoint to the next."""
    colorizer = config = None
    for entry in entries:
        header = read_header(entry['path'])
        if colorizer is None or header['kind'] != 'generator' or header['config'] != config:
            model, header = load_generator(entry['path'])
            colorizer, config = Colorizer(model, render_factor, device=device, bs=bs, copy_model=False), header['config']
        else:
            try:
                folded = load_folded(colorizer.model, load_file(str(entry['path'])))
            except (SafetensorError, OSError, RuntimeError) as e:
                raise ModelFileError(f"{entry['path']}: damaged weights ({str(e).splitlines()[0]})") from None
            if not folded:  # weights this cannot fold: a fresh network, as the file itself would give
                colorizer = Colorizer(load_generator(entry['path'])[0], render_factor, device=device, bs=bs, copy_model=False)
        yield entry, colorizer


MAX_LANES = 8  # each lane holds a model copy (a resnet34 U-Net: about 165 MB)


def cpu_lanes(device):
    """Lanes of pictures worked at the same time: on a CPU one per torch thread, each lane a Python thread
    with one intra-op thread (`scoring.one_cpu_thread`, held for the whole run). On 2 cores this is what keeps
    both busy: two OpenMP threads on one batch wait for each other at every layer (docs/metrics.md).
    Elsewhere one lane, with the device's own parallelism."""
    return max(1, min(torch.get_num_threads(), MAX_LANES)) if device.type == 'cpu' else 1


def lane_shares(rf, part, entries, render_factor, bs, device, gray_last=False):
    """One lane's work, as (step, share): the gray input's `PictureScores` for its share of the pictures
    (step 0), and checkpoint by checkpoint (step k), (outputs, PictureScores) with `moved` against the
    checkpoint before it of the same kind (averaged or raw, across cycles too), or against the stage-1
    generator for the first. The lane builds its own network and critic (the U-Net keeps the encoder's
    features on hooks, so a model cannot serve two threads), so lanes share nothing but the pictures.
    `gray_last`: the gray input after the checkpoints, not before, so that two lanes are out of step (one
    scoring while the other runs its model) instead of both scoring at once."""
    judge = critic_judge(rf, device)
    lumas = [p.luma for p in part]

    def gray():
        gray_labs = [gray_lab(torch.from_numpy(luma).to(device)) for luma in lumas]
        return 0, picture_scores(part, [gray_to_rgb(luma) for luma in lumas], None, device, gray_labs)

    if not gray_last:
        yield gray()
    origin, last = None, {}  # the stage-1 generator's Labs, and the last burst checkpoint's of each kind
    for step, (entry, colorizer) in enumerate(checkpoint_colorizers(entries, render_factor, device, bs), 1):
        outputs = colorizer.colorize(lumas)
        labs = lab_pictures(outputs, device)
        share = picture_scores(part, outputs, judge, device, labs)
        if is_burst_checkpoint(entry):
            before = last.get(weights_kind(entry), origin)
            if before is not None:
                share.moved = ciede2000_pairs(labs, before)
            last[weights_kind(entry)] = labs
        else:
            origin = labs
        yield step, (outputs, share)
    if gray_last:
        yield gray()


def run_checkpoints(rf, pictures, render_factor, bs=4, device='cpu'):
    """Each checkpoint's outputs and scores, in order, and the gray input's scores (None without colour
    truth). The pictures are split into lanes (`cpu_lanes`); each lane takes its share through every
    checkpoint in turn, forward then scores (`lane_shares`), so no lane waits for another or for a scoring
    thread; the shares are joined here, checkpoint by checkpoint, as they come in (the model sees `bs`
    pictures at a time)."""
    dev = pick_device(device) if isinstance(device, str) else device
    entries = generators_to_compare(rf)
    if dev.type == 'cpu':
        keep_freed_memory()
    lanes = max(1, min(cpu_lanes(dev), len(pictures)))
    cuts = [i * len(pictures) // lanes for i in range(lanes + 1)]
    parts = [pictures[a:b] for a, b in zip(cuts, cuts[1:])]  # a lane's share, in order
    arrivals, stop, got = queue.Queue(), threading.Event(), {}

    def lane(i, part):
        try:
            for step, share in lane_shares(rf, part, entries, render_factor, bs, dev, gray_last=i % 2 == 1):
                arrivals.put((step, i, share))
                if stop.is_set():
                    return
        except BaseException as e:  # noqa: BLE001 - raised again by the main thread, which reads the queue
            arrivals.put((None, i, e))

    def step_shares(step):
        "Every lane's share of `step` (0: the gray input; k: the k-th checkpoint), in lane order."
        while len(got.setdefault(step, {})) < lanes:
            s, i, share = arrivals.get()
            if s is None:
                raise share
            got.setdefault(s, {})[i] = share
        shares = got.pop(step)
        return [shares[i] for i in range(lanes)]

    with one_cpu_thread(dev), ThreadPoolExecutor(lanes) as pool:
        for i, part in enumerate(parts):
            pool.submit(lane, i, part)
        try:
            results = []
            for step, entry in enumerate(progress(entries, total=len(entries), comment='checkpoints'), 1):
                shares = step_shares(step)
                results.append(CheckpointResult(entry, checkpoint_label(entry), [o for out, _ in shares for o in out],
                                                summarise([share for _, share in shares])))
            gray = summarise(step_shares(0)) if any(p.truth is not None for p in pictures) else None
        finally:
            stop.set()
    return results, gray


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
