"""Training data and input degradation: real pictures in, normalised tensor pairs out; seeded randomness."""
import numpy as np
import pytest
import torch

from deoldify_like.colour import rgb_to_gray
from deoldify_like.crappify import Crappifier
from deoldify_like.data import ColourPairs, LabelledImages, dataloaders, list_images, split_files
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.images import load_image
from deoldify_like.tensors import denormalize


@pytest.fixture(scope='module')
def photo(shared_data):
    return load_image(shared_data / 'photos' / 'bsds500_train' / '100075.jpg').rgb


def test_gray_only_by_default(photo):
    out = Crappifier()(photo, np.random.default_rng(0))
    assert out.shape == photo.shape[:2] and out.dtype == np.uint8
    assert np.array_equal(out, rgb_to_gray(photo))


@pytest.mark.parametrize('effect', ['fade', 'blur', 'jpeg', 'noise'])
def test_each_degradation_does_what_it_says(photo, effect):
    gray = rgb_to_gray(photo).astype(np.float32)
    out = Crappifier.parse(f'{effect}=1')(photo, np.random.default_rng(1)).astype(np.float32)
    assert not np.array_equal(out, gray)
    lap = lambda g: np.abs(np.diff(g, axis=1)).mean()  # noqa: E731  high-frequency energy
    if effect == 'fade':
        assert out.std() < 0.92 * gray.std()
    elif effect == 'blur':
        assert lap(out) < 0.8 * lap(gray)
    elif effect == 'noise':
        assert lap(out) > 1.2 * lap(gray)
    else:  # jpeg: a small, bounded change
        assert 0.3 < np.abs(out - gray).mean() < 12


def test_degradations_are_seeded_and_probabilities_hold(photo):
    c = Crappifier.parse('noise=0.5,jpeg=0.5,blur=0.5,fade=0.5')
    a = [c(photo, np.random.default_rng(7)) for _ in range(2)]
    assert np.array_equal(a[0], a[1])
    rng = np.random.default_rng(3)
    small = photo[:64, :64]
    changed = sum(not np.array_equal(Crappifier.parse('noise=0.3')(small, rng), rgb_to_gray(small)) for _ in range(200))
    assert 40 < changed < 80  # ~60 of 200


def test_bad_degradation_specs_are_clear():
    with pytest.raises(ValueError, match='unknown degradation'):
        Crappifier.parse('scratches=0.5')
    with pytest.raises(ValueError, match='between 0 and 1'):
        Crappifier.parse('noise=2')
    assert str(Crappifier.parse('')) == 'none' and str(Crappifier.parse('blur=0.2')) == 'blur=0.2'


def test_split_is_seeded_disjoint_and_limited(shared_data):
    files = list_images(shared_data / 'photos' / 'bsds500_train')
    assert len(files) == 200
    tr, va = split_files(files, 0.1, seed=5, limit=50)
    assert (len(tr), len(va)) == (45, 5) and not set(tr) & set(va)
    assert split_files(files, 0.1, seed=5, limit=50) == (tr, va)
    assert split_files(files, 0.1, seed=6, limit=50) != (tr, va)
    with pytest.raises(DeoldifyLikeError, match='no image files'):
        list_images(shared_data / 'video')


def test_colour_pairs_are_gray_input_and_colour_target(shared_data):
    files = list_images(shared_data / 'photos' / 'bsds500_train')[:6]
    ds = ColourPairs(files, 48, train=True, seed=0)
    x, y = ds[0]
    assert x.shape == y.shape == (3, 48, 48) and x.dtype == torch.float32
    x01, y01 = denormalize(x[None])[0], denormalize(y[None])[0]
    assert torch.allclose(x01[0], x01[1], atol=1e-5) and torch.allclose(x01[1], x01[2], atol=1e-5)  # gray in 3 channels
    assert (y01[0] - y01[2]).abs().mean() > 0.02  # the target has colour
    gray_of_target = 0.299 * y01[0] + 0.587 * y01[1] + 0.114 * y01[2]
    assert (gray_of_target - x01[0]).abs().max() < 2.5 / 255  # input = luminance of the target
    valid = ColourPairs(files, 48, train=False)
    assert torch.equal(valid[1][1], valid[1][1])  # validation crops are fixed
    dls = dataloaders(ds, valid, bs=4)
    xb, yb = dls.one_batch()
    assert xb.shape == (4, 3, 48, 48) and len(dls.train) == 1 and len(dls.valid) == 2


def test_labelled_images_for_the_critic(shared_data):
    files = list_images(shared_data / 'photos' / 'bsds500_train')[:2]
    ds = LabelledImages(files, [1, 0], 32, train=False)
    (x, y1), (_, y0) = ds[0], ds[1]
    assert x.shape == (3, 32, 32) and float(y1) == 1.0 and float(y0) == 0.0
