#!/usr/bin/env bash
# The longer CPU run behind the figures in docs/readme_stages.md: 200 BSDS500 photos, resnet34, 64 then
# 128 px, critic at 64 px, a 150-iteration GAN burst at 64 px with a checkpoint every 25.
# Run from the worktree root:  nohup benchmarks/long_run.sh > runs/long.log 2>&1 &
# Running it again resumes: every stage picks up from the run folder (or says it is done).
set -uo pipefail
cd "$(dirname "$0")/.."
DATA=${DEOLDIFY_LIKE_DATA:-}
if [ -z "$DATA" ]; then for d in ../shared/data ../../shared/data; do [ -d "$d" ] && DATA=$d && break; done; fi
[ -d "${DATA:-}" ] || { echo "no data folder: set DEOLDIFY_LIKE_DATA"; exit 2; }
RUN=${RUN:-runs/long}
TRAIN=${TRAIN:-runs/long_data}
PY=${PYTHON:-.venv/bin/python}
# One thread per process: on a CPU shared by several jobs, OpenMP threads that spin waiting for each other
# cost far more than they give (measured here: a training step 4x faster with 1 thread than with 2).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} DEOLDIFY_LIKE_QUIET=1
mkdir -p "$RUN"
TIMES="$RUN/timings.txt"

step() {  # step NAME COMMAND... : run, time, record
  local name=$1; shift
  local t0; t0=$(date +%s)
  echo "=== $name: $* ($(date -u +%H:%M:%S))"
  "$@"
  local rc=$?
  echo "$name $(( $(date +%s) - t0 )) s rc=$rc" | tee -a "$TIMES"
  [ $rc -eq 0 ] || exit $rc
}

step prepare $PY -m train_stages prepare "$DATA/photos/bsds500_train" --out "$TRAIN" --max-size 256
step pretrain-gen $PY -m train_stages pretrain-gen --data "$TRAIN" --run "$RUN" --arch resnet34 --sizes 64,128 \
    --epochs 2,1 --bs 8 --no-pretrained
step pretrain-critic $PY -m train_stages pretrain-critic --run "$RUN" --epochs 2 --bs 8 --size 64 --fraction 0.5
step gan $PY -m train_stages gan --run "$RUN" --iters 150 --save-every 25 --bs 4 --size 64 --lr 1e-4
echo "=== done ($(date -u +%H:%M:%S)); figures: $RUN/logs, $RUN/reports"
