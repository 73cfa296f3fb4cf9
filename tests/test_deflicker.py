"""`deoldify-like deflicker` on short films written with PyAV, and `render --stabilize flow`: luminance kept
bit for bit (lossless encoding), size, rate, timestamps, frame count and audio kept in every container, a cut
restarts the stabiliser, and a resumed stabilised render equals an uninterrupted one."""
import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from deoldify_like.cli_support import run_command
from deoldify_like.flicker import ChromaDisturbance
from deoldify_like.stabilize import ChromaStabilizer
from deoldify_like.stabilizers import make_stabilizer
from deoldify_like.video import probe_video
from deoldify_like.inference import Colorizer
from render.deflicker import deflicker, deflicker_film, frame_planes
from render.film import render_film, work_dir
from render_helpers import decoded_frames, make_film, save_tiny_model


def _planes(path):
    with av.open(str(path)) as c:
        return [[p.copy() for p in frame_planes(f)] for f in c.decode(video=0)]


def _write_planes(path, frames, rate=Fraction(25)):
    "A lossless H.264 4:2:0 film (no audio) holding exactly these (Y, U, V) planes."
    h, w = frames[0][0].shape
    with av.open(str(path), 'w') as c:
        s = c.add_stream('libx264', rate=rate, options={'qp': '0', 'bf': '0', 'preset': 'veryfast'})
        s.width, s.height, s.pix_fmt = w, h, 'yuv420p'
        for i, (y, u, v) in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(np.concatenate([y, u.reshape(-1, w), v.reshape(-1, w)]), format='yuv420p')
            vf.pts, vf.time_base = i, 1 / rate
            c.mux(s.encode(vf))
        c.mux(s.encode(None))
    return path


def _scene(seed, frames, w=96, h=64, speed=2):
    "A textured scene panning `speed` px a frame with its own smooth colours, as yuv420p planes."
    rng = np.random.default_rng(seed)
    big = w + speed * frames
    y = cv2.normalize(cv2.GaussianBlur(rng.uniform(0, 255, (h, big)).astype(np.float32), (0, 0), 2), None, 30, 220,
                      cv2.NORM_MINMAX).astype(np.uint8)
    uv = [cv2.normalize(cv2.GaussianBlur(rng.uniform(0, 1, (h // 2, big // 2)).astype(np.float32), (0, 0), 6),
                        None, lo, hi, cv2.NORM_MINMAX).astype(np.uint8) for lo, hi in ((70, 190), (60, 200))]
    return [(y[:, k * speed:k * speed + w].copy(), uv[0][:, k * speed // 2:k * speed // 2 + w // 2].copy(),
             uv[1][:, k * speed // 2:k * speed // 2 + w // 2].copy()) for k in range(frames)]


def _same_timing(src, out):
    a, b = probe_video(src), probe_video(out)
    assert (b.width, b.height, b.fps, b.frames, b.audio_codec) == (a.width, a.height, a.fps, a.frames, a.audio_codec)
    assert np.allclose([t for t, _ in decoded_frames(out)], [t for t, _ in decoded_frames(src)], atol=1e-6)


def test_luminance_is_kept_bit_for_bit_and_the_flicker_goes(tmp_path):
    disturb = ChromaDisturbance(seed=0)
    clean = _scene(0, 16)
    src = _write_planes(tmp_path / 'in.mkv', [(y, *disturb(i, u, v)) for i, (y, u, v) in enumerate(clean)])
    out = tmp_path / 'out.mkv'
    n, stab, _ = deflicker_film(src, out, 0.9, lossless=True)
    assert n == 16 and stab.cuts == [0]
    _same_timing(src, out)
    a, b = _planes(src), _planes(out)
    assert all(np.array_equal(pa[0], pb[0]) for pa, pb in zip(a, b))  # Y: bit for bit
    err = lambda frames: np.mean([np.abs(np.stack(f[1:]).astype(float) - np.stack(t[1:])).mean()  # noqa: E731
                                  for f, t in zip(frames[6:], clean[6:])])
    assert err(b) < 0.6 * err(a)  # the colour is nearer the undisturbed truth


@pytest.mark.parametrize('suffix', ['.mp4', '.webm', '.avi', '.mov'])
def test_containers_keep_size_rate_frames_timestamps_and_audio(tmp_path, suffix):
    src = make_film(tmp_path / f'in{".webm" if suffix == ".webm" else ".mp4"}', frames=12, width=64, height=48)
    out = tmp_path / f'out{suffix}'
    assert run_command(deflicker, [str(src), '--out', str(out), '--strength', '0.7'], 'deflicker') == 0
    a, b = probe_video(src), probe_video(out)
    assert (b.width, b.height, b.fps, b.frames) == (a.width, a.height, a.fps, a.frames) and b.audio_codec
    if suffix != '.avi':  # AVI counts frames instead of storing timestamps
        _same_timing(src, out)
    # default encoding is lossy (crf 8): the luminance stays within its error
    ya = [p[0].astype(float) for p in _planes(src)]
    yb = [p[0].astype(float) for p in _planes(out)]
    assert max(np.abs(x - y).mean() for x, y in zip(ya, yb)) < 3


def test_odd_sized_4_4_4_film(tmp_path):
    src = make_film(tmp_path / 'odd.mp4', frames=8, width=65, height=49, audio=False)
    out = tmp_path / 'odd_out.mp4'
    deflicker_film(src, out, 0.8, lossless=True)
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.pix_fmt == 'yuv444p'
    assert all(np.array_equal(pa[0], pb[0]) for pa, pb in zip(_planes(src), _planes(out)))
    _same_timing(src, out)


def test_a_spliced_film_keeps_the_second_clips_colour_from_its_first_frame(tmp_path):
    first, second = _scene(1, 10), _scene(2, 10)
    second = [(255 - y, v, u) for y, u, v in second]  # another shot: other light, other colours
    src = _write_planes(tmp_path / 'spliced.mkv', first + second)
    out = tmp_path / 'out.mkv'
    _, stab, _ = deflicker_film(src, out, 0.95, lossless=True)
    assert stab.cuts == [0, 10]
    a, b = _planes(src), _planes(out)
    # the cut frame has the second clip's colour (to a level or two: it is averaged along the pan with those after it)
    assert max(np.abs(b[10][k].astype(int) - a[10][k]).max() for k in (1, 2)) <= 2
    # not a trace of the first clip's colour in the second
    assert max(np.abs(pb[1].astype(int) - pa[1]).mean() for pa, pb in zip(a[10:], b[10:])) < 1.5


def test_real_clips_spliced(tmp_path, shared_data):
    "bikes.mp4 then slow_traffic_small.mp4 (cropped to the same size): the cut is found on real footage."
    def head(name, n):
        with av.open(str(shared_data / 'video' / name)) as c:
            return [[p.copy() for p in frame_planes(f)] for _, f in zip(range(n), c.decode(video=0))]
    a = head('bikes.mp4', 6)
    b = [(y[:272], u[:136], v[:136]) for y, u, v in head('slow_traffic_small.mp4', 6)]
    src = _write_planes(tmp_path / 'spliced.mkv', a + b)
    _, stab, _ = deflicker_film(src, tmp_path / 'out.mkv', 0.95, lossless=True)
    assert stab.cuts == [0, 6]
    got = _planes(tmp_path / 'out.mkv')
    # the two-way stabiliser averages a shot's frames both ways, but nothing of the first clip's colour crosses the cut
    assert max(np.abs(g[k].astype(int) - s[k]).mean() for g, s in zip(got[6:], b) for k in (1, 2)) < 1.5


def test_command_errors(tmp_path, capsys):
    src = make_film(tmp_path / 'in.mp4', frames=4, width=32, height=32, audio=False)
    (tmp_path / 'bad.mp4').write_text('not a film')
    assert run_command(deflicker, [str(tmp_path / 'bad.mp4'), '--out', str(tmp_path / 'o.mp4')], 'deflicker') == 1
    assert 'bad.mp4' in capsys.readouterr().err
    assert run_command(deflicker, [str(src), '--out', str(tmp_path / 'o.mp4'), '--strength', '1'], 'deflicker') == 1
    assert '--strength' in capsys.readouterr().err
    assert run_command(deflicker, [str(src), '--out', str(src)], 'deflicker') == 1
    assert run_command(deflicker, [str(src), '--out', str(tmp_path / 'o.gif')], 'deflicker') == 1
    assert not (tmp_path / 'o.mp4').exists() and not work_dir(tmp_path / 'o.mp4').exists()


class Interrupted(Exception):
    pass


@pytest.fixture(scope='module')
def colorizer(tmp_path_factory):
    path = save_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.safetensors')
    return Colorizer.from_file(path, render_factor=2, device='cpu', bs=2)


@pytest.mark.parametrize('mode, frames, stop_at, brightness', [('flow', 60, 48, False), ('flow-one-way', 12, 8, False),
                                                               ('flow', 60, 48, True)])
def test_render_stabilize_resumes_exactly(tmp_path, colorizer, mode, frames, stop_at, brightness):
    """Either stabiliser in `render_film` (and the two-way one after the brightness deflicker, each with its
    own state): the luminance kept, the colour changed, and a render interrupted after a finished segment
    resumes to exactly the uninterrupted film (the two-way one gives frames back 32 frames late, so its film
    is longer)."""
    src = make_film(tmp_path / 'in.mp4', frames=frames, width=48, height=32)
    plain = tmp_path / 'plain' / 'in.mp4'
    render_film(colorizer, src, plain, 2, segment_frames=4)
    whole = tmp_path / 'whole' / 'in.mp4'
    render_film(colorizer, src, whole, 2, segment_frames=4, stabilize=mode, strength=0.9,
                deflicker_brightness=brightness)
    _same_timing(src, whole)
    assert probe_video(whole).audio_codec == 'aac'
    a, p = decoded_frames(whole), decoded_frames(plain)
    assert any(not np.array_equal(fa, fp) for (_, fa), (_, fp) in zip(a[1:], p[1:]))  # the stabiliser acted
    gray = lambda rgb: cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(float)  # noqa: E731
    if not brightness:
        assert max(np.abs(gray(fa) - gray(fp)).mean() for (_, fa), (_, fp) in zip(a, p)) < 4  # luminance: kept, up to coding

    out = tmp_path / 'resumed' / 'in.mp4'

    def stop(done):
        if done >= stop_at:
            raise Interrupted

    with pytest.raises(Interrupted):
        render_film(colorizer, src, out, 2, segment_frames=4, hook=stop, stabilize=mode, strength=0.9,
                    deflicker_brightness=brightness)
    state = json.loads((work_dir(out) / 'progress.json').read_text())
    assert state['segments_done'] >= 1 and state['settings']['stabilize'] == [mode, 0.9, make_stabilizer(mode).REVISION]
    kept = sorted(int(f.stem.split('_')[1]) for f in work_dir(out).glob('stabilizer_*.npz'))
    # the one a resume needs is kept, the older ones deleted (as the next segment's state is saved)
    assert state['segments_done'] - 1 in kept and kept[0] >= state['segments_done'] - 2
    render_film(colorizer, src, out, 2, segment_frames=4, resume=True, stabilize=mode, strength=0.9,
                deflicker_brightness=brightness)
    b = decoded_frames(out)
    assert len(a) == len(b) == frames
    assert all(ta == tb and np.array_equal(fa, fb) for (ta, fa), (tb, fb) in zip(a, b))


def test_a_render_stopped_before_the_stabilisers_code_changed_starts_again(tmp_path, colorizer, monkeypatch):
    "The stabiliser's REVISION is part of the resume settings: a resume across a change renders from the start."
    src = make_film(tmp_path / 'in.mp4', frames=12, width=48, height=32)
    out = tmp_path / 'out' / 'in.mp4'

    def stop(done):
        if done >= 8:
            raise Interrupted

    with pytest.raises(Interrupted):
        render_film(colorizer, src, out, 2, segment_frames=4, hook=stop, stabilize='flow-one-way')
    seen = []
    render_film(colorizer, src, out, 2, segment_frames=4, resume=True, stabilize='flow-one-way', hook=seen.append)
    assert seen[0] > 4  # the same code: continued after the finished segments
    with pytest.raises(Interrupted):
        render_film(colorizer, src, tmp_path / 'again' / 'in.mp4', 2, segment_frames=4, hook=stop,
                    stabilize='flow-one-way')
    monkeypatch.setattr(ChromaStabilizer, 'REVISION', ChromaStabilizer.REVISION + 1)
    seen = []
    render_film(colorizer, src, tmp_path / 'again' / 'in.mp4', 2, segment_frames=4, resume=True,
                stabilize='flow-one-way', hook=seen.append)
    assert seen[0] <= 4 and len(decoded_frames(tmp_path / 'again' / 'in.mp4')) == 12  # started again, whole
