"""Stage 1: pretrain the generator with the feature loss only (no critic).

fastai's Learner and one-cycle schedule; the encoder frozen first (at the first size: only useful with an
ImageNet encoder), then everything trained with discriminative learning rates (encoder slower than the
rest), one size after another. After every epoch the weights and optimizer state are saved, so a killed
stage resumes at the epoch it was in; after every size a self-describing generator file goes to
RUN/checkpoints/ (gen-s64.safetensors, ...).
"""
import argparse
import json
import time
from pathlib import Path
from typing import Annotated

import torch
from fastai.learner import Learner
from fastai.torch_core import params, set_seed
from fastcore.foundation import L
from torch import nn

from deoldify_like.crappify import Crappifier
from deoldify_like.data import ColourPairs, dataloaders, list_images, split_files
from deoldify_like.device import pick_device
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.feature_loss import FeatureLoss
from deoldify_like.generator import GeneratorConfig, build_generator, encoder_of
from deoldify_like.model_file import save_generator

from . import stage as stg
from .reports import epoch_loss_curve, samples_png
from .run_folder import RunFolder, append_csv, read_csv, truncate_csv, write_json_atomic

STAGE = 'pretrain-gen'


def int_list(text, what):
    try:
        values = [int(v) for v in str(text).replace(' ', '').split(',') if v]
    except ValueError:
        raise DeoldifyLikeError(f"{what}: expected numbers separated by commas, got {text!r}") from None
    if not values or min(values) < 1:
        raise DeoldifyLikeError(f"{what}: expected positive numbers separated by commas, got {text!r}")
    return values


def generator_splitter(model):
    "Two parameter groups for discriminative learning rates: the encoder, then everything after it."
    enc = encoder_of(model)
    rest = [m for m in model.children() if m is not enc]
    return [params(enc), params(nn.Sequential(*rest))]


def make_data(rf, settings, size, bs, device):
    "The run's recorded train/valid split as fastai DataLoaders at `size`."
    split = json.loads((rf.path / 'split.json').read_text())
    root = split['root']
    train = [f"{root}/{f}" for f in split['train']]
    valid = [f"{root}/{f}" for f in split['valid']]
    crap, seed = settings.get('crappify', ''), settings.get('seed', 42)
    return dataloaders(ColourPairs(train, size, True, crap, seed), ColourPairs(valid, size, False, crap, seed),
                       bs, device, seed)


def record_split(rf, data, limit, seed, valid_pct):
    files = list_images(data)
    train, valid = split_files(files, valid_pct, seed, limit)
    root = str(data.resolve())
    rel = lambda fs: [str(f.resolve().relative_to(root)) for f in fs]  # noqa: E731
    write_json_atomic(rf.path / 'split.json', {'root': root, 'train': rel(train), 'valid': rel(valid)})
    info = {'dir': root, 'n_files': len(files), 'limit': limit, 'n_train': len(train), 'n_valid': len(valid),
            'seed': seed, 'valid_pct': valid_pct, 'split': 'split.json'}
    rf.update(lambda doc: doc.update(data=info))
    return info


def phases_of(s):
    "The training phases: [frozen at the first size], then each size unfrozen."
    out = []
    lr_un = s['lr_unfrozen']
    if s['frozen_epochs']:
        out.append({'size': s['sizes'][0], 'frozen': True, 'epochs': s['frozen_epochs'], 'lr': s['lr'],
                    'checkpoint': f"gen-s{s['sizes'][0]}-frozen"})
    for size, n in zip(s['sizes'], s['epochs']):
        out.append({'size': size, 'frozen': False, 'epochs': n, 'lr': [lr_un / s['encoder_lr_div'], lr_un],
                    'checkpoint': f"gen-s{size}"})
    return out


def pretrain_gen(
    data: str = None,  # folder of colour training pictures (see `prepare`)
    run: str = None,  # run folder (created if new)
    arch: str = 'resnet34',  # encoder: resnet18, resnet34, resnet50, resnet101
    sizes: str = '64,128',  # training sizes in pixels, one after another
    epochs: str = '1,1',  # epochs per size (encoder unfrozen)
    bs: int = 8,  # batch size
    lr: float = 1e-3,  # peak one-cycle learning rate with the encoder frozen
    pretrained: Annotated[bool, "ImageNet weights for the encoder and the feature loss's VGG (downloads once)",
                          dict(action=argparse.BooleanOptionalAction)] = True,
    limit: int = None,  # use at most this many pictures of the data folder (a seeded choice)
    seed: int = 42,  # seed of the split, the shuffling, the degradations and the initial weights
    force: bool = False,  # start over even if the stage is done or was interrupted
    nf_factor: float = 1.0,  # decoder width factor (the reference used 1.5 to 2; on a CPU 1.5 costs ~3x at 64 px)
    frozen_epochs: int = None,  # epochs with the encoder frozen at the first size (default 1 with --pretrained, 0 without)
    lr_unfrozen: float = None,  # peak learning rate once unfrozen (default 0.3 x --lr)
    encoder_lr_div: float = None,  # the encoder learns this many times slower once unfrozen (default 1000 pretrained, 10 not)
    valid_pct: float = 0.1,  # held-out share of the pictures
    crappify: str = '',  # input degradations besides gray, with probabilities, e.g. 'noise=0.3,jpeg=0.3,blur=0.2,fade=0.2'
    device: str = 'auto',  # auto | cpu | cuda
    **python_only,  # cbs=[fastai callbacks] (from Python only)
):
    "Stage 1: pretrain the generator with the perceptual (feature) loss, one size after another."
    cbs = list(python_only.pop('cbs', None) or [])
    if python_only:
        raise TypeError(f"unknown arguments {sorted(python_only)}")
    if not data or not run:
        raise DeoldifyLikeError("pretrain-gen needs --data DIR and --run RUN")
    size_list, epoch_list = int_list(sizes, '--sizes'), int_list(epochs, '--epochs')
    if len(epoch_list) == 1:
        epoch_list *= len(size_list)
    if len(epoch_list) != len(size_list):
        raise DeoldifyLikeError(f"--epochs gives {len(epoch_list)} values for {len(size_list)} sizes")
    data = Path(data)
    settings = {
        'data': str(data.resolve()), 'arch': arch, 'nf_factor': nf_factor, 'pretrained': pretrained,
        'sizes': size_list, 'epochs': epoch_list,
        'frozen_epochs': (1 if pretrained else 0) if frozen_epochs is None else int(frozen_epochs),
        'bs': bs, 'lr': lr, 'lr_unfrozen': lr * 0.3 if lr_unfrozen is None else lr_unfrozen,
        'encoder_lr_div': (1000.0 if pretrained else 10.0) if encoder_lr_div is None else float(encoder_lr_div),
        'wd': 1e-3, 'limit': limit, 'seed': seed, 'valid_pct': valid_pct,
        'crappify': str(Crappifier.parse(crappify)), 'feature_loss': {'layer_weights': [20.0, 70.0, 10.0], 'pixel_weight': 1.0},
        'device': device,
    }
    rf = RunFolder(run).create()
    action, state = stg.begin(rf, STAGE, settings, force)
    if action == 'done':
        print(f"{STAGE}: already done in {rf.path} (last checkpoint: {rf.stage(STAGE).get('checkpoint')}); "
              f"--force to train it again")
        return 0
    with stg.running(rf, STAGE):
        return _train(rf, settings, state, cbs)


def _train(rf, s, state, cbs):
    dev = pick_device(s['device'])
    set_seed(s['seed'], reproducible=True)
    data_info = rf.load()['data']
    if state is None or not (rf.path / 'split.json').is_file():  # a resumed stage keeps its split
        data_info = record_split(rf, Path(s['data']), s['limit'], s['seed'], s['valid_pct'])
    print(f"data: {data_info['n_train']} training and {data_info['n_valid']} validation pictures from {data_info['dir']}")
    cfg = GeneratorConfig(arch=s['arch'], nf_factor=s['nf_factor'])
    rf.update(lambda doc: doc.update(generator=cfg.to_dict()))
    model = build_generator(cfg, pretrained=s['pretrained'])
    loss = FeatureLoss(s['feature_loss']['layer_weights'], s['feature_loss']['pixel_weight'],
                       pretrained=s['pretrained']).to(dev)  # built on the target device
    phases = phases_of(s)
    first_dls = make_data(rf, s, phases[0]['size'], s['bs'], dev)
    learn = Learner(first_dls, model.to(dev), loss_func=loss, splitter=generator_splitter, wd=s['wd'],
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
        print(f"{STAGE}: resumed from {rf.resume_path(STAGE)}: {done_epochs} epoch(s) already done; "
              f"continuing at {where}", flush=True)
        # rows of an epoch that did not finish are dropped; finished epochs are not redone
        truncate_csv(batch_csv, lambda r: int(r['batch']) <= n_batches)
    else:
        for p in (batch_csv, epoch_csv):
            p.unlink(missing_ok=True)
        learn.model.eval()
        first = learn.validate(dl=first_dls.valid)[0]
        append_csv(epoch_csv, {'phase': 'start', 'size': phases[0]['size'], 'frozen': phases[0]['frozen'], 'epoch': 0,
                               'batch': 0, 'train_loss': '', 'valid_loss': f"{first:.5f}", 'seconds': 0})
        print(f"{STAGE}: validation loss before training {first:.4f}", flush=True)

    t_start = time.time() - seconds0  # training time, counted across resumptions
    for i in range(start_phase, len(phases)):
        ph = phases[i]
        e0 = start_epoch if i == start_phase else 0
        label = f"s{ph['size']}{'-frozen' if ph['frozen'] else ''}"
        learn.dls = first_dls if ph['size'] == phases[0]['size'] else make_data(rf, s, ph['size'], s['bs'], dev)
        _set_freeze(learn, ph['frozen'])
        lr_text = f"{ph['lr'][0]:.3g} (encoder) .. {ph['lr'][1]:.3g}" if isinstance(ph['lr'], list) else f"{ph['lr']:.3g}"
        print(f"{STAGE}: size {ph['size']}, encoder {'frozen' if ph['frozen'] else 'unfrozen'}, "
              f"{ph['epochs']} epoch(s), peak lr {lr_text}", flush=True)
        counter = {'batches': n_batches}

        def on_epoch(epoch, losses, record, i=i, ph=ph, label=label, counter=counter):
            for k, v in enumerate(losses):
                append_csv(batch_csv, {'batch': counter['batches'] + k + 1, 'phase': label, 'epoch': epoch + 1, 'loss': f"{v:.5f}"})
            counter['batches'] += len(losses)
            append_csv(epoch_csv, {'phase': label, 'size': ph['size'], 'frozen': ph['frozen'], 'epoch': epoch + 1,
                                   'batch': counter['batches'], 'train_loss': f"{sum(losses) / len(losses):.5f}",
                                   'valid_loss': stg.fmt(record.get('valid_loss'), 5),
                                   'seconds': round(time.time() - t_start, 1)})
            rf.save_resume(STAGE, {'model': learn.model.state_dict(), 'opt': learn.opt.state_dict(), 'phase': i,
                                   'epoch': epoch + 1, 'batches': counter['batches'], 'seconds': time.time() - t_start})
            rf.set_stage(STAGE, progress={'phase': label, 'epoch': epoch + 1, 'of': ph['epochs'],
                                          'valid_loss': record.get('valid_loss')})
            epoch_loss_curve(batch_csv, epoch_csv, png, f'{STAGE}: {s["arch"]}, sizes {s["sizes"]}')
            print(f"{STAGE}: {label} epoch {epoch + 1}/{ph['epochs']}: train loss {sum(losses) / len(losses):.4f}, "
                  f"validation loss {stg.fmt(record.get('valid_loss'))} ({time.time() - t_start:.0f} s)", flush=True)

        if e0 < ph['epochs']:
            learn.fit_one_cycle(ph['epochs'], slice(*ph['lr']) if isinstance(ph['lr'], list) else ph['lr'],
                                start_epoch=e0, cbs=[stg.EpochEnd(on_epoch, e0)])
        n_batches = counter['batches']
        ckpt = rf.checkpoint_path(ph['checkpoint'])
        last = _last_valid(epoch_csv)
        save_generator(ckpt, learn.model, cfg, render_factor=35, stage=STAGE, size=ph['size'], frozen=ph['frozen'],
                       run=str(rf.path.resolve()), valid_loss=last, data=s['data'])
        rf.add_checkpoint(ckpt.name, 'generator', STAGE, size=ph['size'], frozen=ph['frozen'], valid_loss=last)
        rf.save_resume(STAGE, {'model': learn.model.state_dict(), 'opt': learn.opt.state_dict(), 'phase': i + 1,
                               'epoch': 0, 'batches': n_batches, 'seconds': time.time() - t_start})
        _sample_picture(learn, rf.reports / f'{STAGE}_{label}_samples.png')
        print(f"{STAGE}: saved {ckpt}", flush=True)
    stg.finish(rf, STAGE, checkpoint=rf.current('generator').name)
    print(f"{STAGE}: done; loss curve {png}", flush=True)
    return 0


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
