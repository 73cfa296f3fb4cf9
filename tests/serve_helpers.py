"""A `deoldify-like serve` in a child process on a free loopback port, and small real inputs for it."""
import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import av
import numpy as np
from PIL import Image

from conftest import data_dir
from ports import free_port
from render_helpers import make_film

HISTORIC = ['abe.jpg', 'marktwain.jpg', 'paperboy.jpg']



@contextlib.contextmanager
def running_server(model, work, env, log, *args, timeout=180):
    "Start the server, wait until it answers, yield (process, base URL); stop it (by its own pid) afterwards."
    port = free_port()
    cmd = [sys.executable, '-m', 'train_stages', 'serve', '--model', str(model), '--port', str(port), '--work', str(work), *args]
    with open(log, 'w') as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited ({proc.returncode}): {Path(log).read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(base + '/api/options', timeout=5) as r:
                    json.load(r)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        yield proc, base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def photo(folder, name='photo.jpg', size=(96, 72), seed=0):
    "A real historic photo scaled to `size` where the shared data is at hand, else a synthetic one."
    src = data_dir() / 'historic_bw' / HISTORIC[seed % len(HISTORIC)]
    if src.is_file():
        img = Image.open(src).convert('RGB').resize(size)
    else:
        rng = np.random.default_rng(seed)
        y, x = np.mgrid[0:size[1], 0:size[0]]
        img = Image.fromarray(((x + y + rng.integers(0, 20, (size[1], size[0]))) % 256).astype(np.uint8)).convert('RGB')
    path = Path(folder) / name
    img.save(path)
    return path


def film(folder, name='film.mp4', frames=36):
    "A short film: the first `frames` frames of bikes.mp4 at 160x68 where the shared data is at hand, else synthetic."
    path = Path(folder) / name
    src = data_dir() / 'video' / 'bikes.mp4'
    if not src.is_file():
        return make_film(path, frames=frames, width=64, height=48)
    with av.open(str(src)) as inp, av.open(str(path), 'w') as out:
        s = out.add_stream('libx264', rate=25)
        s.width, s.height, s.pix_fmt = 160, 68, 'yuv420p'
        for i, frame in enumerate(inp.decode(video=0)):
            if i >= frames:
                break
            small = frame.reformat(width=160, height=68, format='yuv420p')
            small.pts = i
            out.mux(s.encode(small))
        out.mux(s.encode(None))
    return path


def wait_for(fn, timeout=120, every=0.2, what='condition'):
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise TimeoutError(f'timed out waiting for {what}')
        time.sleep(every)
