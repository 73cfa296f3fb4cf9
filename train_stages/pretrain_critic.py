"""Stage 2: pretrain the critic as a classifier of real colour pictures (1) vs the generator's (0).

First the current generator (or --from CKPT) colours a fraction of the training pictures into
RUN/generated/cN/ (each file written atomically; existing ones are kept, so an interrupted generation
resumes). Then fastai's patch critic (deoldify_like.critic) learns real vs generated with
AdaptiveLoss(BCEWithLogitsLoss()) and accuracy_thresh_expand on a held-out part, saved per epoch for
resuming, and written as RUN/checkpoints/critic-cN.safetensors.

Cycles: a new cycle starts when the previous cycle's GAN burst has run, or when --from names another
generator than the current cycle's critic was trained against; its critic is fine-tuned from the critic of
the cycle before (when of the same width). run.json records the cycle.
"""
import json
import time
from pathlib import Path

import numpy as np
import torch
from fastai.learner import Learner
from fastai.torch_core import set_seed
from fastcore.foundation import L
from fastai.vision.gan import AdaptiveLoss, accuracy_thresh_expand
from torch import nn

from deoldify_like.colour import rgb_to_gray
from deoldify_like.critic import CriticConfig, build_critic
from deoldify_like.data import LabelledImages, dataloaders, scale_shorter_side
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.images import load_image, save_image
from deoldify_like.model_file import load_generator, load_model_file, read_header, save_model_file
from deoldify_like.progress import progress
from deoldify_like.tensors import gray_batch_to_input, output_to_rgb

from . import stage as stg
from .pretrain_gen import record_split
from .reports import epoch_loss_curve, samples_png
from .run_folder import RunFolder, append_csv, read_csv, truncate_csv


def critic_stage(c):
    return f'pretrain-critic-c{c}'


def gan_stage(c):
    return f'gan-c{c}'


def training_split(rf):
    path = rf.path / 'split.json'
    if not path.is_file():
        raise DeoldifyLikeError(f"{rf.path}: no training data recorded (split.json); run `deoldify-like pretrain-gen` first")
    split = json.loads(path.read_text())
    return [Path(split['root']) / f for f in split['train']]


def start_run_from_model(rf, data, model, seed):
    """A run folder for fine-tuning a generator that did not come from this run's stage 1 (a promoted model,
    one imported from the reference weights): record the training data; the cycle starts from `model`."""
    if not model:
        raise DeoldifyLikeError("--data starts a new run from a model file: give --from MODEL too")
    if (rf.path / 'split.json').is_file():
        recorded = json.loads((rf.path / 'split.json').read_text())['root']
        if Path(recorded) != data.resolve():
            raise DeoldifyLikeError(f"{rf.path}: this run already trains on {recorded}; leave out --data or use a new run folder")
        return
    if not data.is_dir():
        raise DeoldifyLikeError(f"{data}: no such folder of training pictures")
    rf.create()
    info = record_split(rf, data, None, seed, 0.1)
    print(f"{rf.path}: new run on {info['n_train']} training pictures from {data}, starting from {model}", flush=True)


def previous_critic(rf, cycle, nf):
    "The critic of the cycle before (to fine-tune), when there is one of the same width."
    prev = rf.load().get('cycles', {}).get(str(cycle - 1), {}).get('critic')
    if not prev or not rf.checkpoint_path(prev).is_file():
        return None
    return prev if read_header(rf.checkpoint_path(prev))['config'].get('nf') == nf else None


def generator_ref(rf, ref):
    "The generator to start from: --from (a checkpoint name of the run or a model file) or the run's current one."
    if ref:
        return rf.resolve_model(ref, 'generator')
    cur = rf.current('generator')
    if cur is None or not cur.is_file():
        raise DeoldifyLikeError(f"{rf.path}: no generator checkpoint yet; run `deoldify-like pretrain-gen` first or give --from")
    return cur


def display_name(rf, path):
    "A checkpoint of the run by its name; anything else by its full path."
    path = Path(path).resolve()
    return path.name if path.parent == rf.checkpoints.resolve() else str(path)


def choose_cycle(rf, generator):
    doc = rf.load()
    c = int(doc.get('cycle') or 0)
    if c == 0:
        return 1
    if gan_stage(c) in doc['stages']:
        return c + 1
    st = doc['stages'].get(critic_stage(c))
    if st and st['settings'].get('generator') != generator:
        return c + 1
    return c


@torch.no_grad()
def generate_fakes(model, files, out_dir, size, bs, device, names):
    "The generator's colouring of each file (shorter side `size`) as PNG; files already there are kept."
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [(f, out_dir / n) for f, n in zip(files, names) if not (out_dir / n).is_file()]
    if len(todo) < len(files):
        print(f"generated: {len(files) - len(todo)} of {len(files)} already in {out_dir}; making the rest", flush=True)
    groups = {}
    for f, dest in todo:
        rgb = scale_shorter_side(load_image(f).rgb, size)
        groups.setdefault(rgb.shape[:2], []).append((rgb, dest))
    batches = [g[i:i + bs] for g in groups.values() for i in range(0, len(g), bs)]
    model.eval()
    for batch in progress(batches, total=len(batches), comment='generating'):
        x = gray_batch_to_input(np.stack([rgb_to_gray(rgb) for rgb, _ in batch]), device)
        for pic, (_, dest) in zip(output_to_rgb(model(x)), batch):
            save_image(pic, dest)
    return [out_dir / n for n in names]


def fake_name(rf, path):
    split_root = Path(json.loads((rf.path / 'split.json').read_text())['root'])
    return '__'.join(Path(path).relative_to(split_root).with_suffix('').parts) + '.png'


def pretrain_critic(
    run: str = None,  # run folder (after pretrain-gen, or a new one with --data and --from)
    from_: str = None,  # generator to make the fakes with: a checkpoint name of the run or a model file (default: the current one)
    data: str = None,  # colour training pictures (see `prepare`) for a NEW run that starts from a model file given by --from, without stage 1
    epochs: int = 1,  # training epochs
    bs: int = 8,  # batch size
    size: int = 128,  # training size in pixels (fakes are made at this size)
    fraction: float = 1.0,  # share of the training pictures to make fakes of (the reference used ~0.085 of ImageNet)
    nf: int = 64,  # critic width (the reference used 256: 16x the weights and ~15x the time of 64 on a CPU)
    lr: float = 1e-3,  # peak one-cycle learning rate
    valid_pct: float = 0.1,  # held-out share (whole pictures: their real and generated versions together)
    seed: int = 42,  # seed of the choice of pictures, the split and the shuffling
    force: bool = False,  # train this cycle's critic again even if it is done
    device: str = 'auto',  # auto | cpu | cuda
    **python_only,  # cbs=[fastai callbacks] (from Python only)
):
    "Stage 2: make fakes with the generator, then pretrain the critic on real (1) vs generated (0)."
    cbs = stg.python_callbacks(python_only)
    if not run:
        raise DeoldifyLikeError("pretrain-critic needs --run RUN")
    if not 0 < fraction <= 1:
        raise DeoldifyLikeError(f"--fraction must be in (0, 1], got {fraction}")
    rf = RunFolder(run)
    if data:
        start_run_from_model(rf, Path(data), from_, seed)
    rf.load()
    gen_path = generator_ref(rf, from_)
    gen_name = display_name(rf, gen_path)
    cycle = choose_cycle(rf, gen_name)
    start = previous_critic(rf, cycle, nf)
    name = critic_stage(cycle)
    settings = {'cycle': cycle, 'generator': gen_name, 'start_from': start, 'epochs': epochs, 'bs': bs, 'size': size, 'fraction': fraction,
                'nf': nf, 'lr': lr, 'wd': 1e-3, 'valid_pct': valid_pct, 'seed': seed, 'device': device}
    action, state = stg.begin(rf, name, settings, force)
    if action == 'done':
        print(f"{name}: already done (critic {rf.stage(name).get('checkpoint')}); --force to train it again, "
              f"or run `gan` next")
        return 0

    def _cycle(doc):
        doc['cycle'] = cycle
        doc.setdefault('cycles', {})[str(cycle)] = {'generator': gen_name, 'critic': None, 'started': doc['stages'][name]['started']}
    rf.update(_cycle)
    with stg.running(rf, name):
        return _train(rf, name, settings, state, gen_path, cbs)


def _train(rf, name, s, state, gen_path, cbs):
    dev = pick_device(s['device'])
    set_seed(s['seed'], reproducible=True)
    train_files = training_split(rf)
    rng = np.random.default_rng(s['seed'])
    n = max(2, round(len(train_files) * s['fraction']))
    chosen = [train_files[i] for i in sorted(rng.permutation(len(train_files))[:n])]

    t0 = time.time()
    gen, _ = load_generator(gen_path, dev)
    out_dir = rf.generated / f"c{s['cycle']}"
    fakes = generate_fakes(gen, chosen, out_dir, s['size'], s['bs'], dev, [fake_name(rf, f) for f in chosen])
    del gen
    print(f"{name}: {len(fakes)} generated pictures in {out_dir} ({time.time() - t0:.0f} s)", flush=True)
    rf.set_stage(name, generated={'dir': str(out_dir.relative_to(rf.path)), 'count': len(fakes)})

    order = rng.permutation(len(chosen))
    n_valid = min(len(chosen) - 1, max(1, round(len(chosen) * s['valid_pct'])))
    held = set(order[:n_valid].tolist())
    part = lambda keep: ([f for i, f in enumerate(chosen) if keep(i)] + [f for i, f in enumerate(fakes) if keep(i)],  # noqa: E731
                         [1.0] * sum(map(keep, range(len(chosen)))) + [0.0] * sum(map(keep, range(len(chosen)))))
    (tf, tl), (vf, vl) = part(lambda i: i not in held), part(lambda i: i in held)
    dls = dataloaders(LabelledImages(tf, tl, s['size'], True, s['seed']), LabelledImages(vf, vl, s['size'], False, s['seed']),
                      s['bs'], dev, s['seed'])
    print(f"{name}: {len(tf)} training and {len(vf)} held-out pictures (half real, half generated)", flush=True)

    if s['start_from']:  # a later cycle fine-tunes the critic of the cycle before
        critic, header = load_model_file(rf.checkpoint_path(s['start_from']), 'critic', dev)
        cfg = CriticConfig.from_dict(header['config'])
        print(f"{name}: fine-tuning {s['start_from']}", flush=True)
    else:
        cfg = CriticConfig(nf=s['nf'])
        critic = build_critic(cfg).to(dev)
    learn = Learner(dls, critic, loss_func=AdaptiveLoss(nn.BCEWithLogitsLoss()),
                    metrics=accuracy_thresh_expand, wd=s['wd'], path=str(rf.path), model_dir='checkpoints', cbs=cbs)
    stg.quiet_progress(learn)
    batch_csv, epoch_csv, png = rf.log_path(name, '_batches'), rf.log_path(name), rf.reports / f'{name}_loss.png'
    e0, n_batches, seconds0 = 0, 0, 0.0
    if state is not None:
        e0, n_batches, seconds0 = int(state['epoch']), int(state['batches']), float(state.get('seconds', 0.0))
        learn.model.load_state_dict(state['model'])
        learn.create_opt()
        learn.opt.load_state_dict({'state': state['opt']['state'], 'hypers': L(state['opt']['hypers'])})
        print(f"{name}: resumed from {rf.resume_path(name)}: {e0} epoch(s) already done; continuing at epoch {e0 + 1} of {s['epochs']}", flush=True)
        truncate_csv(batch_csv, lambda r: int(r['batch']) <= n_batches)
    else:
        for p in (batch_csv, epoch_csv):
            p.unlink(missing_ok=True)
        loss0, acc0 = learn.validate()[:2]
        append_csv(epoch_csv, {'epoch': 0, 'batch': 0, 'train_loss': '', 'valid_loss': f"{loss0:.5f}",
                               'accuracy': f"{acc0:.4f}", 'seconds': 0})
        print(f"{name}: before training: held-out loss {loss0:.4f}, accuracy {acc0:.3f}", flush=True)
    counter = {'batches': n_batches}
    t_start = time.time() - seconds0  # training time, counted across resumptions

    def on_epoch(epoch, losses, record):
        for k, v in enumerate(losses):
            append_csv(batch_csv, {'batch': counter['batches'] + k + 1, 'phase': f"s{s['size']}", 'epoch': epoch + 1, 'loss': f"{v:.5f}"})
        counter['batches'] += len(losses)
        acc = record.get('accuracy_thresh_expand')
        append_csv(epoch_csv, {'epoch': epoch + 1, 'batch': counter['batches'], 'train_loss': f"{sum(losses) / len(losses):.5f}",
                               'valid_loss': stg.fmt(record.get('valid_loss'), 5), 'accuracy': stg.fmt(acc),
                               'seconds': round(time.time() - t_start, 1)})
        rf.save_resume(name, {'model': learn.model.state_dict(), 'opt': learn.opt.state_dict(), 'epoch': epoch + 1,
                              'batches': counter['batches'], 'seconds': time.time() - t_start})
        rf.set_stage(name, progress={'epoch': epoch + 1, 'of': s['epochs'], 'accuracy': acc})
        epoch_loss_curve(batch_csv, epoch_csv, png, f"{name}: real vs generated, {s['size']} px", metric='accuracy')
        print(f"{name}: epoch {epoch + 1}/{s['epochs']}: train loss {sum(losses) / len(losses):.4f}, held-out loss "
              f"{stg.fmt(record.get('valid_loss'))}, accuracy {stg.fmt(acc, 3)} ({time.time() - t_start:.0f} s)", flush=True)

    if e0 < s['epochs']:
        learn.fit_one_cycle(s['epochs'], s['lr'], start_epoch=e0, cbs=[stg.EpochEnd(on_epoch, e0)])
    rows = [r for r in read_csv(epoch_csv) if r.get('accuracy')]
    acc = float(rows[-1]['accuracy']) if rows else None
    ckpt = rf.checkpoint_path(f"critic-c{s['cycle']}")
    save_model_file(ckpt, learn.model, 'critic', cfg, info={'stage': name, 'run': str(rf.path.resolve()), 'size': s['size'],
                                                            'accuracy': acc, 'generator': s['generator']})
    rf.add_checkpoint(ckpt.name, 'critic', name, cycle=s['cycle'], size=s['size'], accuracy=acc, generator=s['generator'])
    rf.update(lambda doc: doc['cycles'][str(s['cycle'])].update(critic=ckpt.name))
    _sample_picture(learn, rf.reports / f'{name}_samples.png')
    stg.finish(rf, name, checkpoint=ckpt.name, accuracy=acc)
    print(f"{name}: done; held-out accuracy {acc}; critic {ckpt}; loss curve {png}", flush=True)
    return 0


@torch.no_grad()
def _sample_picture(learn, png):
    "Held-out pictures with the critic's mean probability of 'real' (title row)."
    x, y = learn.dls.valid.one_batch()
    learn.model.eval()
    p = torch.sigmoid(learn.model(x)).mean(1).cpu()
    order = torch.argsort(y.cpu(), descending=True)[:6]
    titles = ['  '.join(f"{'R' if y[i] > 0.5 else 'G'}:{p[i]:.2f}" for i in order)]
    samples_png([x.cpu()[order]], png, titles=titles)
