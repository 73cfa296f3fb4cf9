"""A stage stopped in the middle, as Ctrl-C or a killed process would stop it (for the resume tests)."""
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
