"""Loader workers: the same batches whatever their number, one decoded-picture cache shared by all of them,
the degradation on whole batches as tensor ops, and the precision a Learner trains in."""
import cv2
import numpy as np
import pytest
import torch
from fastai.learner import Learner
from torch import nn

from deoldify_like.crappify import Crappifier, gaussian_blur, gray_levels
from deoldify_like.errors import SettingsError
from deoldify_like.data import (ColourPairs, LabelledImages, dataloaders, default_workers, list_images,
                                scaled_pictures)
from deoldify_like.picture_cache import decode_scaled
from deoldify_like.train_precision import resolve_train_precision, set_precision

CRAP = 'noise=0.5,blur=0.5,fade=0.5,jpeg=0.3'


@pytest.fixture(scope='module')
def files(shared_data):
    return list_images(shared_data / 'photos' / 'bsds500_train')[:10]


def _epochs(ds_train, ds_valid, workers, n=2):
    dls = dataloaders(ds_train, ds_valid, bs=4, seed=3, workers=workers)
    return [[b for b in dls.train] + [b for b in dls.valid] for _ in range(n)]


def test_batches_are_identical_with_0_and_2_workers(files):
    made = {w: _epochs(ColourPairs(files, 40, True, CRAP, seed=1, augment='reference'),
                       ColourPairs(files[:3], 40, False, CRAP, seed=1), w) for w in (0, 2)}
    for e0, e2 in zip(made[0], made[2]):
        assert len(e0) == len(e2) == 2 + 1
        for (x0, y0), (x2, y2) in zip(e0, e2):
            assert torch.equal(x0, x2) and torch.equal(y0, y2)  # tolerance: none, bit for bit
    first, second = made[0]
    assert not torch.equal(first[0][1], second[0][1])  # a new epoch draws new crops
    assert torch.equal(first[-1][1], second[-1][1])  # validation is the same every epoch


def test_critic_batches_are_identical_with_0_and_2_workers(files):
    labels = [1.0, 0.0] * 5
    made = {w: _epochs(LabelledImages(files, labels, 32, True, seed=2), LabelledImages(files[:2], labels[:2], 32, False), w, 1)
            for w in (0, 2)}
    for (x0, y0), (x2, y2) in zip(made[0][0], made[2][0]):
        assert torch.equal(x0, x2) and torch.equal(y0, y2)


def test_pictures_decoded_by_a_worker_are_cached_for_every_process(files):
    ds = ColourPairs(files, 40, True)
    dls = dataloaders(ds, ColourPairs(files[:2], 40, False), bs=2, workers=2)
    list(dls.train)
    cache = ds.pictures
    assert cache._mapped()[:len(files)].all()  # filled by the workers, seen here
    for i in (0, 7):
        assert np.array_equal(cache[i], decode_scaled(files[i], 40))


def test_training_losses_are_the_same_with_0_and_2_workers(files):
    "A tiny Learner fitted twice on the same seeded data: every recorded loss equal (tolerance 1e-6 relative)."
    losses = {}
    for w in (0, 2):
        torch.manual_seed(0)
        dls = dataloaders(ColourPairs(files, 32, True, 'noise=0.5', seed=1), ColourPairs(files[:3], 32, False), bs=4,
                          seed=1, workers=w)
        learn = Learner(dls, nn.Conv2d(3, 3, 3, padding=1), loss_func=nn.MSELoss())
        with learn.no_bar(), learn.no_logging():
            learn.fit(2, 1e-2)
        losses[w] = [float(v) for v in learn.recorder.losses] + [float(learn.recorder.values[-1][1])]
    assert losses[0] == pytest.approx(losses[2], rel=1e-6)


def test_batched_blur_is_opencvs_blur():
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (2, 40, 48), dtype=np.uint8)
    sigmas = torch.tensor([1.3, 0.0], dtype=torch.float64)
    out = gaussian_blur(torch.from_numpy(gray)[:, None].float(), sigmas).round().numpy()[:, 0]
    assert np.abs(out[0] - cv2.GaussianBlur(gray[0], (0, 0), 1.3).astype(float)).max() <= 1
    assert np.array_equal(out[1], gray[1])  # sigma 0: untouched


def test_gray_levels_equal_opencv_exactly():
    rgb = np.random.default_rng(1).integers(0, 256, (17, 23, 3), dtype=np.uint8)
    levels = gray_levels(torch.from_numpy(rgb).permute(2, 0, 1)[None])[0, 0].numpy()
    assert np.array_equal(levels, cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32))


def test_crappifier_rows_are_seeded():
    c = Crappifier.parse(CRAP)
    assert np.array_equal(c.draw(np.random.default_rng(5)), c.draw(np.random.default_rng(5)))
    assert not c.draw(np.random.default_rng(5)).any() or c.degrades
    assert not Crappifier().degrades


def test_default_workers_leave_a_core_to_training():
    assert [default_workers(c) for c in (1, 2, 4, 16, 64)] == [0, 0, 3, 8, 8]


def test_scaled_pictures_come_in_order_from_workers(files):
    got = list(scaled_pictures(files[:5], 24, workers=2))
    assert all(np.array_equal(g, decode_scaled(f, 24)) for g, f in zip(got, files[:5])) and len(got) == 5


def test_precision_auto_is_fp32_without_a_recorded_check():
    cpu = torch.device('cpu')
    assert resolve_train_precision('auto', cpu) == 'fp32'
    held = [{'precision': 'bf16', 'delta_psnr': 0.01, 'delta_cf': 0.1, 'quality_holds': True}]
    failed = [{'precision': 'bf16', 'delta_psnr': 0.5, 'delta_cf': 0.1, 'quality_holds': False}]
    assert resolve_train_precision('auto', cpu, held) == 'bf16'
    assert resolve_train_precision('auto', cpu, failed) == 'fp32'
    assert resolve_train_precision('auto', cpu, held, holds=lambda e: e['delta_psnr'] <= 0.001) == 'fp32'
    assert resolve_train_precision('fp16', cpu, held) == 'fp16'
    with pytest.raises(SettingsError, match='--precision'):
        resolve_train_precision('fp8', cpu)


def test_set_precision_puts_a_learner_in_bf16_and_channels_last(files):
    dls = dataloaders(ColourPairs(files[:4], 32, True), ColourPairs(files[:2], 32, False), bs=2, workers=0)
    learn = set_precision(Learner(dls, nn.Conv2d(3, 3, 3, padding=1), loss_func=nn.MSELoss()), 'bf16', channels_last=True)
    seen = []
    learn.model.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
    assert seen and set(seen) == {torch.bfloat16}  # autocast on the CPU, not fastai's CUDA-only autocast
    assert learn.device_mixed_precision.amp_mode.value == 'bf16'
    assert learn.model.weight.is_contiguous(memory_format=torch.channels_last)
    assert set_precision(Learner(dls, nn.Conv2d(3, 3, 1), loss_func=nn.MSELoss()), 'fp32').cbs.filter(
        lambda c: type(c).__name__ == 'MixedPrecision') == []


def test_a_loader_resumed_at_an_epoch_repeats_that_epoch(files):
    ds, valid = ColourPairs(files, 40, True, 'noise=0.5', seed=1), ColourPairs(files[:2], 40, False)
    fresh = dataloaders(ds, valid, bs=4, seed=3, workers=0)
    epochs = [list(fresh.train) for _ in range(3)]
    resumed = dataloaders(ds, valid, bs=4, seed=3, workers=0)
    resumed.train.next_epoch = 2
    for (x, y), (xr, yr) in zip(epochs[2], resumed.train):
        assert torch.equal(x, xr) and torch.equal(y, yr)
    assert not torch.equal(epochs[0][0][1], epochs[1][0][1])
