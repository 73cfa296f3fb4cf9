"""Seconds per picture pair: the NumPy/skimage oracle (tests/metrics_oracle.py) against metrics.score_photos on 6 BSDS500 photos.
Run from the worktree root: PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/scoring_pair.py"""
import time, glob, sys, numpy as np, torch
sys.path.insert(0,'tests')
import metrics_oracle as O
from deoldify_like.images import load_image
from deoldify_like.metrics import score_photos, lab_pictures
from deoldify_like.colour import gray_to_rgb
fs=sorted(glob.glob('/work/shared/data/photos/bsds500_val/*.jpg'))[:6]
tr=[load_image(f) for f in fs]; truths=[t.rgb for t in tr]; outs=[np.roll(t,2,axis=0) for t in truths]
t0=time.process_time(); w0=time.perf_counter(); O.photo_summary(outs, truths); print('numpy oracle cpu s/pair', round((time.process_time()-t0)/6,3), 'wall', round((time.perf_counter()-w0)/6,3))
tl=lab_pictures(truths)
t0=time.process_time(); w0=time.perf_counter(); score_photos(outs, truths, truth_labs=tl); print('torch cpu s/pair', round((time.process_time()-t0)/6,3), 'wall', round((time.perf_counter()-w0)/6,3), 'threads', torch.get_num_threads())
