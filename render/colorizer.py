"""Colorizing pictures with a generator: fit to the render-factor square, predict in batches, keep the
original luminance. The one inference path shared by photos, films, evaluation and checkpoint grids."""
import numpy as np
import torch

from deoldify_like.colour import recombine_luminance
from deoldify_like.device import pick_device
from deoldify_like.model_file import load_generator
from deoldify_like.tensors import gray_batch_to_input, output_to_rgb

from .render_factor import DEFAULT_FIT, PHOTO_RENDER_FACTOR, crop_prediction, fit_to_square


class Colorizer:
    def __init__(self, model, render_factor=PHOTO_RENDER_FACTOR, fit=DEFAULT_FIT, device='auto', header=None):
        self.device = pick_device(device) if isinstance(device, str) else device
        self.model = model.to(self.device).eval()
        self.render_factor, self.fit, self.header = render_factor, fit, header or {}

    @classmethod
    def from_file(cls, path, render_factor=None, fit=DEFAULT_FIT, device='auto'):
        model, header = load_generator(path)
        rf = render_factor or header.get('render_factor') or PHOTO_RENDER_FACTOR
        return cls(model, rf, fit, device, header)

    @torch.inference_mode()
    def predict(self, lumas, render_factor=None):
        "Low-resolution RGB predictions (uint8) for a list of uint8 luminance pictures."
        rf = render_factor or self.render_factor
        squares, boxes = zip(*(fit_to_square(luma, rf, self.fit) for luma in lumas))
        out = self.model(gray_batch_to_input(np.stack(squares), self.device))
        return [crop_prediction(p, b) for p, b in zip(output_to_rgb(out), boxes)]

    def colorize(self, lumas, render_factor=None):
        "Full-resolution colour pictures (uint8 RGB) for a list of uint8 luminance pictures."
        preds = self.predict(lumas, render_factor)
        return [recombine_luminance(luma, pred) for luma, pred in zip(lumas, preds)]
