"""The three NoGAN stages end to end on a handful of tiny real pictures, each one interrupted by an exception
from a callback and then resumed, plus a second cycle from a chosen GAN checkpoint. One run is shared by
the tests of this module (module fixture) to keep the suite fast."""
import json
import shutil
import subprocess
import sys

import pytest
from fastai.callback.core import Callback

from deoldify_like.cli_support import dispatch
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.images import load_image
from deoldify_like.model_file import load_generator, load_model_file, read_header
from deoldify_like.inference import Colorizer
from train_stages.cli import COMMANDS
from train_stages.gan import gan
from train_stages.prepare import prepare
from train_stages.pretrain_critic import pretrain_critic
from train_stages.pretrain_gen import pretrain_gen
from train_stages.run_folder import RunFolder, read_csv

from interrupts import Interrupt, InterruptAfter, call


class CountBatches(Callback):
    def __init__(self):
        self.n = 0

    def after_batch(self):
        if self.training:
            self.n += 1


GEN = dict(arch='resnet18', nf_factor=0.5, sizes='32,64', epochs='1,2', frozen_epochs=1, bs=4, limit=12,
           pretrained=False, device='cpu')
CRITIC = dict(epochs=2, bs=4, size=64, nf=16, device='cpu')
GAN = dict(iters=6, save_every=2, bs=4, size=64, lr=1e-4, device='cpu')


@pytest.fixture(scope='module')
def tiny_run(shared_data, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('stages')
    src = tmp / 'src'
    src.mkdir()
    for f in sorted((shared_data / 'photos' / 'bsds500_train').glob('*.jpg'))[:12]:
        shutil.copy(f, src / f.name)
    data, run = tmp / 'data', tmp / 'run'
    assert prepare([str(src)], out=str(data), max_size=96) == 0
    out = {'data': data, 'run': run}
    # stage 1: 11 training pictures, bs 4 -> 2 batches per epoch; phases s32-frozen (1 epoch), s32 (1), s64 (2):
    # interrupted in the 7th batch = the second epoch at 64 px
    out['gen_interrupted'] = call(pretrain_gen, data=str(data), run=str(run), cbs=[InterruptAfter(7)], **GEN)
    out['gen_status_after_interrupt'] = RunFolder(run).stage('pretrain-gen')['status']
    count = CountBatches()
    out['gen_resumed'] = call(pretrain_gen, data=str(data), run=str(run), cbs=[count], **GEN)
    out['gen_resumed_batches'] = count.n
    count = CountBatches()
    out['gen_again'] = call(pretrain_gen, data=str(data), run=str(run), cbs=[count], **GEN)
    out['gen_again_batches'] = count.n
    # stage 2: 10 training pictures real + 10 generated, bs 4 -> 5 batches per epoch; interrupted in epoch 2
    out['critic_interrupted'] = call(pretrain_critic, run=str(run), cbs=[InterruptAfter(7)], **CRITIC)
    count = CountBatches()
    out['critic_resumed'] = call(pretrain_critic, run=str(run), cbs=[count], **CRITIC)
    out['critic_resumed_batches'] = count.n
    # stage 3: interrupted after iteration 3 (checkpoints at 2, 4, 6): resumes from iteration 2
    out['gan_interrupted'] = call(gan, run=str(run), cbs=[InterruptAfter(3)], **GAN)
    count = CountBatches()
    out['gan_resumed'] = call(gan, run=str(run), cbs=[count], **GAN)
    out['gan_resumed_batches'] = count.n
    # a second cycle from a chosen checkpoint
    out['critic2'] = call(pretrain_critic, run=str(run), from_='gan-c1-i000004', **{**CRITIC, 'epochs': 1})
    out['gan2'] = call(gan, run=str(run), from_='gan-c1-i000004', **{**GAN, 'iters': 2})
    # a finished burst goes on when asked for more iterations
    out['gan2_more'] = call(gan, run=str(run), from_='gan-c1-i000004', **{**GAN, 'iters': 4})
    return out


def test_stage1_resumes_at_the_interrupted_epoch(tiny_run):
    res, text = tiny_run['gen_interrupted']
    assert isinstance(res, Interrupt) and tiny_run['gen_status_after_interrupt'] == 'interrupted'
    res, text = tiny_run['gen_resumed']
    assert res == 0
    assert 'pretrain-gen: resumed from' in text and '3 epoch(s) already done' in text
    assert 'continuing at size 64 (unfrozen), epoch 2 of 2' in text
    assert tiny_run['gen_resumed_batches'] == 2  # only the unfinished epoch was trained again
    rows = read_csv(tiny_run['run'] / 'logs' / 'pretrain-gen.csv')
    assert [(r['phase'], r['epoch']) for r in rows] == [('start', '0'), ('s32-frozen', '1'), ('s32', '1'), ('s64', '1'), ('s64', '2')]
    assert all(float(r['valid_loss']) > 0 for r in rows)
    batches = read_csv(tiny_run['run'] / 'logs' / 'pretrain-gen_batches.csv')
    assert [int(r['batch']) for r in batches] == list(range(1, 9))  # 2 batches per epoch, 4 epochs


def test_a_finished_stage_is_not_redone(tiny_run):
    res, text = tiny_run['gen_again']
    assert res == 0 and 'already done' in text and tiny_run['gen_again_batches'] == 0


def test_stage1_checkpoints_per_size_are_self_describing(tiny_run, shared_data):
    ck = tiny_run['run'] / 'checkpoints'
    for name, size in [('gen-s32-frozen', 32), ('gen-s32', 32), ('gen-s64', 64)]:
        header = read_header(ck / f'{name}.safetensors')
        assert header['kind'] == 'generator' and header['config']['arch'] == 'resnet18'
        assert header['info']['size'] == size and header['info']['stage'] == 'pretrain-gen'
    model, _ = load_generator(ck / 'gen-s64.safetensors')
    luma = load_image(shared_data / 'photos' / 'bsds500_val' / sorted(p.name for p in (shared_data / 'photos' / 'bsds500_val').glob('*.jpg'))[0]).luma
    out = Colorizer(model, render_factor=4, device='cpu').colorize([luma])[0]
    assert out.shape == luma.shape + (3,)


def test_critic_stage_generates_fakes_and_logs_accuracy(tiny_run):
    run = tiny_run['run']
    res, _ = tiny_run['critic_interrupted']
    assert isinstance(res, Interrupt)
    res, text = tiny_run['critic_resumed']
    assert res == 0 and 'resumed from' in text and '1 epoch(s) already done' in text
    assert 'already in' in text  # the fakes of the interrupted run were kept, not made again
    assert tiny_run['critic_resumed_batches'] == 5
    fakes = sorted((run / 'generated' / 'c1').glob('*.png'))
    assert len(fakes) == 11 and load_image(fakes[0]).rgb.shape[:2] in [(64, 96), (96, 64)]
    rows = read_csv(run / 'logs' / 'pretrain-critic-c1.csv')
    assert [r['epoch'] for r in rows] == ['0', '1', '2']
    assert all(0.0 <= float(r['accuracy']) <= 1.0 for r in rows)
    critic, header = load_model_file(run / 'checkpoints' / 'critic-c1.safetensors', 'critic')
    assert header['config']['nf'] == 16 and header['info']['generator'] == 'gen-s64.safetensors'


def test_gan_burst_checkpoints_by_iteration_and_resumes(tiny_run):
    run = tiny_run['run']
    res, text = tiny_run['gan_interrupted']
    assert isinstance(res, Interrupt) and 'gan-c1-i000002.safetensors' in text
    res, text = tiny_run['gan_resumed']
    assert res == 0 and 'resumed from' in text and 'at iteration 2 of 6' in text
    assert tiny_run['gan_resumed_batches'] == 4
    names = sorted(p.name for p in (run / 'checkpoints').glob('gan-c1-*.safetensors'))
    assert names == ['gan-c1-i000002.safetensors', 'gan-c1-i000004.safetensors', 'gan-c1-i000006.safetensors']
    header = read_header(run / 'checkpoints' / names[-1])
    assert header['info']['iteration'] == 6 and header['info']['cycle'] == 1
    iters = read_csv(run / 'logs' / 'gan-c1.csv')
    assert [int(r['iteration']) for r in iters] == [1, 2, 3, 4, 5, 6]
    assert {r['mode'] for r in iters} == {'critic', 'generator'}
    for r in iters:  # the critic's learning rate is 5x the generator's, and stays so
        assert float(r['lr_critic']) == pytest.approx(5 * float(r['lr_generator'])) and float(r['lr_generator']) == 1e-4
    ckpts = read_csv(run / 'logs' / 'gan-c1_checkpoints.csv')
    assert [int(r['iteration']) for r in ckpts] == [2, 4, 6]
    assert all(float(r['critic_loss']) > 0 for r in ckpts)


def test_run_json_records_stages_cycles_and_checkpoints(tiny_run):
    run = tiny_run['run']
    doc = json.loads((run / 'run.json').read_text())
    assert doc['format'] == 'deoldify_like.run'
    assert doc['data']['n_train'] == 11 and doc['data']['n_valid'] == 1 and doc['data']['limit'] == 12
    assert doc['generator']['arch'] == 'resnet18' and doc['generator']['nf_factor'] == 0.5
    st = doc['stages']
    assert set(st) == {'pretrain-gen', 'pretrain-critic-c1', 'gan-c1', 'pretrain-critic-c2', 'gan-c2'}
    assert all(s['status'] == 'done' for s in st.values())
    assert st['pretrain-gen']['resumed'] == 1 and st['gan-c1']['resumed'] == 1
    assert st['pretrain-gen']['settings']['sizes'] == [32, 64]
    assert doc['cycle'] == 2
    assert doc['cycles']['1']['generator'] == 'gen-s64.safetensors' and doc['cycles']['1']['critic'] == 'critic-c1.safetensors'
    assert doc['cycles']['2']['generator'] == 'gan-c1-i000004.safetensors'
    assert st['gan-c2']['settings']['generator'] == 'gan-c1-i000004.safetensors'
    assert st['pretrain-critic-c1']['settings']['start_from'] is None  # cycle 1: a new critic
    assert st['pretrain-critic-c2']['settings']['start_from'] == 'critic-c1.safetensors'  # then fine-tuned
    assert st['pretrain-critic-c1']['settings']['lr'] == 1e-3 and st['pretrain-critic-c2']['settings']['lr'] == 1e-4
    assert [p.name for p in (run / 'checkpoints' / 'resume').iterdir()] == ['gan-c2.pt']  # cycle 1's were deleted
    assert doc['current'] == {'generator': 'gan-c2-i000004.safetensors', 'critic': 'critic-c2.safetensors'}
    assert 'pretrain-critic-c2: fine-tuning critic-c1.safetensors' in tiny_run['critic2'][1]
    res, text = tiny_run['gan2_more']
    assert res == 0 and 'extending the burst from 2 to 4 iterations' in text and 'at iteration 2 of 4' in text
    assert [int(r['iteration']) for r in read_csv(run / 'logs' / 'gan-c2_checkpoints.csv')] == [2, 4]
    kinds = {c['name']: c['kind'] for c in doc['checkpoints']}
    assert kinds['critic-c2.safetensors'] == 'critic' and kinds['gan-c2-i000004.safetensors'] == 'generator'
    assert all((run / 'checkpoints' / n).is_file() for n in kinds)
    events = [(h['stage'], h['event']) for h in doc['history']]
    assert ('pretrain-gen', 'interrupted') in events and ('pretrain-gen', 'resume') in events
    for stage in st:
        assert json.loads((run / 'logs' / f'{stage}_settings.json').read_text()) == st[stage]['settings']
    for png in ['pretrain-gen_loss.png', 'pretrain-critic-c1_loss.png', 'gan-c1_loss.png', 'pretrain-gen_s64_samples.png']:
        assert load_image(run / 'reports' / png).rgb.std() > 5  # a real picture, not blank
    assert RunFolder(run).resolve_model('gan-c1-i000006') == run / 'checkpoints' / 'gan-c1-i000006.safetensors'
    assert [c['name'] for c in RunFolder(run).list_checkpoints('critic')] == ['critic-c1.safetensors', 'critic-c2.safetensors']


def test_resuming_with_other_settings_is_refused(tiny_run, tmp_path):
    rf = RunFolder(tmp_path / 'run').create()
    rf.set_stage('pretrain-gen', status='interrupted', settings={'arch': 'resnet34'})
    rf.save_resume('pretrain-gen', {'phase': 0, 'epoch': 1, 'batches': 2})  # something to resume from
    with pytest.raises(DeoldifyLikeError, match='other settings.*--force'):
        pretrain_gen(data=str(tiny_run['data']), run=str(rf.path), arch='resnet18', pretrained=False)


def test_a_stage_stopped_before_its_first_save_starts_afresh_with_new_settings(tiny_run, tmp_path):
    rf = RunFolder(tmp_path / 'run').create()
    rf.set_stage('pretrain-gen', status='interrupted', settings={'arch': 'resnet34'})  # no resume state
    result, text = call(pretrain_gen, data=str(tiny_run['data']), run=str(rf.path), cbs=[InterruptAfter(1)], **GEN)
    assert 'starting afresh' in text and isinstance(result, Interrupt)
    assert rf.stage('pretrain-gen')['settings']['arch'] == 'resnet18'


def test_command_line_of_the_stages(tmp_path, subprocess_env, capsys):
    for cmd in ['gan', 'pretrain-critic', 'pretrain-gen']:
        with pytest.raises(SystemExit):
            dispatch(COMMANDS, [cmd, '--help'])
    helps = capsys.readouterr().out
    for flag in ['--from ', '--save-every', '--iters', '--critic-thresh', '--no-pretrained', '--sizes', '--limit', '--fraction']:
        assert flag in helps
    bad = subprocess.run([sys.executable, '-m', 'train_stages', 'pretrain-critic', '--run', str(tmp_path / 'nothing')],
                         capture_output=True, text=True, env=subprocess_env)
    assert bad.returncode == 1 and 'not a run folder' in bad.stderr and 'Traceback' not in bad.stderr
