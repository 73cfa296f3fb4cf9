"""`gan --ema DECAY`: the averaged generator follows its recurrence step by step (resume included), leaves
the training itself alone, settles its spectral norms, and `checkpoints` shows how far each one moved."""
import shutil

import pytest
import torch

from deoldify_like.errors import SettingsError
from deoldify_like.generator import build_generator
from deoldify_like.model_file import load_generator, read_header
from train_stages.compare import GRAY_INPUT, checkpoints
from train_stages.ema import GeneratorAverage
from train_stages.gan import gan
from train_stages.run_folder import RunFolder, read_csv

from interrupts import Interrupt, InterruptAfter

DECAY = 0.6  # far from 1, so every step shows in the average


def _copy_run(tiny_run, dest):
    "The shared run up to its critic: the burst's resume state and checkpoints (most of its size) stay behind."
    shutil.copytree(tiny_run, dest, ignore=shutil.ignore_patterns('resume', 'gan-c*.safetensors'))
    return dest


def _state(run, name):
    return load_generator(run / 'checkpoints' / f'{name}.safetensors')[0].state_dict()


def _check_recurrence(run, iters):
    """Checkpoint i of the average = DECAY x checkpoint i-1 + (1 - DECAY) x the raw generator at i after a
    generator step, and unchanged after a critic step (weights and BatchNorm statistics)."""
    modes = {int(r['iteration']): r['mode'] for r in read_csv(run / 'logs' / 'gan-c1.csv')}
    assert set(modes.values()) == {'critic', 'generator'}
    before = _state(run, 'gen-s32')  # the burst starts from the stage-1 generator
    for i in range(1, iters + 1):
        ema, raw = _state(run, f'gan-c1-i{i:06d}'), _state(run, f'gan-c1-i{i:06d}-raw')
        for k, v in ema.items():
            if not v.is_floating_point() or k.endswith(('_u', '_v')) or k.endswith('.weight') and k + '_orig' in ema:
                continue  # counters; spectral-norm vectors and weights are re-settled from weight_orig
            if modes[i] == 'generator':
                want = DECAY * before[k] + (1 - DECAY) * raw[k]
            else:
                want = before[k]
            assert torch.allclose(v, want, atol=1e-6, rtol=1e-5), (i, modes[i], k)
        before = ema


def test_the_average_follows_its_recurrence_and_leaves_training_alone(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / 'run')
    assert gan(run=str(run), iters=6, save_every=1, bs=2, size=64, ema=DECAY, save_raw=True, force=True, device='cpu') == 0
    _check_recurrence(run, 6)
    # the raw generator is exactly what the same burst without --ema trains
    plain_run = _copy_run(tiny_run, tmp_path / 'plain')
    assert gan(run=str(plain_run), iters=6, save_every=2, bs=2, size=64, ema=0, force=True, device='cpu') == 0
    assert RunFolder(plain_run).list_checkpoints()[-1]['weights'] == 'raw'
    for i in (2, 4, 6):
        raw, plain = _state(run, f'gan-c1-i{i:06d}-raw'), _state(plain_run, f'gan-c1-i{i:06d}')
        assert all(torch.equal(raw[k], plain[k]) for k in plain), i
    rf = RunFolder(run)
    entries = {c['name']: c for c in rf.list_checkpoints('generator')}
    assert entries['gan-c1-i000006.safetensors']['weights'] == 'ema'
    assert entries['gan-c1-i000006.safetensors']['ema'] == DECAY
    assert entries['gan-c1-i000006-raw.safetensors']['weights'] == 'raw'
    assert rf.current('generator').name == 'gan-c1-i000006.safetensors'  # the average is what goes on
    info = read_header(run / 'checkpoints' / 'gan-c1-i000006.safetensors')['info']
    modes = [r['mode'] for r in read_csv(run / 'logs' / 'gan-c1.csv')]
    assert info['weights'] == 'ema' and info['ema_steps'] == 1 + modes.count('generator')
    assert rf.stage('gan-c1')['settings']['ema'] == DECAY

    # checkpoints: every checkpoint's move from the one before it of its kind, and the gray input's row last
    assert checkpoints(run=str(run), render_factor=4, limit=3, device='cpu') == 0
    rows = read_csv(run / 'reports' / 'checkpoints.csv')
    labels = [r['label'] for r in rows]
    assert labels[0].startswith('stage 1') and labels[-1] == GRAY_INPUT
    assert labels[1:7] == [f'c1 it{i} ema' for i in range(1, 7)] and labels[7:13] == [f'c1 it{i} raw' for i in range(1, 7)]
    moved = {r['label']: float(r['moved']) for r in rows[1:13]}
    assert rows[0]['moved'] == ''
    # a critic step leaves the raw generator as it was (moved 0); a generator step moves it
    raw_moves = {modes[i - 1]: [] for i in range(1, 7)}
    for i in range(1, 7):
        raw_moves[modes[i - 1]].append(moved[f'c1 it{i} raw'])
    assert raw_moves['critic'] and all(v == 0 for v in raw_moves['critic'])
    assert max(raw_moves['generator']) > 0
    assert float(rows[-1]['psnr']) > 0 and rows[-1]['checkpoint'] == ''


def test_resume_keeps_the_average(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / 'run')
    kw = dict(run=str(run), iters=5, save_every=1, bs=2, size=64, ema=DECAY, save_raw=True, device='cpu')
    with pytest.raises(Interrupt):
        gan(force=True, cbs=[InterruptAfter(3)], **kw)
    assert RunFolder(run).stage('gan-c1')['status'] == 'interrupted'
    assert gan(**kw) == 0
    _check_recurrence(run, 5)  # across the resumption too: the average went on from where it was


def test_bad_ema_settings_are_refused(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / 'run')
    with pytest.raises(SettingsError, match='--ema'):
        gan(run=str(run), iters=2, ema=1.5, force=True, device='cpu')
    with pytest.raises(SettingsError, match='--save-raw needs --ema'):
        gan(run=str(run), iters=2, ema=0, save_raw=True, force=True, device='cpu')


def test_the_settled_average_divides_by_its_own_largest_singular_value():
    torch.manual_seed(0)
    a, b = build_generator(arch='resnet18', nf_factor=0.25, style='unet'), build_generator(arch='resnet18', nf_factor=0.25, style='unet')
    avg = GeneratorAverage(a, 0.5)
    avg.update(b)
    settled = avg.settled()
    checked = 0
    for name, m in settled.named_modules():
        if hasattr(m, 'weight_orig'):
            w = m.weight_orig.reshape(m.weight_orig.shape[0], -1)
            want = (0.5 * dict(a.named_modules())[name].weight_orig + 0.5 * dict(b.named_modules())[name].weight_orig)
            assert torch.allclose(m.weight_orig, want)
            sigma = torch.linalg.matrix_norm(w, ord=2)
            used = float(m.weight_orig.flatten() @ m.weight_orig.flatten() / (m.weight.flatten() @ m.weight_orig.flatten()))
            assert torch.allclose(m.weight * used, m.weight_orig, atol=1e-6), name  # the weight is weight_orig / a scalar
            assert used == pytest.approx(float(sigma), rel=0.02), name  # 100 power steps: within 2% of the true sigma
            checked += 1
    assert checked > 0
