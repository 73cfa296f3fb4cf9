"""Checkpoint comparison, promotion and the Jupyter picker, on a real tiny run made by the stage commands
(the `tiny_run` fixture of conftest.py)."""
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from deoldify_like.cli_support import dispatch
from deoldify_like.colour import rgb_to_lab, lab_to_rgb
from deoldify_like.demo import DEMO_BW, DEMO_COLOUR
from deoldify_like.model_file import read_header
from train_stages.cli import COMMANDS
from deoldify_like.inference import Colorizer
from train_stages.checkpoint_scores import generators_to_compare, run_checkpoints, score_outputs
from train_stages.compare import Picture, pictures_from
from train_stages.run_folder import RunFolder


def cli(*args):
    return dispatch(COMMANDS, [str(a) for a in args])


@pytest.fixture(scope='module')
def mixed_pictures(tmp_path_factory):
    "Two colour photos and one black-and-white photo."
    d = tmp_path_factory.mktemp('pics')
    for p in sorted(DEMO_COLOUR.glob('*.jpg'))[:2] + sorted(DEMO_BW.glob('*.jpg'))[:1]:
        Image.open(p).resize((96, 72)).save(d / p.name)
    return d


def test_checkpoints_grid_and_table(tiny_run, mixed_pictures, tmp_path, capsys):
    gens = generators_to_compare(RunFolder(tiny_run))
    assert [g.get('iteration') for g in gens] == [None, 2, 4, 6]  # stage 1, then the burst in order
    out = tmp_path / 'grid.png'
    assert cli('checkpoints', '--run', tiny_run, '--images', mixed_pictures, '--render-factor', 2, '--out', out) == 0
    printed = capsys.readouterr().out
    assert 'c1 it6' in printed and 'psnr' in printed
    grid = Image.open(out)
    rows = (out.with_suffix('.csv')).read_text().splitlines()
    assert len(rows) == 1 + 4 + 1  # header + stage 1 + three GAN checkpoints + the gray input
    header = rows[0].split(',')
    for col in ('psnr', 'ssim', 'ciede2000', 'delta_cf', 'critic_score', 'moved', 'drift'):
        assert col in header
    values = dict(zip(header, rows[-2].split(',')))
    assert 0 < float(values['critic_score']) < 1 and float(values['psnr']) > 5 and float(values['moved']) >= 0
    gray = dict(zip(header, rows[-1].split(',')))
    assert gray['label'] == 'gray input' and gray['checkpoint'] == '' and float(gray['cf_output']) == 0
    assert float(gray['psnr']) > 5 and gray['critic_score'] == ''
    # columns: gray input + 4 generators + truth; rows: 3 pictures
    assert grid.width > 5 * grid.height / 3 * 0.9 and grid.height > 3 * 100


def test_checkpoints_default_sample_is_the_runs_validation_split(tiny_run, tmp_path):
    out = tmp_path / 'g.png'
    assert cli('checkpoints', '--run', tiny_run, '--render-factor', 2, '--out', out) == 0
    assert out.is_file() and len(out.with_suffix('.csv').read_text().splitlines()) == 6  # + the gray input's row


def assert_same_scores(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == (pytest.approx(b[k], rel=1e-9, abs=1e-9) if isinstance(b[k], float) else b[k]), k


def test_outputs_are_each_checkpoints_own_whatever_the_lanes(tiny_run, mixed_pictures):
    """One network built, each checkpoint's weights loaded into it, pictures split over 1 or 2 lanes: every
    output equals that of a Colorizer made from the checkpoint's own file, and the scores do not move."""
    rf = RunFolder(tiny_run)
    pictures = pictures_from(rf, mixed_pictures)
    before = torch.get_num_threads()
    try:
        runs, grays = {}, {}
        for lanes in (1, 2):
            torch.set_num_threads(lanes)
            runs[lanes], grays[lanes] = run_checkpoints(rf, pictures, 2, bs=1, device='cpu')
    finally:
        torch.set_num_threads(before)
    assert torch.get_num_threads() == before
    # each lane scores its own pictures: the sums go in another order, so the means may differ in the last digits
    for r1, r2 in zip(runs[1], runs[2]):
        assert all(np.array_equal(a, b) for a, b in zip(r1.outputs, r2.outputs))
        assert_same_scores(r1.scores, r2.scores)
    assert_same_scores(grays[1], grays[2])
    assert grays[1]['psnr'] > 5
    assert {'moved', 'critic_score', 'psnr'} <= set(runs[2][-1].scores)
    for r in runs[2]:
        own = Colorizer.from_file(r.entry['path'], 2, device='cpu', bs=1).colorize([p.luma for p in pictures])
        assert all(np.array_equal(a, b) for a, b in zip(own, r.outputs)), r.label
    assert not np.array_equal(runs[2][0].outputs[0], runs[2][-1].outputs[0])  # the checkpoints do differ


def test_drift_is_flagged_for_oversaturated_outputs(colour_image):
    lab = rgb_to_lab(colour_image)
    lab[..., 1:] *= 1.8
    loud = lab_to_rgb(lab)
    pics = [Picture('x', colour_image[..., 0], colour_image)]
    assert score_outputs(pics, [colour_image], None)['drift'] == ''
    assert 'saturation' in score_outputs(pics, [loud], None)['drift']


def test_promote_writes_exactly_the_path_and_loads_in_a_new_process(tiny_run, tmp_path, subprocess_env):
    out = tmp_path / 'models' / 'chosen.safetensors'
    assert cli('promote', '--run', tiny_run, '--checkpoint', 'gan-c1-i000004', '--out', out) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ['chosen.safetensors']
    header = read_header(out)
    assert header['info']['promoted_from'] == 'gan-c1-i000004.safetensors'
    assert RunFolder(tiny_run).load()['promoted'][-1]['checkpoint'] == 'gan-c1-i000004.safetensors'
    code = f"from deoldify_like.model_file import load_generator; m,h=load_generator(r'{out}'); print(h['kind'])"
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 0 and r.stdout.strip() == 'generator'


def test_promote_unknown_checkpoint_is_one_line(tiny_run, tmp_path, capsys):
    assert cli('promote', '--run', tiny_run, '--checkpoint', 'gan-c1-i999999', '--out', tmp_path / 'x.safetensors') == 1
    err = capsys.readouterr().err.strip()
    assert 'gan-c1-i999999' in err and '\n' not in err and not (tmp_path / 'x.safetensors').exists()


def test_picker_moves_between_checkpoints_and_promotes(tiny_run, tmp_path):
    from train_stages.picker import CheckpointPicker
    picker = CheckpointPicker(tiny_run, render_factor=2, limit=2, out=tmp_path / 'picked.safetensors')
    assert len(picker.selector.options) == 4 and picker.shown.label == 'c1 it6 ema'
    assert picker.scored_on.startswith("Scored on 1 pictures from the run's validation sample")  # said in the widget
    assert picker.rows[-1]['label'] == 'gray input' and len(picker.rows) == 5
    last_pictures, last_loss = picker.pictures_view.value, picker.loss_view.value
    assert last_pictures[:4] == b'\x89PNG' and last_loss[:4] == b'\x89PNG'
    picker.selector.value = 1  # as a person choosing in the dropdown
    assert picker.shown.label == 'c1 it2 ema'
    assert picker.pictures_view.value != last_pictures and picker.loss_view.value != last_loss
    assert 'background' in picker.metrics_view.value.split('c1 it2')[0].rsplit('<tr', 1)[1]  # shown row marked
    picker.promote_button.click()
    assert (tmp_path / 'picked.safetensors').is_file()
    assert read_header(tmp_path / 'picked.safetensors')['info']['promoted_from'] == 'gan-c1-i000002.safetensors'
    assert 'promoted' in picker.status.value


def test_pick_checkpoint_notebook_runs_headless(tiny_run, tmp_path):
    from notebook_runner import outputs_of, run_notebook
    out = tmp_path / 'nb.safetensors'
    nb = run_notebook('04_pick_checkpoint', {'RUN': str(tiny_run), 'IMAGES': None, 'RENDER_FACTOR': 2,
                                             'LIMIT': 2, 'PROMOTE_TO': str(out)}, tmp_path)
    assert out.is_file()
    assert outputs_of(nb, 'application/vnd.jupyter.widget-view+json')  # the picker widget was displayed
    assert any('c1 it6' in s for s in outputs_of(nb, 'stream'))


def test_importing_the_picker_leaves_matplotlibs_backend_alone(subprocess_env):
    env = {**subprocess_env, 'MPLBACKEND': 'svg'}  # any backend but the Agg the picker draws with
    code = 'import matplotlib, train_stages.picker; print(matplotlib.get_backend())'
    r = subprocess.run([sys.executable, '-W', 'error::FutureWarning', '-c', code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr  # also: no FutureWarning (torch's jit deprecation via fastai) escapes
    assert r.stdout.strip() == 'svg'
