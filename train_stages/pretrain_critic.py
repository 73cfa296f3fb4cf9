"""Stage 2: pretrain the critic as a classifier of real colour pictures (1) vs the generator's (0).

First the current generator (or --from CKPT) colours a fraction of the training pictures into
RUN/generated/cN/ (each file written atomically; existing ones are kept, so an interrupted generation
resumes). Then fastai's patch critic (deoldify_like.critic) learns real vs generated with
AdaptiveLoss(BCEWithLogitsLoss()) and accuracy_thresh_expand on a held-out part, saved per epoch for
resuming, and written as RUN/checkpoints/critic-cN.safetensors.

Cycles: a new cycle starts when the previous cycle's GAN burst has run, or when --from names another
generator than the current cycle's critic was trained against; its critic is fine-tuned from the critic of
the cycle before (when of the same width), by default at the reference's fine-tuning learning rate (1e-4).
run.json records the cycle. A run made with `--recipe` (or given one here) takes the reference's critic
settings for the first cycle and for the fine-tuning of later ones; flags given here win.

Real and generated pictures reach the critic through the same JPEG round trip (data.same_codec), so it
learns colour, not the codec.
"""
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
from deoldify_like.critic import CriticConfig, build_critic, critic_min_size
from deoldify_like.data import LabelledImages, dataloaders, scaled_pictures
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError, SettingsError, reraise_as
from deoldify_like.images import save_image
from deoldify_like.model_file import load_generator, load_model_file, read_header, save_model_file
from deoldify_like.progress import progress
from deoldify_like.tensors import gray_batch_to_input, output_to_rgb
from deoldify_like.train_precision import resolve_train_precision

from . import recipes
from . import stage as stg
from .distributed import one_job_shared
from .bookkeeping import StageClock, epoch_bookkeeping
from .plots import samples_png
from .pretrain_gen import loss_network_identity, record_split
from .run_folder import RunFolder, append_csv, critic_stage, gan_stage, read_csv, truncate_csv
from .settings import PretrainCriticSettings, stage_command



def check_new_run_from_model(rf, data, model, vgg_weights):
    """For a run that starts from a model file (a promoted model, one imported from the reference weights):
    check everything before the run folder is touched. Returns the loss network's (setting, fingerprint)."""
    if not model:
        raise SettingsError("--data starts a new run from a model file: give --from MODEL too")
    if rf.has_split():
        if rf.split_root() != data.resolve():
            raise SettingsError(f"{rf.path}: this run already trains on {rf.split_root()}; leave out --data or use a new run folder")
        return None
    if not data.is_dir():
        raise SettingsError(f"{data}: no such folder of training pictures")
    with reraise_as(SettingsError):
        rf.resolve_model(model, 'generator')
    return loss_network_identity(vgg_weights or 'imagenet')


def start_run_from_model(rf, data, model, seed, loss_net, recipe_name):
    "Record the new run's training data and loss network; the cycle starts from `model`."
    rf.create()
    info = record_split(rf, data, None, seed, 0.1)
    rf.record_loss_network(*loss_net)
    if recipe_name:
        rf.update(lambda doc: doc.update(recipe={'name': recipe_name, 'values': recipes.recipe(recipe_name), 'overrides': {}}))
    print(f"{rf.path}: new run on {info['n_train']} training pictures from {data}, starting from {model}; "
          f"loss network {loss_net[0]} ({loss_net[1][:16]})", flush=True)


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
def generate_fakes(model, files, out_dir, size, bs, device, names, workers=None):
    """The generator's colouring of each file (shorter side `size`) as PNG; files already there are kept. `workers`
    loader processes decode the pictures ahead of the generator (None: the machine's default)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    todo = [(f, out_dir / n) for f, n in zip(files, names) if not (out_dir / n).is_file()]
    if len(todo) < len(files):
        print(f"generated: {len(files) - len(todo)} of {len(files)} already in {out_dir}; making the rest", flush=True)
    groups = {}
    for (_, dest), rgb in zip(todo, scaled_pictures([f for f, _ in todo], size, workers)):
        groups.setdefault(rgb.shape[:2], []).append((rgb, dest))
    batches = [g[i:i + bs] for g in groups.values() for i in range(0, len(g), bs)]
    model.eval()
    for batch in progress(batches, total=len(batches), comment='generating'):
        x = gray_batch_to_input(np.stack([rgb_to_gray(rgb) for rgb, _ in batch]), device)
        for pic, (_, dest) in zip(output_to_rgb(model(x)), batch):
            save_image(pic, dest)
    return [out_dir / n for n in names]


def fake_name(rf, path):
    return '__'.join(Path(path).relative_to(rf.split_root()).with_suffix('').parts) + '.png'


def _pretrain_critic(args, cbs):
    with one_job_shared('pretrain-critic', args['device'], make_fakes_share) as share_fakes:
        if share_fakes is None:
            return 0  # under torchrun / accelerate launch: this rank made its share of the fakes
        return _begin_and_train(share_fakes, cbs, **args)


pretrain_critic = stage_command(PretrainCriticSettings, _pretrain_critic,
                                "Stage 2: make fakes with the generator, then pretrain the critic on real (1) vs generated (0).")


def _begin_and_train(share_fakes, cbs, run, from_, data, vgg_weights, recipe, epochs, bs, size, fake_size, fraction,
                     nf, lr, valid_pct, seed, force, device, workers, precision):
    if not run:
        raise SettingsError("pretrain-critic needs --run RUN")
    if fraction is not None and not 0 < fraction <= 1:
        raise SettingsError(f"--fraction must be in (0, 1], got {fraction}")
    resolve_train_precision(precision, pick_device(device))  # checked before anything is written
    recipes.recipe(recipe)  # an unknown name is an error before anything is written
    rf = RunFolder(run)
    loss_net = check_new_run_from_model(rf, Path(data), from_, vgg_weights) if data else None
    if not data and (vgg_weights or recipe):
        raise SettingsError("--vgg-weights and --recipe here are for a new run with --data and --from; "
                            "an existing run keeps what it recorded")
    if not data:
        rf.load()
    with reraise_as(SettingsError):
        gen_path = generator_ref(rf, from_) if rf.exists() else rf.resolve_model(from_, 'generator')
    if loss_net:
        start_run_from_model(rf, Path(data), from_, seed, loss_net, recipe)
    gen_name = display_name(rf, gen_path)
    cycle = choose_cycle(rf, gen_name)
    rec = (rf.load().get('recipe') or {}).get('values') or {}
    given = {'epochs': epochs, 'bs': bs, 'size': size, 'fake_size': fake_size, 'fraction': fraction, 'nf': nf, 'lr': lr}
    defaults = PretrainCriticSettings.recipe_defaults()
    start = previous_critic(rf, cycle, nf or (rec.get('pretrain-critic') or {}).get('nf') or defaults['nf'])
    if start:  # fine-tuning the critic of the cycle before
        values, overrides = PretrainCriticSettings.resolve(given, rec.get('critic-finetune'),
                                                           {**defaults, 'lr': PretrainCriticSettings.FINETUNE_LR})
    else:
        values, overrides = PretrainCriticSettings.resolve(given, rec.get('pretrain-critic'))
    values['fake_size'] = values['fake_size'] or values['size']
    if values['size'] < critic_min_size(CriticConfig()):
        raise SettingsError(f"--size: the critic needs pictures of at least {critic_min_size(CriticConfig())} px, got {values['size']}")
    name = critic_stage(cycle)
    settings = {'cycle': cycle, 'generator': gen_name, 'start_from': start, **values, 'wd': 1e-3, 'valid_pct': valid_pct,
                'seed': seed, 'device': device, 'workers': workers, 'precision': precision,
                'recipe': (rf.load().get('recipe') or {}).get('name'),
                'recipe_overrides': overrides}
    action, state = stg.begin(rf, name, settings, force)
    if action == 'done':
        print(f"{name}: already done (critic {rf.stage(name).get('checkpoint')}); --force to train it again, "
              f"or run `gan` next")
        return 0
    rf.drop_resumes_except({name})  # the resume states of earlier cycles are not needed any more

    def _cycle(doc):
        doc['cycle'] = cycle
        doc.setdefault('cycles', {})[str(cycle)] = {'generator': gen_name, 'critic': None, 'started': doc['stages'][name]['started']}
    rf.update(_cycle)
    with stg.running(rf, name):
        return _train(rf, name, settings, state, gen_path, cbs, share_fakes)


def make_fakes_share(job, device, rank, world):
    "One rank's share of the fakes (every world-th picture from its rank): a job sent by `one_job_shared`."
    gen, _ = load_generator(job['generator'], device)
    mine = slice(rank, None, world)
    made = generate_fakes(gen, job['files'][mine], Path(job['out_dir']), job['size'], job['bs'], device, job['names'][mine],
                          job.get('workers'))
    if world > 1:
        print(f"pretrain-critic: rank {rank} of {world}: {len(made)} of the {len(job['files'])} fakes", flush=True)
    return made


def _train(rf, name, s, state, gen_path, cbs, share_fakes):
    dev = pick_device(s['device'])
    set_seed(s['seed'], reproducible=True)
    train_files = rf.split_files('train')
    rng = np.random.default_rng(s['seed'])
    n = max(2, round(len(train_files) * s['fraction']))
    chosen = [train_files[i] for i in sorted(rng.permutation(len(train_files))[:n])]

    t0 = time.time()
    out_dir = rf.generated / f"c{s['cycle']}"
    names = [fake_name(rf, f) for f in chosen]
    share_fakes({'generator': str(gen_path), 'files': [str(f) for f in chosen], 'out_dir': str(out_dir),
                 'size': s['fake_size'], 'bs': s['bs'], 'names': names, 'workers': s.get('workers')})
    fakes = [out_dir / n for n in names]
    print(f"{name}: {len(fakes)} generated pictures in {out_dir} ({time.time() - t0:.0f} s)", flush=True)
    rf.set_stage(name, generated={'dir': str(out_dir.relative_to(rf.path)), 'count': len(fakes)})

    order = rng.permutation(len(chosen))
    n_valid = min(len(chosen) - 1, max(1, round(len(chosen) * s['valid_pct'])))
    held = set(order[:n_valid].tolist())
    part = lambda keep: ([f for i, f in enumerate(chosen) if keep(i)] + [f for i, f in enumerate(fakes) if keep(i)],  # noqa: E731
                         [1.0] * sum(map(keep, range(len(chosen)))) + [0.0] * sum(map(keep, range(len(chosen)))))
    (tf, tl), (vf, vl) = part(lambda i: i not in held), part(lambda i: i in held)
    dls = dataloaders(LabelledImages(tf, tl, s['size'], True, s['seed']), LabelledImages(vf, vl, s['size'], False, s['seed']),
                      s['bs'], dev, s['seed'], workers=s.get('workers'))
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
    stg.train_in_precision(learn, s, dev)
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
    dls.train.next_epoch = e0  # the loader's epoch stream, resumed too
    if e0 < s['epochs']:
        clock = StageClock(seconds0)  # training time, counted across resumptions
        learn.fit_one_cycle(s['epochs'], s['lr'], start_epoch=e0, cbs=epoch_bookkeeping(
            rf, name, clock, s['epochs'], e0, n_batches, f"s{s['size']}", f"{name}: real vs generated, {s['size']} px",
            metric=('accuracy_thresh_expand', 'accuracy'), valid_name='held-out'))
    rows = [r for r in read_csv(epoch_csv) if r.get('accuracy')]
    acc = float(rows[-1]['accuracy']) if rows else None
    ckpt = rf.checkpoint_path(f"critic-c{s['cycle']}")
    save_model_file(ckpt, learn.model, 'critic', cfg, info={'stage': name, 'run': str(rf.path.resolve()), 'size': s['size'],
                                                            'accuracy': acc, 'generator': s['generator']})
    rf.add_checkpoint(ckpt.name, 'critic', name, cycle=s['cycle'], size=s['size'], accuracy=acc, generator=s['generator'])
    rf.update(lambda doc: doc['cycles'][str(s['cycle'])].update(critic=ckpt.name))
    _sample_picture(learn, rf.samples_png(name))
    stg.finish(rf, name, checkpoint=ckpt.name, accuracy=acc)
    rf.record_size(name)
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
