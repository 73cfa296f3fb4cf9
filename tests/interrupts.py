"""A stage stopped in the middle, as Ctrl-C or a killed process would stop it (for the resume tests)."""
import contextlib
import io

from fastai.callback.core import Callback


class Interrupt(Exception):
    "Stands for Ctrl-C or a killed process in the middle of a stage."


class InterruptAfter(Callback):
    order = 90  # after the stages' own callbacks have recorded the batch

    def __init__(self, n):
        self.n, self.seen = n, 0

    def after_batch(self):
        if self.training:
            self.seen += 1
            if self.seen >= self.n:
                raise Interrupt(f'test interruption after {self.n} batches')


def call(fn, **kw):
    "Run a stage, returning (result or the Interrupt that stopped it, printed text)."
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        try:
            result = fn(**kw)
        except Interrupt as e:
            result = e
    return result, buf.getvalue()
