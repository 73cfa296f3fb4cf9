"""The reference recipe's settings, per model, for `--recipe NAME`.

From the reference's training notebooks (DeOldify, fastai v1; ImageNet on one 11 GB GPU). A recipe sets every
value of its table at once; a flag given on the command line still wins and is recorded as an override.
The same values, with this project's CPU-sized defaults and why they differ, are the table in docs/stages.md
(a test compares that table with what `pretrain-gen --recipe` records in run.json).
"""
from deoldify_like.errors import SettingsError

_STAGE1 = {
    'pretrained': True, 'vgg_weights': 'imagenet',
    'sizes': [64, 128, 192], 'epochs': [1, 1, 1], 'fractions': [1.0, 1.0, 0.5],
    'frozen_epochs': 1, 'lr': 1e-3, 'frozen_pct_start': 0.8,
    'lrs': [3e-4, 1e-4, 5e-5], 'encoder_lr_div': 1000.0, 'pct_start': 1e-8, 'layer_groups': 3,
    'wd': 1e-3, 'augment': 'reference', 'crappify': 'none',
}
_CRITIC = {'size': 128, 'fake_size': 192, 'fraction': 0.085, 'bs': 64, 'epochs': 6, 'lr': 1e-3, 'nf': 256}
_CRITIC_FINETUNE = {'size': 192, 'bs': 16, 'epochs': 4, 'lr': 1e-4}
_GAN = {'size': 192, 'adv_weight': 1.0, 'feat_weight': 1.5, 'critic_thresh': 0.65, 'critic_lr_mult': 5.0,
        'save_every': 100, 'data_fraction': 0.03, 'ema': 0.0}  # the reference kept no averaged generator

RECIPES = {
    'deoldify-stable': {
        'pretrain-gen': {'arch': 'resnet101', 'style': 'deoldify_wide', 'nf_factor': 2.0, **_STAGE1, 'bs': [88, 20, 8]},
        'pretrain-critic': dict(_CRITIC), 'critic-finetune': dict(_CRITIC_FINETUNE),
        'gan': {**_GAN, 'lr': 2e-5, 'bs': 5},
    },
    'deoldify-artistic': {
        'pretrain-gen': {'arch': 'resnet34', 'style': 'deoldify_deep', 'nf_factor': 1.5, **_STAGE1, 'bs': [88, 22, 11]},
        'pretrain-critic': dict(_CRITIC), 'critic-finetune': dict(_CRITIC_FINETUNE),
        'gan': {**_GAN, 'lr': 1e-5, 'bs': 9, 'feat_weight': 2.0},
    },
    'deoldify-video': {  # from the stable model's stage 1 (--init), with noise, at 192 px on a quarter of the data
        'pretrain-gen': {'arch': 'resnet101', 'style': 'deoldify_wide', 'nf_factor': 2.0, **_STAGE1,
                         'sizes': [192], 'epochs': [1], 'fractions': [0.25], 'frozen_epochs': 0, 'lrs': [5e-5],
                         'bs': [8], 'crappify': 'noise=1.0'},
        'pretrain-critic': dict(_CRITIC), 'critic-finetune': dict(_CRITIC_FINETUNE),
        'gan': {**_GAN, 'lr': 5e-6, 'bs': 5},
    },
}


def recipe(name):
    "The settings of a named recipe (a copy), or None for no recipe."
    if not name:
        return None
    if name not in RECIPES:
        raise SettingsError(f"--recipe: unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return {stage: dict(values) for stage, values in RECIPES[name].items()}


def apply(given, defaults, recipe_values):
    """The effective settings: each value given on the command line (not None), else the recipe's, else the
    project's default. Returns (settings, overrides): the keys where a given value beat the recipe's."""
    out, overrides = {}, {}
    for k, default in defaults.items():
        g = given.get(k)
        r = (recipe_values or {}).get(k)
        if g is not None:
            out[k] = g
            if recipe_values is not None and k in recipe_values and g != r:
                overrides[k] = g
        elif recipe_values is not None and k in recipe_values:
            out[k] = r
        else:
            out[k] = default
    return out, overrides
