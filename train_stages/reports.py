"""Pictures of a run: loss curves from the CSV logs, sample rows (input / output / target) from a batch.

Drawn with matplotlib's object API (no pyplot state, no display needed) and written atomically as PNG.
"""
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from deoldify_like.images import atomic_path
from deoldify_like.tensors import output_to_rgb

from .run_folder import read_csv


def _save(fig, path):
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format='png', bbox_inches='tight')
    return path


def _floats(rows, key):
    out = []
    for r in rows:
        try:
            out.append(float(r[key]))
        except (KeyError, TypeError, ValueError):
            out.append(np.nan)
    return np.array(out)


def smooth(y, beta=0.9):
    "Exponentially weighted, bias-corrected smoothing (as fastai's smoothed loss)."
    out, avg = [], 0.0
    for i, v in enumerate(np.asarray(y, dtype=float)):
        avg = beta * avg + (1 - beta) * v
        out.append(avg / (1 - beta ** (i + 1)))
    return np.array(out)


def epoch_loss_curve(batch_csv, epoch_csv, png, title, metric=None):
    """Training loss per batch (raw and smoothed) and validation loss per epoch; a dotted line where the
    training size or freezing changes. `metric` (a column of the epoch CSV) goes on a second axis."""
    batches, epochs = read_csv(batch_csv), read_csv(epoch_csv)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    if batches:
        x, y = _floats(batches, 'batch'), _floats(batches, 'loss')
        ax.plot(x, y, color='tab:blue', alpha=0.25, lw=0.8)
        ax.plot(x, smooth(y), color='tab:blue', label='train loss (per batch, smoothed)')
        phases = [r.get('phase') for r in batches]
        for i in range(1, len(batches)):
            if phases[i] != phases[i - 1]:
                ax.axvline(x[i], color='gray', ls=':', lw=1)
                ax.text(x[i], ax.get_ylim()[1], f" {phases[i]}", va='top', fontsize=8, color='gray')
    done = [r for r in epochs if r.get('valid_loss') not in (None, '')]
    if done:
        ax.plot(_floats(done, 'batch'), _floats(done, 'valid_loss'), 'o-', color='tab:orange', label='validation loss')
    ax.set_xlabel('training batches')
    ax.set_ylabel('loss')
    ax.set_title(title)
    handles = ax.get_legend_handles_labels()
    if metric and done:
        ax2 = ax.twinx()
        ax2.plot(_floats(done, 'batch'), _floats(done, metric), 's--', color='tab:green', label=metric)
        ax2.set_ylabel(metric)
        ax2.set_ylim(0, 1.05)
        h2 = ax2.get_legend_handles_labels()
        handles = (handles[0] + h2[0], handles[1] + h2[1])
    if handles[0]:
        ax.legend(*handles, fontsize=8, loc='upper right')
    return _save(fig, png)


def gan_loss_curve(iter_csv, ckpt_csv, png, title):
    "Generator and critic losses per iteration (smoothed), with the checkpoints marked."
    rows, ckpts = read_csv(iter_csv), read_csv(ckpt_csv)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for mode, colour in (('generator', 'tab:blue'), ('critic', 'tab:red')):
        sel = [r for r in rows if r.get('mode') == mode]
        if sel:
            ax.plot(_floats(sel, 'iteration'), _floats(sel, 'loss'), '.', color=colour, alpha=0.3, ms=3)
            ax.plot(_floats(sel, 'iteration'), smooth(_floats(sel, 'loss'), 0.8), color=colour, label=f'{mode} loss')
    for c in ckpts:
        ax.axvline(float(c['iteration']), color='gray', ls=':', lw=0.8)
    ax.set_yscale('symlog', linthresh=1.0)
    ax.set_xlabel('iteration (dotted: checkpoints)')
    ax.set_ylabel('loss')
    ax.set_title(title)
    if rows:
        ax.legend(fontsize=8)
    return _save(fig, png)


def samples_png(rows, png, titles=('input', 'output', 'target'), max_n=6):
    """A grid with one column per sample and one row per entry of `rows` (ImageNet-normalised batches
    (N, 3, H, W) of equal size, e.g. input, output, target)."""
    pics = [output_to_rgb(r[:max_n]) for r in rows]
    n = len(pics[0])
    fig = Figure(figsize=(1.6 * n, 1.7 * len(pics)))
    axes = np.array(fig.subplots(len(pics), n, squeeze=False))
    for r, (row, title) in enumerate(zip(pics, titles)):
        for c in range(n):
            axes[r, c].imshow(row[c])
            axes[r, c].axis('off')
        axes[r, 0].set_title(title, fontsize=9, loc='left')
    return _save(fig, png)
