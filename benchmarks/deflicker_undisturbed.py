"""`deflicker FILM --out OUT` with its defaults, and with --brightness, on undisturbed originals: the output's
codec (`codecs.Source`), frames/s of the whole command, and the mean RGB PSNR per frame against the original.

    python benchmarks/deflicker_undisturbed.py FILM...   (outputs in /tmp)
"""
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import av  # noqa: E402
import numpy as np  # noqa: E402
from deoldify_like.cli_support import run_command  # noqa: E402
from render.deflicker import deflicker  # noqa: E402
from render.film import codecs  # noqa: E402

WORK = '/tmp'


def rgbs(p):
    with av.open(str(p)) as c:
        return [f.to_ndarray(format='rgb24') for f in c.decode(video=0)]


def psnr(a, b):
    m = np.mean((a.astype(float) - b) ** 2)
    return 99 if m == 0 else 10 * np.log10(255 ** 2 / m)


for src in sys.argv[1:]:
    name = src.split('/')[-1]
    for extra in ([], ['--brightness']):
        out = f'{WORK}/undisturbed_{name}{"_b" if extra else ""}.mp4'
        t = time.perf_counter()
        assert run_command(deflicker, [src, '--out', out, '--overwrite', *extra], 'deflicker') == 0
        secs = time.perf_counter() - t
        a, b = rgbs(src), rgbs(out)
        print(name, ' '.join(extra) or 'default', codecs.Source.probe(out), f'{len(b)} frames {len(b) / secs:.1f} frames/s',
              'PSNR %.2f' % np.mean([psnr(x, y) for x, y in zip(a, b)]), flush=True)
