"""The bookkeeping of the epoch-based stages (pretrain-gen, pretrain-critic) as fastai callbacks, run in this
order after every epoch that really ran (not one skipped by `start_epoch` on resume):

    EpochLosses   65  the epoch's batch losses and the Recorder's values (over all ranks), the batch count
    BatchLog      66  RUN/logs/<stage>_batches.csv: one row per batch
    EpochLog      67  RUN/logs/<stage>.csv: one row per epoch
    ResumeSaver   68  RUN/checkpoints/resume/<stage>.pt: weights, optimizer state, where it stood
    EpochReport   69  run.json's progress, the loss curve (RUN/reports/<stage>_loss.png) and a printed line

Order 65..69: after Recorder (50) and ProgressCallback (60), before SkipToEpoch (70) cancels skipped epochs.
The burst (gan) counts iterations instead, after every training batch:

    BurstIterations   70  RUN/logs/gan-cN.csv: one row per iteration (critic or generator step)
    BurstCheckpoints  71  every --save-every: the checkpoint(s), RUN/logs/gan-cN_checkpoints.csv, the resume
                          state, run.json's progress, the loss curve, a printed line; stops at --iters

Each stage builds its learner, adds these and fits."""
import math
import time
import warnings

import torch
from fastai.callback.core import Callback, CancelFitException

from . import distributed as dd
from .plots import epoch_loss_curve
from .run_folder import append_csv, truncate_csv
from .stage import fmt


class StageClock:
    "Training time, counted across resumptions (`seconds` already spent before this session)."

    def __init__(self, seconds=0.0):
        self.start = time.time() - float(seconds)

    def __call__(self):
        return time.time() - self.start


class EpochLosses(Callback):
    """Collects the training loss of every batch; after an epoch that ran, sets `learn.epoch_ran` and
    `learn.epoch_losses` (each batch's loss, the mean over ranks) and `learn.epoch_record` (the Recorder's
    values: valid_loss, metrics) and adds the epoch's batches to `batches` (counted across resumptions)."""
    order = 65

    def __init__(self, start_epoch=0, batches=0):
        self.start_epoch, self.batches = start_epoch, batches

    def before_epoch(self):
        self.losses, self.learn.epoch_ran = [], False

    def after_batch(self):
        if self.training:
            self.losses.append(float(self.learn.loss.detach()))

    def after_epoch(self):
        if self.epoch < self.start_epoch or not self.losses:
            return
        rec = self.learn.recorder
        record = dict(zip(rec.metric_names[1:], rec.log[1:]))
        # each rank saw its own shard: the losses logged are the means over ranks
        self.learn.epoch_losses = dd.mean_over_ranks(self.losses)
        self.learn.epoch_record = {**record, 'valid_loss': mean_valid(record.get('valid_loss'))}
        self.batches += len(self.losses)
        self.learn.epoch_batches, self.learn.epoch_ran = self.batches, True


def mean_valid(v):
    "The validation loss over all ranks (fastai gathers a distributed one as one value per rank)."
    if v is None:
        return None
    values = torch.as_tensor(v, dtype=torch.float64).flatten().tolist()
    return dd.mean_over_ranks([sum(values) / len(values)])[0]


class AfterEpoch(Callback):
    "Base of the bookkeeping callbacks: `record()` after each epoch that ran."

    def after_epoch(self):
        if getattr(self.learn, 'epoch_ran', False):
            self.record(self.epoch + 1, self.learn.epoch_losses, self.learn.epoch_record, self.learn.epoch_batches)


class BatchLog(AfterEpoch):
    "One row per batch: batch (counted across the stage), phase, epoch, loss."
    order = 66

    def __init__(self, path, phase):
        self.path, self.phase = path, phase

    def record(self, epoch, losses, record, batches):
        for k, v in enumerate(losses):
            append_csv(self.path, {'batch': batches - len(losses) + k + 1, 'phase': self.phase, 'epoch': epoch,
                                   'loss': f"{v:.5f}"})


class EpochLog(AfterEpoch):
    """One row per epoch: the stage's leading columns (`lead`), epoch, batch, train_loss, valid_loss, then the
    `metrics` ({column: (Recorder name, digits)}), then seconds."""
    order = 67

    def __init__(self, path, clock, lead=None, metrics=None):
        self.path, self.clock, self.lead, self.metrics = path, clock, lead or {}, metrics or {}

    def record(self, epoch, losses, record, batches):
        append_csv(self.path, {**self.lead, 'epoch': epoch, 'batch': batches,
                               'train_loss': f"{sum(losses) / len(losses):.5f}",
                               'valid_loss': fmt(record.get('valid_loss'), 5),
                               **{col: fmt(record.get(name), digits) for col, (name, digits) in self.metrics.items()},
                               'seconds': round(self.clock(), 1)})


class ResumeSaver(AfterEpoch):
    "The resume state after each epoch: weights, optimizer state, epoch, batches, seconds and the stage's `extra`."
    order = 68

    def __init__(self, rf, stage, clock, extra=None):
        self.rf, self.stage, self.clock, self.extra = rf, stage, clock, extra or {}

    def record(self, epoch, losses, record, batches):
        self.rf.save_resume(self.stage, {'model': dd.unwrap(self.learn.model).state_dict(), 'opt': self.learn.opt.state_dict(),
                                         **self.extra, 'epoch': epoch, 'batches': batches, 'seconds': self.clock()})


class EpochReport(AfterEpoch):
    """run.json's progress ({**lead, epoch, of, <metric>}), the loss curve, and one printed line
    '<stage>: [<label> ]epoch E/N: train loss .., <valid name> loss .., [<metric> ..] (S s)'."""
    order = 69

    def __init__(self, rf, stage, clock, epochs, curve, lead=None, metric=None, label='', valid_name='validation'):
        self.rf, self.stage, self.clock, self.epochs, self.curve = rf, stage, clock, epochs, curve
        self.lead, self.metric, self.label, self.valid_name = lead or {}, metric, label, valid_name

    def record(self, epoch, losses, record, batches):
        name, column = self.metric or ('valid_loss', 'valid_loss')
        self.rf.set_stage(self.stage, progress={**self.lead, 'epoch': epoch, 'of': self.epochs, column: record.get(name)})
        self.curve()
        extra = f", {column} {fmt(record.get(name), 3)}" if self.metric else ''
        print(f"{self.stage}: {self.label + ' ' if self.label else ''}epoch {epoch}/{self.epochs}: train loss "
              f"{sum(losses) / len(losses):.4f}, {self.valid_name} loss {fmt(record.get('valid_loss'))}{extra} "
              f"({self.clock():.0f} s)", flush=True)


def epoch_bookkeeping(rf, stage, clock, epochs, start_epoch, batches, phase, title, lead=None, resume_extra=None,
                      metric=None, label='', valid_name='validation'):
    """The callbacks of one fit of an epoch-based stage, in order. `metric`: (Recorder name, column) logged
    and reported beside the losses (the critic's accuracy)."""
    batch_csv, epoch_csv = rf.log_path(stage, '_batches'), rf.log_path(stage)
    png = rf.reports / f'{stage}_loss.png'
    curve = lambda: epoch_loss_curve(batch_csv, epoch_csv, png, title, **({'metric': metric[1]} if metric else {}))  # noqa: E731
    progress_lead = {'phase': lead['phase']} if lead and 'phase' in lead else {}
    return [EpochLosses(start_epoch, batches), BatchLog(batch_csv, phase),
            EpochLog(epoch_csv, clock, lead, {metric[1]: (metric[0], 4)} if metric else None),
            ResumeSaver(rf, stage, clock, resume_extra), EpochReport(rf, stage, clock, epochs, curve, progress_lead,
                                                                     metric, label, valid_name)]



class BurstIterations(Callback):
    """The burst's iterations (training batches, critic and generator steps alike), counted from `start`, each a
    row of RUN/logs/gan-cN.csv: mode, loss, its adversarial and feature parts, both learning rates. Keeps the
    last generator losses, the last critic loss and the steps of each kind for the checkpoints. Order 70: after
    GANTrainer and the switcher have recorded the step and chosen the next mode."""
    order = 70

    def __init__(self, path, start, iters):
        self.path, self.iteration, self.iters = path, start, iters
        self.counts, self.last_gen, self.last_crit = {'generator': 0, 'critic': 0}, (None, None, None), None

    def before_fit(self):
        if self.iteration >= self.iters:
            raise CancelFitException

    def before_batch(self):
        if self.training:
            self.mode = 'generator' if self.learn.gan_trainer.gen_mode else 'critic'

    def after_batch(self):
        if not self.training:
            return
        learn, gen, loss = self.learn, self.mode == 'generator', float(self.learn.loss.detach())
        self.iteration += 1
        self.counts[self.mode] += 1
        append_csv(self.path, {'iteration': self.iteration, 'mode': self.mode, 'loss': f"{loss:.5f}",
                               'adversarial': f"{learn.adv_loss_part.last:.5f}" if gen else '',
                               'feature': f"{learn.gen_loss_part.last:.5f}" if gen else '',
                               'lr_generator': learn.opt.hypers[0]['lr'], 'lr_critic': learn.opt.hypers[1]['lr']})
        if gen:
            self.last_gen = (loss, learn.adv_loss_part.last, learn.gen_loss_part.last)
        else:
            self.last_crit = loss


def adversarial_start(rf, name, state, iters, generator, critic):
    """Where an adversarial stage (a GAN burst, pix2pix) starts: fresh logs, or the networks loaded from the
    resume `state` and the logs cut back to its iteration. Returns (start iteration, whether the generator
    steps first, iteration log, checkpoint log, the stage's clock, its `BurstIterations` callback)."""
    start, gen_first = 0, False
    iter_csv, ckpt_csv = rf.log_path(name), rf.log_path(name, '_checkpoints')
    if state is not None:
        start, gen_first = int(state['iteration']), bool(state['gen_mode'])
        generator.load_state_dict(state['generator'])
        critic.load_state_dict(state['critic'])
        for p in (iter_csv, ckpt_csv):
            truncate_csv(p, lambda r: int(r['iteration']) <= start)
        print(f"{name}: resumed from {rf.resume_path(name)} at iteration {start} of {iters} "
              f"(next step: {'generator' if gen_first else 'critic'})", flush=True)
    else:
        for p in (iter_csv, ckpt_csv):
            p.unlink(missing_ok=True)
    clock = StageClock(state.get('seconds', 0.0) if state else 0.0)  # counted across resumptions
    return start, gen_first, iter_csv, ckpt_csv, clock, BurstIterations(iter_csv, start, iters)


def fit_iterations(learn, iters, start, lr):
    "Fit an adversarial learner for the iterations left (`BurstIterations` stops it at `iters`)."
    n_epochs = math.ceil((iters - start) / max(1, len(learn.dls.train))) + 1
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='You are shadowing an attribute')  # fastai's GANTrainer, harmless
        learn.fit(n_epochs, lr=lr)


class BurstCheckpoints(Callback):
    """Every `save_every` iterations and at the last one: `save(iteration, losses)` writes the checkpoint(s) and
    returns the one made current; then a row of RUN/logs/gan-cN_checkpoints.csv, the resume state (`resume()`:
    the weights and optimizer state; with the iteration, the next mode and the time), run.json's progress, the
    loss curve and a printed line. Stops the fit at `iters`. Order 71: after BurstIterations."""
    order = 71

    def __init__(self, rf, stage, iterations, save_every, clock, save, resume, curve):
        self.rf, self.stage, self.its, self.save_every, self.clock = rf, stage, iterations, save_every, clock
        self.save, self.resume, self.curve = save, resume, curve
        self.csv = rf.log_path(stage, '_checkpoints')

    def after_batch(self):
        if not self.training:
            return
        i, its = self.its.iteration, self.its
        if i % self.save_every == 0 or i == its.iters:
            g, adv, feat = its.last_gen
            gt = self.learn.gan_trainer
            losses = {'gen_loss': g, 'adversarial': adv, 'feature': feat, 'critic_loss': its.last_crit,
                      'gen_loss_smooth': _smooth(gt.gen_loss), 'critic_loss_smooth': _smooth(gt.crit_loss)}
            ckpt = self.save(i, losses)
            append_csv(self.csv, {'iteration': i, 'checkpoint': ckpt.name, **{k: fmt(v, 5) for k, v in losses.items()},
                                  'generator_steps': its.counts['generator'], 'critic_steps': its.counts['critic'],
                                  'seconds': round(self.clock(), 1)})
            self.rf.save_resume(self.stage, {**self.resume(), 'iteration': i, 'gen_mode': bool(gt.gen_mode),
                                             'seconds': self.clock()})
            self.rf.set_stage(self.stage, progress={'iteration': i, 'of': its.iters, 'checkpoint': ckpt.name, **losses})
            self.curve()
            print(f"{self.stage}: iteration {i}/{its.iters}: generator {fmt(g)} (adversarial {fmt(adv)}, feature "
                  f"{fmt(feat)}), critic {fmt(its.last_crit)} -> {ckpt.name}", flush=True)
        if i >= its.iters:
            raise CancelFitException


def _smooth(value):
    "A fastai smoothed loss's value, None before its first step."
    return float(value.value) if value.count else None
