#!/usr/bin/env bash
# What to run whenever a GPU is at hand: the tiny stage sequence on CUDA, the training data's throughput
# (benchmarks/train_throughput.py, with the GPU's busy share), the render bench at render factor
# 21 and 35 in fp32 and the reduced precision (with whether quality holds), and the training step time per
# image at 64/128/192 px, as one table (gpu_check.md/.csv/.json) in $OUT or --out DIR. Sized for 5 minutes on
# one GPU. `benchmarks/gpu_check.sh --device cpu` is the CPU smoke test (tiny sizes) that CI runs.
#
# A machine without the fastai stack and without a package registry (the lent GPU machine: Python 3.12,
# torch 2.11, docs/reference.md §6) gets it from carried wheels. Prepare them once, on a machine with network:
#   pip download --no-deps --only-binary=:all: --python-version 3.12 -d wheels/ \
#       fastai fastcore fastprogress fasttransform plum-dispatch beartype fastdownload \
#       rich markdown-it-py mdurl pygments \
#       python-fasthtml beautifulsoup4 soupsieve itsdangerous oauthlib python-dateutil six tzdata \
#       python-multipart starlette uvicorn click h11 anyio sniffio idna httpx2 httpcore2 truststore
# (pure-Python wheels, a few MB; plum-dispatch needs rich, and fastprogress 1.1 imports python-fasthtml
# and its dependencies at import time. wheels/ is git-ignored: carry it, e.g. run(carry=["wheels"])). They are installed into a private folder
# put on PYTHONPATH, never into the system's site-packages. PyAV is not needed: nothing here reads films.
set -euo pipefail
cd "$(dirname "$0")/.."
# The interpreter: $PYTHON if given, else the activated environment's, else the checkout's own .venv, else python3.
if [[ -n "${PYTHON:-}" ]]; then PY=$PYTHON
elif [[ -z "${VIRTUAL_ENV:-}" && -x .venv/bin/python ]]; then PY=$PWD/.venv/bin/python
else PY=$(command -v python3 || command -v python)
fi
WHEELS=${WHEELS:-wheels}
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if ! "$PY" -c "import fastai, fastcore, fastprogress" 2>/dev/null; then
  if compgen -G "$WHEELS/*.whl" >/dev/null; then
    SITE=${TMPDIR:-/tmp}/gpu_check_site
    echo "gpu_check: installing the carried wheels from $WHEELS into $SITE"
    "$PY" -m pip install --quiet --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
    export PYTHONPATH=$PYTHONPATH:$SITE
    "$PY" -c "import fastai.learner, fastai.distributed" 2>&1 | tail -1 | grep -i error \
      && { echo "gpu_check: the carried wheels are not enough (above: the missing module); add its wheel" >&2; exit 2; }
  else
    echo "gpu_check: fastai is not installed and there is no $WHEELS/ folder of wheels (see the top of $0)" >&2
    exit 2
  fi
fi
exec "$PY" -W ignore benchmarks/gpu_check.py "$@"
