"""A NoGAN cycle started from a model file that did not come from this run (a promoted or imported
generator): pretrain-critic --data --from on a new run folder, then gan --from; the loss network the new run
records is the one its burst measures with."""
import torch
import torchvision

from deoldify_like.cli_support import dispatch
from deoldify_like.demo import DEMO_COLOUR
from deoldify_like.feature_loss import loss_network
from deoldify_like.tensors import state_sha256
from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.model_file import read_header, save_generator
from train_stages.cli import COMMANDS
from train_stages.run_folder import RunFolder


def cli(*args):
    return dispatch(COMMANDS, [str(a) for a in args])


def test_a_cycle_starts_from_an_outside_model_file(tmp_path, capsys):
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5)
    model = save_generator(tmp_path / 'outside.safetensors', build_generator(cfg), cfg)
    torch.manual_seed(3)
    vgg = tmp_path / 'vgg.pt'  # a loss network of the user's own, as a whole vgg16_bn state dict
    torch.save(torchvision.models.vgg16_bn(weights=None).state_dict(), vgg)
    data, run = tmp_path / 'data', tmp_path / 'run'
    assert cli('prepare', DEMO_COLOUR, '--out', data, '--max-size', 96) == 0
    assert cli('pretrain-critic', '--run', run, '--data', data, '--from', model, '--vgg-weights', vgg, '--epochs', 1,
               '--bs', 2, '--size', 64, '--nf', 8) == 0
    assert cli('gan', '--run', run, '--from', model, '--iters', 2, '--save-every', 2, '--bs', 2, '--size', 64) == 0
    doc = RunFolder(run).load()
    assert doc['cycles']['1']['generator'] == str(model.resolve())
    assert 'pretrain-gen' not in doc['stages']
    expected = state_sha256(loss_network(str(vgg)))
    assert doc['loss_network'] == {'weights': str(vgg.resolve()), 'fingerprint': expected}
    assert doc['stages']['gan-c1']['settings']['vgg_fingerprint'] == expected
    ckpt = run / 'checkpoints' / 'gan-c1-i000002.safetensors'
    assert read_header(ckpt)['config'] == read_header(model)['config']
    # --data on a run that trains on other pictures is refused in one line
    assert cli('pretrain-critic', '--run', run, '--data', tmp_path, '--from', model) == 2
    assert 'already trains on' in capsys.readouterr().err


def test_data_without_from_is_one_line(tmp_path, capsys):
    assert cli('pretrain-critic', '--run', tmp_path / 'r', '--data', tmp_path) == 2
    assert '--from' in capsys.readouterr().err
    assert not (tmp_path / 'r').exists()
