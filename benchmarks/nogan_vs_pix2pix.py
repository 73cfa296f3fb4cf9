"""The summary of benchmarks/nogan_vs_pix2pix.sh: both methods' `checkpoints` tables as one table (a method
column; the gray input's row once), each method's best checkpoint by CIEDE2000 and its last one side by side
in one grid on the held-out photos, and a JSON record (budget, device, what each method reached)."""
import argparse
import json
import os
import platform
from pathlib import Path

from deoldify_like.inference import Colorizer
from train_stages.checkpoint_scores import CheckpointResult
from train_stages.compare import GRAY_INPUT, grid_image, pictures_from
from train_stages.run_folder import RunFolder, read_csv

METHODS = ('nogan', 'pix2pix')
COLUMNS = ('label', 'iteration', 'cf_output', 'cf_truth', 'delta_cf', 'psnr', 'ssim', 'ciede2000', 'moved')

def number(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def method_rows(out, method):
    "The rows of a method's `checkpoints` table ([] when it wrote none), each with its method."
    path = out / f'{method}.csv'
    return [{'method': method, **r} for r in read_csv(path)] if path.is_file() else []

def training_record(rf):
    "What the method's run did in its budget: stages, their status, iterations/epochs and seconds."
    stages = rf.load()['stages']
    return {name: {'status': st.get('status'), 'seconds': st.get('seconds'), 'progress': st.get('progress')}
            for name, st in stages.items()}

def markdown(rows):
    lines = ['| method | checkpoint | ' + ' | '.join(COLUMNS[1:]) + ' |', '|' + '---|' * (len(COLUMNS) + 1)]
    for r in rows:
        lines.append(f"| {r['method']} | {r['label']} | " + ' | '.join(r.get(c) or '' for c in COLUMNS[1:]) + ' |')
    return '\n'.join(lines)

def grid(out, methods, images, limit, device, dest, rows=6):
    """Each method's best checkpoint (lowest CIEDE2000, marked *) and last one on the first `rows` held-out photos;
    a column is labelled with the method and the iteration (s1: NoGAN's stage-1 generator)."""
    pictures = None
    results = []
    for method, table in methods.items():
        scored = [r for r in table if r['label'] != GRAY_INPUT and number(r.get('ciede2000')) is not None]
        if not scored:
            continue
        rf = RunFolder(out / method)
        pictures = pictures or pictures_from(rf, images, limit)[:rows]
        best = min(scored, key=lambda r: number(r['ciede2000']))
        for r in ([best] if best is scored[-1] else [best, scored[-1]]):
            entry = {'name': r['checkpoint'], 'path': str(rf.checkpoint_path(r['checkpoint']))}
            col = Colorizer.from_file(entry['path'], render_factor=8, device=device)
            label = f"{method} {'it' + r['iteration'] if r['iteration'] else 's1'}{'*' if r is best else ''}"
            results.append(CheckpointResult(entry, label, col.colorize([p.luma for p in pictures])))
    sheet = grid_image(pictures, results, cell_height=96, max_rows=rows)
    dest.parent.mkdir(parents=True, exist_ok=True)
    sheet.convert('RGB').save(dest, quality=80)
    return [r.label for r in results]

def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('out', type=Path, help='the benchmark folder (OUT of nogan_vs_pix2pix.sh)')
    ap.add_argument('--images', required=True, help='the held-out photos')
    ap.add_argument('--limit', type=int, default=24)
    ap.add_argument('--budget', type=float, required=True, help='wall-clock seconds per method')
    ap.add_argument('--device', default='cpu')
    ap.add_argument('--json', type=Path, required=True)
    ap.add_argument('--grid', type=Path, required=True)
    a = ap.parse_args()
    methods = {m: method_rows(a.out, m) for m in METHODS}
    rows = [r for m in METHODS for r in methods[m] if r['label'] != GRAY_INPUT]
    gray = next((r for m in METHODS for r in methods[m] if r['label'] == GRAY_INPUT), None)
    table = rows + ([{**gray, 'method': '-'}] if gray else [])
    labels = grid(a.out, methods, a.images, a.limit, a.device, a.grid)
    record = {'command': 'benchmarks/nogan_vs_pix2pix.sh', 'budget_s_per_method': a.budget, 'device': a.device,
              'cpu': f"{platform.processor() or platform.machine()}, {os.cpu_count()} core(s) visible, shared",
              'omp_num_threads': os.environ.get('OMP_NUM_THREADS'), 'held_out': {'images': a.images, 'limit': a.limit},
              'training': {m: training_record(RunFolder(a.out / m)) for m in METHODS if (a.out / m / 'run.json').is_file()},
              'table': [{k: r.get(k) for k in ('method', 'checkpoint', *COLUMNS)} for r in table],
              'grid': {'path': str(a.grid), 'columns': labels}}
    a.json.parent.mkdir(parents=True, exist_ok=True)
    a.json.write_text(json.dumps(record, indent=1))
    print(markdown(table))
    print(f"grid: {a.grid}\njson: {a.json}")

if __name__ == '__main__':
    main()
