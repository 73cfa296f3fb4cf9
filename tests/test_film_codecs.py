"""Film codecs, parts of films and web copies: FFV1 gives back the model's frames bit for bit, ProRes 422 HQ
and the small-copy codecs keep size, rate, frames and audio, every codec resumes, `--start/--duration` cut on
exact frames with the audio cut to the same span, the web copy of an odd-sized film plays in Chromium, and an
NVENC codec on a machine without one is one clear line."""
import json
import re
import shutil
import subprocess
import time
from fractions import Fraction

import av
import numpy as np
import pytest

from deoldify_like.colour import recombine_luminance, rgb_to_gray
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.cli_support import run_command
from deoldify_like.video import iter_frames, probe_video
from render.cli import render as render_command
from deoldify_like.inference import Colorizer
from render.film import codecs, parse_time, render_film, web_path, work_dir
from render.sweep import film_frame_luma
from render_helpers import decoded_frames, make_film, save_tiny_model

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
TRAFFIC_RATE = Fraction(30000, 1001)


def render(inputs, **options):
    "The render command as on the command line (exit code; one-line errors on stderr)."
    argv = list(inputs)
    for name, value in options.items():
        if value is True:
            argv.append(f"--{name.replace('_', '-')}")
        elif value not in (None, False):
            argv += [f"--{name.replace('_', '-')}", str(value)]
    return run_command(render_command, argv, 'deoldify-like render')


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.safetensors')


@pytest.fixture(scope='module')
def colorizer(model_path):
    # fp32 so that recomputing a batch gives the same numbers the render got
    return Colorizer.from_file(model_path, render_factor=2, device='cpu', bs=2, precision='fp32')


def model_frames(colorizer, src, render_factor, indices, bs=2):
    """The colour frames the model makes of frames `indices` of `src` (decoded from the start, independently of
    the film path), in batches of `bs` consecutive indices as the film path batches them."""
    wanted, lumas = set(indices), {}
    with av.open(str(src)) as c:
        for i, frame in enumerate(c.decode(video=0)):
            if i > max(wanted):
                break
            if i in wanted:
                lumas[i] = frame.to_ndarray(format='gray')
    out = []
    for k in range(0, len(indices), bs):
        batch = [lumas[i] for i in indices[k:k + bs]]
        out += [recombine_luminance(luma, pred) for luma, pred in zip(batch, colorizer.predict(batch, render_factor))]
    return out


def audio_seconds(path):
    "Decoded audio length in seconds, and the first audio frame's time."
    with av.open(str(path)) as c:
        frames = list(c.decode(audio=0))
    return sum(f.samples for f in frames) / frames[0].sample_rate, float(frames[0].pts * frames[0].time_base)


def test_ffv1_master_is_bit_identical_to_the_model_frames(tmp_path, colorizer, shared_data):
    src = shared_data / 'video' / 'slow_traffic_small.mp4'
    out = tmp_path / 'traffic.mkv'
    assert render_film(colorizer, src, out, 8, codec='ffv1', limit=12, segment_frames=8) == 12
    info = probe_video(out)
    assert (info.codec, info.width, info.height, info.fps, info.frames, info.audio_codec) == \
        ('ffv1', 640, 360, TRAFFIC_RATE, 12, 'aac')
    decoded = [rgb for _, rgb in decoded_frames(out)]
    expected = model_frames(colorizer, src, 8, list(range(12)))
    assert len(decoded) == len(expected) == 12
    for got, want in zip(decoded, expected):
        assert np.array_equal(got, want)


def test_prores_master_is_422_hq_in_mov(tmp_path, colorizer, shared_data):
    src = shared_data / 'video' / 'slow_traffic_small.mp4'
    out = tmp_path / 'out' / 'traffic.mov'
    assert render_film(colorizer, src, out, 8, codec='prores', limit=6) == 6
    info = probe_video(out)
    assert (info.codec, info.width, info.height, info.fps, info.frames, info.audio_codec) == \
        ('prores', 640, 360, TRAFFIC_RATE, 6, 'aac')
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.profile == 'HQ'
        assert c.streams.video[0].codec_context.pix_fmt == 'yuv422p10le'


@pytest.mark.parametrize('codec,suffix,name', [('h265', '.mp4', 'hevc'), ('av1', '.mp4', 'libdav1d'),
                                               ('ffv1', '.mkv', 'ffv1'), ('prores', '.mov', 'prores')])
def test_every_codec_keeps_the_film_and_resumes(tmp_path, colorizer, codec, suffix, name):
    src = make_film(tmp_path / 'in.mp4', frames=10, width=64, height=48)
    whole = tmp_path / 'whole' / f'in{suffix}'
    render_film(colorizer, src, whole, 2, codec=codec, segment_frames=4)
    a, b = probe_video(src), probe_video(whole)
    assert (b.codec, b.width, b.height, b.fps, b.frames, b.audio_codec) == (name, 64, 48, a.fps, 10, 'aac')
    if suffix != '.mkv':  # Matroska keeps milliseconds
        assert np.allclose([t for t, _ in decoded_frames(whole)], [t for t, _ in decoded_frames(src)], atol=1e-6)

    class Stop(Exception):
        pass

    out = tmp_path / 'resumed' / f'in{suffix}'

    def stop(done):
        "Interrupt once the first segment is on disk (the writer thread finishes it in its own time)."
        if done >= 6:
            progress = work_dir(out) / 'progress.json'
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                    progress.is_file() and json.loads(progress.read_text())['segments_done'] >= 1):
                time.sleep(0.05)
            raise Stop

    with pytest.raises(Stop):
        render_film(colorizer, src, out, 2, codec=codec, segment_frames=4, hook=stop)
    seen = []
    render_film(colorizer, src, out, 2, codec=codec, segment_frames=4, resume=True, hook=seen.append)
    assert seen[0] == 6  # the first segment was kept
    for (ta, fa), (tb, fb) in zip(decoded_frames(whole), decoded_frames(out), strict=True):
        assert ta == tb and np.array_equal(fa, fb)


def test_start_and_duration_cut_exact_frames_and_audio(tmp_path, colorizer, shared_data):
    "--start 10 --duration 5 at 30000/1001 is frames 300..449: 150 frames, audio 5.005 s within one AAC frame."
    src = shared_data / 'video' / 'slow_traffic_small.mp4'
    out = tmp_path / 'part.mkv'
    assert render_film(colorizer, src, out, 2, codec='ffv1', start='10', duration='5') == 150
    info = probe_video(out)
    assert (info.frames, info.fps, info.width, info.audio_codec) == (150, TRAFFIC_RATE, 640, 'aac')
    decoded = decoded_frames(out)
    assert decoded[0][0] == 0  # a part starts at 0
    assert len(decoded) == 150
    # the first and the last batch of two, recomputed: exactly frames 300, 301 and 448, 449 of the film
    expected = model_frames(colorizer, src, 2, [300, 301, 448, 449])
    for (_, got), want in zip(decoded[:2] + decoded[-2:], expected, strict=True):
        assert np.array_equal(got, want)
    seconds, first = audio_seconds(out)
    with av.open(str(src)) as c:
        one_audio_frame = c.streams.audio[0].codec_context.frame_size / c.streams.audio[0].rate
    assert abs(seconds - 150 / TRAFFIC_RATE) <= one_audio_frame
    assert 0 <= first <= one_audio_frame


def test_frames_and_clock_times_in_h264(tmp_path, colorizer):
    src = make_film(tmp_path / 'in.mp4', frames=40, width=64, height=48, rate=Fraction(25))
    out = tmp_path / 'out' / 'in.mp4'
    assert render_film(colorizer, src, out, 2, start='00:00:00.4', limit=7) == 7
    times = [t for t, _ in decoded_frames(out)]
    assert np.allclose(times, np.arange(7) / 25)  # frames 10..16, moved to start at 0
    got = [rgb_to_gray(rgb) for _, rgb in decoded_frames(out)]
    want = [rgb_to_gray(rgb) for i, rgb in iter_frames(src) if 10 <= i < 17]
    assert all(np.abs(g.astype(int) - w).mean() < 4 for g, w in zip(got, want))
    seconds, _ = audio_seconds(out)
    assert abs(seconds - 7 / 25) <= 1024 / 44100


def test_times_parse_and_bad_spans_are_one_line(tmp_path, colorizer):
    assert parse_time('12.5') == Fraction(25, 2) and parse_time('1:02.5') == Fraction(125, 2)
    assert parse_time('01:00:10') == 3610
    for bad in ('ten', '-3', '1:75'):
        with pytest.raises(DeoldifyLikeError, match='--start'):
            parse_time(bad)
    src = make_film(tmp_path / 'in.mp4', frames=10, audio=False)
    with pytest.raises(DeoldifyLikeError, match=r'in\.mp4: nothing to render from 5 s'):
        render_film(colorizer, src, tmp_path / 'out' / 'in.mp4', 2, start=5)


def test_sweep_at_picks_the_frame_shown_at_that_time(tmp_path):
    src = make_film(tmp_path / 'in.mp4', frames=30, rate=Fraction(25), audio=False)
    frames = {i: rgb_to_gray(rgb) for i, rgb in iter_frames(src)}
    assert np.array_equal(film_frame_luma(src, at=Fraction(1, 2)), frames[12])  # frame 12 starts at 0.48 s
    assert np.array_equal(film_frame_luma(src, at=Fraction(12, 25)), frames[12])


def test_nvenc_without_a_gpu_is_one_line_and_writes_nothing(tmp_path, model_path, capsys):
    if codecs._opens('h264_nvenc') is None:
        pytest.skip('NVENC opens on this machine')
    assert 'h264_nvenc' not in codecs.available() and 'ffv1' in codecs.available()
    src = make_film(tmp_path / 'in.mp4', frames=4, audio=False)
    out = tmp_path / 'out'
    assert render([str(src)], model=str(model_path), out=str(out), codec='h264_nvenc') == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and 'h264_nvenc' in err[0] and 'NVIDIA GPU' in err[0]
    assert not out.exists()


def test_codec_flags_are_checked(tmp_path, model_path, capsys):
    src = make_film(tmp_path / 'in.mp4', frames=4, audio=False)
    assert render([str(src)], model=str(model_path), out=str(tmp_path / 'o'), codec='ffv1', crf=10) == 2
    assert '--crf does not apply to --codec ffv1' in capsys.readouterr().err
    assert codecs.output_suffix('a.mp4', 'ffv1') == '.mkv' and codecs.output_suffix('a.mkv', 'ffv1') == '.mkv'
    assert codecs.output_suffix('a.mp4', 'prores') == '.mov' and codecs.output_suffix('a.webm', 'h264') == '.mp4'
    assert codecs.output_suffix('a.mov', 'h265') == '.mov' and codecs.output_suffix('a.flv') == '.mkv'


PROBE = """<!doctype html><html><body><video id="v" muted autoplay src="%s"></video><script>
const v = document.getElementById('v'); let done = false;
const report = () => { if (done) return; done = true; document.body.setAttribute('data-check', JSON.stringify(
  {ready: v.readyState, error: v.error ? v.error.code : null, width: v.videoWidth, height: v.videoHeight})); };
v.addEventListener('canplaythrough', report); v.addEventListener('error', report); setTimeout(report, 8000);
</script></body></html>"""


def test_web_copy_of_an_odd_sized_film_is_even_and_plays_in_chromium(tmp_path, model_path):
    src = make_film(tmp_path / 'odd.mp4', frames=24, width=65, height=49)
    out = tmp_path / 'out'
    assert render([str(src)], model=str(model_path), out=str(out), render_factor=2, codec='ffv1', web=True) == 0
    master, web = out / 'odd.mkv', web_path(out / 'odd.mkv')
    assert web.name == 'odd.web.mp4'
    m, w = probe_video(master), probe_video(web)
    assert (m.width, m.height, m.frames) == (65, 49, 24)
    assert (w.codec, w.width, w.height, w.fps, w.frames, w.audio_codec) == ('h264', 66, 50, m.fps, 24, 'aac')
    with av.open(str(web)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == 'yuv420p'
    data = web.read_bytes()
    assert data.index(b'moov') < data.index(b'mdat')  # faststart: the index first
    # the master's odd-sized picture is inside the web copy (the extra row and column repeat the edge)
    (_, a), (_, b) = decoded_frames(master)[3], decoded_frames(web)[3]
    assert np.abs(b[:49, :65].astype(int) - a).mean() < 3 and np.abs(b[49].astype(int) - b[48]).mean() < 3

    # asking again only adds a missing web copy; the master is not rendered again
    web.unlink()
    before = master.stat().st_mtime_ns
    assert render([str(src)], model=str(model_path), out=str(out), codec='ffv1', web=True) == 0
    assert web.is_file() and master.stat().st_mtime_ns == before

    if not CHROMIUM:
        pytest.skip('no Chromium installed (apt-get install chromium)')
    page = out / 'play.html'
    page.write_text(PROBE % web.name)
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             '--autoplay-policy=no-user-gesture-required', f'--user-data-dir={tmp_path / "profile"}',
             '--virtual-time-budget=10000']
    dom = subprocess.run([CHROMIUM, *flags, '--dump-dom', page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = json.loads(re.search(r'data-check="([^"]*)"', dom).group(1).replace('&quot;', '"'))
    assert found == {'ready': 4, 'error': None, 'width': 66, 'height': 50}


def test_bench_rows_per_codec(tmp_path, colorizer):
    from render.bench import codec_rows
    src = make_film(tmp_path / 'in.mp4', frames=6, width=64, height=48)
    rows = codec_rows(colorizer, src, 2, 4, ['h264', 'ffv1'], tmp_path)
    assert [(r['codec'], r['container'], r['frames'], r['lossless']) for r in rows] == \
        [('h264', '.mp4', 4, False), ('ffv1', '.mkv', 4, True)]
    assert 0 < rows[0]['file_bytes'] < rows[1]['file_bytes']
    assert all(r['end_to_end_fps'] > 0 and r['encode_only_fps'] > 0 for r in rows)
    assert not list(tmp_path.glob('codec_*')) and not list(tmp_path.glob('encode_*'))  # the films are removed once measured


def test_command_renders_a_part_and_checks_its_flags(tmp_path, model_path, capsys):
    src = make_film(tmp_path / 'in.mp4', frames=20, width=64, height=48, rate=Fraction(25))
    out = tmp_path / 'out'
    assert render([str(src)], model=str(model_path), out=str(out), render_factor=2, start='0.4', frames=3) == 0
    assert probe_video(out / 'in.mp4').frames == 3
    assert render([str(src)], model=str(model_path), out=str(tmp_path / 'o2'), start='soon') == 2
    assert render([str(src)], model=str(model_path), out=str(tmp_path / 'o2'), duration='1', frames=3) == 2
    assert render([str(src)], model=str(model_path), out=str(tmp_path / 'o2'), at='1') == 2
    err = capsys.readouterr().err
    assert '--start soon: not a time' in err and 'not both' in err and 'give --sweep too' in err
    assert not (tmp_path / 'o2').exists()
