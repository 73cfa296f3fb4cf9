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
import contextlib
from functools import partial
from pathlib import Path

import torch
from fastai.learner import Learner
from fastai.torch_core import params, set_seed
from fastcore.foundation import L
from torch import nn

from deoldify_like.colour_loss import ab_bins
from deoldify_like.colour_terms import ColourTerms
from deoldify_like.crappify import Crappifier
from deoldify_like.data import ColourPairs, dataloaders, list_images, split_files
from deoldify_like.device import pick_device
from deoldify_like.errors import SettingsError, reraise_as
from deoldify_like.feature_loss import FeatureLoss, check_vgg_weights, loss_network
from deoldify_like.tensors import state_sha256
from deoldify_like.generator import GENERATOR_STYLES, GeneratorConfig, build_generator, encoder_of
from deoldify_like.inference import render_factor_for_size
from deoldify_like.model_file import load_generator, read_header, save_generator
from deoldify_like.pretrained import imagenet_state_dict
from deoldify_like.train_precision import resolve_train_precision

from . import distributed as dd
from . import recipes
from . import stage as stg
from .bookkeeping import StageClock, epoch_bookkeeping
from .plots import samples_png
from .run_folder import GEN_STAGE as STAGE
from .run_folder import RunFolder, append_csv, read_csv, truncate_csv
from .settings import PretrainGenSettings, stage_command

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
                       ColourPairs(valid, size, False, crap, seed), bs, device, seed, workers=s.get('workers'))


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
    with reraise_as(SettingsError):
        imagenet_state_dict(arch)


def loss_network_identity(vgg_weights):
    """(recorded setting, fingerprint) of a --vgg-weights value, checked; the weights are read to fingerprint
    them, so ImageNet weights that cannot be had or a foreign file fail here, before anything is written."""
    with reraise_as(SettingsError):
        spec = check_vgg_weights(vgg_weights)
        return spec, state_sha256(loss_network(spec))


def stage1_settings(args):
    """Every setting of stage 1 (`args`: the command's parameters by name), checked, with the recipe applied;
    raises SettingsError (exit 2) before anything is written. Returns (settings, recipe values or None)."""
    data, limit, seed, valid_pct, device, init, recipe, workers, precision = (
        args[k] for k in ('data', 'limit', 'seed', 'valid_pct', 'device', 'init', 'recipe', 'workers', 'precision'))
    rec = recipes.recipe(recipe)
    rv = rec['pretrain-gen'] if rec else None
    given = PretrainGenSettings.given(args)
    s, overrides = PretrainGenSettings.resolve(given, rv)
    PretrainGenSettings.check(s, given, rv, recipe, valid_pct)
    if s['style'] not in GENERATOR_STYLES:
        raise SettingsError(f"unknown generator style {s['style']!r}")
    with reraise_as(SettingsError, (ValueError, TypeError), '--crappify: '):
        s['crappify'] = str(Crappifier.parse(s['crappify']))
    resolve_train_precision(precision, pick_device(device))  # checked here; resolved on the device it trains on
    with reraise_as(SettingsError):
        files = list_images(data)
    if len(files[:limit or None]) < 2:
        raise SettingsError(f"{data}: need at least 2 training pictures, found {len(files[:limit or None])}")
    if init:
        with reraise_as(SettingsError):
            head = read_header(init)
        if head['kind'] != 'generator':
            raise SettingsError(f"{init}: holds a {head['kind']}, expected a generator")
    if s['pretrained']:
        check_encoder_weights(s['arch'])
    s['vgg_weights'], s['vgg_fingerprint'] = loss_network_identity(s['vgg_weights'])
    s.update({'data': str(Path(data).resolve()), 'limit': limit, 'seed': seed, 'valid_pct': valid_pct, 'device': device,
              'workers': workers, 'precision': precision,
              'init': str(Path(init).resolve()) if init else None, 'recipe': recipe, 'recipe_overrides': overrides,
              'feature_loss': {'layer_weights': [20.0, 70.0, 10.0], 'pixel_weight': 1.0}})
    return s, rec


def _pretrain_gen(args, cbs):
    if not args['data'] or not args['run']:
        raise SettingsError("pretrain-gen needs --data DIR and --run RUN")
    settings, rec = stage1_settings(args)
    run, recipe, force = args['run'], args['recipe'], args['force']
    dev = dd.setup(settings['device'])
    try:
        return _begin_and_train(run, settings, rec, recipe, force, cbs, dev)
    finally:
        dd.teardown()


pretrain_gen = stage_command(PretrainGenSettings, _pretrain_gen,
                             "Stage 1: pretrain the generator with the perceptual (feature) loss, one size after another.")


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
        state = rf.load_resume(STAGE, dev)
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
    cfg = GeneratorConfig(arch=s['arch'], style=s['style'], nf_factor=s['nf_factor'],
                          ab_bins=len(ab_bins()) if s['chroma_class_weight'] else 0)  # the CIC head, kept in the file
    if main:
        rf.update(lambda doc: doc.update(generator=cfg.to_dict()))
    model = build_generator(cfg, pretrained=s['pretrained'])
    if s['init']:
        init_model, _ = load_generator(s['init'], 'cpu')
        try:
            missing, _ = model.load_state_dict(init_model.state_dict(), strict=not cfg.ab_bins)
            if any(not k.startswith('ab_head.') for k in missing):
                raise RuntimeError(missing)
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
                    path=str(rf.path), model_dir='checkpoints', cbs=[*colour_terms(s), *cbs])
    stg.quiet_progress(learn)
    stg.train_in_precision(learn, s, dev, say)
    batch_csv, epoch_csv = rf.log_path(STAGE, '_batches'), rf.log_path(STAGE)
    png = rf.reports / f'{STAGE}_loss.png'

    start_phase, start_epoch, n_batches, seconds0 = 0, 0, 0, 0.0
    if state is not None:
        start_phase, start_epoch, n_batches = int(state['phase']), int(state['epoch']), int(state['batches'])
        seconds0 = float(state.get('seconds', 0.0))
        learn.model.load_state_dict(state['model'])
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
    clock = StageClock(seconds0)  # training time, counted across resumptions
    for i in range(start_phase, len(phases)):
        ph = phases[i]
        e0 = start_epoch if i == start_phase else 0
        label = f"s{ph['size']}{'-frozen' if ph['frozen'] else ''}"
        same = (ph['size'], ph['bs'], ph['fraction']) == (phases[0]['size'], phases[0]['bs'], phases[0]['fraction'])
        learn.dls = first_dls if same else make_data(rf, s, ph['size'], ph['bs'], dev, ph['fraction'])
        learn.dls.train.next_epoch = sum(p['epochs'] for p in phases[:i]) + e0  # the loader's epoch stream, resumed too
        _set_freeze(learn, ph['frozen'])  # clears the optimizer state: a resumed one is loaded after it
        if state is not None and i == start_phase:
            learn.opt.load_state_dict({'state': state['opt']['state'], 'hypers': L(state['opt']['hypers'])})
        lr_text = f"{ph['lr'][0]:.3g} (encoder) .. {ph['lr'][1]:.3g}" if isinstance(ph['lr'], list) else f"{ph['lr']:.3g}"
        say(f"{STAGE}: size {ph['size']}, encoder {'frozen' if ph['frozen'] else 'unfrozen'}, "
              f"{ph['epochs']} epoch(s), batch {ph['bs']}, {ph['fraction']:g} of the data, peak lr {lr_text}, "
              f"warm-up {ph['pct_start']:g}", flush=True)
        books = epoch_bookkeeping(rf, STAGE, clock, ph['epochs'], e0, n_batches, label,
                                  f'{STAGE}: {s["arch"]}, sizes {s["sizes"]}', resume_extra={'phase': i}, label=label,
                                  lead={'phase': label, 'size': ph['size'], 'frozen': ph['frozen']})
        books = books if main else books[:1]  # every rank averages the losses; rank 0 records them
        if e0 < ph['epochs']:
            learn.fit_one_cycle(ph['epochs'], slice(*ph['lr']) if isinstance(ph['lr'], list) else ph['lr'],
                                pct_start=ph['pct_start'], start_epoch=e0, cbs=books)
        n_batches = books[0].batches
        if not main:
            continue
        ckpt = rf.checkpoint_path(ph['checkpoint'])
        last = _last_valid(epoch_csv)
        save_generator(ckpt, learn.model, cfg, render_factor=render_factor_for_size(ph['size']), stage=STAGE, size=ph['size'], frozen=ph['frozen'],
                       run=str(rf.path.resolve()), valid_loss=last, data=s['data'])
        rf.add_checkpoint(ckpt.name, 'generator', STAGE, size=ph['size'], frozen=ph['frozen'], valid_loss=last)
        rf.save_resume(STAGE, {'model': learn.model.state_dict(), 'opt': learn.opt.state_dict(), 'phase': i + 1,
                               'epoch': 0, 'batches': n_batches, 'seconds': clock()})
        _sample_picture(learn, rf.samples_png(STAGE, label))
        print(f"{STAGE}: saved {ckpt}", flush=True)
    if not main:
        return 0
    stg.finish(rf, STAGE, checkpoint=rf.current('generator').name)
    rf.record_size(STAGE)
    say(f"{STAGE}: done; loss curve {png}", flush=True)
    return 0


def colour_terms(s):
    "The colour terms' callback when either weight is set (docs/colour.md)."
    if not (s['colourfulness_weight'] or s['chroma_class_weight']):
        return []
    return [ColourTerms(s['colourfulness_weight'], s['chroma_class_weight'])]


def _set_freeze(learn, frozen):
    if frozen:
        learn.freeze()
    else:
        learn.unfreeze()


def _last_valid(epoch_csv):
    rows = [r for r in read_csv(epoch_csv) if r.get('valid_loss')]
    return float(rows[-1]['valid_loss']) if rows else None


@torch.no_grad()
def _sample_picture(learn, png):
    x, y = learn.dls.valid.one_batch()
    learn.model.eval()
    out = learn.model(x)
    samples_png([x.cpu(), out.cpu(), y.cpu()], png)
