"""The Ray render farm against a local render: a local Ray cluster with 2 workers renders 3 films (one long
enough to be cut into 5 pieces) and a folder of photos; every output equals the local render frame for
frame (decoded arrays identical, and MP4 and PNG files byte for byte), audio kept, and a worker that dies on its
first task does not lose the job. `--ray` alone starts a fresh cluster on 127.0.0.1 whatever Ray's temp folder
names, and a cluster that does not answer is one line within the time limit.

Every cluster here runs on 127.0.0.1 with its own Ray temp folder (RAY_TMPDIR), so no `ray_current_cluster`
file is left in /tmp/ray, and each is stopped even when its test fails."""
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image

from deoldify_like.cli_support import run_command
from deoldify_like.model_file import read_header
from ports import free_port
from render.cli import render as render_command
from deoldify_like.inference import Colorizer
from render.film import render_film
from render.folders import Report, plan, render_jobs
from deoldify_like.inference import DEFAULT_FIT, render_factor_for
from render_helpers import decoded_frames, film_frame, make_film, save_tiny_model

ray = pytest.importorskip('ray')

ROOT = Path(__file__).resolve().parents[1]
SEGMENT = 8  # frames per film segment (a local render's default is 240)



@pytest.fixture(scope='module')
def cluster(tmp_path_factory):
    """A local Ray cluster of 2 CPUs started by `ray start --head --block` in its own process group, stopped
    by signalling that group (only this cluster, whatever else runs Ray on the machine). Its processes run
    at a higher priority where allowed: Ray's raylet gives the dashboard agent a fixed 15 s to start
    (ray-project/ray#65983), which a heavily loaded CI machine can miss. Its Ray temp folder is its own (a
    short path: Ray's socket names must fit), removed afterwards with the address file `ray start` writes."""
    port = free_port()
    log = tmp_path_factory.mktemp('ray') / 'ray_start.log'
    ray_tmp = tempfile.mkdtemp(prefix='rayfarm')
    env = dict(os.environ, RAY_AUTH_MODE='disabled', DEOLDIFY_LIKE_QUIET='1', RAY_TMPDIR=ray_tmp,
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    os.environ['RAY_AUTH_MODE'] = 'disabled'  # loopback only; the driver joins without a token

    head = None
    try:
        for _ in range(3):  # a loaded machine can miss the agent's 15 s: try again
            with open(log, 'w') as out:
                head = subprocess.Popen([str(Path(sys.executable).parent / 'ray'), 'start', '--head', '--block',
                                         '--num-cpus', '2', '--include-dashboard', 'false', '--disable-usage-stats',
                                         '--node-ip-address', '127.0.0.1', '--port', str(port)], env=env, stdout=out,
                                        stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_higher_priority)
            t0 = time.time()
            while 'Ray runtime started' not in log.read_text() and head.poll() is None and time.time() - t0 < 180:
                time.sleep(0.5)
            if head.poll() is None and 'Ray runtime started' in log.read_text():
                break
            _stop(head)
        assert head.poll() is None, log.read_text()[-3000:]
        yield f'127.0.0.1:{port}'
    finally:
        ray.shutdown()
        if head is not None:
            _stop(head)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def _higher_priority():
    with contextlib.suppress(OSError):
        os.nice(-10)


def _stop(head):
    "Signal the process group of `ray start --block`: it stops the cluster it started (and only that one)."
    with contextlib.suppress(ProcessLookupError):
        os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(10)


def _audio_packets(path):
    with av.open(str(path)) as c:
        if not c.streams.audio:
            return []
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]


def test_farm_equals_local_render(cluster, tmp_path):
    from render.farm import render_on_ray
    model = save_tiny_model(tmp_path / 'model.safetensors', render_factor=4)
    inputs = tmp_path / 'in'
    inputs.mkdir()
    make_film(inputs / 'long.mp4', frames=40)  # 5 segments: 5 pieces on the cluster
    make_film(inputs / 'short.mp4', frames=6, width=48, height=32)
    make_film(inputs / 'third.mkv', frames=10, width=40, height=30)
    for i in range(3):
        Image.fromarray(film_frame(5 * i, 56, 40)).save(inputs / f'photo{i}.png')
    (inputs / 'broken.jpg').write_text('not a picture')

    # the local render, one thread as each Ray worker (1 CPU each) runs
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        col = Colorizer.from_file(model, device='cpu', bs=2, precision='fp32')
        film_rf = render_factor_for(read_header(model), 'film')
        local_jobs, _ = plan([str(inputs)], str(tmp_path / 'local'))
        local = Report()
        for job in local_jobs:
            if job.kind == 'film':
                job.dest.parent.mkdir(parents=True, exist_ok=True)
                render_film(col, job.src, job.dest, film_rf, segment_frames=SEGMENT)
        render_jobs(col, [j for j in local_jobs if j.kind == 'photo'], report=local)
    finally:
        torch.set_num_threads(threads)

    jobs, _ = plan([str(inputs)], str(tmp_path / 'farm'))
    crash = tmp_path / 'crashed'
    report = render_on_ray(cluster, model, jobs, read_header(model), DEFAULT_FIT, 'cpu', 2, 'fp32', report=Report(),
                           n_workers=2, segment_frames=SEGMENT, crash_marker=str(crash))
    assert crash.exists()  # a worker process died on its first task; it was restarted and the task retried
    assert len(report.done) == 6 and len(report.failed) == 1 and 'broken.jpg' in report.failed[0]

    for job in local_jobs:
        if job.kind not in ('film', 'photo') or not job.dest.exists():
            continue
        farm_dest = tmp_path / 'farm' / job.dest.relative_to(tmp_path / 'local')
        if job.kind == 'film':
            a, b = decoded_frames(job.dest), decoded_frames(farm_dest)
            assert len(a) == len(b) == {'long': 40, 'short': 6, 'third': 10}[job.src.stem]
            for (ta, fa), (tb, fb) in zip(a, b):
                assert ta == tb and np.array_equal(fa, fb)
            src_audio = _audio_packets(job.src)
            assert src_audio and _audio_packets(farm_dest) == src_audio  # audio copied once, unchanged
        if farm_dest.suffix != '.mkv':  # Matroska files carry a random segment UID: only their contents match
            assert farm_dest.read_bytes() == job.dest.read_bytes(), farm_dest
    assert len(list((tmp_path / 'farm').rglob('*.png'))) == 3


def test_render_command_with_ray(cluster, tmp_path):
    "`render ... --ray ADDRESS`: photos on the cluster, the result the local command's."
    from render.cli import render
    model = save_tiny_model(tmp_path / 'model.safetensors', render_factor=4)
    inputs = tmp_path / 'in'
    inputs.mkdir()
    for i in range(2):
        Image.fromarray(film_frame(9 * i, 40, 32)).save(inputs / f'p{i}.png')
    common = dict(model=str(model), device='cpu', bs=2, precision='fp32')
    assert render([str(inputs)], out=str(tmp_path / 'farm'), ray=cluster, **common) == 0
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each 1-CPU worker
    try:
        assert render([str(inputs)], out=str(tmp_path / 'local'), **common) == 0
    finally:
        torch.set_num_threads(threads)
    for i in range(2):
        assert (tmp_path / 'farm' / 'in' / f'p{i}.png').read_bytes() == (tmp_path / 'local' / 'in' / f'p{i}.png').read_bytes()


def _processes_mentioning(text):
    "Command lines of the running processes that name `text` (a cluster's own temp folder)."
    out = subprocess.run(['pgrep', '-fa', text], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if 'pgrep' not in line]


def test_render_ray_alone_ignores_a_stale_cluster_file(tmp_path, monkeypatch):
    """`render --ray` (no address) with Ray's temp folder naming a cluster that is gone (a closed port): a
    fresh cluster on 127.0.0.1 renders, the result the local render's, and the cluster is stopped after."""
    ray_tmp = Path(tempfile.mkdtemp(prefix='raystale'))
    try:
        (ray_tmp / 'ray').mkdir()
        stale = f'127.0.0.1:{free_port()}'
        (ray_tmp / 'ray' / 'ray_current_cluster').write_text(stale)
        monkeypatch.setenv('RAY_TMPDIR', str(ray_tmp))
        monkeypatch.setenv('RAY_AUTH_MODE', 'disabled')  # no token written to the home folder
        monkeypatch.delenv('RAY_ADDRESS', raising=False)
        model = save_tiny_model(tmp_path / 'model.safetensors', render_factor=4)
        inputs = tmp_path / 'in'
        inputs.mkdir()
        make_film(inputs / 'clip.mp4', frames=6, width=48, height=32)
        Image.fromarray(film_frame(3, 40, 32)).save(inputs / 'p.png')
        common = ['--model', str(model), '--device', 'cpu', '--bs', '2', '--precision', 'fp32']
        # the command in a process of its own, at a higher priority where allowed, tried again when Ray's
        # raylet missed its dashboard agent's fixed start-up time (as the `cluster` fixture does)
        env = dict(os.environ, DEOLDIFY_LIKE_QUIET='1', PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
        for _ in range(3):
            run = subprocess.run([sys.executable, '-m', 'render', 'render', str(inputs), '--out', str(tmp_path / 'farm'),
                                  *common, '--ray'], env=env, capture_output=True, text=True, timeout=600,
                                 preexec_fn=_higher_priority)
            if 'timed out during startup' not in run.stderr:
                break
        assert run.returncode == 0, run.stderr[-3000:]
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as each 1-CPU worker
        try:
            assert run_command(render_command, [str(inputs), '--out', str(tmp_path / 'local'), *common],
                               'deoldify-like render') == 0
        finally:
            torch.set_num_threads(threads)
        for name in ('clip.mp4', 'p.png'):
            assert (tmp_path / 'farm' / 'in' / name).read_bytes() == (tmp_path / 'local' / 'in' / name).read_bytes()
        assert (ray_tmp / 'ray' / 'ray_current_cluster').read_text() == stale  # neither joined nor rewritten
        t0 = time.time()
        while _processes_mentioning(str(ray_tmp)) and time.time() - t0 < 30:
            time.sleep(0.5)
        assert not _processes_mentioning(str(ray_tmp))  # the cluster it started is stopped
    finally:
        ray.shutdown()
        for line in _processes_mentioning(str(ray_tmp)):  # a failed test stops its cluster all the same
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split()[0]), signal.SIGKILL)
        shutil.rmtree(ray_tmp, ignore_errors=True)


def test_render_ray_closed_port_is_one_line(tmp_path, capsys):
    "`render --ray 127.0.0.1:PORT` with nothing listening there: one line, exit 1, nothing written, within the limit."
    model = save_tiny_model(tmp_path / 'model.safetensors', render_factor=4)
    inputs = tmp_path / 'in'
    inputs.mkdir()
    Image.fromarray(film_frame(3, 40, 32)).save(inputs / 'p.png')
    limit = 10
    capsys.readouterr()
    t0 = time.monotonic()
    code = run_command(render_command, [str(inputs), '--out', str(tmp_path / 'out'), '--model', str(model), '--device',
                                        'cpu', '--ray', f'127.0.0.1:{free_port()}', '--ray-timeout', str(limit)],
                       'deoldify-like render')
    seconds = time.monotonic() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and seconds < limit, (code, seconds)
    assert len(err) == 1 and 'no Ray cluster at' in err[0], err
    assert not ray.is_initialized()
    assert not (tmp_path / 'out').exists() or not any((tmp_path / 'out').rglob('*'))
