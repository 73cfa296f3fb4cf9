"""What a long training run relies on: the loss network is a recorded setting (same fingerprint in every stage),
settings are checked before the run folder is touched, the reference recipe is recorded whole, one resume
state per stage, checkpoints stamped with their training size's render factor, and --help alike everywhere."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from fastai.callback.core import Callback
from safetensors.torch import save_file

from deoldify_like.cli_support import command_parser, dispatch, run_command
from deoldify_like.demo import DEMO_COLOUR
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.feature_loss import FeatureLoss, check_vgg_weights, loss_network
from deoldify_like.tensors import state_sha256
from deoldify_like.model_file import read_header
from train_stages import recipes
from train_stages.cli import COMMANDS
from train_stages.pretrain_gen import pretrain_gen
from train_stages.run_folder import RunFolder

ROOT = Path(__file__).resolve().parents[1]


def cli(*args):
    return dispatch(COMMANDS, [str(a) for a in args])


@pytest.fixture(scope='module')
def vgg_file(tmp_path_factory):
    "A loss network of the user's own: vgg16_bn `features` only, as safetensors."
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp('vgg') / 'my_vgg.safetensors'
    state = torchvision.models.vgg16_bn(weights=None).features.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
    data = tmp_path_factory.mktemp('data') / 'data'
    assert cli('prepare', DEMO_COLOUR, '--out', data, '--max-size', 96) == 0
    return data


@pytest.fixture(scope='module')
def file_vgg_run(tmp_path_factory, data_dir, vgg_file):
    "Stage 1 with --vgg-weights FILE, then the critic and a 12-iteration burst with a checkpoint every 3."
    run = tmp_path_factory.mktemp('run') / 'run'
    assert cli('pretrain-gen', '--data', data_dir, '--run', run, '--arch', 'resnet18', '--nf-factor', 0.5, '--sizes', 32,
               '--epochs', 1, '--bs', 2, '--no-pretrained', '--vgg-weights', vgg_file) == 0
    assert cli('pretrain-critic', '--run', run, '--epochs', 1, '--bs', 2, '--size', 64, '--nf', 8) == 0
    assert cli('gan', '--run', run, '--iters', 12, '--save-every', 3, '--bs', 2) == 0
    return run


def test_random_loss_network_is_one_network_and_files_are_checked(tmp_path, vgg_file):
    assert state_sha256(loss_network('random')) == state_sha256(loss_network('random'))
    mine = state_sha256(loss_network(str(vgg_file)))
    assert mine != state_sha256(loss_network('random'))
    assert FeatureLoss(vgg_weights=str(vgg_file)).fingerprint == mine
    with pytest.raises(DeoldifyLikeError, match='neither imagenet, random nor an existing file'):
        check_vgg_weights(tmp_path / 'missing.pt')
    foreign = tmp_path / 'resnet.pt'
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), foreign)
    with pytest.raises(DeoldifyLikeError, match='not a vgg16_bn state dict'):
        loss_network(str(foreign))


def test_the_burst_measures_with_the_runs_loss_network(file_vgg_run, vgg_file):
    doc = RunFolder(file_vgg_run).load()
    expected = state_sha256(loss_network(str(vgg_file)))
    assert doc['loss_network'] == {'weights': str(vgg_file.resolve()), 'fingerprint': expected}
    assert doc['stages']['pretrain-gen']['settings']['vgg_fingerprint'] == expected
    assert doc['stages']['gan-c1']['settings']['vgg_fingerprint'] == expected
    assert doc['stages']['gan-c1']['settings']['vgg_weights'] == str(vgg_file.resolve())


def test_one_resume_state_and_the_folder_size_recorded(file_vgg_run):
    rf = RunFolder(file_vgg_run)
    assert [p.name for p in rf.resume_dir.iterdir()] == ['gan-c1.pt']  # 4 checkpoints, one resume state
    gans = [c for c in rf.list_checkpoints('generator') if c['stage'] == 'gan-c1']
    assert [c['iteration'] for c in gans] == [3, 6, 9, 12]
    for stage in ('pretrain-gen', 'pretrain-critic-c1', 'gan-c1'):
        assert rf.stage(stage)['folder_size_mb'] > 0


def test_checkpoints_carry_the_render_factor_of_their_training_size(file_vgg_run):
    ck = Path(file_vgg_run) / 'checkpoints'
    assert read_header(ck / 'gen-s32.safetensors')['render_factor'] == 2  # 32 px / 16
    assert read_header(ck / 'gan-c1-i000012.safetensors')['render_factor'] == 4  # the burst ran at 64 px


def test_a_changed_loss_network_file_is_refused_by_the_burst(file_vgg_run, vgg_file, tmp_path, capsys):
    changed = tmp_path / 'run'
    shutil.copytree(file_vgg_run, changed)
    doc = RunFolder(changed).load()
    other = tmp_path / 'other.safetensors'
    torch.manual_seed(12)
    save_file({k: v.contiguous() for k, v in torchvision.models.vgg16_bn(weights=None).features.state_dict().items()}, str(other))
    RunFolder(changed).record_loss_network(str(other), doc['loss_network']['fingerprint'])
    assert cli('gan', '--run', changed, '--iters', 15, '--save-every', 3, '--bs', 2) == 2
    assert "the loss network's weights changed" in capsys.readouterr().err


BAD = [(['--data', '/nonexistent'], 'no such data folder'),
       (['--arch', 'resnet999'], 'invalid choice'),
       (['--device', 'cuda'], 'no CUDA device') if not torch.cuda.is_available() else (['--sizes', '20'], 'multiples of 8'),
       (['--crappify', 'nonsense'], 'unknown degradation'),
       (['--recipe', 'deoldify-nothing'], 'unknown recipe'),
       (['--vgg-weights', 'nowhere.pth'], 'neither imagenet, random nor an existing file'),
       (['--bs', '8,4'], 'gives 2 values for 1 sizes'),
       # the recipe's three shares of the data no longer fit --sizes 32: it says so, and what to pass
       (['--recipe', 'deoldify-stable'], '--recipe deoldify-stable sets --fractions 1,1,0.5 for its 3 sizes, '
                                         'but --sizes gives 1: pass --fractions too')]


def test_bad_settings_are_one_line_exit_2_and_leave_the_run_as_it_was(tmp_path, data_dir, capsys):
    run = tmp_path / 'run'
    good = ['--data', str(data_dir), '--run', str(run), '--arch', 'resnet18', '--nf-factor', '0.5', '--sizes', '32',
            '--epochs', '1', '--bs', '2', '--no-pretrained']
    for extra, message in BAD:
        code = _exit_code(good + extra)  # argparse takes the last value of a repeated option
        err = capsys.readouterr().err
        assert code == 2, (extra, err)
        assert message in err and len(err.strip().splitlines()) == 1 and 'Traceback' not in err, (extra, err)
        assert not run.exists(), extra  # nothing written, no stage marked started
    assert _exit_code(good) == 0  # the corrected command, without --force
    assert RunFolder(run).stage('pretrain-gen')['status'] == 'done'


def _exit_code(argv):
    "The command line's exit code, whether the option parser exits or the command returns."
    try:
        return run_command(pretrain_gen, argv, 'deoldify-like pretrain-gen')
    except SystemExit as e:
        return e.code


def test_imagenet_loss_network_offline_is_one_line_exit_2(tmp_path, data_dir, subprocess_env):
    env = {**subprocess_env, 'TORCH_HOME': str(tmp_path / 'torch'), 'https_proxy': 'http://127.0.0.1:9',
           'HTTPS_PROXY': 'http://127.0.0.1:9'}  # an empty cache and no way out: as on an offline machine
    r = subprocess.run([sys.executable, '-m', 'train_stages', 'pretrain-gen', '--data', str(data_dir), '--run',
                        str(tmp_path / 'run'), '--no-pretrained', '--vgg-weights', 'imagenet'],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and 'ImageNet weights for vgg16_bn are not available' in lines[0] and '--vgg-weights random' in lines[0]
    assert not (tmp_path / 'run').exists()


class StopBeforeTraining(Exception):
    pass


class _StopBeforeFit(Callback):
    def before_fit(self):
        raise StopBeforeTraining("the test has what it needs")


def _recipe_table():
    "The reference table of docs/stages.md: {(stage, key): {recipe name: value}}."
    text = (ROOT / 'docs' / 'stages.md').read_text()
    head = next(l for l in text.splitlines() if l.startswith('| setting (`run.json` `recipe.values`)'))
    names = [c.strip() for c in head.strip('|').split('|')][1:4]
    table = {}
    for line in text.splitlines():
        m = re.match(r'\| `([a-z-]+)\.([a-z_]+)` \|(.*)', line)
        if m:
            cells = [c.strip() for c in m.group(3).split('|')][:3]
            table[(m.group(1), m.group(2))] = {n: json.loads(c.strip('`')) for n, c in zip(names, cells)}
    return table


def test_the_recipe_table_in_the_docs_is_what_the_recipes_are():
    table = _recipe_table()
    assert set(table) == {(s, k) for s, values in recipes.RECIPES['deoldify-stable'].items() for k in values}
    for (stage, key), values in table.items():
        for name, value in values.items():
            assert recipes.RECIPES[name][stage][key] == value, (name, stage, key)


def test_pretrain_gen_recipe_records_every_value_of_the_reference_table(tmp_path, data_dir):
    run = tmp_path / 'run'
    with pytest.raises(StopBeforeTraining):  # the settings are recorded when the stage starts
        pretrain_gen(data=str(data_dir), run=str(run), recipe='deoldify-stable', pretrained=False, vgg_weights='random',
                     limit=5, device='cpu', cbs=[_StopBeforeFit()])
    doc = RunFolder(run).load()
    assert doc['recipe']['name'] == 'deoldify-stable'
    settings = doc['stages']['pretrain-gen']['settings']
    assert settings['recipe_overrides'] == {'pretrained': False, 'vgg_weights': 'random'}
    for (stage, key), values in _recipe_table().items():
        assert doc['recipe']['values'][stage][key] == values['deoldify-stable'], (stage, key)
        if stage == 'pretrain-gen' and key not in settings['recipe_overrides']:
            assert settings[key] == values['deoldify-stable'], key
    assert doc['generator']['style'] == 'deoldify_wide' and doc['generator']['nf_factor'] == 2.0


def test_help_marks_required_options_and_lists_shared_choices_alike():
    from deoldify_like.choices import DEVICES
    for name, load in COMMANDS.items():
        parser = command_parser(load(), f'deoldify-like {name}')
        for action in parser._actions:
            if action.dest == 'device':
                assert list(action.choices) == list(DEVICES), name
                assert action.default == 'auto', name
            if action.required and action.option_strings:
                assert '(required)' in action.help, (name, action.dest)
    helps = {n: command_parser(load(), n).format_help() for n, load in COMMANDS.items()
             if n in ('pretrain-gen', 'gan', 'quickstart')}
    assert '--pretrained, --no-pretrained' in helps['quickstart'] and '--pretrained, --no-pretrained' in helps['pretrain-gen']
    assert '--run (str)' in helps['gan'] and '(required)' in helps['gan']
