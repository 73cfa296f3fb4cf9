"""Resume anywhere (issue 23): each stage's resume state is saved on the CPU and must be loaded onto the
device the stage trains on now: the model, the optimizer state (and the burst's averaged generator, which
is copied into a copy of the generator on its device; not checked here, see the burst's test).

On CUDA a state left on the CPU crashed the resumed critic in its first optimizer step ("Expected all
tensors to be on the same device"). This machine has no GPU, so each stage resumes onto `meta`, a device
whose tensors have no data: torch lets meta and CPU tensors mix without complaint, so the probe checks the
condition behind the crash itself, just after the first optimizer step of the resumed stage (the burst:
before its fit, as its losses are read as numbers inside the step): every tensor of the optimizer state and
of the model (but a step counter on the CPU) sits on the stage's device. Then it
stops the stage (no losses can be read from meta tensors)."""
import contextlib
import io
import shutil

import pytest
import torch
from fastai.callback.core import Callback

from train_stages.gan import gan
from train_stages.pretrain_critic import pretrain_critic
from train_stages.pretrain_gen import pretrain_gen

from interrupts import Interrupt, InterruptAfter


class StopInEpoch(Callback):
    "Interrupts the stage at the first batch of epoch `epoch` (so the epochs before it are saved to resume)."
    order = 90

    def __init__(self, epoch):
        self.stop_epoch = epoch

    def before_batch(self):
        if self.training and self.epoch >= self.stop_epoch:
            raise Interrupt(f'test interruption in epoch {self.epoch}')


class Reached(Exception):
    "The resumed stage got as far as the probe looks."


class DeviceProbe(Callback):
    """Where are the model and its optimizer state? Checked just after the first
    optimizer step (`at='after_step'`), or before the fit starts (`at='before_fit'`: the burst cannot take a
    step on meta, its loss is read as a number inside the step), then the stage is stopped."""
    order = -30  # before every callback that reads a loss

    def __init__(self, device, at='after_step'):
        self.device, self.at, self.misplaced = torch.device(device), at, []

    def before_fit(self):
        if self.at == 'before_fit':
            self.check()

    def after_step(self):
        if self.at == 'after_step':
            self.check()

    def check(self):
        opt = self.learn.opt
        states = opt.opt.state.items() if hasattr(opt, 'opt') else opt.state.items()  # torch's or fastai's
        for p, state in states:
            for k, v in state.items():
                if torch.is_tensor(v) and v.device != p.device and not _counter(v):
                    self.misplaced.append(f'optimizer state {k!r} on {v.device}, its parameter on {p.device}')
        self.misplaced += [f'model tensor {k} on {v.device}' for k, v in self.learn.model.state_dict().items()
                           if v.device != self.device and not _counter(v)]
        raise Reached('the resumed stage got this far')


def _counter(v):
    "A step counter (torch's optimizers keep theirs on the CPU): a number, not the network's state."
    return v.dim() == 0 and v.device.type == 'cpu'


def _run(fn, **kw):
    "Run a stage quietly; an interruption or the probe's stop is returned, not raised."
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            return fn(**kw)
        except (Interrupt, Reached) as e:
            return e


def _resume_on_meta(fn, at='after_step', **kw):
    "Resume the stage onto `meta` (up to its first optimizer step); nothing may be left on the CPU."
    probe = DeviceProbe('meta', at)
    result = _run(fn, device='meta', cbs=[probe], **kw)
    assert isinstance(result, Reached), result
    assert not probe.misplaced, probe.misplaced[:5]
    return result


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    return shutil.copytree(tiny_run, tmp_path / 'run', ignore=shutil.ignore_patterns('resume'))


def test_the_critic_resumes_onto_the_stages_device(run_copy):
    kw = dict(run=str(run_copy), epochs=2, bs=2, size=64, nf=16)
    assert isinstance(_run(pretrain_critic, force=True, device='cpu', cbs=[StopInEpoch(1)], **kw), Interrupt)
    _resume_on_meta(pretrain_critic, **kw)


def test_stage1_resumes_onto_the_stages_device(tiny_run, tmp_path):
    kw = dict(data=str(tiny_run.parent / 'data'), run=str(tmp_path / 'run1'), arch='resnet18', nf_factor=0.5,
              sizes='32', epochs='2', bs=2, pretrained=False, frozen_epochs=0, seed=1)
    assert isinstance(_run(pretrain_gen, device='cpu', cbs=[StopInEpoch(1)], **kw), Interrupt)
    _resume_on_meta(pretrain_gen, **kw)


def test_the_burst_resumes_onto_another_device(run_copy):
    # without the averaged generator: on meta its step counter cannot be read (torch's AveragedModel reads it
    # as a number in every update); its weights are copied into a copy of the generator, on the generator's device
    kw = dict(run=str(run_copy), iters=4, save_every=2, bs=2, size=64, ema=0.0)
    assert isinstance(_run(gan, force=True, device='cpu', cbs=[InterruptAfter(3)], **kw), Interrupt)
    _resume_on_meta(gan, 'before_fit', **kw)
