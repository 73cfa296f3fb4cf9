"""Training data: folders of colour pictures as (degraded gray input, colour target) pairs for the generator,
and real/generated pictures with labels for the critic.

Plain torch Datasets of ImageNet-normalised tensors, wrapped in fastai `DataLoaders` so fastai's Learner
trains on them. Each picture is scaled so its shorter side is the training size, then cropped to a square
(random crop and horizontal flip when training, centre crop otherwise). Decoded, scaled pictures are
cached in memory, so epochs after the first cost no JPEG decoding.
"""
from pathlib import Path

import cv2
import numpy as np
import torch
from fastai.data.core import DataLoaders
from fastai.data.load import DataLoader
from torch.utils.data import Dataset

from .colour import gray_to_rgb
from .crappify import Crappifier
from .errors import DeoldifyLikeError
from .images import is_image_path, load_image
from .tensors import normalize

MAX_CACHED = 4096  # decoded pictures kept in memory per dataset


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


def scale_shorter_side(rgb, size):
    "Resize so the shorter side is `size` pixels (area filter when shrinking)."
    h, w = rgb.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if (nh, nw) == (h, w):
        return rgb
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)


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


def _to_tensor(rgb):
    "uint8 (H, W, 3) -> ImageNet-normalised float (3, H, W)."
    x = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    return normalize(x[None])[0]


class _ScaledImages(Dataset):
    "Pictures scaled to a shorter side of `size`, decoded once and cached."

    def __init__(self, files, size, train=True, seed=42):
        self.files, self.size, self.train, self.seed = [Path(f) for f in files], int(size), train, seed
        self.rng = np.random.default_rng(seed)
        self._cache = {}

    def __len__(self):
        return len(self.files)

    def scaled(self, i):
        img = self._cache.get(i)
        if img is None:
            img = scale_shorter_side(load_image(self.files[i]).rgb, self.size)
            if len(self._cache) < MAX_CACHED:
                self._cache[i] = img
        return img

    def item_rng(self, i):
        "Training draws from one seeded stream; validation is the same every epoch."
        return self.rng if self.train else np.random.default_rng([self.seed, i])

    def crop(self, i, rng):
        return square_crop(self.scaled(i), self.size, rng if self.train else None)


class ColourPairs(_ScaledImages):
    "Colour pictures as (degraded gray 3-channel input, colour target), both ImageNet-normalised."

    def __init__(self, files, size, train=True, crappifier=None, seed=42, augment='none'):
        super().__init__(files, size, train, seed)
        self.crappifier = Crappifier.parse(crappifier)
        if augment not in AUGMENTS:
            raise ValueError(f"unknown augmentation {augment!r}; choose one of {', '.join(AUGMENTS)}")
        self.augment = augment == 'reference' and train

    def __getitem__(self, i):
        rng = self.item_rng(i)
        rgb = np.ascontiguousarray(self.crop(i, rng))
        if self.augment:
            rgb = reference_augment(rgb, rng)
        return _to_tensor(gray_to_rgb(self.crappifier(rgb, rng))), _to_tensor(rgb)


class LabelledImages(_ScaledImages):
    """Colour pictures with a float label each (the critic's data: real = 1, generated = 0), every one through
    the same JPEG round trip (`same_codec`)."""

    def __init__(self, files, labels, size, train=True, seed=42):
        super().__init__(files, size, train, seed)
        self.labels = [float(v) for v in labels]

    def __getitem__(self, i):
        rgb = same_codec(np.ascontiguousarray(self.crop(i, self.item_rng(i))))
        return _to_tensor(rgb), torch.tensor(self.labels[i])


def dataloaders(train_ds, valid_ds, bs, device='cpu', seed=42):
    "fastai DataLoaders over two datasets: shuffled training batches (the last short one dropped), in-order validation."
    bs = max(1, int(bs))
    train = DataLoader(train_ds, bs=min(bs, len(train_ds)), shuffle=True, drop_last=len(train_ds) >= bs,
                       num_workers=0, device=device)
    train.rng.seed(seed)
    valid = DataLoader(valid_ds, bs=bs, shuffle=False, drop_last=False, num_workers=0, device=device)
    return DataLoaders(train, valid, device=device)
