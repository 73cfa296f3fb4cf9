"""`prepare`: a folder of colour training pictures from image files, folders (recursive) and films (one
frame of every N), each scaled so its longer side is at most --max-size and written as JPEG.

Colourless sources (gray, sepia) teach nothing about colour: skipped with a note. A file that cannot be
read gets one line and the rest goes on; the exit code is 1 when any failed.
"""
import sys
from pathlib import Path
from typing import Annotated

import cv2

from deoldify_like.errors import BadInputError, DeoldifyLikeError
from deoldify_like.images import is_colourless, is_image_path, load_image, save_image
from deoldify_like.progress import progress
from deoldify_like.video import is_video_path, iter_frames


def fit_longer_side(rgb, max_size):
    h, w = rgb.shape[:2]
    if not max_size or max(h, w) <= max_size:
        return rgb
    scale = max_size / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def collect_sources(srcs):
    "(path, name stem for the output) for every image and film named or found in folders, in order."
    out = []
    for src in map(Path, srcs):
        if src.is_dir():
            for p in sorted(src.rglob('*')):
                if p.is_file() and not p.name.startswith('.') and (is_image_path(p) or is_video_path(p)):
                    rel = p.relative_to(src).with_suffix('')
                    out.append((p, '__'.join((src.name, *rel.parts))))
        else:
            out.append((src, src.stem))  # missing or unreadable files are reported when read
    return out


def prepare(
    src: Annotated[str, "image files, folders of them (searched recursively) and films", dict(nargs="+")],
    out: str = None,  # output folder of colour training pictures
    every: int = 10,  # from films, keep one frame of every N
    max_size: int = 512,  # scale pictures so the longer side is at most this many pixels (0: keep)
    quality: int = 95,  # JPEG quality of the written pictures
):
    "Make a colour training set from photos, folders and films."
    if not src or not out:
        raise DeoldifyLikeError("prepare needs at least one SRC and --out DIR")
    if every < 1:
        raise DeoldifyLikeError(f"--every must be 1 or more, got {every}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sources = collect_sources([src] if isinstance(src, str) else src)
    written = {'photos': 0, 'frames': 0}
    skipped, failed = [], []

    def write(rgb, name):
        save_image(fit_longer_side(rgb, max_size), out / f'{name}.jpg', quality=quality)

    for path, name in progress(sources, total=len(sources)):
        try:
            if is_video_path(path):
                n_kept = n_gray = 0
                for i, rgb in iter_frames(path, every=every):
                    if is_colourless(rgb):
                        n_gray += 1
                        continue
                    write(rgb, f'{name}_f{i:06d}')
                    n_kept += 1
                written['frames'] += n_kept
                if n_gray and not n_kept:
                    skipped.append(path)
                    print(f"{path}: skipped, a colourless film (gray or one tint): nothing to learn colour from")
                elif n_gray:
                    print(f"{path}: {n_gray} colourless frame(s) skipped")
            else:
                img = load_image(path)
                if img.is_gray:
                    skipped.append(path)
                    print(f"{path}: skipped, colourless (gray or one tint): nothing to learn colour from")
                    continue
                write(img.rgb, name)
                written['photos'] += 1
        except BadInputError as e:
            failed.append(path)
            print(f"{e}", file=sys.stderr)
    total = written['photos'] + written['frames']
    print(f"prepare: {total} colour pictures in {out} ({written['photos']} photos, {written['frames']} film frames); "
          f"{len(skipped)} colourless source(s) skipped, {len(failed)} failed")
    return 1 if failed else 0
