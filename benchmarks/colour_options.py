"""Helper of benchmarks/colour_options.sh (issue 24): train stage 1 with one colour option, score the CIC
head's annealed-mean decoding, and summarise every option's `checkpoints` tables into one table + JSON.

  python benchmarks/colour_options.py train OPTION RUN --data DIR [--sizes 64 --epochs 1 --limit N ...]
  python benchmarks/colour_options.py head RUN --images DIR --out CSV [--render-factor 8]
  python benchmarks/colour_options.py summary BENCH_DIR --json OUT.json --markdown OUT.md

Stage 1 is the real `pretrain_gen` with its colour flags (--colourfulness-weight, --chroma-class-weight):
nothing of the stage is patched; with the CIC term the ab head is in the model file.
"""
import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deoldify_like.colour import lab_to_rgb, rgb_to_lab
from deoldify_like.colour_loss import ab_bins, annealed_mean
from deoldify_like.data import list_images
from deoldify_like.metrics import PhotoMeter
from deoldify_like.model_file import load_generator
from deoldify_like.tensors import rgb_batch_to_tensor
from train_stages.pretrain_gen import pretrain_gen

# option -> (colourfulness weight, chroma-class weight)
OPTIONS = {'plain': (0.0, 0.0), 'colourfulness': (2.0, 0.0), 'colourfulness-3': (3.0, 0.0), 'cic': (0.0, 1.0),
           'both': (2.0, 1.0)}
COLUMNS = ('cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000', 'saturation_ratio', 'hue_shift')


def train(a):
    cf, cc = OPTIONS[a.option]
    return pretrain_gen(data=a.data, run=a.run, arch=a.arch, sizes=a.sizes, epochs=a.epochs, bs=a.bs, lr=a.lr,
                        lrs=a.lrs, pretrained=False, limit=a.limit, valid_pct=a.valid_pct, device=a.device,
                        precision=a.precision, colourfulness_weight=cf, chroma_class_weight=cc)


def head_outputs(model, head, pictures, side, device):
    "Each picture coloured by the head alone: its annealed-mean a*b* (upsampled) under the original L*."
    centres = ab_bins()
    outs = []
    for rgb in pictures:
        gray = np.asarray(Image.fromarray(rgb).convert('L').convert('RGB'))
        small = np.asarray(Image.fromarray(gray).resize((side, side), Image.BICUBIC))
        with torch.no_grad():
            model(rgb_batch_to_tensor(small[None]).to(device))
            ab = annealed_mean(head.logits, centres)[0].cpu()
        ab = torch.nn.functional.interpolate(ab[None], size=rgb.shape[:2], mode='bilinear', align_corners=False)[0]
        lab = rgb_to_lab(gray)
        lab[..., 1:] = ab.permute(1, 2, 0).numpy()
        outs.append(lab_to_rgb(lab))
    return outs


def last_checkpoint(run):
    "The stage-1 generator of the largest size (gen-s64, gen-s128, ...)."
    found = sorted(Path(run, 'checkpoints').glob('gen-s*.safetensors'), key=lambda p: int(p.stem[5:].split('-')[0]))
    return found[-1] if found else None


def head(a):
    model, _ = load_generator(a.model or last_checkpoint(a.run), a.device)
    h = model.ab_head  # trained with --chroma-class-weight: the head is in the model file
    h.active = True
    files = list_images(a.images)[:a.limit or None]
    pictures = [np.asarray(Image.open(f).convert('RGB')) for f in files]
    meter = PhotoMeter()
    for out, truth in zip(head_outputs(model.eval(), h, pictures, a.render_factor * 16, a.device), pictures):
        meter.add(out, truth)
    row = {'checkpoint': 'ab head (annealed mean)', **meter.summary()}
    with open(a.out, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        w.writeheader()
        w.writerow(row)
    print(json.dumps(row))


def _rows(csv_path):
    with open(csv_path) as f:
        return list(csv.DictReader(f))


def summary(a):
    bench = Path(a.bench)
    table = {}
    for sset in ('bsds500_val', 'imagenet_heldout'):
        rows = []
        for opt in OPTIONS:
            path = bench / opt / 'reports' / f'{sset}.csv'
            if not path.is_file():
                continue
            got = _rows(path)
            ckpt = [r for r in got if r['stage'] != 'gray input'][-1]
            rows.append({'option': opt, 'checkpoint': ckpt['checkpoint'], **{k: ckpt.get(k) for k in COLUMNS}})
            gray = [r for r in got if r['stage'] == 'gray input']
            head_csv = bench / opt / 'reports' / f'{sset}_head.csv'
            if head_csv.is_file():
                h = _rows(head_csv)[0]
                rows.append({'option': f'{opt}: ab head (annealed mean)', 'checkpoint': 'head', **{k: h.get(k) for k in COLUMNS}})
        if rows:
            rows.append({'option': 'gray input', 'checkpoint': '', **{k: gray[0].get(k) for k in COLUMNS}})
        table[sset] = [{k: (float(v) if k in COLUMNS and v not in (None, '') else v) for k, v in r.items()} for r in rows]
    doc = {'options': {k: {'colourfulness': v[0], 'chroma_class': v[1]} for k, v in OPTIONS.items()},
           'settings': json.loads((bench / 'settings.json').read_text()) if (bench / 'settings.json').is_file() else None,
           'tables': table}
    Path(a.json).write_text(json.dumps(doc, indent=1))
    lines = []
    for sset, rows in table.items():
        lines += [f'**{sset}**', '', '| option | CF | ΔCF | PSNR | SSIM | CIEDE2000 | saturation ratio | hue shift |',
                  '|---|---|---|---|---|---|---|---|']
        for r in rows:
            f = lambda k, d=2: '' if r.get(k) is None or r.get(k) == '' else f'{r[k]:.{d}f}'
            lines.append(f"| {r['option']} | {f('cf_output', 1)} | {f('delta_cf', 1)} | {f('psnr')} | {f('ssim', 3)} | "
                         f"{f('ciede2000')} | {f('saturation_ratio')} | {f('hue_shift', 1)} |")
        lines.append('')
    Path(a.markdown).write_text('\n'.join(lines))
    print('\n'.join(lines))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest='cmd', required=True)
    t = sub.add_parser('train')
    t.add_argument('option', choices=list(OPTIONS))
    t.add_argument('run')
    t.add_argument('--data', required=True)
    t.add_argument('--arch', default='resnet18')
    t.add_argument('--sizes', default='64')
    t.add_argument('--epochs', default='1')
    t.add_argument('--bs', default='8')
    t.add_argument('--lr', type=float, default=1e-3)
    t.add_argument('--lrs', default='2e-3')
    t.add_argument('--limit', type=int, default=None)
    t.add_argument('--valid-pct', type=float, default=0.05)
    t.add_argument('--device', default='cpu')
    t.add_argument('--precision', default='fp32', help='training precision (bf16: mixed, as --precision of stage 1)')
    h = sub.add_parser('head')
    h.add_argument('run')
    h.add_argument('--images', required=True)
    h.add_argument('--out', required=True)
    h.add_argument('--model', default=None)
    h.add_argument('--render-factor', type=int, default=8)
    h.add_argument('--limit', type=int, default=None)
    h.add_argument('--device', default='cpu')
    s = sub.add_parser('summary')
    s.add_argument('bench')
    s.add_argument('--json', required=True)
    s.add_argument('--markdown', required=True)
    a = p.parse_args(argv)
    return {'train': train, 'head': head, 'summary': summary}[a.cmd](a)


if __name__ == '__main__':
    sys.exit(main())
