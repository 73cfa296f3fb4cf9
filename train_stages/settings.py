"""Each stage's settings, typed, in one place: a dataclass per stage whose fields carry the setting's type,
the stage's default, its --help text and whether a recipe may set it. The rest derives from them:

- the command line: `stage_command` gives the stage function the signature fastcore's `anno_parser` reads
  (deoldify_like.cli_support), so the flags, their order and their help come from the fields;
- the recipes (train_stages.recipes) override the fields marked `recipe=True`: such a flag's own default
  is None ("not given"), and the value is the flag's, else the recipe's, else the field's default;
- run.json records the resolved values under the same names (the stages add what they derive), and the
  notebooks call the stage functions with these names as keywords.

The checks of one stage's values are a method of its class (`check`), next to the fields.
"""
import argparse
import dataclasses
import inspect
from typing import Annotated

from deoldify_like.choices import ENCODERS
from deoldify_like.data import AUGMENTS, WORKERS_HELP
from deoldify_like.errors import SettingsError
from deoldify_like.train_precision import PRECISION_HELP

from . import recipes

FASTAI_PCT_START = 0.25  # fastai's fit_one_cycle default
REQUIRED = dict(required=True)
COLOURFULNESS_HELP = ("weight of DDColor's colourfulness term beside the feature loss (docs/colour.md; default 0: "
                      "off)")
CHROMA_CLASS_HELP = ("weight of CIC's rebalanced classification of the chroma into a*b* bins, an extra head on the "
                     "decoder (docs/colour.md; default 0: off)")


def option(help, default=None, *, recipe=False, cli=True, **argparse_extra):
    """One setting: its --help text and the stage's default. `recipe`: a recipe may set it; `cli=False`: set
    by a recipe only (no flag); `argparse_extra`: what fastcore passes on to argparse (required, action)."""
    return dataclasses.field(default=default, metadata={'help': help, 'recipe': recipe, 'cli': cli,
                                                         'extra': argparse_extra})


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


def check_colour_weights(s):
    "The colour terms' weights (docs/colour.md) as numbers, none negative; raises SettingsError."
    for key in ('colourfulness_weight', 'chroma_class_weight'):
        s[key] = float(s[key] or 0.0)
        if s[key] < 0:
            raise SettingsError(f"--{key.replace('_', '-')}: a weight of 0 or more, got {s[key]:g}")
    return s


def per_size(values, n, what, recipe=None):
    """One value per size: a single value is repeated. `recipe` names the recipe the values came from (the
    user did not give the flag), so that a list that no longer fits --sizes says what to pass."""
    if len(values) == 1:
        return values * n
    if len(values) != n:
        if recipe:
            raise SettingsError(f"--recipe {recipe} sets {what} {','.join(f'{v:g}' for v in values)} for its "
                                f"{len(values)} sizes, but --sizes gives {n}: pass {what} too (one value, or one per size)")
        raise SettingsError(f"{what} gives {len(values)} values for {n} sizes")
    return values


class StageSettings:
    "What the three stages' settings classes share: the command's signature and the recipe's resolution."
    stage = ''  # the stage's key in a recipe (train_stages.recipes)

    @classmethod
    def command_fields(cls):
        return [f for f in dataclasses.fields(cls) if f.metadata['cli']]

    @classmethod
    def signature(cls):
        "The command's parameters, in the fields' order, each Annotated with its help; then `**python_only`."
        P = inspect.Parameter
        params = [P(f.name, P.KEYWORD_ONLY, default=None if f.metadata['recipe'] else f.default,
                    annotation=Annotated[f.type, f.metadata['help'], f.metadata['extra']])
                  for f in cls.command_fields()]
        return inspect.Signature(params + [P('python_only', P.VAR_KEYWORD)])

    @classmethod
    def recipe_defaults(cls):
        "The stage's defaults of the settings a recipe may set (a per-size default, a tuple here, as a list)."
        return {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
                for f in dataclasses.fields(cls) if f.metadata['recipe']}

    @classmethod
    def resolve(cls, given, recipe_values, defaults=None):
        """The settings a recipe may set: each value given (not None), else the recipe's, else the default.
        Returns (values, overrides): overrides are the given values that beat the recipe's."""
        keys = cls.recipe_defaults()
        return recipes.apply({k: given.get(k) for k in keys}, defaults or keys, recipe_values)


def stage_command(settings, run, doc):
    """The stage function `run(args, cbs)` as a command: keyword (or positional) parameters from `settings`'
    fields, `cbs=[fastai callbacks]` from Python only. `args` holds every command-line parameter by name."""
    sig = settings.signature()

    def command(*args, **kw):
        bound = sig.bind(*args, **kw)
        bound.apply_defaults()
        values = dict(bound.arguments)
        python_only = dict(values.pop('python_only'))
        cbs = list(python_only.pop('cbs', None) or [])
        if python_only:
            raise TypeError(f"unknown arguments {sorted(python_only)}")
        return run(values, cbs)
    command.__signature__, command.__doc__, command.settings = sig, doc, settings
    command.__annotations__ = {p.name: p.annotation for p in sig.parameters.values() if p.annotation is not p.empty}
    command.__name__ = command.__qualname__ = run.__name__.lstrip('_')
    command.__module__ = run.__module__
    return command


@dataclasses.dataclass
class PretrainGenSettings(StageSettings):
    "Stage 1 (`pretrain-gen`); run.json records these under `stages.pretrain-gen.settings`, with what the stage derives."
    stage = 'pretrain-gen'
    data: str = option("folder of colour training pictures (see `prepare`)", **REQUIRED)
    run: str = option("run folder (created if new)", **REQUIRED)
    arch: str = option("encoder (default resnet34)", 'resnet34', recipe=True)
    sizes: str = option("training sizes in pixels, one after another (default 64,128)", (64, 128), recipe=True)
    epochs: str = option("epochs per size with the encoder unfrozen, one value or one per size (default 1)", (1,), recipe=True)
    bs: str = option("batch size, one value or one per size, e.g. 88,20,8 (default 8)", (8,), recipe=True)
    lr: float = option("peak one-cycle learning rate with the encoder frozen (default 1e-3)", 1e-3, recipe=True)
    lrs: str = option("peak learning rate of the decoder once unfrozen, one per size, e.g. 3e-4,1e-4,5e-5 "
                      "(default 0.3 x --lr)", recipe=True)
    pretrained: bool = option("ImageNet weights for the encoder (downloads once); also the loss network's default "
                              "(default: on)", True, recipe=True, action=argparse.BooleanOptionalAction)
    vgg_weights: str = option("the loss network's weights: imagenet, random (seeded, the same in every stage) or a "
                              "FILE with a vgg16_bn state dict (default imagenet with --pretrained, random without)",
                              recipe=True)
    recipe: str = option("set every value of a reference recipe: deoldify-stable, deoldify-artistic or deoldify-video "
                         "(for GPUs); flags given beside it win")
    limit: int = option("use at most this many pictures of the data folder (a seeded choice)")
    seed: int = option("seed of the split, the shuffling, the degradations and the initial weights", 42)
    force: bool = option("start over even if the stage is done or was interrupted", False)
    nf_factor: float = option("decoder width factor (default 1.0; the reference used 1.5 to 2; on a CPU 1.5 costs ~3x "
                              "at 64 px)", 1.0, recipe=True)
    frozen_epochs: int = option("epochs with the encoder frozen at the first size (default 1 with --pretrained, 0 "
                                "without)", recipe=True)
    encoder_lr_div: float = option("the encoder's learning rate is the decoder's divided by this (default 1000 "
                                   "pretrained, 10 not)", recipe=True)
    pct_start: float = option("one-cycle warm-up share once unfrozen (default fastai's 0.25; the reference 1e-8)",
                              FASTAI_PCT_START, recipe=True)
    frozen_pct_start: float = option("one-cycle warm-up share of the frozen epochs (default 0.25; the reference 0.8)",
                                     FASTAI_PCT_START, recipe=True)
    layer_groups: int = option("2: encoder / decoder; 3 (the reference): encoder stem..layer2 / layer3..4 / decoder "
                               "(default 2)", 2, recipe=True)
    fractions: str = option("share of the training pictures used at each size, e.g. 1,1,0.5 (default 1)", (1.0,),
                            recipe=True)
    augment: str = option("none, or reference: flips, rotation, zoom, warp and lighting as the reference's "
                          "get_transforms (default none)", 'none', recipe=True)
    init: str = option("start from the weights of this generator model file (e.g. the video recipe starts from a "
                       "stable stage 1)")
    valid_pct: float = option("held-out share of the pictures", 0.1)
    crappify: str = option("input degradations besides gray, with probabilities, e.g. "
                           "'noise=0.3,jpeg=0.3,blur=0.2,fade=0.2' (default none)", 'none', recipe=True)
    device: str = option("where to train", 'auto')
    workers: int = option(WORKERS_HELP)
    precision: str = option(PRECISION_HELP, 'auto')
    colourfulness_weight: float = option(COLOURFULNESS_HELP, 0.0, recipe=True)
    chroma_class_weight: float = option(CHROMA_CLASS_HELP + "; the model file keeps the head, rendering ignores it",
                                        0.0, recipe=True)
    style: str = option("generator style (recipes only)", 'unet', recipe=True, cli=False)
    wd: float = option("weight decay (recipes only)", 1e-3, recipe=True, cli=False)

    LISTS = {'sizes': int, 'epochs': int, 'bs': int, 'lrs': float, 'fractions': float}  # comma-separated flags

    @classmethod
    def given(cls, args):
        "The flags' values, the comma-separated lists parsed."
        return {k: (number_list(v, f"--{k}", cls.LISTS[k]) if k in cls.LISTS and v is not None else v)
                for k, v in args.items()}

    @staticmethod
    def check(s, given, recipe_values, recipe_name, valid_pct):
        "The resolved values `s`, per size and derived from --pretrained where not given; raises SettingsError."
        pre = s['pretrained'] = bool(s['pretrained'])
        n = len(s['sizes'])
        for key in ('epochs', 'bs', 'fractions', 'lrs'):
            s[key] = per_size(s[key] or [s['lr'] * 0.3], n, f'--{key}',  # lrs only can be None: 0.3 x --lr
                              recipe_name if recipe_values and given[key] is None and key in recipe_values else None)
        s['frozen_epochs'] = (1 if pre else 0) if s['frozen_epochs'] is None else int(s['frozen_epochs'])
        s['encoder_lr_div'] = (1000.0 if pre else 10.0) if s['encoder_lr_div'] is None else float(s['encoder_lr_div'])
        s['vgg_weights'] = s['vgg_weights'] or ('imagenet' if pre else 'random')
        if s['arch'] not in ENCODERS:
            raise SettingsError(f"--arch: unknown encoder {s['arch']!r}; choose one of {', '.join(ENCODERS)}")
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
        check_colour_weights(s)
        return s


@dataclasses.dataclass
class PretrainCriticSettings(StageSettings):
    """Stage 2 (`pretrain-critic`); a recipe sets the first cycle's values ('pretrain-critic') and those of the
    fine-tuning of later cycles ('critic-finetune', whose learning rate defaults to FINETUNE_LR)."""
    stage = 'pretrain-critic'
    FINETUNE_LR = 1e-4  # the reference's learning rate for fine-tuning the critic in later cycles
    run: str = option("run folder (after pretrain-gen, or a new one with --data and --from)", **REQUIRED)
    from_: str = option("generator to make the fakes with: a checkpoint name of the run or a model file (default: "
                        "the current one)")
    data: str = option("colour training pictures (see `prepare`) for a NEW run that starts from a model file given by "
                       "--from, without stage 1")
    vgg_weights: str = option("for a NEW run from a model file: the loss network's weights, imagenet, random or a FILE "
                              "(default imagenet)")
    recipe: str = option("for a NEW run from a model file: a reference recipe's critic and GAN settings "
                         "(deoldify-stable, -artistic, -video)")
    epochs: int = option("training epochs (default 1)", 1, recipe=True)
    bs: int = option("batch size (default 8)", 8, recipe=True)
    size: int = option("training size in pixels (default 128)", 128, recipe=True)
    fake_size: int = option("size the fakes are made at (default: --size; the reference made them at 192 and trained "
                            "at 128)", recipe=True)
    fraction: float = option("share of the training pictures to make fakes of (default 1; the reference used 0.085 of "
                             "ImageNet)", 1.0, recipe=True)
    nf: int = option("critic width (default 64; the reference used 256: 16x the weights and ~15x the time of 64 on a "
                     "CPU)", 64, recipe=True)
    lr: float = option("peak one-cycle learning rate (default 1e-3 for a new critic, 1e-4 when fine-tuning the cycle "
                       "before's)", 1e-3, recipe=True)
    valid_pct: float = option("held-out share (whole pictures: their real and generated versions together)", 0.1)
    seed: int = option("seed of the choice of pictures, the split and the shuffling", 42)
    force: bool = option("train this cycle's critic again even if it is done", False)
    device: str = option("where to train", 'auto')
    workers: int = option(WORKERS_HELP)
    precision: str = option(PRECISION_HELP, 'auto')


@dataclasses.dataclass
class GanSettings(StageSettings):
    "Stage 3 (`gan`), the burst; a recipe's 'gan' values apply to every cycle."
    stage = 'gan'
    run: str = option("run folder (after pretrain-critic)", **REQUIRED)
    iters: int = option("iterations (critic and generator steps together) in the burst", 200)
    save_every: int = option("a generator checkpoint every this many iterations (default 25; the reference 100)", 25,
                             recipe=True)
    from_: str = option("generator to start from: a checkpoint name of the run or a model file (default: the one this "
                        "cycle's critic saw)")
    lr: float = option("generator learning rate, constant (default 2e-5; the reference used 2e-5 stable, 1e-5 "
                       "artistic, 5e-6 video)", 2e-5, recipe=True)
    bs: int = option("batch size (default 4)", 4, recipe=True)
    size: int = option("training size in pixels (default: the critic's)", recipe=True)
    adv_weight: float = option("weight of the adversarial term of the generator's loss (default 1.0)", 1.0, recipe=True)
    feat_weight: float = option("weight of the feature-loss term (default 1.5; the reference's artistic model 2.0)", 1.5,
                                recipe=True)
    critic_thresh: float = option("the critic trains until its loss is below this, then the generator takes a step "
                                  "(default 0.65)", 0.65, recipe=True)
    critic_lr_mult: float = option("the critic's learning rate is this multiple of the generator's (default 5)", 5.0,
                                   recipe=True)
    ema: float = option("checkpoints hold an average of the generator's weights, this decay per generator step "
                        "(default 0.95; 0: off, as the reference)", 0.95, recipe=True)  # measured, docs/stages.md
    save_raw: bool = option("with --ema: also save the trained generator at each checkpoint (NAME-raw)", False)
    vgg_weights: str = option("the loss network: imagenet, random or a FILE (default: what the run recorded in stage 1)")
    seed: int = option("seed of the shuffling and the degradations", 42)
    force: bool = option("start this cycle's burst over even if it is done or was interrupted", False)
    device: str = option("where to train", 'auto')
    workers: int = option(WORKERS_HELP)
    precision: str = option(PRECISION_HELP, 'auto')
    colourfulness_weight: float = option(COLOURFULNESS_HELP, 0.0, recipe=True)
    chroma_class_weight: float = option(CHROMA_CLASS_HELP + "; needs a generator trained with it in stage 1", 0.0,
                                        recipe=True)
