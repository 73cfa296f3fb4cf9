"""Colorize photos with an exported ONNX file and nothing of deoldify_like: only onnxruntime, numpy,
Pillow and OpenCV. A port to another language does the same steps.

    deoldify-like export --model MODEL --format onnx --out model.onnx --render-factor 21
    python examples/onnx_colorize.py model.onnx PHOTO... --out DIR

Steps (the file's metadata 'deoldify_like.colour_handling' says the same):
1. the photo's luminance Y = 0.299 R + 0.587 G + 0.114 B (uint8), resized to the model's square
   (area filter when shrinking, bicubic when enlarging);
2. the model: gray N x 1 x S x S in 0..1 -> RGB N x 3 x S x S in 0..1;
3. the prediction resized back to the photo (bicubic), converted to YUV BT.601, its Y replaced by the
   photo's own luminance, back to RGB.
"""
import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps


def load_rgb(path):
    "Upright RGB uint8 (transparency flattened over white)."
    with Image.open(path) as img:
        img = ImageOps.exif_transpose(img)
        if img.mode in ('RGBA', 'LA', 'PA') or 'transparency' in img.info:
            rgba = img.convert('RGBA')
            white = Image.new('RGBA', rgba.size, (255, 255, 255, 255))
            return np.array(Image.alpha_composite(white, rgba).convert('RGB'))
        return np.array(img.convert('RGB'))


def square_side(session):
    shape = session.get_inputs()[0].shape
    if isinstance(shape[2], int):
        return shape[2]
    meta = session.get_modelmeta().custom_metadata_map
    return int(meta['deoldify_like.render_factor']) * 16


def colorize(session, rgb, side):
    luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    h, w = luma.shape
    square = cv2.resize(luma, (side, side), interpolation=cv2.INTER_AREA if min(h, w) > side else cv2.INTER_CUBIC)
    x = (square.astype(np.float32) / 255.0)[None, None]
    out = session.run(None, {session.get_inputs()[0].name: x})[0][0]
    pred = np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    pred = cv2.resize(pred, (w, h), interpolation=cv2.INTER_CUBIC)
    yuv = cv2.cvtColor(pred.astype(np.float32) / 255.0, cv2.COLOR_RGB2YUV)
    yuv[..., 0] = luma.astype(np.float32) / 255.0
    return np.clip(np.rint(cv2.cvtColor(yuv, cv2.COLOR_YUV2RGB) * 255.0), 0, 255).astype(np.uint8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('model', help='ONNX file written by `deoldify-like export --format onnx`')
    p.add_argument('photos', nargs='+')
    p.add_argument('--out', required=True, help='output folder (same file names)')
    a = p.parse_args(argv)
    session = ort.InferenceSession(a.model, providers=['CPUExecutionProvider'])
    side = square_side(session)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    for photo in a.photos:
        try:
            rgb = colorize(session, load_rgb(photo), side)
        except (OSError, ValueError, cv2.error) as e:
            print(f"{photo}: {e}", file=sys.stderr)
            failed += 1
            continue
        dest = out / Path(photo).name
        jpeg = dest.suffix.lower() in ('.jpg', '.jpeg')
        Image.fromarray(rgb).save(dest, **({'quality': 95, 'subsampling': 0} if jpeg else {}))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
