"""Summarise `checkpoints` tables of GAN bursts with and without `--ema`: for each series of checkpoints
(the averaged ones, the raw ones) the mean ΔE00 between successive checkpoints ("moved"), the best
CIEDE2000 and PSNR, and the gray input's scores on the same pictures.

    python benchmarks/ema_summary.py RUN/reports/ema.csv [MORE.csv ...] [--json OUT.json]

Series are named by decay ('ema 0.9', taken from the run's settings) or 'raw'; a raw series that appears in
several tables (the same burst, the raw generator does not depend on the average) is reported once.
"""
import argparse
import json
from pathlib import Path

from train_stages.compare import GRAY_INPUT
from train_stages.run_folder import RunFolder, read_csv


def _series(table):
    "{series name: [rows in iteration order]} of one checkpoints CSV, plus the stage-1 and gray rows."
    rows = read_csv(table)
    run = RunFolder(Path(table).resolve().parents[1])
    decay = run.stage('gan-c1')['settings'].get('ema') if run.exists() else None
    out, stage1, gray = {}, None, None
    for r in rows:
        if r['stage'] == GRAY_INPUT:
            gray = r
        elif not r['iteration']:
            stage1 = r
        else:
            name = f'ema {decay:g}' if r['label'].endswith(' ema') else 'raw'
            out.setdefault(name, []).append(r)
    return out, stage1, gray


def summarise(tables):
    series, stage1, gray = {}, None, None
    for t in tables:
        s, st1, g = _series(t)
        for name, rows in s.items():
            series.setdefault(name, rows)
        stage1, gray = stage1 or st1, gray or g
    out = {}
    for name, rows in series.items():
        moved = [float(r['moved']) for r in rows]
        best_de = min(rows, key=lambda r: float(r['ciede2000']))
        best_psnr = max(rows, key=lambda r: float(r['psnr']))
        out[name] = dict(
            checkpoints=[r['iteration'] for r in rows],
            moved=moved, moved_mean_successive=sum(moved[1:]) / len(moved[1:]),
            moved_mean_with_first=sum(moved) / len(moved),
            cf_output=[float(r['cf_output']) for r in rows],
            best_ciede2000=float(best_de['ciede2000']), best_ciede2000_at=best_de['iteration'],
            best_psnr=float(best_psnr['psnr']), best_psnr_at=best_psnr['iteration'])
    base = lambda r: r and {'psnr': float(r['psnr']), 'ciede2000': float(r['ciede2000'])}  # noqa: E731
    return dict(series=out, stage1=base(stage1), gray_input=base(gray))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('tables', nargs='+')
    ap.add_argument('--json', default=None)
    a = ap.parse_args(argv)
    s = summarise(a.tables)
    raw = s['series'].get('raw')
    print(f"{'series':10} {'moved (successive)':>19} {'with first':>11} {'best dE00':>14} {'best PSNR':>15}")
    for name, v in s['series'].items():
        ratio = f" ({v['moved_mean_successive'] / raw['moved_mean_successive']:.2f}x raw)" if raw and name != 'raw' else ''
        print(f"{name:10} {v['moved_mean_successive']:19.2f} {v['moved_mean_with_first']:11.2f} "
              f"{v['best_ciede2000']:8.2f} it{v['best_ciede2000_at']:<4} {v['best_psnr']:8.2f} it{v['best_psnr_at']:<4}{ratio}")
    for k in ('stage1', 'gray_input'):
        if s[k]:
            print(f"{k:10} PSNR {s[k]['psnr']:.2f}, CIEDE2000 {s[k]['ciede2000']:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({'command': 'python benchmarks/ema_summary.py ' + ' '.join(argv or []),
                                            'tables': a.tables, **s}, indent=1) + '\n')


if __name__ == '__main__':
    import sys
    main(sys.argv[1:])
