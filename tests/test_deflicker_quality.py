"""`deflicker` writes a film as well as it came (`codecs.codec_for_input`): a lossless input (FFV1, H.264 or
H.265 lossless) gives a lossless output whose luminance equals the input's bit for bit, 4:4:4 stays 4:4:4,
ProRes stays ProRes, `--codec`/`--crf` win; and `deflicker --brightness` removes brightness flicker from a real
clip while a change of light and a cut survive."""
import av
import numpy as np
import pytest

from deoldify_like.cli_support import run_command
from deoldify_like.flicker import BrightnessDisturbance
from deoldify_like.film_metrics import brightness_flicker
from render.deflicker import deflicker, frame_planes
from render.film import codecs
from render_helpers import make_film


def _write(path, frames, encoder, pix_fmt, options, rate=25):
    "A film (no audio) of these uint8 RGB frames, or (Y, U, V) planes when `pix_fmt` is planar YUV and they are tuples."
    h, w = (frames[0][0] if isinstance(frames[0], tuple) else frames[0]).shape[:2]
    with av.open(str(path), 'w') as c:
        s = c.add_stream(encoder, rate=rate, options=options)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        for i, f in enumerate(frames):
            if isinstance(f, tuple):
                vf = av.VideoFrame.from_ndarray(np.concatenate([f[0], f[1].reshape(-1, w), f[2].reshape(-1, w)]),
                                                format=pix_fmt)
            else:
                vf = av.VideoFrame.from_ndarray(f, format='rgb24').reformat(format=pix_fmt)
            vf.pts = i
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    return path


def _planes(path):
    with av.open(str(path)) as c:
        return [[p.copy() for p in frame_planes(f)] for f in c.decode(video=0)]


def _head(path, n, fmt='yuv420p'):
    with av.open(str(path)) as c:
        return [[p.copy() for p in frame_planes(f.reformat(format=fmt))] for _, f in zip(range(n), c.decode(video=0))]


def _run(*argv):
    return run_command(deflicker, [str(a) for a in argv], 'deflicker')


def _disturbed(shared_data, n=12):
    "The first `n` frames of bikes.mp4, cropped, with the chroma shifted a little differently in every frame."
    rng = np.random.default_rng(0)
    return [(y[:128, :192], np.clip(u[:64, :96].astype(int) + rng.integers(-6, 7), 0, 255).astype(np.uint8),
             np.clip(v[:64, :96].astype(int) + rng.integers(-6, 7), 0, 255).astype(np.uint8))
            for y, u, v in _head(shared_data / 'video' / 'bikes.mp4', n)]


@pytest.mark.parametrize('encoder, options, suffix, kind', [
    ('ffv1', {}, '.mkv', 'ffv1'),
    ('libx264', {'qp': '0', 'bf': '0', 'preset': 'veryfast'}, '.mp4', 'h264'),
    ('libx265', {'x265-params': 'lossless=1:bframes=0:log-level=error', 'preset': 'veryfast'}, '.mkv', 'hevc')])
def test_a_lossless_input_gives_a_lossless_output_with_the_same_luminance(tmp_path, shared_data, encoder, options,
                                                                         suffix, kind):
    frames = _disturbed(shared_data)
    src = _write(tmp_path / f'in{suffix}', frames, encoder, 'yuv420p', options)
    assert codecs.Source.probe(src).lossless
    out = tmp_path / f'out{suffix}'
    assert _run(src, '--out', out) == 0  # no --lossless: the input's own quality decides
    got = codecs.Source.probe(out)
    assert got.lossless and got.codec == ('ffv1' if kind == 'ffv1' else 'h264')  # H.265 too: the container's default, lossless
    a, b = _planes(src), _planes(out)
    assert len(a) == len(b) == len(frames)
    assert all(np.array_equal(pa[0], pb[0]) for pa, pb in zip(a, b))  # Y: bit for bit
    assert any(not np.array_equal(pa[1], pb[1]) for pa, pb in zip(a, b))  # the chroma was stabilised


def test_a_lossy_input_stays_lossy_and_4_4_4_stays_4_4_4(tmp_path):
    src = make_film(tmp_path / 'in.mp4', frames=8, width=64, height=48, audio=False)
    out = tmp_path / 'out.mp4'
    assert _run(src, '--out', out) == 0
    assert codecs.Source.probe(out) == codecs.Source('h264', 'yuv420p', False)
    rgb = [np.roll(np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3)), 3 * i, 1) for i in range(8)]
    for frame in rgb:
        frame[..., 1] //= 2
    src444 = _write(tmp_path / 'in444.mp4', rgb, 'libx264', 'yuv444p', {'crf': '17', 'bf': '0'})
    out444 = tmp_path / 'out444.mp4'
    assert _run(src444, '--out', out444) == 0
    assert codecs.Source.probe(out444) == codecs.Source('h264', 'yuv444p', False)


def test_the_codec_rule():
    lossless_h264, lossy = codecs.Source('h264', 'yuv420p', True), codecs.Source('h264', 'yuv420p', False)
    assert codecs.codec_for_input(lossless_h264, '.mp4').options['qp'] == '0'
    assert codecs.codec_for_input(lossless_h264, '.webm').options['lossless'] == '1'
    assert codecs.codec_for_input(codecs.Source('ffv1', 'yuv420p', True), '.mkv').name == 'ffv1'
    assert codecs.codec_for_input(codecs.Source('ffv1', 'yuv420p', True), '.mp4').options['qp'] == '0'
    assert codecs.codec_for_input(codecs.Source('prores', 'yuv422p10le', False), '.mov').name == 'prores'
    assert codecs.codec_for_input(codecs.Source('prores', 'yuva444p12le', False), '.mov').pix_fmt == 'yuv444p10le'
    assert codecs.codec_for_input(codecs.Source('h264', 'gray', False), '.mp4').pix_fmt == 'yuv420p'  # no colour: 4:2:0
    default = codecs.codec_for_input(lossy, '.mp4')
    assert default is codecs.CODECS['h264'] and not default.lossless
    assert codecs.codec_for_input(lossless_h264, '.mp4', crf=20).options['crf'] == '20'  # --crf wins
    assert codecs.codec_for_input(lossless_h264, '.mp4', codec='h265').name == 'h265'  # --codec wins
    full = codecs.codec_for_input(codecs.Source('h264', 'yuv444p', False), '.mp4', codec='h265')
    assert full.settings(64, 48)[0] == 'yuv444p'


def test_brightness_flicker_goes_and_a_change_of_light_and_a_cut_stay(tmp_path, shared_data):
    """bikes.mp4 (cropped) with the brightness disturbance, at 0.4 of its light until frame 20 and all of it from
    there (a light switched on), then a cut to slow_traffic_small.mp4."""
    disturb = BrightnessDisturbance(seed=0, regions=1)
    bikes = _head(shared_data / 'video' / 'bikes.mp4', 30)
    traffic = [(y[:272], u[:136], v[:136]) for y, u, v in _head(shared_data / 'video' / 'slow_traffic_small.mp4', 10)]
    lit = lambda y, k: np.clip(np.rint(y * k), 0, 255).astype(np.uint8)  # noqa: E731
    clean = [(lit(y, 0.4 if i < 20 else 1.0) if i < 30 else y, u, v) for i, (y, u, v) in enumerate(bikes + traffic)]
    frames = [(disturb(i, y), u, v) for i, (y, u, v) in enumerate(clean)]
    src = _write(tmp_path / 'in.mkv', frames, 'ffv1', 'yuv420p', {})
    out = tmp_path / 'out.mkv'
    assert _run(src, '--out', out, '--brightness') == 0
    got = _planes(out)
    means = lambda fs: np.array([float(f[0].mean()) for f in fs])  # noqa: E731
    m_in, m_out, m_clean = means(frames), means(got), means(clean)
    assert brightness_flicker(m_out) < 0.5 * brightness_flicker(m_in)
    step = lambda m: m[20:30].mean() / m[10:20].mean()  # noqa: E731
    assert abs(step(m_out) / step(m_clean) - 1) < 0.1  # the light switched on: x2.5, kept
    assert abs(m_out[30:].mean() - m_clean[30:].mean()) < 0.1 * m_clean[30:].mean()  # the shot after the cut keeps its own light
    assert np.mean([np.abs(g[0].astype(float) - c[0]).mean() for g, c in zip(got, clean)]) < \
        0.5 * np.mean([np.abs(f[0].astype(float) - c[0]).mean() for f, c in zip(frames, clean)])


def _swing(means, period):
    "Amplitude (levels) of the sine of this period in the frame means, beside a straight line."
    t = np.arange(len(means))
    a = np.stack([np.ones(len(t)), t, np.sin(2 * np.pi * t / period), np.cos(2 * np.pi * t / period)], 1)
    c = np.linalg.lstsq(a, np.asarray(means, float), rcond=None)[0]
    return float(np.hypot(c[2], c[3]))


def test_brightness_window_sets_how_slow_a_flicker_is_removed(tmp_path, shared_data, capsys):
    # a slow swing of exposure (±12 %, period 12 frames): the default window (24 frames each side) takes it out,
    # a window of 2 frames follows it as a real change of light and keeps it
    bikes = [(y[:136, :240], u[:68, :120], v[:68, :120]) for y, u, v in _head(shared_data / 'video' / 'bikes.mp4', 60)]
    swing = [(np.clip(np.rint(y * (1 + 0.12 * np.sin(2 * np.pi * i / 12))), 0, 255).astype(np.uint8), u, v)
             for i, (y, u, v) in enumerate(bikes)]
    src = _write(tmp_path / 'swing.mkv', swing, 'ffv1', 'yuv420p', {})
    default, short = tmp_path / 'default.mkv', tmp_path / 'short.mkv'
    assert _run(src, '--out', default, '--brightness') == 0
    assert _run(src, '--out', short, '--brightness', '--brightness-window', 2) == 0
    means = lambda path: [float(p[0].mean()) for p in _planes(path)]  # noqa: E731
    before = _swing([float(p[0].mean()) for p in swing], 12)
    assert _swing(means(default), 12) < 0.3 * before  # measured 0.20
    assert _swing(means(short), 12) > 0.8 * before  # measured 0.95
    capsys.readouterr()
    bad = tmp_path / 'bad.mkv'
    assert _run(src, '--out', bad, '--brightness-window', 6) == 1  # without --brightness
    assert _run(src, '--out', bad, '--brightness', '--brightness-window', 0) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all('--brightness-window' in line for line in err)
    assert not bad.exists()
