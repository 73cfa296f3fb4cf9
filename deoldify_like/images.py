"""Reading any picture Pillow or OpenCV can open as RGB uint8, and writing outputs atomically.

Handles L, LA, P, RGB, RGBA, CMYK, 16-bit, 1-bit and EXIF-rotated files. Every expected problem (not an
image, empty, truncated, too small) raises `BadInputError` with one line naming the file.
"""
import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .colour import rgb_to_gray
from .errors import BadInputError

_UMASK = os.umask(0o022)
os.umask(_UMASK)
MIN_SIDE = 8  # pixels: anything smaller cannot be colorized meaningfully
IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.gif', '.jp2', '.ppm', '.pgm'}


class LoadedImage(NamedTuple):
    rgb: np.ndarray  # uint8 (H, W, 3), upright (EXIF orientation applied)
    luma: np.ndarray  # uint8 (H, W), BT.601 luminance of `rgb` (the original gray for gray files)
    mode: str  # the file's own mode, e.g. 'L', 'RGB', 'I;16', 'CMYK'
    is_gray: bool  # True when the picture carries no colour


def is_image_path(path):
    return Path(path).suffix.lower() in IMAGE_SUFFIXES


def find_photos(folder):
    "Image files under `folder` (recursive), in a stable order."
    folder = Path(folder)
    if not folder.is_dir():
        raise BadInputError(folder, 'no such folder')
    return sorted(p for p in folder.rglob('*') if p.is_file() and is_image_path(p))


def _to_8bit(arr):
    "Scale 16-bit or float arrays to uint8."
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        top = 1.0 if arr.max(initial=0) <= 1.0 else 65535.0 if arr.max() > 255 else 255.0
        return np.clip(np.rint(arr * (255.0 / top)), 0, 255).astype(np.uint8)
    top = 65535 if arr.max(initial=0) > 255 or arr.dtype.itemsize >= 2 else 255
    return np.clip(np.rint(arr.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)


def _flatten_alpha(img):
    "Composite a picture with transparency over white."
    rgba = img.convert('RGBA')
    white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert('RGB')


def _pil_to_rgb(img):
    mode = img.mode
    if mode in ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F'):
        gray = _to_8bit(np.array(img))
        return np.repeat(gray[..., None], 3, axis=-1)
    if mode in ('RGBA', 'LA', 'PA') or (mode == 'P' and 'transparency' in img.info):
        return np.array(_flatten_alpha(img))
    return np.array(img.convert('RGB'))


def _read_with_pillow(path):
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # Pillow warns on odd EXIF and ICC data; not the user's problem here
        with Image.open(path) as img:
            mode = img.mode
            img.load()
            img = ImageOps.exif_transpose(img)
            return _pil_to_rgb(img), mode


def _read_with_opencv(path):
    "Fallback for files Pillow cannot identify (16-bit colour TIFF/PNG variants, JPEG 2000...)."
    arr = cv2.imread(str(path), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if arr is None:
        return None, None
    mode = f'cv2:{arr.dtype}x{1 if arr.ndim == 2 else arr.shape[2]}'
    arr = _to_8bit(arr)
    if arr.ndim == 2:
        arr = cv2.cvtColor(arr, cv2.COLOR_GRAY2RGB)
    elif arr.shape[2] == 4:
        alpha = arr[..., 3:4].astype(np.float32) / 255.0
        arr = (arr[..., :3] * alpha + 255 * (1 - alpha)).round().astype(np.uint8)
        arr = cv2.cvtColor(arr, cv2.COLOR_BGR2RGB)
    else:
        arr = cv2.cvtColor(arr[..., :3], cv2.COLOR_BGR2RGB)
    return arr, mode


def load_image(path, min_side=MIN_SIDE):
    "Read `path` as upright RGB uint8 plus its luminance; `BadInputError` with one line if it can't be used."
    rgb, mode = read_rgb(path, min_side)
    return LoadedImage(rgb, rgb_to_gray(rgb), mode, is_colourless(rgb))


def read_rgb(path, min_side=MIN_SIDE):
    "(upright RGB uint8, the file's mode) of `path`, with `load_image`'s checks and messages and nothing else."
    path = Path(path)
    if not path.exists():
        raise BadInputError(path, 'no such file')
    if path.is_dir():
        raise BadInputError(path, 'is a folder, not an image')
    if path.stat().st_size == 0:
        raise BadInputError(path, 'empty file (0 bytes)')
    try:
        rgb, mode = _read_with_pillow(path)
    except UnidentifiedImageError:
        rgb, mode = _read_with_opencv(path)
        if rgb is None:
            raise BadInputError(path, 'not an image file (neither Pillow nor OpenCV can read it)') from None
    except Image.DecompressionBombError as e:
        raise BadInputError(path, f'too large to open safely ({e})') from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadInputError(path, f'truncated or damaged image ({str(e).splitlines()[0]})') from None
    h, w = rgb.shape[:2]
    if min(h, w) < min_side:
        raise BadInputError(path, f'too small ({w}x{h} pixels; at least {min_side}x{min_side} needed)')
    return np.ascontiguousarray(rgb), mode


def is_colourless(rgb, tolerance=3.0):
    """True when a picture has no real colour: gray, or a uniform tint such as sepia.

    Measured as the spread of each pixel's chroma around the picture's mean chroma, so a sepia print
    (tinted, but one hue) counts as colourless, like a gray one.
    """
    small = np.asarray(rgb)[::4, ::4].astype(np.float32)
    yuv = cv2.cvtColor(small / 255.0, cv2.COLOR_RGB2YUV)[..., 1:] * 255.0
    return float(np.sqrt(((yuv - yuv.reshape(-1, 2).mean(0)) ** 2).sum(-1).mean())) < tolerance


@contextlib.contextmanager
def atomic_path(dest):
    """Yield a temporary path beside `dest` (same suffix) and rename it to `dest` only on success.

    A crash or an error leaves `dest` as it was and removes the partial file.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{dest.stem}.', suffix=f'.partial{dest.suffix}', dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp (and safetensors' writer) make 0600; outputs get the usual permissions
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def save_image(rgb, dest, quality=95):
    "Write uint8 RGB to `dest` atomically; the format follows the suffix."
    dest = Path(dest)
    img = Image.fromarray(np.asarray(rgb, dtype=np.uint8))
    fmt = Image.registered_extensions().get(dest.suffix.lower())
    if fmt is None:
        raise BadInputError(dest, f'unknown image format {dest.suffix!r} for output')
    kwargs = {'quality': quality} if fmt in ('JPEG', 'WEBP') else {}
    with atomic_path(dest) as tmp:
        img.save(tmp, format=fmt, **kwargs)
    return dest
