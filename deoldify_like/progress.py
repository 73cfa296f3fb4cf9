"""Progress bars (fastprogress), quiet where nobody watches: in CI or when DEOLDIFY_LIKE_QUIET is set."""
import os

from fastprogress.fastprogress import progress_bar


def quiet():
    return bool(os.environ.get('DEOLDIFY_LIKE_QUIET') or os.environ.get('CI'))


def progress(iterable, total=None, comment=''):
    "A fastprogress bar over `iterable` (give `total` for generators); plain iteration when quiet."
    if quiet():
        return iterable
    bar = progress_bar(iterable, total=total)
    if comment:
        bar.comment = comment
    return bar


def say(*args):
    "A status line for the user (suppressed when quiet)."
    if not quiet():
        print(*args, flush=True)
