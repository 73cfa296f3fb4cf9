"""Which crf keeps a film through `deflicker` at >= 38 dB: `deflicker_film` on each undisturbed original,
written lossless, then those planes encoded at each crf with the film codecs' own settings (H.264's, or
VP9's with --encoder libvpx-vp9; --presets for x264's speed presets); mean RGB PSNR per frame against the
original, its minimum, and kB a frame.

    python benchmarks/deflicker_crf.py FILM... --crfs 8,10,12,14,17 [--encoder libvpx-vp9] [--presets veryfast,fast]
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
from render.film.codecs import CODECS  # noqa: E402

OPTIONS = {CODECS[name].encoder: {k: v for k, v in CODECS[name].options.items() if k != 'crf'} for name in ('h264', 'vp9')}


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
    ap.add_argument('--presets', default='', help="x264 presets to compare, P,... (default: the codec's own)")
    args = ap.parse_args()
    for src in args.films:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / 'lossless.mkv'
            n, _, secs = deflicker_film(src, out, lossless=True)
            ref, planes = decode(str(src), 'rgb24'), decode(str(out), None)
            kept = np.mean([psnr(a, b) for a, b in zip(decode(str(out), 'rgb24'), ref)])
        print(f'{Path(src).name}: {n} frames, {n / secs:.1f} frames/s, lossless {kept:.2f} dB', flush=True)
        h, w = ref[0].shape[:2]
        presets = args.presets.split(',') if args.presets else [None]
        for preset, crf in [(p, int(c)) for p in presets for c in args.crfs.split(',')]:
            options = {**OPTIONS[args.encoder], 'crf': str(crf), **({'preset': preset} if preset else {})}
            buf = io.BytesIO()
            with av.open(buf, 'w', format='webm' if 'vp9' in args.encoder else 'mp4') as o:
                s = o.add_stream(args.encoder, rate=25, options=options)
                s.width, s.height, s.pix_fmt = w, h, 'yuv420p'
                for i, p in enumerate(planes):
                    f = av.VideoFrame.from_ndarray(p, format='yuv420p')
                    f.pts = i
                    o.mux(s.encode(f))
                o.mux(s.encode(None))
            size = buf.tell()
            buf.seek(0)
            got = [psnr(a, b) for a, b in zip(decode(buf, 'rgb24'), ref)]
            print(f'  {preset or options.get("preset", "")} crf {crf}: {np.mean(got):.2f} dB (min {min(got):.2f}), '
                  f'{size / len(planes) / 1e3:.1f} kB/frame', flush=True)


if __name__ == '__main__':
    main()
