"""An exponential moving average of the generator's weights during the GAN burst (`gan --ema DECAY`).

A GAN burst swings: from one checkpoint to the next the global colour turns green, neutral, pink. The
averaged generator (as in progressive GANs and their successors; the reference never used one) moves
smoothly, so its checkpoints can be compared and picked. It is torch's `AveragedModel` with
`get_ema_multi_avg_fn`, updated after every generator step (critic steps do not move the generator):
average = DECAY x average + (1 - DECAY) x generator, starting from the burst's starting generator.

- BatchNorm: `use_buffers=True` averages the running statistics with the weights, so the averaged network
  normalises with statistics that belong to averaged weights (the generator's own belong to its last step).
- Spectral norm: the averaged `weight_orig` has its own largest singular value; the averaged u, v vectors
  only approximate it. `settle_spectral_norm` runs the power iteration on the averaged weights before
  the network is used or saved.
"""
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from deoldify_like.errors import SettingsError
from deoldify_like.generator import settle_spectral_norm


def check_decay(decay):
    if not 0.0 <= decay < 1.0:
        raise SettingsError(f"--ema: the decay must be 0 (off) or between 0 and 1 (e.g. 0.95), got {decay}")
    return decay


class GeneratorAverage:
    "The averaged copy of a generator; `update` after each generator step, `settled()` to use or save it."

    def __init__(self, generator, decay):
        self.decay = check_decay(decay)
        self.average = AveragedModel(generator, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        self.average.requires_grad_(False)
        self.average.update_parameters(generator)  # the first update copies: the average starts where the burst does

    @torch.no_grad()
    def update(self, generator):
        self.average.update_parameters(generator)

    @property
    def steps(self):
        "Generator states averaged so far (the starting one included)."
        return int(self.average.n_averaged)

    def settled(self):
        "The averaged generator, its spectral norms recomputed for the averaged weights, in eval mode."
        return settle_spectral_norm(self.average.module, iters=100).eval()

    def state_dict(self):
        return self.average.state_dict()

    def load_state_dict(self, state):
        self.average.load_state_dict(state)
