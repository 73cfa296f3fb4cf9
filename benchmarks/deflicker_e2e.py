"""The deflicker bench through the real command: a colour film's chroma disturbed per frame (as in
deflicker_bench.py) is written losslessly, `python -m render deflicker --lossless` stabilises it, and the
output is decoded and measured against the original (CDC, warp error, PSNR), checking every Y plane bit for bit.

    python benchmarks/deflicker_e2e.py FILM [--strength S] [--work /tmp]
"""
import argparse
import subprocess
import sys
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from deflicker_bench import _rgb, _split  # noqa: E402

from deoldify_like.flicker import ChromaDisturbance  # noqa: E402
from deoldify_like.film_metrics import CDCMeter, WarpErrorMeter  # noqa: E402
from deoldify_like.metrics import psnr  # noqa: E402
from deoldify_like.two_way import STRENGTH  # noqa: E402  (deflicker's default: the two-way stabiliser)


def write_disturbed(src, dest, seed=0):
    disturb = ChromaDisturbance(seed)
    with av.open(str(src)) as c, av.open(str(dest), 'w') as o:
        vs = c.streams.video[0]
        s = o.add_stream('libx264', rate=vs.average_rate, options={'qp': '0', 'bf': '0', 'preset': 'veryfast'})
        s.width, s.height, s.pix_fmt, s.time_base = vs.codec_context.width, vs.codec_context.height, 'yuv420p', vs.time_base
        for i, f in enumerate(c.decode(vs)):
            y, u, v = _split(f.to_ndarray(format='yuv420p'), f.height)
            du, dv = disturb(i, u, v)
            nf = av.VideoFrame.from_ndarray(np.concatenate([y, du.reshape(-1, y.shape[1]), dv.reshape(-1, y.shape[1])]),
                                            format='yuv420p')
            nf.pts, nf.time_base = f.pts, f.time_base
            o.mux(s.encode(nf))
        o.mux(s.encode(None))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('film')
    ap.add_argument('--strength', type=float, default=STRENGTH)
    ap.add_argument('--work', default='/tmp')
    a = ap.parse_args(argv)
    name = Path(a.film).stem
    disturbed, out = Path(a.work) / f'{name}.disturbed.mkv', Path(a.work) / f'{name}.deflickered.mkv'
    write_disturbed(a.film, disturbed)
    subprocess.run([sys.executable, '-m', 'render', 'deflicker', str(disturbed), '--out', str(out), '--lossless',
                    '--overwrite', '--strength', str(a.strength)], check=True)
    cdc, warp, ps = CDCMeter(), WarpErrorMeter(2), []
    with av.open(str(a.film)) as ca, av.open(str(out)) as cb:
        for fa, fb in zip(ca.decode(video=0), cb.decode(video=0)):
            ya, yb = fa.to_ndarray(format='yuv420p'), fb.to_ndarray(format='yuv420p')
            assert np.array_equal(ya[:fa.height], yb[:fb.height]), 'luminance changed'
            ra, rb = _rgb(*_split(ya, fa.height)), _rgb(*_split(yb, fb.height))
            cdc.add(rb)
            warp.add(ya[:fa.height], [rb, ra])
            ps.append(psnr(rb, ra))
    print(f'{name}: {len(ps)} frames, Y identical; CDC {cdc.value:.5f}, warp error {warp.values[0]:.6f} '
          f'(original {warp.values[1]:.6f}), PSNR {np.mean(ps):.3f} dB')


if __name__ == '__main__':
    main(sys.argv[1:])
