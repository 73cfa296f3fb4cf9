"""Stage 1: pretrain the generator with the feature loss only (no critic).

fastai's Learner and one-cycle schedule; the encoder frozen first (at the first size: only useful with an
ImageNet encoder), then everything trained with discriminative learning rates (the encoder slower than the
decoder, over two or, as the reference, three layer groups), one size after another, each size with its own
batch size, peak learning rate and share of the data. After every epoch the weights and optimizer state are
saved, so a killed stage resumes at the epoch it was in; after every size a self-describing generator file
goes to RUN/checkpoints/ (gen-s64.safetensors, ...).

Every setting is checked before the run folder is touched: a bad value is one line and exit 2, and the
corrected command then runs as if the first had not been tried. `--recipe` sets the reference's values
(train_stages.recipes); a flag given beside it wins and is recorded as an override.
"""
import argparse
import contextlib
import time
from functools import partial
from pathlib import Path
from typing import Annotated

import torch
from fastai.learner import Learner
from fastai.torch_core import params, set_seed
from fastcore.foundation import L
from torch import nn

from deoldify_like.choices import ENCODERS
from deoldify_like.crappify import Crappifier
from deoldify_like.data import AUGMENTS, ColourPairs, dataloaders, list_images, split_files
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError, SettingsError
from deoldify_like.feature_loss import FeatureLoss, check_vgg_weights, loss_network
from deoldify_like.tensors import state_sha256
from deoldify_like.generator import GENERATOR_STYLES, GeneratorConfig, build_generator, encoder_of
from deoldify_like.inference import render_factor_for_size
from deoldify_like.model_file import load_generator, read_header, save_generator
from deoldify_like.pretrained import imagenet_state_dict

from . import distributed as dd
from . import recipes
from . import stage as stg
from .plots import epoch_loss_curve, samples_png
from .run_folder import GEN_STAGE as STAGE
from .run_folder import RunFolder, append_csv, read_csv, truncate_csv

FASTAI_PCT_START = 0.25  # fastai's fit_one_cycle default


def number_list(text, what, kind=int):
    "'64,128' -> [64, 128]; a list or a single number is taken as it is."
    if isinstance(text, (list, tuple)):
        values = list(text)
    elif isinstance(text, (int, float)):
        values = [text]
    else:
        try:
            values = [kind(v) for v in str(text).replace(' ', '').split(',') if v]
        except ValueError:
            raise SettingsError(f"{what}: expected numbers separated by commas, got {text!r}") from None
    if not values or min(values) <= 0:
        raise SettingsError(f"{what}: expected positive numbers separated by commas, got {text!r}")
    return [kind(v) for v in values]


def int_list(text, what):
    return number_list(text, what, int)


def per_size(values, n, what):
    "One value per size: a single value is repeated."
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise SettingsError(f"{what} gives {len(values)} values for {n} sizes")
    return values


def generator_splitter(model, groups=2):
    """Parameter groups for discriminative learning rates: the encoder, then everything after it; with three
    (the reference), the encoder's first six children (stem, layer1, layer2), its rest, then the decoder."""
    enc = encoder_of(model)
    rest = params(nn.Sequential(*[m for m in model.children() if m is not enc]))
    if groups == 3:
        return [params(enc[:6]), params(enc[6:]), rest]
    return [params(enc), rest]


def make_data(rf, s, size, bs, device, fraction=1.0):
    "The run's recorded train/valid split as fastai DataLoaders at `size`; a seeded share of the training files."
    train, valid = rf.split_files('train'), rf.split_files('valid')
    if fraction < 1:
        keep = torch.randperm(len(train), generator=torch.Generator().manual_seed(s['seed']))[:max(1, round(len(train) * fraction))]
        train = [train[i] for i in sorted(keep.tolist())]
    crap, seed = s.get('crappify', ''), s.get('seed', 42)
    return dataloaders(ColourPairs(train, size, True, crap, seed, s.get('augment', 'none')),
                       ColourPairs(valid, size, False, crap, seed), bs, device, seed)


def record_split(rf, data, limit, seed, valid_pct):
    files = list_images(data)
    train, valid = split_files(files, valid_pct, seed, limit)
    rf.write_split(data, train, valid)
    info = {'dir': str(Path(data).resolve()), 'n_files': len(files), 'limit': limit, 'n_train': len(train),
            'n_valid': len(valid), 'seed': seed, 'valid_pct': valid_pct, 'split': rf.split_path.name}
    rf.update(lambda doc: doc.update(data=info))
    return info


def phases_of(s):
    "The training phases: [frozen at the first size], then each size unfrozen."
    out = []
    if s['frozen_epochs']:
        out.append({'size': s['sizes'][0], 'frozen': True, 'epochs': s['frozen_epochs'], 'lr': s['lr'],
                    'bs': s['bs'][0], 'fraction': s['fractions'][0], 'pct_start': s['frozen_pct_start'],
                    'checkpoint': f"gen-s{s['sizes'][0]}-frozen"})
    for size, n, lr, bs, frac in zip(s['sizes'], s['epochs'], s['lrs'], s['bs'], s['fractions']):
        out.append({'size': size, 'frozen': False, 'epochs': n, 'lr': [lr / s['encoder_lr_div'], lr], 'bs': bs,
                    'fraction': frac, 'pct_start': s['pct_start'], 'checkpoint': f"gen-s{size}"})
    return out


def check_encoder_weights(arch):
    "ImageNet encoder weights asked for must be at hand before the stage starts: one line saying how to get them."
    try:
        imagenet_state_dict(arch)
    except DeoldifyLikeError as e:
        raise SettingsError(str(e)) from None


def loss_network_identity(vgg_weights):
    """(recorded setting, fingerprint) of a --vgg-weights value, checked; the weights are read to fingerprint
    them, so ImageNet weights that cannot be had or a foreign file fail here, before anything is written."""
    try:
        spec = check_vgg_weights(vgg_weights)
        return spec, state_sha256(loss_network(spec))
    except DeoldifyLikeError as e:
        raise SettingsError(str(e)) from None


def stage1_settings(data, arch, sizes, epochs, bs, lr, lrs, pretrained, limit, seed, nf_factor, frozen_epochs,
                    encoder_lr_div, pct_start, frozen_pct_start, layer_groups, fractions, augment, valid_pct,
                    crappify, device, vgg_weights, recipe, init):
    """Every setting of stage 1, checked, with the recipe applied; raises SettingsError (exit 2) before
    anything is written. Returns (settings, recipe values or None)."""
    rec = recipes.recipe(recipe)
    rv = rec['pretrain-gen'] if rec else None
    given = {'arch': arch, 'sizes': None if sizes is None else int_list(sizes, '--sizes'),
             'epochs': None if epochs is None else int_list(epochs, '--epochs'),
             'bs': None if bs is None else int_list(bs, '--bs'), 'lr': lr,
             'lrs': None if lrs is None else number_list(lrs, '--lrs', float), 'nf_factor': nf_factor,
             'frozen_epochs': frozen_epochs, 'encoder_lr_div': encoder_lr_div, 'pct_start': pct_start,
             'frozen_pct_start': frozen_pct_start, 'layer_groups': layer_groups,
             'fractions': None if fractions is None else number_list(fractions, '--fractions', float),
             'augment': augment, 'crappify': crappify, 'vgg_weights': vgg_weights,
             'pretrained': pretrained}
    pre = pretrained if pretrained is not None else True
    defaults = {'arch': 'resnet34', 'style': 'unet', 'nf_factor': 1.0, 'pretrained': pre, 'sizes': [64, 128],
                'epochs': [1], 'bs': [8], 'lr': 1e-3, 'lrs': None, 'frozen_epochs': None, 'encoder_lr_div': None,
                'pct_start': FASTAI_PCT_START, 'frozen_pct_start': FASTAI_PCT_START, 'layer_groups': 2,
                'fractions': [1.0], 'augment': 'none', 'crappify': 'none', 'wd': 1e-3, 'vgg_weights': None}
    s, overrides = recipes.apply(given, defaults, rv)
    pre = bool(s['pretrained'])
    n = len(s['sizes'])
    s['epochs'] = per_size(s['epochs'], n, '--epochs')
    s['bs'] = per_size(s['bs'], n, '--bs')
    s['fractions'] = per_size(s['fractions'], n, '--fractions')
    s['lrs'] = per_size(s['lrs'] or [s['lr'] * 0.3], n, '--lrs')
    s['frozen_epochs'] = (1 if pre else 0) if s['frozen_epochs'] is None else int(s['frozen_epochs'])
    s['encoder_lr_div'] = (1000.0 if pre else 10.0) if s['encoder_lr_div'] is None else float(s['encoder_lr_div'])
    s['vgg_weights'] = s['vgg_weights'] or ('imagenet' if pre else 'random')
    if s['arch'] not in ENCODERS:
        raise SettingsError(f"--arch: unknown encoder {s['arch']!r}; choose one of {', '.join(ENCODERS)}")
    if s['style'] not in GENERATOR_STYLES:
        raise SettingsError(f"unknown generator style {s['style']!r}")
    if min(s['sizes']) < 32 or any(v % 8 for v in s['sizes']):
        raise SettingsError(f"--sizes: training sizes must be multiples of 8 and at least 32 px, got {s['sizes']}")
    if max(s['fractions']) > 1:
        raise SettingsError(f"--fractions: shares of the data must be in (0, 1], got {s['fractions']}")
    if int(s['layer_groups']) not in (2, 3):
        raise SettingsError(f"--layer-groups: 2 or 3, got {s['layer_groups']}")
    if s['augment'] not in AUGMENTS:
        raise SettingsError(f"--augment: unknown augmentation {s['augment']!r}; choose one of {', '.join(AUGMENTS)}")
    if not 0 < valid_pct < 1:
        raise SettingsError(f"--valid-pct must be between 0 and 1, got {valid_pct}")
    try:
        s['crappify'] = str(Crappifier.parse(s['crappify']))
    except (ValueError, TypeError) as e:
        raise SettingsError(f"--crappify: {e}") from None
    pick_device(device)
    try:
        files = list_images(data)
    except DeoldifyLikeError as e:
        raise SettingsError(str(e)) from None
    if len(files[:limit or None]) < 2:
        raise SettingsError(f"{data}: need at least 2 training pictures, found {len(files[:limit or None])}")
    if init:
        try:
            head = read_header(init)
        except DeoldifyLikeError as e:
            raise SettingsError(str(e)) from None
        if head['kind'] != 'generator':
            raise SettingsError(f"{init}: holds a {head['kind']}, expected a generator")
    if pre:
        check_encoder_weights(s['arch'])
    s['vgg_weights'], s['vgg_fingerprint'] = loss_network_identity(s['vgg_weights'])
    s.update({'data': str(Path(data).resolve()), 'limit': limit, 'seed': seed, 'valid_pct': valid_pct, 'device': device,
              'init': str(Path(init).resolve()) if init else None, 'recipe': recipe, 'recipe_overrides': overrides,
              'feature_loss': {'layer_weights': [20.0, 70.0, 10.0], 'pixel_weight': 1.0}})
    return s, rec


def pretrain_gen(
    data: Annotated[str, "folder of colour training pictures (see `prepare`)", dict(required=True)] = None,
    run: Annotated[str, "run folder (created if new)", dict(required=True)] = None,
    arch: str = None,  # encoder (default resnet34)
    sizes: str = None,  # training sizes in pixels, one after another (default 64,128)
    epochs: str = None,  # epochs per size with the encoder unfrozen, one value or one per size (default 1)
    bs: str = None,  # batch size, one value or one per size, e.g. 88,20,8 (default 8)
    lr: float = None,  # peak one-cycle learning rate with the encoder frozen (default 1e-3)
    lrs: str = None,  # peak learning rate of the decoder once unfrozen, one per size, e.g. 3e-4,1e-4,5e-5 (default 0.3 x --lr)
    pretrained: Annotated[bool, "ImageNet weights for the encoder (downloads once); also the loss network's default (default: on)",
                          dict(action=argparse.BooleanOptionalAction)] = None,
    vgg_weights: str = None,  # the loss network's weights: imagenet, random (seeded, the same in every stage) or a FILE with a vgg16_bn state dict (default imagenet with --pretrained, random without)
    recipe: str = None,  # set every value of a reference recipe: deoldify-stable, deoldify-artistic or deoldify-video (for GPUs); flags given beside it win
    limit: int = None,  # use at most this many pictures of the data folder (a seeded choice)
    seed: int = 42,  # seed of the split, the shuffling, the degradations and the initial weights
    force: bool = False,  # start over even if the stage is done or was interrupted
    nf_factor: float = None,  # decoder width factor (default 1.0; the reference used 1.5 to 2; on a CPU 1.5 costs ~3x at 64 px)
    frozen_epochs: int = None,  # epochs with the encoder frozen at the first size (default 1 with --pretrained, 0 without)
    encoder_lr_div: float = None,  # the encoder's learning rate is the decoder's divided by this (default 1000 pretrained, 10 not)
    pct_start: float = None,  # one-cycle warm-up share once unfrozen (default fastai's 0.25; the reference 1e-8)
    frozen_pct_start: float = None,  # one-cycle warm-up share of the frozen epochs (default 0.25; the reference 0.8)
    layer_groups: int = None,  # 2: encoder / decoder; 3 (the reference): encoder stem..layer2 / layer3..4 / decoder (default 2)
    fractions: str = None,  # share of the training pictures used at each size, e.g. 1,1,0.5 (default 1)
    augment: str = None,  # none, or reference: flips, rotation, zoom, warp and lighting as the reference's get_transforms (default none)
    init: str = None,  # start from the weights of this generator model file (e.g. the video recipe starts from a stable stage 1)
    valid_pct: float = 0.1,  # held-out share of the pictures
    crappify: str = None,  # input degradations besides gray, with probabilities, e.g. 'noise=0.3,jpeg=0.3,blur=0.2,fade=0.2' (default none)
    device: str = 'auto',  # where to train
    **python_only,  # cbs=[fastai callbacks] (from Python only)
):
    "Stage 1: pretrain the generator with the perceptual (feature) loss, one size after another."
    cbs = stg.python_callbacks(python_only)
    if not data or not run:
        raise SettingsError("pretrain-gen needs --data DIR and --run RUN")
    settings, rec = stage1_settings(data, arch, sizes, epochs, bs, lr, lrs, pretrained, limit, seed, nf_factor,
                                    frozen_epochs, encoder_lr_div, pct_start, frozen_pct_start, layer_groups, fractions,
                                    augment, valid_pct, crappify, device, vgg_weights, recipe, init)
    dev = dd.setup(settings['device'])
    try:
        return _begin_and_train(run, settings, rec, recipe, force, cbs, dev)
    finally:
        dd.teardown()


def _begin_and_train(run, settings, rec, recipe, force, cbs, dev):
    "Rank 0 decides (start, resume or done) and writes the run folder; the other ranks follow what it recorded."
    rf, action, state = RunFolder(run), None, None
    if dd.is_main():
        rf.create()
        action, state = stg.begin(rf, STAGE, settings, force)
        if action != 'done':
            rf.record_loss_network(settings['vgg_weights'], settings['vgg_fingerprint'])
            if rec:
                rf.update(lambda doc: doc.update(recipe={'name': recipe, 'values': rec, 'overrides': settings['recipe_overrides']}))
            rf.update(lambda doc: doc.update(distributed=distributed_record(settings, dev)))
    action = dd.broadcast(action)
    if action == 'done':
        if dd.is_main():
            print(f"{STAGE}: already done in {rf.path} (last checkpoint: {rf.stage(STAGE).get('checkpoint')}); "
                  f"--force to train it again")
        return 0
    if not dd.is_main() and action == 'resume':
        state = rf.load_resume(STAGE)
    with stg.running(rf, STAGE) if dd.is_main() else contextlib.nullcontext():
        return _train(rf, settings, state, cbs, dev)


def distributed_record(s, dev):
    "What run.json says about the processes: world size, per-process and global batch, learning rates."
    ws = dd.world_size()
    return {'world_size': ws, 'backend': ('nccl' if dev.type == 'cuda' else 'gloo') if ws > 1 else None,
            'sync_bn': ws > 1 and dev.type == 'cuda', 'bs_per_process': s['bs'], 'global_bs': [b * ws for b in s['bs']],
            'lrs': [{'size': p['size'], 'frozen': p['frozen'], 'lr': p['lr']} for p in phases_of(s)]}


def _train(rf, s, state, cbs, dev):
    main = dd.is_main()
    say = print if main else (lambda *a, **k: None)
    set_seed(s['seed'], reproducible=True)
    if main and (state is None or not rf.has_split()):  # a resumed stage keeps its split
        record_split(rf, Path(s['data']), s['limit'], s['seed'], s['valid_pct'])
    dd.barrier()  # the other ranks read the split rank 0 recorded
    data_info = rf.load()['data']
    say(f"data: {data_info['n_train']} training and {data_info['n_valid']} validation pictures from {data_info['dir']}")
    cfg = GeneratorConfig(arch=s['arch'], style=s['style'], nf_factor=s['nf_factor'])
    if main:
        rf.update(lambda doc: doc.update(generator=cfg.to_dict()))
    model = build_generator(cfg, pretrained=s['pretrained'])
    if s['init']:
        init_model, _ = load_generator(s['init'], 'cpu')
        try:
            model.load_state_dict(init_model.state_dict())
        except RuntimeError:
            raise SettingsError(f"{s['init']}: its generator does not fit {s['arch']} / {s['style']} / nf_factor "
                                f"{s['nf_factor']}; give the settings it was made with") from None
        say(f"{STAGE}: starting from the weights of {s['init']}", flush=True)
    loss = FeatureLoss(s['feature_loss']['layer_weights'], s['feature_loss']['pixel_weight'],
                       vgg_weights=s['vgg_weights']).to(dev)  # built on the target device
    if loss.fingerprint != s['vgg_fingerprint']:
        raise SettingsError(f"{s['vgg_weights']}: the loss network changed since the settings were checked")
    say(f"{STAGE}: loss network vgg16_bn, weights {s['vgg_weights']} (fingerprint {loss.fingerprint[:16]})", flush=True)
    phases = phases_of(s)
    first_dls = make_data(rf, s, phases[0]['size'], phases[0]['bs'], dev, phases[0]['fraction'])
    learn = Learner(first_dls, model.to(dev), loss_func=loss, wd=s['wd'],
                    splitter=partial(generator_splitter, groups=int(s['layer_groups'])),
                    path=str(rf.path), model_dir='checkpoints', cbs=cbs)
    stg.quiet_progress(learn)
    batch_csv, epoch_csv = rf.log_path(STAGE, '_batches'), rf.log_path(STAGE)
    png = rf.reports / f'{STAGE}_loss.png'

    start_phase, start_epoch, n_batches, seconds0 = 0, 0, 0, 0.0
    if state is not None:
        start_phase, start_epoch, n_batches = int(state['phase']), int(state['epoch']), int(state['batches'])
        seconds0 = float(state.get('seconds', 0.0))
        learn.model.load_state_dict(state['model'])
        _set_freeze(learn, phases[min(start_phase, len(phases) - 1)]['frozen'])
        learn.opt.load_state_dict({'state': state['opt']['state'], 'hypers': L(state['opt']['hypers'])})
        done_epochs = sum(p['epochs'] for p in phases[:start_phase]) + start_epoch
        where = (f"size {phases[start_phase]['size']} ({'frozen' if phases[start_phase]['frozen'] else 'unfrozen'}), "
                 f"epoch {start_epoch + 1} of {phases[start_phase]['epochs']}" if start_phase < len(phases) else 'the end')
        say(f"{STAGE}: resumed from {rf.resume_path(STAGE)}: {done_epochs} epoch(s) already done; "
              f"continuing at {where}", flush=True)
        # rows of an epoch that did not finish are dropped; finished epochs are not redone
        if main:
            truncate_csv(batch_csv, lambda r: int(r['batch']) <= n_batches)
    else:
        if main:
            for p in (batch_csv, epoch_csv):
                p.unlink(missing_ok=True)
        learn.model.eval()
        first = learn.validate(dl=first_dls.valid)[0]  # every rank validates on all of it: the same number
        if main:
            append_csv(epoch_csv, {'phase': 'start', 'size': phases[0]['size'], 'frozen': phases[0]['frozen'], 'epoch': 0,
                                   'batch': 0, 'train_loss': '', 'valid_loss': f"{first:.5f}", 'seconds': 0})
        say(f"{STAGE}: validation loss before training {first:.4f}", flush=True)

    dd.make_distributed(learn, dev)  # after the first validation, which every rank does whole
    t_start = time.time() - seconds0  # training time, counted across resumptions
    for i in range(start_phase, len(phases)):
        ph = phases[i]
        e0 = start_epoch if i == start_phase else 0
        label = f"s{ph['size']}{'-frozen' if ph['frozen'] else ''}"
        same = (ph['size'], ph['bs'], ph['fraction']) == (phases[0]['size'], phases[0]['bs'], phases[0]['fraction'])
        learn.dls = first_dls if same else make_data(rf, s, ph['size'], ph['bs'], dev, ph['fraction'])
        _set_freeze(learn, ph['frozen'])
        lr_text = f"{ph['lr'][0]:.3g} (encoder) .. {ph['lr'][1]:.3g}" if isinstance(ph['lr'], list) else f"{ph['lr']:.3g}"
        say(f"{STAGE}: size {ph['size']}, encoder {'frozen' if ph['frozen'] else 'unfrozen'}, "
              f"{ph['epochs']} epoch(s), batch {ph['bs']}, {ph['fraction']:g} of the data, peak lr {lr_text}, "
              f"warm-up {ph['pct_start']:g}", flush=True)
        counter = {'batches': n_batches}

        def on_epoch(epoch, losses, record, i=i, ph=ph, label=label, counter=counter):
            # each rank saw its own shard: the losses logged are the means over ranks
            losses = dd.mean_over_ranks(losses)
            record = {**record, 'valid_loss': _mean_valid(record.get('valid_loss'))}
            counter['batches'] += len(losses)
            if not main:
                return
            for k, v in enumerate(losses):
                append_csv(batch_csv, {'batch': counter['batches'] - len(losses) + k + 1, 'phase': label, 'epoch': epoch + 1, 'loss': f"{v:.5f}"})
            append_csv(epoch_csv, {'phase': label, 'size': ph['size'], 'frozen': ph['frozen'], 'epoch': epoch + 1,
                                   'batch': counter['batches'], 'train_loss': f"{sum(losses) / len(losses):.5f}",
                                   'valid_loss': stg.fmt(record.get('valid_loss'), 5),
                                   'seconds': round(time.time() - t_start, 1)})
            rf.save_resume(STAGE, {'model': dd.unwrap(learn.model).state_dict(), 'opt': learn.opt.state_dict(), 'phase': i,
                                   'epoch': epoch + 1, 'batches': counter['batches'], 'seconds': time.time() - t_start})
            rf.set_stage(STAGE, progress={'phase': label, 'epoch': epoch + 1, 'of': ph['epochs'],
                                          'valid_loss': record.get('valid_loss')})
            epoch_loss_curve(batch_csv, epoch_csv, png, f'{STAGE}: {s["arch"]}, sizes {s["sizes"]}')
            say(f"{STAGE}: {label} epoch {epoch + 1}/{ph['epochs']}: train loss {sum(losses) / len(losses):.4f}, "
                  f"validation loss {stg.fmt(record.get('valid_loss'))} ({time.time() - t_start:.0f} s)", flush=True)

        if e0 < ph['epochs']:
            learn.fit_one_cycle(ph['epochs'], slice(*ph['lr']) if isinstance(ph['lr'], list) else ph['lr'],
                                pct_start=ph['pct_start'], start_epoch=e0, cbs=[stg.EpochEnd(on_epoch, e0)])
        n_batches = counter['batches']
        if not main:
            continue
        ckpt = rf.checkpoint_path(ph['checkpoint'])
        last = _last_valid(epoch_csv)
        save_generator(ckpt, learn.model, cfg, render_factor=render_factor_for_size(ph['size']), stage=STAGE, size=ph['size'], frozen=ph['frozen'],
                       run=str(rf.path.resolve()), valid_loss=last, data=s['data'])
        rf.add_checkpoint(ckpt.name, 'generator', STAGE, size=ph['size'], frozen=ph['frozen'], valid_loss=last)
        rf.save_resume(STAGE, {'model': learn.model.state_dict(), 'opt': learn.opt.state_dict(), 'phase': i + 1,
                               'epoch': 0, 'batches': n_batches, 'seconds': time.time() - t_start})
        _sample_picture(learn, rf.samples_png(STAGE, label))
        print(f"{STAGE}: saved {ckpt}", flush=True)
    if not main:
        return 0
    stg.finish(rf, STAGE, checkpoint=rf.current('generator').name)
    rf.record_size(STAGE)
    say(f"{STAGE}: done; loss curve {png}", flush=True)
    return 0


def _set_freeze(learn, frozen):
    if frozen:
        learn.freeze()
    else:
        learn.unfreeze()


def _mean_valid(v):
    "The validation loss over all ranks (fastai gathers a distributed one as one value per rank)."
    if v is None:
        return None
    values = torch.as_tensor(v, dtype=torch.float64).flatten().tolist()
    return dd.mean_over_ranks([sum(values) / len(values)])[0]


def _last_valid(epoch_csv):
    rows = [r for r in read_csv(epoch_csv) if r.get('valid_loss')]
    return float(rows[-1]['valid_loss']) if rows else None


@torch.no_grad()
def _sample_picture(learn, png):
    x, y = learn.dls.valid.one_batch()
    learn.model.eval()
    out = learn.model(x)
    samples_png([x.cpu(), out.cpu(), y.cpu()], png)
