"""benchmarks/gpu_check.sh as the CPU smoke test: it runs the stage sequence, the render bench and the
training step times end to end and writes one table; on a machine without CUDA it says so in one line."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU smoke test; a GPU machine runs the real check')
def test_gpu_check_cpu_smoke(tmp_path, subprocess_env):
    env = {**subprocess_env, 'PYTHON': sys.executable, 'OMP_NUM_THREADS': '1'}
    res = subprocess.run(['bash', str(ROOT / 'benchmarks/gpu_check.sh'), '--device', 'cpu', '--out', str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    no_gpu = [line for line in res.stdout.splitlines() if 'no GPU' in line]
    assert len(no_gpu) == 1 and 'CUDA is not available' in no_gpu[0]
    doc = json.loads((tmp_path / 'gpu_check.json').read_text())
    rows = doc['rows']
    stages = {r['what']: r['note'] for r in rows if r['part'] == 'stages'}
    assert stages == {'prepare': 'ok', 'pretrain-gen': 'ok', 'pretrain-critic': 'ok', 'gan': 'ok'}
    render = [r for r in rows if r['part'] == 'render']
    assert {r['setting'].split(',')[0] for r in render} == {'fp32', 'bf16'} and len(render) == 4
    assert all(r['value'] > 0 for r in render)
    assert len([r for r in rows if r['part'] == 'train' and r['value'] > 0]) == 6
    # the quality check ran on the generator the stages trained, and gave a verdict
    assert next(r['note'] for r in rows if r['part'] == 'quality').endswith('.safetensors')
    assert doc['verdict'].startswith('bf16 quality ')
    throughput = {r['what']: r for r in rows if r['part'] == 'throughput'}
    assert set(throughput) == {f"{p} at 32 px" for p in ('loader cold', 'loader warm', 'step', 'end to end', 'share')}
    assert all(r['value'] > 0 for r in throughput.values())
    assert throughput['end to end at 32 px']['note'].endswith('GPU busy: skipped (CPU)')
    md = (tmp_path / 'gpu_check.md').read_text()
    assert '| train | step at 64 px |' in md and (tmp_path / 'gpu_check.csv').exists()


def _fake_checkout(tmp_path, with_venv):
    "A checkout with gpu_check.sh and, if asked, a .venv whose python only says who it is."
    (tmp_path / 'benchmarks').mkdir()
    (tmp_path / 'benchmarks' / 'gpu_check.sh').write_text((ROOT / 'benchmarks/gpu_check.sh').read_text())
    if with_venv:
        py = tmp_path / '.venv' / 'bin' / 'python'
        py.parent.mkdir(parents=True)
        py.write_text('#!/bin/sh\necho "checkout venv python: $*"\n')
        py.chmod(0o755)
    return tmp_path


@pytest.mark.parametrize('with_venv', [True, False])
def test_gpu_check_sh_finds_the_checkouts_venv(tmp_path, with_venv):
    "Without PYTHON or an activated environment, the checkout's .venv/bin/python runs gpu_check.py."
    root = _fake_checkout(tmp_path, with_venv)
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHON', 'VIRTUAL_ENV')}
    env.update(WHEELS=str(tmp_path / 'no_wheels'), PATH=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    res = subprocess.run(['bash', str(root / 'benchmarks/gpu_check.sh'), '--device', 'cpu'], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    if with_venv:
        assert res.returncode == 0 and 'checkout venv python: -W ignore benchmarks/gpu_check.py --device cpu' in res.stdout
    else:  # the interpreter on PATH (the one running these tests) was taken instead; there is no gpu_check.py here
        assert 'checkout venv python' not in res.stdout and 'gpu_check.py' in res.stderr
