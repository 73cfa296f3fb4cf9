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
                ax.text(x[i], 0.98, f" {phases[i]}", va='top', fontsize=8, color='gray', transform=ax.get_xaxis_transform())
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
    """The generator's loss per generator step (and its adversarial and feature parts) on the left axis, the
    critic's loss per critic step on the right one; the checkpoints dotted."""
    rows, ckpts = read_csv(iter_csv), read_csv(ckpt_csv)
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    ax2 = ax.twinx()
    gen = [r for r in rows if r.get('mode') == 'generator']
    crit = [r for r in rows if r.get('mode') == 'critic']
    if gen:
        x = _floats(gen, 'iteration')
        for key, colour, label in (('loss', 'tab:blue', 'generator loss'), ('feature', 'tab:cyan', 'feature part'),
                                   ('adversarial', 'tab:purple', 'adversarial part')):
            y = _floats(gen, key)
            ax.plot(x, y, '.', color=colour, alpha=0.3, ms=3)
            ax.plot(x, smooth(y, 0.8), color=colour, label=label)
    if crit:
        x, y = _floats(crit, 'iteration'), _floats(crit, 'loss')
        ax2.plot(x, y, '.', color='tab:red', alpha=0.3, ms=3)
        ax2.plot(x, smooth(y, 0.8), color='tab:red', label='critic loss')
    for c in ckpts:
        ax.axvline(float(c['iteration']), color='gray', ls=':', lw=0.8)
    ax.set_xlabel('iteration (dotted: checkpoints)')
    ax.set_ylabel('generator loss; its parts before weighting')
    ax2.set_ylabel('critic loss', color='tab:red')
    ax2.set_ylim(bottom=0)
    ax.set_title(title)
    h1, h2 = ax.get_legend_handles_labels(), ax2.get_legend_handles_labels()
    if h1[0] or h2[0]:
        ax.legend(h1[0] + h2[0], h1[1] + h2[1], fontsize=8, loc='upper left')
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
