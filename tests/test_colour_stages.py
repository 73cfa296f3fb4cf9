"""The colour terms (docs/colour.md) as options of stage 1 and the burst: recorded in run.json, the CIC head
kept in the model file and in the burst's checkpoints, the terms part of the loss, a clear error for a
burst asked for the CIC term on a generator without the head, and a model with the head rendering as one
without on every engine."""
import shutil

import numpy as np
import pytest
import torch

from deoldify_like.cli_support import dispatch
from deoldify_like.demo import DEMO_COLOUR
from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.images import load_image
from deoldify_like.inference import Colorizer
from deoldify_like.model_file import read_header, save_generator
from train_stages.cli import COMMANDS
from train_stages.run_folder import RunFolder, read_csv

STAGE1 = ('--arch', 'resnet18', '--nf-factor', 0.5, '--sizes', 32, '--epochs', 1, '--bs', 2, '--no-pretrained',
          '--seed', 1, '--device', 'cpu')


def cli(*args):
    return dispatch(COMMANDS, [str(a) for a in args])


def start_valid_loss(run):
    return float(next(r for r in read_csv(run / 'logs' / 'pretrain-gen.csv') if r['phase'] == 'start')['valid_loss'])


@pytest.fixture(scope='module')
def colour_run(tmp_path_factory):
    d = tmp_path_factory.mktemp('colour_stages')
    data = d / 'data'
    assert cli('prepare', DEMO_COLOUR, '--out', data, '--max-size', 96) == 0
    plain, vivid = d / 'plain', d / 'vivid'
    assert cli('pretrain-gen', '--data', data, '--run', plain, *STAGE1) == 0
    assert cli('pretrain-gen', '--data', data, '--run', vivid, *STAGE1, '--colourfulness-weight', 2,
               '--chroma-class-weight', 0.5) == 0
    return plain, vivid


def test_stage1_records_the_weights_and_keeps_the_head_in_the_model_file(colour_run):
    plain, vivid = colour_run
    settings = RunFolder(vivid).stage('pretrain-gen')['settings']
    assert settings['colourfulness_weight'] == 2.0 and settings['chroma_class_weight'] == 0.5
    assert RunFolder(plain).stage('pretrain-gen')['settings']['colourfulness_weight'] == 0.0
    assert read_header(vivid / 'checkpoints' / 'gen-s32.safetensors')['config']['ab_bins'] == 261
    assert 'ab_bins' not in read_header(plain / 'checkpoints' / 'gen-s32.safetensors')['config']
    assert (vivid / 'ab_prior.json').is_file() and not (plain / 'ab_prior.json').exists()


def test_stage1_loss_holds_the_colour_terms(colour_run):
    "Same seed, same weights before training: the validation loss differs by the terms (CIC's cross-entropy ~ ln 261)."
    plain, vivid = colour_run
    extra = start_valid_loss(vivid) - start_valid_loss(plain)
    assert 0.5 * 0.5 * 5.56 < extra < 0.5 * 2 * 5.56 + 2 * 1.0  # ce ~ ln(261) x 0.5 .. + the colourfulness term (<= 1)


def test_burst_with_the_colour_terms_keeps_the_head(colour_run, tmp_path):
    _, vivid = colour_run
    run = tmp_path / 'run'
    shutil.copytree(vivid, run)
    assert cli('pretrain-critic', '--run', run, '--epochs', 1, '--bs', 2, '--size', 64, '--nf', 16,
               '--device', 'cpu') == 0
    assert cli('gan', '--run', run, '--iters', 2, '--save-every', 2, '--bs', 2, '--size', 64, '--device', 'cpu',
               '--colourfulness-weight', 1, '--chroma-class-weight', 0.25) == 0
    header = read_header(run / 'checkpoints' / 'gan-c1-i000002.safetensors')
    assert header['config']['ab_bins'] == 261
    assert RunFolder(run).stage('gan-c1')['settings']['chroma_class_weight'] == 0.25


def test_burst_refuses_the_cic_term_without_a_head(tiny_run, tmp_path, capsys):
    run = tmp_path / 'run'
    shutil.copytree(tiny_run, run)
    before = sorted(p.name for p in (run / 'checkpoints').iterdir())
    assert cli('gan', '--run', run, '--iters', 8, '--chroma-class-weight', 1) == 2
    err = capsys.readouterr().err.strip()
    assert err.count('\n') == 0 and 'has no chroma head' in err
    assert cli('gan', '--run', run, '--iters', 8, '--colourfulness-weight', -1) == 2
    assert '--colourfulness-weight: a weight of 0 or more, got -1' in capsys.readouterr().err
    assert sorted(p.name for p in (run / 'checkpoints').iterdir()) == before  # nothing written


@pytest.mark.parametrize('engine', ['torch', 'onnxruntime', 'openvino'])
def test_a_model_with_the_head_renders_as_one_without_on_every_engine(engine, shared_data, tmp_path, monkeypatch):
    pytest.importorskip('torch' if engine == 'torch' else engine)
    monkeypatch.setenv('DEOLDIFY_LIKE_CACHE', str(tmp_path / 'cache'))
    torch.manual_seed(0)
    cfg, plain_cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5, ab_bins=261), GeneratorConfig(arch='resnet18', nf_factor=0.5)
    model, plain = build_generator(cfg), build_generator(plain_cfg)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if not k.startswith('ab_head.')})
    with_head = save_generator(tmp_path / 'head.safetensors', model, cfg, render_factor=4)
    without = save_generator(tmp_path / 'plain.safetensors', plain, plain_cfg, render_factor=4)
    assert read_header(with_head)['config']['ab_bins'] == 261
    lumas = [load_image(f).luma for f in sorted((shared_data / 'photos' / 'bsds500_val').glob('*.jpg'))[:2]]
    want = Colorizer.from_file(without, 4, device='cpu', precision='fp32').predict(lumas)
    got = Colorizer.from_file(with_head, 4, device='cpu', precision='fp32', engine=engine).predict(lumas)
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.abs(g.astype(int) - w).max() <= 1
    assert np.std(want[0]) > 1  # not a flat picture
