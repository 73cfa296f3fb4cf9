#!/usr/bin/env bash
# The long run's GAN burst again with an averaged generator (`gan --ema DECAY --save-raw`), and every
# checkpoint of both series (averaged, raw) through `checkpoints` on the 100 BSDS500 validation photos
# (never trained on); benchmarks/ema_summary.py then compares them (docs/stages.md, "Averaged generator").
# Run after benchmarks/long_run.sh, from the worktree root:  benchmarks/ema_burst.sh 0.9
# The raw checkpoints are exactly the burst without --ema (the average does not touch training; tested).
set -euo pipefail
cd "$(dirname "$0")/.."
DECAY=${1:?usage: benchmarks/ema_burst.sh DECAY}
DATA=${DEOLDIFY_LIKE_DATA:-../shared/data}
RUN=${RUN:-runs/long}
OUT=${OUT:-runs/long_ema$DECAY}
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} DEOLDIFY_LIKE_QUIET=1
[ -d "$OUT" ] || cp -r "$RUN" "$OUT"
rm -f "$OUT"/checkpoints/gan-c1-*.safetensors  # the copied burst's checkpoints
$PY -m train_stages gan --run "$OUT" --force --iters 150 --save-every 25 --bs 4 --size 64 --lr 1e-4 --ema "$DECAY" --save-raw
$PY -m train_stages checkpoints --run "$OUT" --images "$DATA/photos/bsds500_val" --out "$OUT/reports/ema.png" --rows 6
$PY benchmarks/ema_summary.py "$OUT/reports/ema.csv" --json "benchmarks/results/ema_long_run_$DECAY.json"
