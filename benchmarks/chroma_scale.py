"""How much colour a model's accuracy affords: each model's output with its chroma scaled about neutral (YUV,
luminance kept) by each factor, scored against the colour truth. A colour term that only saturates what
the model already guesses lands on the curve of plain stage 1 scaled; one that puts right colours in right
places lands above it (more PSNR at the same colourfulness). Issue 24, docs/colour.md.

    python benchmarks/chroma_scale.py MODEL [MODEL ...] --images DIR [--render-factor 8]
        [--scales 1,1.3,1.6,2] [--about neutral|mean] [--json benchmarks/results/chroma_scale.json]
"""
import argparse
import json
from pathlib import Path


from deoldify_like.colour import rgb_to_yuv, yuv_to_rgb
from deoldify_like.data import list_images
from deoldify_like.images import load_image
from deoldify_like.inference import Colorizer
from deoldify_like.metrics import PhotoMeter

COLUMNS = ('cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000', 'saturation_ratio')


def scaled_chroma(rgb, k, about='neutral'):
    "uint8 RGB with its U, V scaled by `k` about neutral, or about the picture's mean chroma (`about='mean'`); Y kept."
    yuv = rgb_to_yuv(rgb)
    centre = yuv[..., 1:].reshape(-1, 2).mean(0) if about == 'mean' else 0.5
    yuv[..., 1:] = centre + (yuv[..., 1:] - centre) * k
    return yuv_to_rgb(yuv)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('models', nargs='+')
    ap.add_argument('--images', required=True)
    ap.add_argument('--render-factor', type=int, default=8)
    ap.add_argument('--scales', default='1,1.3,1.6,2')
    ap.add_argument('--about', choices=('neutral', 'mean'), default='neutral',
                    help="scale about neutral or about each picture's mean chroma (its cast kept as it is)")
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    scales = [float(s) for s in a.scales.split(',')]
    pictures = [load_image(f) for f in list_images(Path(a.images))]
    pictures = [p for p in pictures if not p.is_gray]
    rows = []
    for model in a.models:
        colorizer = Colorizer.from_file(model, render_factor=a.render_factor, device='cpu')
        outputs = [colorizer.colorize([p.luma])[0] for p in pictures]
        for k in scales:
            meter = PhotoMeter()
            meter.add_many([scaled_chroma(o, k, a.about) for o in outputs], [p.rgb for p in pictures])
            summary = meter.summary()
            rows.append({'model': str(model), 'about': a.about, 'scale': k, 'count': summary['count'],
                         **{c: summary[c] for c in COLUMNS}})
            print(' '.join(f'{c}={v:.4g}' if isinstance(v, float) else f'{c}={v}' for c, v in rows[-1].items()), flush=True)
    doc = {'images': a.images, 'render_factor': a.render_factor, 'rows': rows,
           'command': 'python benchmarks/chroma_scale.py ' + ' '.join(argv or [])}
    if a.json:
        Path(a.json).write_text(json.dumps(doc, indent=1) + '\n')


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
