"""Does anything cheap move plain stage 1's accuracy on this CPU? (issue 24, docs/colour.md)

The colour terms trade accuracy for colour along the curve of the model's own knowledge (chroma_scale.py);
only a model that knows more colour passes the two-sided rule. This screens, at a short budget (2 epochs),
what might make plain stage 1 know more: a chroma pixel term (L1 on the YUV U, V planes, weighted, added to
the feature loss), a higher peak learning rate, a larger training size; and, beside stage 1's colourfulness term,
a class-rebalanced chroma regression (round fifteen). Each variant is the real stage 1
(`pretrain_gen`, resnet18 from random weights, bf16, batch 8, stage 1's default 10 % held for validation) on
the training folder that colour_options.sh builds, scored by `checkpoints --images bsds500_val --render-factor 8`;
one row per variant is added to the JSON. The chroma terms exist only here, for this screen (neither is an
option of stage 1: neither earned it, docs/colour.md).

    python benchmarks/colour_screen.py VARIANT [VARIANT ...] --bench runs/colour_screen --json FILE
        [--data runs/colour_options/data/train] [--epochs 2]

VARIANT: `plain`, `uvl1-W` (the chroma term at weight W), `rbl2-W` (a class-rebalanced a*b* squared error at
weight W), `sat-W` (each pixel's a*b* magnitude short of the truth's, at weight W; round sixteen), `cf-W`
(stage 1's own colourfulness term at weight W), `lr-LR` (peak learning rate LR), `size-S` (S px), `arch-A`
(the encoder A instead of resnet18).
"""
import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch.nn import functional as F

import train_stages.pretrain_gen as stage1
from deoldify_like.colour_loss import (ab_bins, empirical_ab_prior, lab_ab, rebalancing_weights, soft_encode,
                                       to_rgb01)
from deoldify_like.data import list_images
from deoldify_like.feature_loss import FeatureLoss
from deoldify_like.pix2pix import rgb01_to_yuv

COLUMNS = ('cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000', 'saturation_ratio')


def uv_planes(x):
    "The U, V planes (B, 2, H, W) of ImageNet-normalised RGB, on RGB 0..1."
    return rgb01_to_yuv(to_rgb01(x))[:, 1:]


def plus_term(weight, term):
    """stage 1's FeatureLoss class with `weight` x `term(pred, target)` added, both ImageNet-normalised RGB
    (plain float tensors, whatever fastai wraps them in)."""
    class FeatureLossPlusTerm(FeatureLoss):
        def forward(self, pred, target):
            p, t = pred.as_subclass(torch.Tensor).float(), target.as_subclass(torch.Tensor).float()
            return super().forward(pred, target) + weight * term(p, t)
    return FeatureLossPlusTerm


def chroma_l1(p, t):
    "L1 of the U, V planes."
    return F.l1_loss(uv_planes(p), uv_planes(t))


def rebalanced_ab_l2(data, cache):
    """CIC's class-rebalanced squared a*b* error (/100²): each pixel's error weighted by the rarity of its true
    colour, so the optimum moves from the mean toward the rarer, more saturated colours the picture may have
    (Zhang et al. 2016's rebalancing, applied to a regression)."""
    centres = ab_bins()
    bin_weights = rebalancing_weights(empirical_ab_prior(list_images(data), cache=cache), centres)

    def term(p, t):
        ab_p, ab_t = lab_ab(to_rgb01(p)), lab_ab(to_rgb01(t))
        with torch.no_grad():
            w = bin_weights.to(ab_t)[soft_encode(ab_t, centres.to(ab_t))[1]]  # the weight of the nearest bin
        return (w[:, None] * ((ab_p - ab_t) / 100) ** 2).sum(1).mean()
    return term


def chroma_deficit(p, t):
    """Each pixel's a*b* magnitude short of the truth's (/100), relu'd: a per-pixel colourfulness term that
    saturates along the model's own hue where the truth is more saturated, instead of raising the picture's
    colourfulness statistics (whose cheapest route is a global cast)."""
    ab_p, ab_t = lab_ab(to_rgb01(p)), lab_ab(to_rgb01(t))
    return F.relu(ab_t.norm(dim=1) - ab_p.norm(dim=1)).mean() / 100


KINDS = ('plain', 'uvl1', 'rbl2', 'sat', 'cf', 'lr', 'size', 'arch')


def parse_variant(variant):
    "(kind, value) of a VARIANT, or one line and exit 1."
    kind, _, value = variant.partition('-')
    if kind not in KINDS or (kind == 'plain') != (value == ''):
        sys.exit(f"colour_screen: unknown variant {variant!r}: plain, uvl1-W, rbl2-W, sat-W, cf-W, lr-LR, size-S or arch-A")
    return kind, value


def train(variant, run, data, epochs):
    kind, value = parse_variant(variant)
    lrs, sizes, cf, arch = '2e-3', '64', 0.0, 'resnet18'
    if kind == 'uvl1':
        stage1.FeatureLoss = plus_term(float(value), chroma_l1)
    elif kind == 'rbl2':
        stage1.FeatureLoss = plus_term(float(value), rebalanced_ab_l2(data, str(Path(run).parent / 'ab_prior.json')))
    elif kind == 'sat':
        stage1.FeatureLoss = plus_term(float(value), chroma_deficit)
    elif kind == 'cf':
        cf = float(value)
    elif kind == 'lr':
        lrs = value
    elif kind == 'size':
        sizes = value
    elif kind == 'arch':
        arch = value
    stage1.pretrain_gen(data=data, run=run, arch=arch, sizes=sizes, epochs=str(epochs), bs='8', lrs=lrs,
                        pretrained=False, device='cpu', precision='bf16', colourfulness_weight=cf)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('variants', nargs='+')
    ap.add_argument('--bench', default='runs/colour_screen')
    ap.add_argument('--data', default='runs/colour_options/data/train')
    ap.add_argument('--images', default=os.path.join(os.environ.get('DEOLDIFY_LIKE_DATA', '../shared/data'),
                                                     'photos', 'bsds500_val'))
    ap.add_argument('--epochs', type=int, default=2)
    ap.add_argument('--json', required=True)
    ap.add_argument('--train-one', help=argparse.SUPPRESS)  # the child process that trains one variant
    a = ap.parse_args(argv)
    if a.train_one:
        return train(a.train_one, str(Path(a.bench) / a.train_one), a.data, a.epochs)
    for variant in a.variants:
        parse_variant(variant)
    path = Path(a.json)
    doc = json.loads(path.read_text()) if path.is_file() else {'rows': []}
    for variant in a.variants:
        run = Path(a.bench) / variant
        subprocess.run([sys.executable, __file__, variant, '--train-one', variant, '--bench', a.bench,
                        '--data', a.data, '--epochs', str(a.epochs), '--json', a.json], check=True)
        table = run / 'bsds500_val.csv'
        score = ['checkpoints', '--run', str(run), '--images', a.images, '--render-factor', '8',
                 '--out', str(run / 'bsds500_val.png'), '--rows', '8', '--device', 'cpu']
        subprocess.run([sys.executable, '-m', 'train_stages', *score], check=True)
        with open(table) as f:
            rows = list(csv.DictReader(f))
        for r in rows:
            label = variant if r['stage'] != 'gray input' else 'gray input'
            doc['rows'] = [x for x in doc['rows'] if x['variant'] != label]
            doc['rows'].append({'variant': label, 'epochs': a.epochs, **{k: float(r[k]) for k in COLUMNS if r[k]}})
        doc['command'] = 'python benchmarks/colour_screen.py VARIANT ... --json ' + a.json
        path.write_text(json.dumps(doc, indent=1) + '\n')
        print(json.dumps(doc['rows'][-2:]), flush=True)


if __name__ == '__main__':
    main(sys.argv[1:])
