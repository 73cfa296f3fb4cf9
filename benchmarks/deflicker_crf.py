"""Which crf keeps a film through `deflicker` at >= 38 dB: `deflicker_film` on each undisturbed original,
written lossless, then those planes encoded at each crf (libx264 veryfast as H.264's default, or libvpx-vp9
as VP9's); mean RGB PSNR per frame against the original, its minimum, and kB a frame.

    python benchmarks/deflicker_crf.py FILM... --crfs 8,10,12,14,17 [--encoder libvpx-vp9]
"""
import argparse
import io
import sys
import tempfile
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from render.deflicker import deflicker_film  # noqa: E402

OPTIONS = {'libx264': {'preset': 'veryfast', 'bf': '0'},
           'libvpx-vp9': {'b': '0', 'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}}


def psnr(a, b):
    m = np.mean((a.astype(float) - b) ** 2)
    return 99.0 if m == 0 else 10 * np.log10(255 ** 2 / m)


def decode(path_or_buf, fmt):
    with av.open(path_or_buf) as c:
        return [f.to_ndarray(format=fmt) if fmt else f.to_ndarray() for f in c.decode(video=0)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('films', nargs='+')
    ap.add_argument('--crfs', default='8,10,12,14,17')
    ap.add_argument('--encoder', default='libx264', choices=list(OPTIONS))
    args = ap.parse_args()
    for src in args.films:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / 'lossless.mkv'
            n, _, secs = deflicker_film(src, out, lossless=True)
            ref, planes = decode(str(src), 'rgb24'), decode(str(out), None)
            kept = np.mean([psnr(a, b) for a, b in zip(decode(str(out), 'rgb24'), ref)])
        print(f'{Path(src).name}: {n} frames, {n / secs:.1f} frames/s, lossless {kept:.2f} dB', flush=True)
        h, w = ref[0].shape[:2]
        for crf in [int(c) for c in args.crfs.split(',')]:
            buf = io.BytesIO()
            with av.open(buf, 'w', format='webm' if 'vp9' in args.encoder else 'mp4') as o:
                s = o.add_stream(args.encoder, rate=25, options={'crf': str(crf), **OPTIONS[args.encoder]})
                s.width, s.height, s.pix_fmt = w, h, 'yuv420p'
                for i, p in enumerate(planes):
                    f = av.VideoFrame.from_ndarray(p, format='yuv420p')
                    f.pts = i
                    o.mux(s.encode(f))
                o.mux(s.encode(None))
            size = buf.tell()
            buf.seek(0)
            got = [psnr(a, b) for a, b in zip(decode(buf, 'rgb24'), ref)]
            print(f'  crf {crf}: {np.mean(got):.2f} dB (min {min(got):.2f}), {size / len(planes) / 1e3:.1f} kB/frame', flush=True)


if __name__ == '__main__':
    main()
