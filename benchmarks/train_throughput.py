"""Does the data keep the training step busy? Pictures per second, per size and device, for
- the loader alone: stage 1's training batches (ColourPairs through `data.dataloaders`, batch transform
  included) with 0, 1, ... workers, on each photo folder; `cold` is the first epoch (every picture decoded),
  `warm` the next ones (from the shared picture cache);
- the training step alone: generator + feature loss forward, backward and Adam step on batches already on
  the device (what the step allows at most);
- end to end: a stage-1-like fastai fit (the same generator, loss and loader) of one epoch;
and the share of the step's limit that end to end reaches. On CUDA the GPU's busy share is read with
`nvidia-smi --query-gpu=utilization.gpu` while the end-to-end run goes. Writes train_throughput.csv/.json.

    python benchmarks/train_throughput.py --device cpu --out benchmarks/results
"""
import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from deoldify_like.data import ColourPairs, dataloaders, default_workers, list_images  # noqa: E402
from deoldify_like.device import pick_device  # noqa: E402
from deoldify_like.inference.precision import PRECISIONS, autocast_dtype  # noqa: E402

BS = {'cuda': {64: 64, 128: 32}, 'cpu': {64: 8, 128: 4}}  # stage 1's batch sizes on the GPU; small on the CPU
LOAD_AT_START = [round(v, 2) for v in os.getloadavg()]  # other jobs on a shared CPU slow every figure
COLUMNS = ['part', 'folder', 'size', 'device', 'workers', 'bs', 'pictures_per_s', 'note']


def _sync(dev):
    if dev.type == 'cuda':
        torch.cuda.synchronize(dev)


def loader_rates(files, size, bs, dev, workers, epochs=3):
    "(cold, warm) pictures per second delivered by the training loader, batch transform on `dev` included."
    dls = dataloaders(ColourPairs(files, size, True), ColourPairs(files[:2], size, False), bs, dev, workers=workers)
    rates = []
    for _ in range(epochs):
        t, n = time.perf_counter(), 0
        for xb, _ in dls.train:
            n += len(xb)
        _sync(dev)
        rates.append(n / (time.perf_counter() - t))
    return rates[0], max(rates[1:])


def _model_and_loss(dev, tiny):
    from deoldify_like.feature_loss import FeatureLoss
    from deoldify_like.generator import GeneratorConfig, build_generator
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5) if tiny else GeneratorConfig()
    torch.manual_seed(0)
    return build_generator(cfg, pretrained=False).to(dev), FeatureLoss(vgg_weights='random').to(dev), cfg


def step_rate(dev, size, bs, tiny, steps, precision='fp32'):
    """Pictures per second of the training step alone, on batches already on the device; `precision` 'bf16' or
    'fp16' autocasts the forward pass and the loss, as the stages' `--precision` does (no loss scaling here)."""
    model, loss_fn, cfg = _model_and_loss(dev, tiny)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = torch.randn(bs, 3, size, size, device=dev), torch.randn(bs, 3, size, size, device=dev)
    dtype = autocast_dtype(precision)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
            loss = loss_fn(model(x), y)
        loss.float().backward()
        opt.step()
    step()
    _sync(dev)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(dev)
    return steps * bs / (time.perf_counter() - t), f"{cfg.arch} nf {cfg.nf_factor}, {precision}"


class GpuBusy:
    "Samples `nvidia-smi`'s utilization.gpu every 0.2 s while in the `with` block; `.share` is the mean in %."

    def __init__(self, dev):
        self.on = dev.type == 'cuda' and shutil.which('nvidia-smi') is not None
        self.index = dev.index or 0
        self.samples, self.share = [], None

    def _run(self):
        while not self._stop.is_set():
            out = subprocess.run(['nvidia-smi', '--query-gpu=utilization.gpu', '--format=csv,noheader,nounits',
                                  '-i', str(self.index)], capture_output=True, text=True)
            if out.returncode == 0 and out.stdout.strip().isdigit():
                self.samples.append(int(out.stdout.strip()))
            self._stop.wait(0.2)

    def __enter__(self):
        if self.on:
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        if self.on:
            self._stop.set()
            self._thread.join()
            self.share = round(sum(self.samples) / len(self.samples), 1) if self.samples else None


def end_to_end_rate(files, size, bs, dev, workers, tiny):
    "(pictures per second, GPU busy %) of a stage-1-like fastai fit of one epoch after a warm-up epoch."
    from fastai.callback import progress  # noqa: F401 - adds Learner.no_bar
    from fastai.learner import Learner
    model, loss_fn, _ = _model_and_loss(dev, tiny)
    dls = dataloaders(ColourPairs(files, size, True), ColourPairs(files[:bs], size, False), bs, dev, workers=workers)
    learn = Learner(dls, model, loss_func=loss_fn)
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-4)  # warm-up: decoding into the cache, cuDNN autotune
        n = len(dls.train) * dls.train.bs
        with GpuBusy(dev) as busy:
            t = time.perf_counter()
            learn.fit(1, 1e-4)
            _sync(dev)
    return n / (time.perf_counter() - t), busy.share


def cpu_name():
    "The CPU's model name and its bf16/AMX flags from /proc/cpuinfo (Linux); the machine type elsewhere."
    try:
        lines = Path('/proc/cpuinfo').read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    field = lambda key: next((ln.split(':', 1)[1].strip() for ln in lines if ln.startswith(key)), '')  # noqa: E731
    flags = field('flags').split()
    extras = [f for f in ('avx512f', 'avx512_bf16', 'amx_tile') if f in flags]
    return f"{field('model name') or platform.machine()} ({', '.join(extras) or 'no AVX-512'})"


def environment(dev):
    info = {'python': platform.python_version(), 'torch': torch.__version__, 'device': dev.type,
            'cores': len(os.sched_getaffinity(0)), 'cpu': cpu_name(), 'load_average_at_start': LOAD_AT_START,
            'torch_threads': torch.get_num_threads(), 'date': time.strftime('%Y-%m-%dT%H:%M%z')}
    if dev.type == 'cuda':
        info['gpu'] = torch.cuda.get_device_name(dev)
    return info


def run(device='auto', folders=(), sizes=(64, 128), workers=None, limit=None, steps=None, out=None,
        precisions=('fp32',)):
    dev = pick_device(device)
    tiny = dev.type != 'cuda'
    workers = workers if workers is not None else sorted({0, 1, default_workers()})
    if dev.type != 'cuda':
        print("train_throughput: the GPU busy share is skipped: the device is the CPU", flush=True)
    rows = []

    def add(part, folder, size, w, bs, rate, note=''):
        rows.append({'part': part, 'folder': folder, 'size': size, 'device': dev.type, 'workers': w, 'bs': bs,
                     'pictures_per_s': round(rate, 1), 'note': note})
        unit = '%         ' if part == 'share' else 'pictures/s'
        print(f"{part:<12} {folder:<16} {size:>4} px  {dev.type:<5} workers {str(w):<3} bs {bs:<3} "
              f"{rate:9.1f} {unit}  {note}", flush=True)
    lists = {Path(f).name: list_images(f)[:limit or None] for f in folders}
    for size in sizes:
        bs = BS.get(dev.type, BS['cpu'])[size] if size in BS.get(dev.type, {}) else 8
        for name, files in lists.items():
            for w in workers:
                cold, warm = loader_rates(files, size, bs, dev, w)
                add('loader cold', name, size, w, bs, cold, f"{len(files)} pictures, first epoch (decoding)")
                add('loader warm', name, size, w, bs, warm, 'later epochs (shared picture cache)')
        rates = {}
        for precision in precisions:
            rates[precision], model_note = step_rate(dev, size, bs, tiny, steps or (3 if tiny else 20), precision)
            add('step', '-', size, '-', bs, rates[precision], model_note)
        step = rates[precisions[0]]
        name, files = next(iter(lists.items()))
        e2e_files = files[:bs * 2] if tiny else files  # two steps an epoch on a CPU
        w = max(workers)
        e2e, busy = end_to_end_rate(e2e_files, size, bs, dev, w, tiny)
        busy_note = f"GPU busy {busy} %" if busy is not None else 'GPU busy: skipped (CPU)'
        add('end to end', name, size, w, bs, e2e, f"{len(e2e_files)} pictures; {busy_note}")
        add('share', name, size, w, bs, 100 * e2e / step, "of the step's limit reached end to end")
    if out:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        stem = out / f"train_throughput_{dev.type}"
        with open(f"{stem}.csv", 'w', newline='') as f:
            w = csv.DictWriter(f, COLUMNS)
            w.writeheader()
            w.writerows(rows)
        Path(f"{stem}.json").write_text(json.dumps({'environment': environment(dev), 'rows': rows}, indent=1))
        print(f"train_throughput: table in {stem}.csv and .json", flush=True)
    return rows


def main(argv=None):
    data = Path(os.environ.get('DEOLDIFY_LIKE_DATA', ROOT.parent / 'shared' / 'data')) / 'photos'
    ap = argparse.ArgumentParser(prog='train_throughput', description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'])
    ap.add_argument('--folders', nargs='+', default=[str(data / 'imagenet_sample'), str(data / 'bsds500_train')])
    ap.add_argument('--sizes', nargs='+', type=int, default=[64, 128])
    ap.add_argument('--workers', nargs='+', type=int, default=None, help='worker counts to measure the loader with '
                    '(default 0, 1 and the machine default); end to end uses the largest')
    ap.add_argument('--limit', type=int, default=None, help='pictures per folder (default all)')
    ap.add_argument('--steps', type=int, default=None, help='training steps timed (default 3 on CPU, 20 on CUDA)')
    ap.add_argument('--out', default=None, help='folder for train_throughput_<device>.csv/.json')
    ap.add_argument('--precisions', nargs='+', default=['fp32'], choices=list(PRECISIONS),
                    help='the training step alone is timed in each (end to end: the first)')
    a = ap.parse_args(argv)
    run(a.device, a.folders, a.sizes, a.workers, a.limit, a.steps, a.out, tuple(a.precisions))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
