"""`ColourTerms`: a fastai callback that adds the colour terms (deoldify_like.colour_loss) to a generator
learner's loss, for stage 1 or the burst, without the stage changing how it builds its learner.

On `after_create` it wraps `learn.loss_func` in a ColourTermsLoss. With the CIC term it uses the model's
own ab head (a generator built with `GeneratorConfig(ab_bins=...)`) or, without one, hooks a training-only
head onto the model (kept outside it, so the model and its files stay as without the term) whose
parameters join the last (decoder) parameter group. The rebalancing prior is counted from the training
pictures of `learn.dls.train` and cached in the learner's folder (`ab_prior.json`).
"""
from pathlib import Path

import torch
from fastai.callback.core import Callback

from .colour_loss import ColourTermsLoss, ab_bins, empirical_ab_prior, rebalancing_weights
from .generator import attach_chroma_head

PRIOR_CACHE = 'ab_prior.json'


def _plain_model(model):
    return getattr(model, 'module', model)  # a DistributedDataParallel wrapper's model


def colour_terms_loss(base, model, files, cache, colourfulness=0.0, chroma_class=0.0, attach=False):
    """`base` plus the colour terms for the generator `model`. With the CIC term it reads the model's own ab
    head (made active), or with `attach` a training-only head hooked onto it (the caller optimises it); the
    rebalancing prior is counted from `files`, cached in `cache`. Returns (loss, head or None, external)."""
    head, weights, external = None, None, False
    if chroma_class:
        model = _plain_model(model)
        head = getattr(model, 'ab_head', None)
        if head is None:
            if not attach:
                raise ValueError("the chroma classification term needs a generator with an ab head "
                                 "(one trained with --chroma-class-weight in stage 1)")
            head, external = attach_chroma_head(model, len(ab_bins()), registered=False), True
        head.active = True
        weights = rebalancing_weights(empirical_ab_prior(files, cache), ab_bins())
    loss = ColourTermsLoss(base, colourfulness, chroma_class, head, weights)
    loss.class_loss.to(next(model.parameters()).device)
    return loss, head, external


class ColourTerms(Callback):
    "Adds `colourfulness` x DDColor's term and `chroma_class` x CIC's rebalanced ab classification to the loss."
    order = -10  # before anything that reads the loss

    def __init__(self, colourfulness=0.0, chroma_class=0.0, prior_cache=None, head_file=None):
        self.colourfulness, self.chroma_class = float(colourfulness), float(chroma_class)
        self.prior_cache, self.head_file = prior_cache, head_file
        self.head, self.external = None, False

    def after_create(self):
        learn = self.learn
        cache = self.prior_cache or Path(learn.path) / PRIOR_CACHE
        learn.loss_func, self.head, self.external = colour_terms_loss(
            learn.loss_func, learn.model, learn.dls.train.dataset.files, cache, self.colourfulness, self.chroma_class,
            attach=True)
        if self.external:
            base, head = learn.splitter, self.head
            learn.splitter = lambda m: _with_head(base(m), head)

    def after_fit(self):
        "A training-only head's weights, kept for measuring it (`head_file`); a registered one is in the model."
        if self.head_file and self.external:
            torch.save(self.head.state_dict(), self.head_file)


def _with_head(groups, head):
    "A splitter's result with the head's parameters in its last group (or added, for fastai's one flat group)."
    groups = list(groups)
    if groups and isinstance(groups[0], torch.Tensor):
        return groups + list(head.parameters())
    return groups[:-1] + [list(groups[-1]) + list(head.parameters())]
