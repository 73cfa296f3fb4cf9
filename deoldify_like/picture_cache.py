"""Decoded, scaled training pictures shared by the training process and every loader worker.

One memory-mapped uint8 file per (file list, size): a byte per picture says "filled", then each picture's
pixels at an offset fixed in advance from its header's size. Whichever process first needs a picture decodes,
scales and writes it; every other process, and every later epoch, reads it from the page cache. This replaces
a per-process dict, which each loader worker would refill and lose at the end of every epoch: fastai's loader
builds a new torch iterator, and so new worker processes, at each pass (`persistent_workers` does not keep
them). The file lives in the temporary folder and is deleted when the cache
object of the process that made it goes away. Pictures past `max_bytes` are decoded every time instead.
"""
import os
import tempfile
import weakref
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .images import read_rgb

DEFAULT_MAX_BYTES = 8 * 2 ** 30
HEADER_ALIGN = 64


def scaled_shape(h, w, size):
    "(height, width) after scaling the shorter side to `size`."
    scale = size / min(h, w)
    return max(size, round(h * scale)), max(size, round(w * scale))


def scale_shorter_side(rgb, size):
    "Resize so the shorter side is `size` pixels (area filter when shrinking)."
    h, w = rgb.shape[:2]
    nh, nw = scaled_shape(h, w, size)
    if (nh, nw) == (h, w):
        return rgb
    return cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if size < min(h, w) else cv2.INTER_CUBIC)


def upright_size(path):
    "(height, width) of the upright picture from its header alone; None where Pillow cannot tell."
    try:
        with Image.open(path) as img:
            w, h = img.size
            turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientations that swap the sides
        return (w, h) if turned else (h, w)
    except Exception:  # noqa: BLE001 - unreadable headers are decoded (and reported) by read_rgb later
        return None


def decode_scaled(path, size):
    "The picture at `path`, upright RGB uint8, its shorter side scaled to `size`."
    return np.ascontiguousarray(scale_shorter_side(read_rgb(path)[0], size))


class PictureCache:
    "`cache[i]`: file i decoded and scaled to a shorter side of `size`, (H, W, 3) uint8, from the shared file."

    def __init__(self, files, size, folder=None, max_bytes=DEFAULT_MAX_BYTES):
        self.files, self.size = [Path(f) for f in files], int(size)
        self.shapes, self.offsets = [], []
        pos = -(-len(self.files) // HEADER_ALIGN) * HEADER_ALIGN
        for f in self.files:
            hw = upright_size(f)
            shape = (*scaled_shape(*hw, self.size), 3) if hw else None
            nbytes = int(np.prod(shape)) if shape else 0
            fits = shape is not None and pos + nbytes <= max_bytes
            self.shapes.append(shape if fits else None)
            self.offsets.append(pos if fits else -1)
            pos += nbytes if fits else 0
        fd, self.path = tempfile.mkstemp(prefix='deoldify_like_pictures_', suffix='.u8', dir=folder)
        os.ftruncate(fd, max(pos, 1))
        os.close(fd)
        self._finalizer = weakref.finalize(self, _remove, self.path, os.getpid())
        self._map = None

    def __len__(self):
        return len(self.files)

    def __getstate__(self):  # workers started by spawn/forkserver reopen the file by its path
        state = self.__dict__.copy()
        state['_map'] = state['_finalizer'] = None
        return state

    def _mapped(self):
        if self._map is None:
            self._map = np.memmap(self.path, dtype=np.uint8, mode='r+')
        return self._map

    def __getitem__(self, i):
        shape, off = self.shapes[i], self.offsets[i]
        if shape is None:
            return decode_scaled(self.files[i], self.size)
        m = self._mapped()
        pixels = m[off:off + int(np.prod(shape))].reshape(shape)
        if not m[i]:
            img = decode_scaled(self.files[i], self.size)
            if img.shape != shape:  # the header told another size (odd EXIF): keep this one out of the cache
                self.shapes[i] = None
                return img
            pixels[...] = img
            m[i] = 1  # after the pixels: a reader that sees the flag sees the picture
        return pixels


def _remove(path, owner_pid):
    if os.getpid() == owner_pid:
        Path(path).unlink(missing_ok=True)
