"""The stages' typed settings (train_stages/settings.py) are the one place the command line, the Python API and
the recipes take their names from."""
import dataclasses
import inspect

import pytest

from train_stages import recipes
from train_stages.gan import gan
from train_stages.pretrain_critic import pretrain_critic
from train_stages.pretrain_gen import pretrain_gen
from train_stages.settings import GanSettings, PretrainCriticSettings, PretrainGenSettings

# what a recipe records without a flag of this project: the reference's share of the data in a burst
# (its length here is --iters; docs/stages.md)
RECORDED_ONLY = {('gan', 'data_fraction')}


@pytest.mark.parametrize('command, settings', [(pretrain_gen, PretrainGenSettings),
                                               (pretrain_critic, PretrainCriticSettings), (gan, GanSettings)])
def test_each_command_takes_its_settings_fields_by_name(command, settings):
    params = [p for p in inspect.signature(command).parameters.values() if p.kind is p.KEYWORD_ONLY]
    assert [p.name for p in params] == [f.name for f in settings.command_fields()]
    for p in params:
        f = next(f for f in dataclasses.fields(settings) if f.name == p.name)
        assert p.default == (None if f.metadata['recipe'] else f.default), p.name  # None: not given, a recipe may set it
    with pytest.raises(TypeError):
        command(no_such_setting=1)


@pytest.mark.parametrize('name', list(recipes.RECIPES))
def test_every_recipe_value_is_a_setting_a_recipe_may_set(name):
    may_set = {'pretrain-gen': PretrainGenSettings, 'pretrain-critic': PretrainCriticSettings,
               'critic-finetune': PretrainCriticSettings, 'gan': GanSettings}
    for stage, values in recipes.RECIPES[name].items():
        allowed = set(may_set[stage].recipe_defaults())
        assert set(values) - allowed <= {k for s, k in RECORDED_ONLY if s == stage}, (stage, set(values) - allowed)


def test_a_recipe_overrides_the_defaults_and_a_given_flag_wins():
    rv = recipes.recipe('deoldify-stable')['gan']
    values, overrides = GanSettings.resolve({'lr': 1e-4}, rv)
    assert values['lr'] == 1e-4 and overrides == {'lr': 1e-4}
    assert values['bs'] == rv['bs'] and values['ema'] == 0.0  # the recipe's
    values, overrides = GanSettings.resolve({}, None)
    assert values == GanSettings.recipe_defaults() and overrides == {}
