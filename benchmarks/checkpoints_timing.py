"""How long `deoldify-like checkpoints` takes on a run, and whether its table is still the baseline's.

Runs the command `--repeats` times in fresh processes (wall, user and system seconds, peak memory from
the child's resource usage), compares each table with `--baseline` column by column, and adds one entry
to `--json` (the issue's figure: the long run of benchmarks/long_run.sh, 100 BSDS500 val photos):

    python benchmarks/checkpoints_timing.py --run runs/long --images ../shared/data/photos/bsds500_val \\
        --baseline benchmarks/results/checkpoints_long_run_baseline.csv \\
        --json benchmarks/results/checkpoints_long_run_timing.json --label quiet_5_dec_2026
"""
import argparse
import csv
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from deoldify_like.inference.measure_engines import cpu_name  # noqa: E402

TEXT_COLUMNS = ('checkpoint', 'label', 'stage', 'cycle', 'iteration', 'drift')


def largest_difference(table, baseline):
    "The largest absolute difference per numeric column, and whether labels and drift warnings agree."
    rows, base = list(csv.DictReader(open(table))), list(csv.DictReader(open(baseline)))
    same_text = len(rows) == len(base) and all(r[c] == b[c] for r, b in zip(rows, base) for c in ('label', 'drift'))
    diffs = {}
    for column in rows[0]:
        if column not in TEXT_COLUMNS:
            pairs = [(r[column], b[column]) for r, b in zip(rows, base) if r[column] != '' or b[column] != '']
            diffs[column] = max((abs(float(r) - float(b)) for r, b in pairs), default=0.0)
    return diffs, same_text


def cpu_flags():
    "The CPU's AVX-512, AVX-512 BF16 and AMX support, from /proc/cpuinfo (Linux)."
    try:
        flags = next(line for line in open('/proc/cpuinfo') if line.startswith('flags')).split()
    except (OSError, StopIteration):
        return 'unknown'
    return ', '.join(f"{name} {'yes' if flag in flags else 'no'}" for name, flag in
                     (('AVX-512', 'avx512f'), ('AVX-512 BF16', 'avx512_bf16'), ('AMX', 'amx_tile')))


def timed_run(args, out):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()
    start = time.perf_counter()
    subprocess.run([sys.executable, '-m', 'train_stages', 'checkpoints', '--run', args.run, '--images', args.images,
                    '--out', str(out)], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {'seconds_wall': round(wall, 2), 'seconds_user': round(after.ru_utime - before.ru_utime, 2),
            'seconds_system': round(after.ru_stime - before.ru_stime, 2), 'max_rss_mb': round(after.ru_maxrss / 1024),
            'load_average_start': [round(x, 2) for x in load]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--run', required=True)
    ap.add_argument('--images', required=True)
    ap.add_argument('--baseline', required=True, help="a table of the same run and pictures to compare with")
    ap.add_argument('--json', required=True, help="results file; the entry is added under --label")
    ap.add_argument('--label', required=True)
    ap.add_argument('--repeats', type=int, default=3)
    args = ap.parse_args()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            out = Path(tmp) / f'grid{k}.png'
            run = timed_run(args, out)
            run['max_abs_difference_per_column'], run['labels_and_drift_warnings_equal'] = largest_difference(
                out.with_suffix('.csv'), args.baseline)
            print(f"run {k + 1}: {run['seconds_wall']} s wall, {run['seconds_user']} s user, "
                  f"largest difference {max(run['max_abs_difference_per_column'].values())}", flush=True)
            runs.append(run)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    walls = sorted(r['seconds_wall'] for r in runs)
    entry = {'date': dt.datetime.now(dt.timezone.utc).isoformat(timespec='minutes'), 'code': commit,
             'command': f"deoldify-like checkpoints --run RUN --images {args.images}", 'cpu': cpu_name(), 'cpu_flags': cpu_flags(),
             'cores': os.cpu_count(), 'runs': runs, 'median_seconds_wall': walls[len(walls) // 2], 'target_seconds': 60}
    path = Path(args.json)
    results = json.loads(path.read_text()) if path.exists() else {}
    results[args.label] = entry
    path.write_text(json.dumps(results, indent=1) + '\n')
    print(f"median {entry['median_seconds_wall']} s over {len(runs)} runs -> {path} [{args.label}]")


if __name__ == '__main__':
    main()
