"""The idle network must not move while the other trains, and the critic's learning rate must really be a
multiple of the generator's.

fastai's own optimizer zeroes gradients instead of dropping them, so Adam momentum and weight decay keep
moving the idle network; the GAN stage uses torch's AdamW behind `OptimWrapper`. The second test shows the
check does catch that failure with fastai's own Adam.
"""
import pytest
import torch
from fastai.callback.core import Callback
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from fastai.optimizer import Adam

from deoldify_like.critic import build_critic
from deoldify_like.feature_loss import FeatureLoss
from deoldify_like.generator import build_generator
from train_stages.gan import build_gan_learner, gan_lrs


class WatchSteps(Callback):
    "Snapshots both networks (parameters and buffers) around every training step."
    order = 80

    def __init__(self):
        self.steps = []

    def before_batch(self):
        if self.training:
            self.mode = 'generator' if self.learn.gan_trainer.gen_mode else 'critic'
            self.before = {k: self._state(k) for k in ('generator', 'critic')}
            self.lrs = [h['lr'] for h in self.learn.opt.hypers]

    def after_batch(self):
        if self.training:
            moved = {k: self._moved(self.before[k], self._state(k)) for k in ('generator', 'critic')}
            self.steps.append((self.mode, moved, self.lrs))

    def _state(self, k):
        return {n: t.detach().clone() for n, t in getattr(self.learn.model, k).state_dict().items()}

    @staticmethod
    def _moved(a, b):
        return sorted(n for n in a if not torch.equal(a[n], b[n]))


def tiny_gan(opt_func=None):
    torch.manual_seed(0)
    xs = [(torch.randn(3, 32, 32), torch.randn(3, 32, 32)) for _ in range(8)]
    dls = DataLoaders(DataLoader(xs, bs=4, shuffle=True), DataLoader(xs[:4], bs=4))
    watch = WatchSteps()
    # critic_thresh 10: every critic step is below it, so critic and generator steps alternate
    learn = build_gan_learner(dls, build_generator(arch='resnet18', nf_factor=0.5), build_critic(nf=16, n_blocks=2),
                              FeatureLoss(), critic_thresh=10.0, opt_func=opt_func, cbs=[watch])
    learn.fit(2, lr=gan_lrs(1e-3, 5.0))
    return watch.steps


def test_idle_network_stays_still_and_critic_lr_is_five_times():
    steps = tiny_gan()
    modes = [m for m, _, _ in steps]
    assert modes.count('critic') >= 2 and modes.count('generator') >= 2
    for mode, moved, lrs in steps:
        idle = 'generator' if mode == 'critic' else 'critic'
        assert moved[idle] == [], f"the {idle} moved during a {mode} step: {moved[idle][:3]}"
        assert len(moved[mode]) > 10  # the trained network did learn
        assert lrs == pytest.approx([1e-3, 5e-3])


def test_the_check_catches_fastais_own_optimizer_moving_the_idle_network():
    steps = tiny_gan(opt_func=Adam)
    idle_moves = [moved['generator' if mode == 'critic' else 'critic'] for mode, moved, _ in steps[1:]]
    assert any(idle_moves)  # momentum / weight decay of the idle network: the pitfall the stage avoids
