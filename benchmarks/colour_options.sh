#!/usr/bin/env bash
# Issue 24: stage 1 with each colour option at the same settings, scored on pictures none trained on.
#   benchmarks/colour_options.sh [--device cuda] [BENCH_DIR]    (default BENCH_DIR runs/colour_options)
# Training: bsds500_train + imagenet_sample minus its held-out part (every 16th file by sorted name).
# Scoring (`deoldify-like checkpoints --images`, render factor 8): bsds500_val (100) and the held-out
# imagenet_sample files. Writes BENCH_DIR/summary.{json,md}; copy them to benchmarks/results/ to publish.
# CPU: resnet18 from random weights, 64 px, 8 epochs on every training picture (~870 train) in bf16 mixed precision,
# two options at a time, 1 thread each (864 optimizer steps per option; 47 min on 2 AVX-512 cores).
# --device cuda: resnet34, 64 then 128 px, 4 + 2 epochs on every picture.
set -euo pipefail
cd "$(dirname "$0")/.."
DEVICE=cpu
if [[ "${1:-}" == "--device" ]]; then DEVICE=$2; shift 2; fi
BENCH=${1:-runs/colour_options}
PY=${PYTHON:-.venv/bin/python}
DATA=${DEOLDIFY_LIKE_DATA:-../shared/data}/photos
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
rm -rf "$BENCH/data"; mkdir -p "$BENCH/data/train" "$BENCH/data/imagenet_heldout"
i=0
for f in $(ls "$DATA/imagenet_sample" | grep -iE '\.(jpe?g|png)$' | sort); do
  if (( i % 16 == 0 )); then cp "$DATA/imagenet_sample/$f" "$BENCH/data/imagenet_heldout/$f"
  else cp "$DATA/imagenet_sample/$f" "$BENCH/data/train/$f"; fi
  i=$((i + 1))
done
for f in "$DATA"/bsds500_train/*.jpg; do cp "$f" "$BENCH/data/train/bsds_$(basename "$f")"; done
if [[ $DEVICE == cuda ]]; then
  TRAIN=(--arch resnet34 --sizes 64,128 --epochs 4,2 --bs 32,16 --lrs 2e-3,1e-3 --device cuda); PAR=1; THREADS=8
else
  TRAIN=(--arch resnet18 --sizes 64 --epochs 8 --bs 8 --lrs 2e-3 --precision bf16 --device cpu); PAR=2; THREADS=1
fi
printf '{"device": "%s", "train": "%s", "heldout_imagenet": "every 16th of imagenet_sample by sorted name"}\n' \
  "$DEVICE" "${TRAIN[*]}" > "$BENCH/settings.json"
one() {  # train, then score one option
  local opt=$1 run=$BENCH/$1
  OMP_NUM_THREADS=$THREADS $PY benchmarks/colour_options.py train "$opt" "$run" --data "$BENCH/data/train" "${TRAIN[@]}"
  for sset in bsds500_val imagenet_heldout; do
    local imgs=$DATA/bsds500_val; [[ $sset == imagenet_heldout ]] && imgs=$BENCH/data/imagenet_heldout
    OMP_NUM_THREADS=$THREADS $PY -m train_stages checkpoints --run "$run" --images "$imgs" --render-factor 8 \
      --out "$run/reports/$sset.png" --rows 8 --device "$DEVICE"
    if [[ $opt == cic || $opt == both ]]; then
      OMP_NUM_THREADS=$THREADS $PY benchmarks/colour_options.py head "$run" --images "$imgs" \
        --out "$run/reports/${sset}_head.csv" --device "$DEVICE"
    fi
  done
}
run_all() {
  local opts=(plain colourfulness colourfulness-3 cic) n=0
  for opt in "${opts[@]}"; do
    one "$opt" > "$BENCH/$opt.log" 2>&1 &
    n=$((n + 1)); if (( n % PAR == 0 )); then wait; fi
  done
  wait
}
time run_all
$PY benchmarks/colour_options.py summary "$BENCH" --json "$BENCH/summary.json" --markdown "$BENCH/summary.md"
