"""What to run whenever a GPU is at hand (benchmarks/gpu_check.sh calls this): one table of
- the tiny stage sequence (prepare -> pretrain-gen -> pretrain-critic -> gan) on the device, seconds per stage;
- the render bench: pictures per second at render factor 21 and 35, in fp32 and in the device's reduced
  precision (bf16 where native, else fp16), with whether quality holds in the reduced precision: PSNR and
  ΔCF against the colour originals of a few held-out photos, fp32 vs reduced (`QUALITY_*` tolerances);
- the training step time per image (generator + feature loss, forward, backward, AdamW step) at
  64/128/192 px, fp32 and mixed precision;
- the training data's throughput (benchmarks/train_throughput.py): pictures per second of the loader alone,
  the step alone and a stage-1-like fit end to end at 64 and 128 px, with the GPU's busy share meanwhile.
Written as gpu_check.md, .csv and .json in --out. `--device cpu` is a smoke test with tiny sizes.
Nothing here imports PyAV: the GPU machine has none (docs/reference: §6).
"""
import argparse
import csv
import json
import math
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from deoldify_like.device import pick_device, reduced_precision, render_batch_size  # noqa: E402

# reduced precision "holds" when it moves mean PSNR by at most this many dB and ΔCF by at most this much
QUALITY_PSNR_DB = 0.1
QUALITY_DCF = 0.5
RENDER_FACTORS = (21, 35)
TRAIN_BS = {'cuda': {64: 32, 128: 16, 192: 8}, 'cpu': {64: 2, 128: 2, 192: 2}}
TINY_TRAIN_SIZES = (32, 48, 64)


def _data_photos(folder, n):
    "Up to n colour photos from `folder`, else from the shared BSDS500 val set, else the embedded demo photos."
    from deoldify_like.data import list_images
    from deoldify_like.demo import DEMO_COLOUR
    candidates = [folder] if folder else []
    candidates += [ROOT.parent / 'shared/data/photos/bsds500_val', ROOT.parent.parent / 'shared/data/photos/bsds500_val',
                   DEMO_COLOUR]
    for c in candidates:
        if c and Path(c).is_dir():
            files = list_images(c)
            if files:
                return files[:n], str(c)
    raise SystemExit(f"gpu_check: no photos found in {candidates}")


def _sync(dev):
    if dev.type == 'cuda':
        torch.cuda.synchronize(dev)


def stage_sequence(dev, work, photos):
    "The quickstart's tiny stage sequence, each step the command a user runs; (rows, generator file)."
    from deoldify_like.cli_support import run_command
    from train_stages.gan import gan
    from train_stages.prepare import prepare
    from train_stages.pretrain_critic import pretrain_critic
    from train_stages.pretrain_gen import pretrain_gen
    from train_stages.quickstart import PRESETS
    from train_stages.run_folder import RunFolder
    s = PRESETS['tiny']
    src, data, run = work / 'colour', work / 'data', work / 'run'
    src.mkdir(parents=True, exist_ok=True)
    for p in photos:
        shutil.copy(p, src / Path(p).name)
    steps = [('prepare', prepare, [src, '--out', data, '--max-size', 128]),
             ('pretrain-gen', pretrain_gen, ['--data', data, '--run', run, '--arch', s.arch, '--nf-factor', s.nf_factor,
                                             '--sizes', s.sizes, '--epochs', s.epochs, '--bs', s.bs, '--valid-pct', 0.4,
                                             '--no-pretrained', '--vgg-weights', 'random', '--device', dev.type]),
             ('pretrain-critic', pretrain_critic, ['--run', run, '--epochs', s.critic_epochs, '--bs', s.bs,
                                                   '--size', s.critic_size, '--nf', s.critic_nf, '--device', dev.type]),
             ('gan', gan, ['--run', run, '--iters', s.gan_iters, '--save-every', s.save_every, '--bs', s.bs,
                           '--size', s.gan_size, '--device', dev.type])]
    rows = []
    for name, func, argv in steps:
        t = time.time()
        code = run_command(func, [str(a) for a in argv], f"deoldify-like {name}")
        rows.append({'part': 'stages', 'what': name, 'setting': f"tiny preset ({s.arch}, nf {s.nf_factor})",
                     'value': round(time.time() - t, 2), 'unit': 's', 'note': 'ok' if code == 0 else f'exit {code}'})
        if code != 0:
            return rows, None
    return rows, RunFolder(run).current('generator')


def _render_model(dev, tiny, model_file):
    from deoldify_like.generator import GeneratorConfig, build_generator
    from deoldify_like.model_file import load_generator
    if model_file:
        model, _ = load_generator(model_file, 'cpu')
        return model, str(model_file)
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5) if tiny else GeneratorConfig(arch='resnet34', nf_factor=1.0)
    torch.manual_seed(0)
    return build_generator(cfg, pretrained=False), f"{cfg.arch} nf {cfg.nf_factor}, random weights"


def render_bench(dev, photos, tiny, speed_model=None, quality_model=None, repeats=3):
    "Pictures per second at each render factor and precision; quality of the reduced precision vs fp32."
    from deoldify_like.images import load_image
    from deoldify_like.metrics import colourfulness, psnr
    from deoldify_like.inference import Colorizer
    loaded = [load_image(p) for p in photos]
    truths, lumas = [im.rgb for im in loaded], [im.luma for im in loaded]
    bs = render_batch_size(dev)
    low = reduced_precision(dev)
    factors = (4, 6) if tiny else RENDER_FACTORS
    rows = []
    model, label = _render_model(dev, tiny, speed_model)
    for rf in factors:
        for prec in ('fp32', low):
            col = Colorizer(model, rf, device=dev, bs=bs, precision=prec)
            col.predict(lumas[:bs])  # warm-up (cuDNN autotune, oneDNN primitives)
            _sync(dev)
            t = time.time()
            for _ in range(repeats):
                col.predict(lumas)
            _sync(dev)
            per_s = repeats * len(lumas) / (time.time() - t)
            rows.append({'part': 'render', 'what': f"render factor {rf} ({rf * 16} px)", 'setting': f"{prec}, bs {bs}",
                         'value': round(per_s, 2), 'unit': 'pictures/s', 'note': label})
    # quality: the same model in both precisions, scored against the colour originals
    qmodel, qlabel = _render_model(dev, tiny, quality_model) if quality_model else (model, label)
    rf = factors[-1]
    scores = {}
    for prec in ('fp32', low):
        out = Colorizer(qmodel, rf, device=dev, bs=bs, precision=prec).colorize(lumas)
        scores[prec] = {'psnr': float(np.mean([min(psnr(o, t), 100.0) for o, t in zip(out, truths)])),
                        'cf': float(np.mean([colourfulness(o) for o in out]))}
    truth_cf = float(np.mean([colourfulness(t) for t in truths]))
    d_psnr = scores[low]['psnr'] - scores['fp32']['psnr']
    d_dcf = abs(scores[low]['cf'] - truth_cf) - abs(scores['fp32']['cf'] - truth_cf)
    holds = abs(d_psnr) <= QUALITY_PSNR_DB and abs(d_dcf) <= QUALITY_DCF
    for prec in ('fp32', low):
        rows.append({'part': 'quality', 'what': f"PSNR at render factor {rf}", 'setting': prec,
                     'value': round(scores[prec]['psnr'], 3), 'unit': 'dB', 'note': qlabel})
        rows.append({'part': 'quality', 'what': f"ΔCF at render factor {rf}", 'setting': prec,
                     'value': round(abs(scores[prec]['cf'] - truth_cf), 3), 'unit': '', 'note': qlabel})
    verdict = (f"{low} quality {'holds' if holds else 'does NOT hold'}: PSNR {d_psnr:+.3f} dB, ΔCF {d_dcf:+.3f} vs fp32 "
               f"on {len(photos)} photos (tolerance {QUALITY_PSNR_DB} dB, {QUALITY_DCF})")
    rows.append({'part': 'quality', 'what': f"{low} vs fp32", 'setting': low, 'value': 'holds' if holds else 'fails',
                 'unit': '', 'note': verdict})
    return rows, holds, verdict


def train_step_times(dev, tiny, steps=3):
    "Seconds per training image (forward, feature loss, backward, AdamW step) at each size, fp32 and mixed."
    from deoldify_like.feature_loss import FeatureLoss
    from deoldify_like.generator import GeneratorConfig, build_generator
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5) if tiny else GeneratorConfig(arch='resnet34', nf_factor=1.0)
    sizes = TINY_TRAIN_SIZES if tiny else (64, 128, 192)
    low = reduced_precision(dev)
    torch.manual_seed(0)
    model = build_generator(cfg, pretrained=False).to(dev).train()
    loss_fn = FeatureLoss(vgg_weights='random').to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rows = []
    for size in sizes:
        bs = TRAIN_BS[dev.type].get(size, 2) if dev.type in TRAIN_BS else 2
        x = torch.rand(bs, 3, size, size, device=dev)
        y = torch.rand(bs, 3, size, size, device=dev)
        for prec in ('fp32', low):
            dtype = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}[prec]
            scaler = torch.amp.GradScaler(dev.type, enabled=prec == 'fp16')

            def step():
                opt.zero_grad(set_to_none=True)
                with torch.autocast(dev.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
                    loss = loss_fn(model(x), y)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            step()  # warm-up
            _sync(dev)
            t = time.time()
            for _ in range(steps):
                step()
            _sync(dev)
            ms = 1000 * (time.time() - t) / (steps * bs)
            rows.append({'part': 'train', 'what': f"step at {size} px", 'setting': f"{prec}, bs {bs}",
                         'value': round(ms, 3), 'unit': 'ms/image', 'note': f"{cfg.arch} nf {cfg.nf_factor}"})
    return rows


def throughput(dev, tiny):
    "train_throughput's table as rows of this one (ImageNet sample photos where present, else BSDS500 val)."
    from benchmarks.train_throughput import run
    from deoldify_like.data import default_workers
    _, where = _data_photos(None, 1)
    sample = [c for c in (ROOT.parent / 'shared/data/photos/imagenet_sample',
                          ROOT.parent.parent / 'shared/data/photos/imagenet_sample') if c.is_dir()]
    folder = sample[0] if sample and not tiny else Path(where)
    workers = [0] if tiny else sorted({0, default_workers()})
    rows = run(dev.type, [folder], (32,) if tiny else (64, 128), workers, 8 if tiny else None, 1 if tiny else None)
    return [{'part': 'throughput', 'what': f"{r['part']} at {r['size']} px", 'setting': f"workers {r['workers']}, bs {r['bs']}",
             'value': r['pictures_per_s'], 'unit': '%' if r['part'] == 'share' else 'pictures/s', 'note': r['note']}
            for r in rows]


def environment(dev):
    info = {'python': platform.python_version(), 'torch': torch.__version__, 'device': dev.type}
    if dev.type == 'cuda':
        info.update(gpu=torch.cuda.get_device_name(dev), bf16=torch.cuda.is_bf16_supported(),
                    memory_gib=round(torch.cuda.get_device_properties(dev).total_memory / 2 ** 30, 1))
    return info


def write_table(rows, env, verdict, out):
    out.mkdir(parents=True, exist_ok=True)
    cols = ['part', 'what', 'setting', 'value', 'unit', 'note']
    with open(out / 'gpu_check.csv', 'w', newline='') as f:
        w = csv.DictWriter(f, cols)
        w.writeheader()
        w.writerows(rows)
    (out / 'gpu_check.json').write_text(json.dumps({'environment': env, 'verdict': verdict, 'rows': rows}, indent=1))
    lines = [f"# gpu_check on {env.get('gpu', env['device'])}", '',
             f"python {env['python']}, torch {env['torch']}" + (f", bf16 native: {env['bf16']}" if 'bf16' in env else ''),
             '', f"**{verdict}**", '', '| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    lines += ['| ' + ' | '.join(str(r[c]) for c in cols) + ' |' for r in rows]
    (out / 'gpu_check.md').write_text('\n'.join(lines) + '\n')
    return out / 'gpu_check.md'


def main(argv=None):
    ap = argparse.ArgumentParser(prog='gpu_check', description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='auto', choices=['auto', 'cpu', 'cuda'], help='auto is CUDA when present')
    ap.add_argument('--out', default=None, help='folder for gpu_check.md/.csv/.json (default $OUT, else ./gpu_check)')
    ap.add_argument('--photos', default=None, help='colour photos for the stages and the quality check (default BSDS500 val)')
    ap.add_argument('--n-photos', type=int, default=None, help='how many (default 8 on CUDA, 3 on CPU)')
    ap.add_argument('--model', default=None, help='model file for the render bench (default: resnet34 with random weights)')
    ap.add_argument('--skip-stages', action='store_true', help='leave out the stage sequence')
    a = ap.parse_args(argv)
    import os
    out = Path(a.out or os.environ.get('OUT') or 'gpu_check')
    if not torch.cuda.is_available():
        print("gpu_check: no GPU: CUDA is not available on this machine; running the CPU smoke test (tiny sizes)",
              flush=True)
    dev = pick_device('cpu' if a.device == 'cpu' or not torch.cuda.is_available() else 'cuda')
    tiny = dev.type != 'cuda'
    os.environ.setdefault('DEOLDIFY_LIKE_QUIET', '1')
    photos, where = _data_photos(a.photos, a.n_photos or (3 if tiny else 8))
    env = environment(dev)
    print(f"gpu_check: {env}; {len(photos)} photos from {where}", flush=True)
    rows, t0 = [], time.time()
    gen_file = None
    with tempfile.TemporaryDirectory(prefix='gpu_check_') as tmp:
        if not a.skip_stages:
            stage_rows, gen_file = stage_sequence(dev, Path(tmp), photos)
            rows += stage_rows
        r_rows, holds, verdict = render_bench(dev, photos, tiny, a.model, a.model or gen_file, repeats=1 if tiny else 3)
        rows += r_rows
        rows += train_step_times(dev, tiny, steps=1 if tiny else 3)
        rows += throughput(dev, tiny)
    rows.append({'part': 'total', 'what': 'gpu_check', 'setting': dev.type, 'value': round(time.time() - t0, 1),
                 'unit': 's', 'note': ''})
    md = write_table(rows, env, verdict, out)
    print(md.read_text(), flush=True)
    print(f"gpu_check: {verdict}; table in {md}", flush=True)
    return 0 if all(r['note'] in ('ok',) or r['part'] != 'stages' for r in rows) else 1


if __name__ == '__main__':
    raise SystemExit(main())
