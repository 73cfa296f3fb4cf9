#!/usr/bin/env bash
# NoGAN (pretrain-gen -> pretrain-critic -> gan burst) against pix2pix (`deoldify-like pix2pix`), both from random
# weights, on the same training photos (BSDS500 train), each under the same wall-clock budget, then every
# checkpoint of both scored by `deoldify-like checkpoints` on the same held-out photos (BSDS500 val), and one
# table and one grid (benchmarks/nogan_vs_pix2pix.py). From the worktree root:
#     benchmarks/nogan_vs_pix2pix.sh                 # CPU: 12 min per method, one after the other: ~30 min in all
#     benchmarks/nogan_vs_pix2pix.sh --device cuda   # a GPU: 128 px, bigger batches, 15 min per method
# Environment: BUDGET (seconds per method), PARALLEL=1 (both methods at once, for a machine with cores to spare),
# OUT (runs, default /tmp/nogan_vs_pix2pix), VAL_LIMIT (held-out photos scored, default 24), TAG (a suffix of the
# JSON's and the grid's names), P2P_ITERS (pix2pix's iterations; its learning rate reaches 0 at the last), PYTHON.
# Each method's training runs under `timeout -s INT BUDGET`: what it checkpointed by then is what is scored
# (an interrupted stage keeps its checkpoints; pix2pix's --iters is sized so its learning-rate decay ends in time).
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cpu
[ "${1:-}" = --device ] && DEVICE=${2:?--device needs cpu or cuda}
DATA=${DEOLDIFY_LIKE_DATA:-../shared/data}
TRAIN=$DATA/photos/bsds500_train VAL=$DATA/photos/bsds500_val
OUT=${OUT:-/tmp/nogan_vs_pix2pix}
PY=${PYTHON:-.venv/bin/python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH} DEOLDIFY_LIKE_QUIET=1
if [ "$DEVICE" = cuda ]; then
  BUDGET=${BUDGET:-900} SIZE=128 BS=16 NDOWN=7 GEN_EPOCHS=${GEN_EPOCHS:-6} P2P_ITERS=${P2P_ITERS:-6000} EVERY=500 GAN_EVERY=50 FRACTION=1
else  # sized on this project's 2-core CPU, shared: ~14 pix2pix iterations/min at 64 px, ~7 min per NoGAN stage-1 epoch
  BUDGET=${BUDGET:-720} SIZE=64 BS=8 NDOWN=6 GEN_EPOCHS=${GEN_EPOCHS:-1} P2P_ITERS=${P2P_ITERS:-160} EVERY=20 GAN_EVERY=10 FRACTION=0.5
fi
mkdir -p "$OUT"
rm -rf "$OUT/nogan" "$OUT/pix2pix"
train_nogan() {
  timeout -s INT "$BUDGET" bash -c "
    $PY -m train_stages pretrain-gen --data '$TRAIN' --run '$OUT/nogan' --arch resnet18 --no-pretrained --sizes $SIZE \
        --epochs $GEN_EPOCHS --bs $BS --device $DEVICE &&
    $PY -m train_stages pretrain-critic --run '$OUT/nogan' --size $SIZE --nf 32 --epochs 1 --bs $BS --fraction $FRACTION --device $DEVICE &&
    $PY -m train_stages gan --run '$OUT/nogan' --iters 100000 --save-every $GAN_EVERY --bs $BS --size $SIZE --device $DEVICE" \
    > "$OUT/nogan.log" 2>&1 || true
}
train_pix2pix() {
  timeout -s INT "$BUDGET" $PY -m train_stages pix2pix --data "$TRAIN" --run "$OUT/pix2pix" --size $SIZE --n-down $NDOWN \
      --bs $BS --iters $P2P_ITERS --save-every $EVERY --device $DEVICE > "$OUT/pix2pix.log" 2>&1 || true
}
score() {
  $PY -m train_stages checkpoints --run "$OUT/$1" --images "$VAL" --limit "${VAL_LIMIT:-24}" --out "$OUT/$1.png" \
      --device $DEVICE > "$OUT/$1_score.log" 2>&1
}
if [ "${PARALLEL:-0}" = 1 ]; then
  train_nogan & train_pix2pix & wait
  score nogan & score pix2pix & wait
else
  train_nogan; train_pix2pix; score nogan; score pix2pix
fi
$PY benchmarks/nogan_vs_pix2pix.py "$OUT" --images "$VAL" --budget "$BUDGET" --device $DEVICE \
    --json "benchmarks/results/nogan_vs_pix2pix${TAG:-}.json" --grid "docs/figures/nogan_vs_pix2pix${TAG:-}.jpg"
