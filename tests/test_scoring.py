"""The batched tensor measures (deoldify_like.scoring through metrics.score_photos / PhotoMeter) against the
NumPy/scikit-image oracle (tests/metrics_oracle.py) on real photos: every measure, per photo and the means
of a set, within 1e-3."""
import math

import numpy as np
import pytest
import torch

import metrics_oracle as oracle
from deoldify_like import scoring
from deoldify_like.colour import gray_to_rgb, lab_to_rgb, rgb_to_lab
from deoldify_like.images import load_image
from deoldify_like.metrics import PHOTO_COLUMNS, PhotoMeter, ciede2000, score_photos

TOLERANCE = 1e-3


def _colorizations(truth):
    "Stand-ins for a generator's outputs: the gray input, and the truth's colour turned and over-saturated."
    lab = rgb_to_lab(truth)
    a, b = lab[..., 1], lab[..., 2]
    turn = math.radians(25)
    lab[..., 1], lab[..., 2] = 1.4 * (a * math.cos(turn) - b * math.sin(turn)), 1.4 * (a * math.sin(turn) + b * math.cos(turn))
    return [gray_to_rgb(load_luma(truth)), lab_to_rgb(lab)]


def load_luma(rgb):
    from deoldify_like.colour import rgb_to_gray
    return rgb_to_gray(rgb)


@pytest.fixture(scope='module')
def photos(shared_data):
    "Six BSDS500 validation photos, landscape and portrait (two sizes), each with two 'outputs'."
    files = sorted((shared_data / 'photos' / 'bsds500_val').glob('*.jpg'))
    truths = [load_image(f).rgb for f in files]
    picked = [t for t in truths if t.shape[0] < t.shape[1]][:3] + [t for t in truths if t.shape[0] > t.shape[1]][:3]
    assert len({t.shape for t in picked}) == 2
    outputs, pairs = [], []
    for t in picked:
        for o in _colorizations(t):
            outputs.append(o)
            pairs.append(t)
    return outputs, pairs


def test_every_measure_per_photo_and_the_means_equal_the_numpy_values(photos):
    outputs, truths = photos
    meter = PhotoMeter()
    rows = meter.add_many(outputs, truths)
    want_rows, want = oracle.photo_summary(outputs, truths)
    for got, exp in zip(rows, want_rows):
        for k in exp:
            assert got[k] == pytest.approx(exp[k], abs=TOLERANCE), k
    summary = meter.summary()
    for k, v in want.items():
        assert summary[k] == pytest.approx(v, abs=TOLERANCE), k
    for (o, t), row in zip(zip(outputs, truths), rows):  # per-photo drift as well
        co, ct, cross = oracle.drift_sums(o, t)
        assert row['saturation_ratio'] == pytest.approx(co / ct, abs=TOLERANCE)
        assert row['hue_shift'] == pytest.approx(math.degrees(math.atan2(cross.imag, cross.real)), abs=TOLERANCE)


def test_batches_of_mixed_sizes_give_the_same_rows_as_one_picture_at_a_time(photos):
    outputs, truths = photos
    together = score_photos(outputs, truths, batch=4)[0]
    alone = [score_photos([o], [t])[0][0] for o, t in zip(outputs, truths)]
    for a, b in zip(together, alone):
        assert set(a) == set(PHOTO_COLUMNS)
        for k in PHOTO_COLUMNS:
            assert a[k] == pytest.approx(b[k], abs=1e-5), k  # float32, cut into other pieces


def test_lab_and_the_difference_between_two_outputs_match_skimage(photos):
    outputs, truths = photos
    lab = scoring.lab(torch.from_numpy(outputs[1]))
    assert np.abs(lab.double().numpy() - rgb_to_lab(outputs[1])).max() < 1e-3
    # "moved" of `checkpoints`: the mean ΔE00 between two outputs of the same photo
    assert ciede2000(outputs[0], outputs[1]) == pytest.approx(oracle.ciede2000(outputs[0], outputs[1]), abs=TOLERANCE)


def test_identical_and_tiny_pictures():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (9, 30, 3), dtype=np.uint8)
    row = score_photos([a], [a])[0][0]
    assert row['psnr'] == math.inf and row['ciede2000'] == 0.0
    assert math.isnan(row['ssim'])  # under 11 pixels on a side, as skimage cannot window it
    b = rng.integers(0, 256, (20, 33, 3), dtype=np.uint8)
    c = rng.integers(0, 256, (20, 33, 3), dtype=np.uint8)
    row = score_photos([b], [c])[0][0]
    assert row['ssim'] == pytest.approx(oracle.ssim(b, c), abs=1e-6)
    assert row['psnr'] == pytest.approx(oracle.psnr(b, c), abs=1e-9)
    assert row['cf_output'] == pytest.approx(oracle.colourfulness(b), abs=1e-9)


def test_ciede2000_map_equals_skimage_where_hues_are_nearly_opposite_or_missing():
    """The chord-and-bisector hue terms of `ciede2000_map` on the cases where the direct formula's branches
    matter: hues 180° ± a hair apart (which side is the shorter arc), one or both chroma 0, near-gray pairs."""
    from skimage.color import deltaE_ciede2000
    g = torch.Generator().manual_seed(0)
    n = 20000
    lab1 = torch.stack([torch.rand(n, generator=g) * 100, *(torch.randn(2, n, generator=g) * 40)], -1)
    turn = math.pi + (torch.rand(n, generator=g) - 0.5) * 1e-3  # nearly opposite hues, on both sides of 180°
    a, b = lab1[:, 1], lab1[:, 2]
    lab2 = torch.stack([torch.rand(n, generator=g) * 100, 0.7 * (a * torch.cos(turn) - b * torch.sin(turn)),
                        0.7 * (a * torch.sin(turn) + b * torch.cos(turn))], -1)
    lab2[:50, 1:] = 0  # no chroma on one side
    lab1[50:100, 1:] = lab2[50:100, 1:] = 0  # on both
    lab1[100:200, 1:] *= 1e-4  # near gray
    got = scoring.ciede2000_map(lab1, lab2).double().numpy()
    want = deltaE_ciede2000(lab1.double().numpy(), lab2.double().numpy())
    assert np.abs(got - want).max() < 1e-3


def test_gray_lab_is_lab_of_the_gray_picture(photos):
    luma = load_luma(photos[1][0])
    got = scoring.gray_lab(torch.from_numpy(luma))
    assert torch.equal(got, scoring.lab(torch.from_numpy(gray_to_rgb(luma))))
    assert got.shape == (*luma.shape, 3) and got[..., 1:].abs().max() < 0.01  # gray: a*, b* about 0

