"""Every generator checkpoint of a run through the same pictures, and the measures of each: the work
behind `deoldify-like checkpoints` and the picker (`compare.py` makes the table and the grid of it).

The pictures are split into lanes, one per CPU thread; each lane takes its share through every checkpoint
in turn, its model forward then its own scores, and the main thread joins the shares checkpoint by
checkpoint (`run_checkpoints`). How the time goes and what each part saves: docs/metrics.md.
"""
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file

from deoldify_like.colour import gray_to_rgb
from deoldify_like.data import scale_shorter_side, square_crop
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError, ModelFileError
from deoldify_like.inference import Colorizer, prepare_for_inference, resolve_precision
from deoldify_like.inference.allocator import keep_freed_memory
from deoldify_like.inference.precision import inference_context
from deoldify_like.inference.prepare import load_folded
from deoldify_like.metrics import PhotoMeter, ciede2000_pairs, colourfulness, lab_pictures, score_photos
from deoldify_like.model_file import load_generator, load_model_file, read_header
from deoldify_like.progress import progress
from deoldify_like.scoring import gray_lab, one_cpu_thread
from deoldify_like.tensors import rgb_batch_to_tensor

from .run_folder import burst_checkpoint_name


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
        rows, sums, _ = score_photos([o for o, t in zip(outputs, has_truth) if t], [p.truth for p in pictures if p.truth is not None],
                                     device, truth_labs(pictures, device), labs and [lab for lab, t in zip(labs, has_truth) if t])
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
