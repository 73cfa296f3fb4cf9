import numpy as np
import pytest
import torch

from deoldify_like.colour import rgb_to_gray
from deoldify_like.generator import build_generator
from deoldify_like.inference import Colorizer
from deoldify_like.inference import crop_prediction, fit_to_square, model_side


def test_render_factor_rule():
    assert model_side(21) == 336 and model_side(35) == 560
    with pytest.raises(ValueError):
        model_side(0)


@pytest.mark.parametrize('fit', ['stretch', 'pad'])
def test_fit_to_square_and_crop(fit):
    luma = np.tile(np.arange(100, dtype=np.uint8), (40, 1))  # 40 x 100, wide
    square, box = fit_to_square(luma, 4, fit)
    assert square.shape == (64, 64)
    y0, x0, h, w = box
    if fit == 'pad':
        assert (h, w) == (26, 64) and y0 == 19
    assert crop_prediction(np.zeros((64, 64, 3)), box).shape == (h, w, 3)


def test_colorizer_keeps_size_and_luminance(colour_image):
    torch.manual_seed(0)
    col = Colorizer(build_generator(arch='resnet18', nf_factor=0.5), render_factor=4, device='cpu')
    luma = rgb_to_gray(colour_image)
    out = col.colorize([luma, luma])
    assert len(out) == 2 and out[0].shape == colour_image.shape and out[0].dtype == np.uint8
    assert np.abs(rgb_to_gray(out[0]).astype(int) - luma).mean() < 2.0
