"""The grid of docs/colour.md: chosen bsds500_val photos (sky, foliage, skin) through each colour option's
stage-1 generator, as `deoldify-like checkpoints` renders them (Colorizer, render factor 8), beside the gray
input and the truth.

  python benchmarks/colour_grid.py BENCH_DIR OUT.jpg --images DIR --names a.jpg,b.jpg,...
"""
import argparse
from pathlib import Path

from deoldify_like.model_file import load_generator
from render.colorizer import Colorizer
from train_stages.checkpoint_scores import CheckpointResult
from train_stages.compare import grid_image, pictures_from

from colour_options import OPTIONS, last_checkpoint


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('bench')
    p.add_argument('out')
    p.add_argument('--images', required=True)
    p.add_argument('--names', required=True, help='comma-separated file names in --images')
    p.add_argument('--render-factor', type=int, default=8)
    p.add_argument('--cell-height', type=int, default=96)
    a = p.parse_args(argv)
    pictures = [pictures_from(None, Path(a.images) / n)[0] for n in a.names.split(',')]
    results = []
    for opt in OPTIONS:
        path = last_checkpoint(Path(a.bench) / opt)
        if path:
            model, _ = load_generator(path)
            outputs = Colorizer(model, a.render_factor, device='cpu').colorize([q.luma for q in pictures])
            results.append(CheckpointResult({'name': path.name}, opt, outputs))
    sheet = grid_image(pictures, results, cell_height=a.cell_height, max_rows=len(pictures))
    sheet.save(a.out, quality=85)
    print(f'grid: {a.out} ({sheet.width}x{sheet.height})')


if __name__ == '__main__':
    main()
