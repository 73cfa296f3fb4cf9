"""Training data: folders of colour pictures as (degraded gray input, colour target) pairs for the generator,
and real/generated pictures with labels for the critic.

The work is split where it is cheapest. Loader workers (`workers`, default `default_workers()`) only take
the decoded, scaled picture from the shared cache (`picture_cache.PictureCache`: decoded once, for every
worker and epoch), crop it to a square (random crop and horizontal flip when training, centre crop
otherwise), apply the optional reference augmentation, and hand over uint8 pixels plus the drawn
degradation. After collation and the move to the training device (pinned memory on CUDA), the loader's
batch transform does the float work for the whole batch at once: gray conversion, the degradation
(`crappify.degrade`) and ImageNet normalisation.

Randomness: each training item draws from its own generator seeded with (seed, epoch, index), validation
items from (seed, index), and each epoch's shuffle from (seed, epoch) in the training process, so batches are
identical whatever the number of workers, and a loader told where to resume (`next_epoch`) repeats the
epochs it would have had.
"""
import os
from pathlib import Path

import cv2
import numpy as np
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from torch.utils.data import Dataset

from .crappify import N_PARAMS, Crappifier, degrade, gray_levels
from .errors import DeoldifyLikeError
from .images import is_image_path
from .picture_cache import PictureCache, decode_scaled, scale_shorter_side  # noqa: F401 - scale_shorter_side re-exported
from .tensors import normalize

MAX_WORKERS = 8
PREFETCH = 2  # batches each worker prepares ahead (torch's default)
SHUFFLE_STREAM = 0x5348  # keeps the shuffle's seed sequence apart from the items' ones
WORKERS_HELP = ("loader processes that decode and crop the pictures (default: min(8, cores - 1); none on 2 cores or "
                "fewer); the batches are the same whatever the number")


def default_workers(cores=None):
    """Loader workers for this machine: min(8, cores - 1), leaving a core to the training process; none on
    machines of two cores or fewer, where a worker would take the core the training step runs on."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else os.cpu_count() or 1
    return 0 if cores <= 2 else min(MAX_WORKERS, cores - 1)


def list_images(folder):
    "Image files under `folder` (recursive), sorted, hidden and partial files left out."
    folder = Path(folder)
    if not folder.is_dir():
        raise DeoldifyLikeError(f"{folder}: no such data folder")
    files = sorted(p for p in folder.rglob('*') if p.is_file() and is_image_path(p) and not p.name.startswith('.'))
    if not files:
        raise DeoldifyLikeError(f"{folder}: no image files (run `deoldify-like prepare` to make a training set)")
    return files


def split_files(files, valid_pct=0.1, seed=42, limit=None):
    """A seeded shuffle of `files`, cut to `limit`, split into (train, valid); at least one of each when
    there are two or more files."""
    files = sorted(files)
    order = np.random.default_rng(seed).permutation(len(files))
    chosen = [files[i] for i in order[:limit or None]]
    if len(chosen) < 2:
        raise DeoldifyLikeError(f"need at least 2 training pictures, got {len(chosen)}")
    n_valid = min(len(chosen) - 1, max(1, round(len(chosen) * valid_pct)))
    return chosen[n_valid:], chosen[:n_valid]


def square_crop(img, size, rng=None):
    "A (size, size) crop: random (and randomly flipped) with `rng`, centred without."
    h, w = img.shape[:2]
    if rng is None:
        y0, x0 = (h - size) // 2, (w - size) // 2
        return img[y0:y0 + size, x0:x0 + size]
    y0, x0 = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    crop = img[y0:y0 + size, x0:x0 + size]
    return crop[:, ::-1] if rng.random() < 0.5 else crop


AUGMENTS = ('none', 'reference')


def reference_augment(rgb, rng):
    """The reference's augmentation, after fastai v1's `get_transforms(max_zoom=2.)`, on the colour crop (the
    gray input is made from it, so input and target move together): a horizontal flip already comes with the
    crop; with probability 0.75 a rotation up to 10 degrees, a zoom up to 2x and a perspective warp up to 0.2
    (reflected borders); with probability 0.75 brightness and contrast changed by up to 0.2."""
    h, w = rgb.shape[:2]
    out = rgb
    if rng.random() < 0.75:
        angle, zoom = rng.uniform(-10, 10), rng.uniform(1.0, 2.0)
        m = np.vstack([cv2.getRotationMatrix2D((w / 2, h / 2), angle, zoom), [0, 0, 1]])
        corners = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        moved = corners + rng.uniform(-0.2, 0.2, (4, 2)).astype(np.float32) * np.float32([w, h]) / 2
        m = cv2.getPerspectiveTransform(corners, moved) @ m
        out = cv2.warpPerspective(out, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if rng.random() < 0.75:
        brightness, contrast = rng.uniform(-0.2, 0.2), np.exp(rng.uniform(np.log(1 / 1.2), np.log(1.2)))
        x = (out.astype(np.float32) / 255.0 - 0.5) * contrast + 0.5 + brightness
        out = np.clip(x * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return out


def same_codec(rgb, quality=90):
    """A JPEG round trip at `quality`: real and generated pictures reach the critic through the same codec,
    so it cannot tell them apart by compression (real photos are JPEG, the fakes are saved as PNG)."""
    ok, buf = cv2.imencode('.jpg', cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _pixels(rgb):
    "uint8 (H, W, 3) -> uint8 (3, H, W) tensor."
    return torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1)


def _as_float(rgb):
    "uint8 (N, 3, H, W) -> ImageNet-normalised float."
    return normalize(rgb / 255.0)


class _ScaledImages(Dataset):
    """Pictures scaled to a shorter side of `size`, decoded once into a cache shared by all loader workers.
    `raw_item(i, epoch)` is what a worker makes, `finish_batch` what the training device does to a batch of
    them; `ds[i]` is both for one item (epoch 0), on the CPU."""

    def __init__(self, files, size, train=True, seed=42):
        self.files, self.size, self.train, self.seed = [Path(f) for f in files], int(size), train, seed
        self.pictures = PictureCache(self.files, self.size)

    def __len__(self):
        return len(self.files)

    def scaled(self, i):
        return self.pictures[i]

    def item_rng(self, i, epoch=0):
        "Each item's own stream: (seed, epoch, index) when training, (seed, index) for validation (the same every epoch)."
        return np.random.default_rng([self.seed, epoch, i] if self.train else [self.seed, i])

    def crop(self, i, rng):
        return square_crop(self.scaled(i), self.size, rng if self.train else None)

    def __getitem__(self, i):
        batch = [t[None] for t in self.raw_item(i)]
        return tuple(t[0] for t in self.finish_batch(batch))


class ColourPairs(_ScaledImages):
    "Colour pictures as (degraded gray 3-channel input, colour target), both ImageNet-normalised."

    def __init__(self, files, size, train=True, crappifier=None, seed=42, augment='none'):
        super().__init__(files, size, train, seed)
        self.crappifier = Crappifier.parse(crappifier)
        if augment not in AUGMENTS:
            raise ValueError(f"unknown augmentation {augment!r}; choose one of {', '.join(AUGMENTS)}")
        self.augment = augment == 'reference' and train

    def raw_item(self, i, epoch=0):
        "(uint8 colour crop (3, S, S), the drawn degradation (N_PARAMS,))."
        rng = self.item_rng(i, epoch)
        rgb = np.ascontiguousarray(self.crop(i, rng))
        if self.augment:
            rgb = reference_augment(rgb, rng)
        return _pixels(rgb), torch.from_numpy(self.crappifier.draw(rng) if self.crappifier.degrades else np.zeros(N_PARAMS))

    def finish_batch(self, batch):
        "(uint8 colour (N, 3, S, S), degradations) -> (normalised degraded gray in 3 channels, normalised colour)."
        rgb, rows = batch
        gray = gray_levels(rgb)
        if self.crappifier.degrades:
            gray = degrade(gray, rows)
        return _as_float(gray.expand(-1, 3, -1, -1)), _as_float(rgb)


class LabelledImages(_ScaledImages):
    """Colour pictures with a float label each (the critic's data: real = 1, generated = 0), every one through
    the same JPEG round trip (`same_codec`)."""

    def __init__(self, files, labels, size, train=True, seed=42):
        super().__init__(files, size, train, seed)
        self.labels = [float(v) for v in labels]

    def raw_item(self, i, epoch=0):
        return _pixels(same_codec(np.ascontiguousarray(self.crop(i, self.item_rng(i, epoch))))), torch.tensor(self.labels[i])

    def finish_batch(self, batch):
        rgb, labels = batch
        return _as_float(rgb), labels


class PictureLoader(DataLoader):
    """A fastai DataLoader over a `_ScaledImages` dataset: workers make `raw_item(i, epoch)`, the device runs
    `finish_batch` after collation. Each pass over it is one epoch; a resumed stage sets `next_epoch` to the
    first epoch still to do."""

    def __init__(self, dataset=None, next_epoch=0, prefetch=PREFETCH, seed=42, **kwargs):
        if dataset is not None:
            kwargs.setdefault('after_batch', dataset.finish_batch)
        super().__init__(dataset, **kwargs)
        self.next_epoch, self.epoch, self.seed = next_epoch, next_epoch, seed
        if self.fake_l.num_workers > 0:
            self.fake_l.prefetch_factor = prefetch  # fastai fixes it at 2 on its loader class

    def before_iter(self):  # in the training process, before the workers get their copy of the loader
        super().before_iter()
        self.epoch, self.next_epoch = self.next_epoch, self.next_epoch + 1

    def create_item(self, s):
        return self.dataset.raw_item(s, self.epoch)

    def shuffle_fn(self, idxs):
        "Epoch `epoch`'s order, from (seed, epoch): a loader resumed with `next_epoch` repeats it exactly."
        return [idxs[i] for i in np.random.default_rng([self.seed, self.epoch, SHUFFLE_STREAM]).permutation(len(idxs))]


def dataloaders(train_ds, valid_ds, bs, device='cpu', seed=42, workers=None):
    """fastai DataLoaders over two datasets: shuffled training batches (the last short one dropped), in-order
    validation; `workers` loader processes each (None: `default_workers()`), pinned memory on CUDA."""
    bs = max(1, int(bs))
    workers = default_workers() if workers is None else max(0, int(workers))
    common = dict(num_workers=workers, device=device, pin_memory=torch.device(device).type == 'cuda')
    train = PictureLoader(train_ds, bs=min(bs, len(train_ds)), shuffle=True, drop_last=len(train_ds) >= bs, seed=seed,
                          **common)
    valid = PictureLoader(valid_ds, bs=bs, shuffle=False, drop_last=False, **common)
    return DataLoaders(train, valid, device=device)


class _Decoded(Dataset):
    def __init__(self, files, size):
        self.files, self.size = list(files), int(size)

    def __len__(self):
        return len(self.files)

    def __getitem__(self, i):
        return decode_scaled(self.files[i], self.size)


def _as_is(item):
    return item


def scaled_pictures(files, size, workers=None):
    """Each file decoded, upright RGB uint8 scaled to a shorter side of `size`, in order, decoded by `workers`
    processes (None: `default_workers()`) ahead of use (for one pass over files, such as the critic's fakes)."""
    workers = default_workers() if workers is None else max(0, int(workers))
    loader = torch.utils.data.DataLoader(_Decoded(files, size), batch_size=None, num_workers=workers,
                                         collate_fn=_as_is, prefetch_factor=PREFETCH if workers else None)
    yield from loader
