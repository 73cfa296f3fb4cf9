"""Seconds per picture pair: the NumPy / scikit-image oracle (tests/metrics_oracle.py) against
`metrics.score_photos` (batched torch), on 6 BSDS500 val photos and their outputs shifted by 2 rows.

    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/scoring_pair.py   # data: $DEOLDIFY_LIKE_DATA or ../shared/data
"""
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / 'tests'))
import metrics_oracle  # noqa: E402

from deoldify_like.images import load_image  # noqa: E402
from deoldify_like.metrics import lab_pictures, score_photos  # noqa: E402

N = 6


def timed(label, fn):
    cpu, wall = time.process_time(), time.perf_counter()
    fn()
    print(f"{label}: {(time.process_time() - cpu) / N:.3f} s of CPU per pair, {(time.perf_counter() - wall) / N:.3f} s wall",
          flush=True)


if __name__ == '__main__':
    data = Path(os.environ.get('DEOLDIFY_LIKE_DATA', '../shared/data'))
    truths = [load_image(f).rgb for f in sorted((data / 'photos' / 'bsds500_val').glob('*.jpg'))[:N]]
    outputs = [np.roll(t, 2, axis=0) for t in truths]
    timed('numpy / scikit-image', lambda: metrics_oracle.photo_summary(outputs, truths))
    truth_labs = lab_pictures(truths)
    timed(f'torch ({torch.get_num_threads()} threads)', lambda: score_photos(outputs, truths, truth_labs=truth_labs))
