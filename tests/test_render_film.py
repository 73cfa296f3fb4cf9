"""The film path on short synthetic films (written with PyAV) and on the real traffic clip: size, exact frame
rate and timestamps, frame count and audio kept in every container; resume equals an uninterrupted render;
out-of-memory never yields an uncolorized film."""
import json
from fractions import Fraction

import numpy as np
import pytest
import torch

from deoldify_like.colour import rgb_to_gray
from deoldify_like.errors import BadInputError
from deoldify_like.video import probe_video
from render.cli import render
from deoldify_like.inference import Colorizer, OutOfMemory
from render.film import render_film, work_dir
from render_helpers import decoded_frames, make_film, save_tiny_model


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.safetensors')


@pytest.fixture(scope='module')
def colorizer(model_path):
    return Colorizer.from_file(model_path, render_factor=2, device='cpu', bs=2)


def _same_film(src, out, count_frames=False):
    a, b = probe_video(src), probe_video(out)
    assert (b.width, b.height, b.fps, b.frames, b.audio_codec) == (a.width, a.height, a.fps, a.frames, a.audio_codec)
    times_in = [t for t, _ in decoded_frames(src)]
    times_out = [t for t, _ in decoded_frames(out)]
    if count_frames:  # AVI stores no timestamps (FFmpeg guesses them, one frame late): frames are counted
        assert np.allclose(np.diff(times_out), 1 / float(a.fps), atol=1e-6)
    else:
        assert np.allclose(times_out, times_in, atol=1e-6)
    return b


def test_film_keeps_size_rate_frames_timestamps_and_audio(tmp_path, colorizer):
    src = make_film(tmp_path / 'in.mp4', frames=20, width=64, height=48, rate=Fraction(30000, 1001))
    out = tmp_path / 'out' / 'in.mp4'
    assert render_film(colorizer, src, out, 2, segment_frames=8) == 20
    info = _same_film(src, out)
    assert info.fps == Fraction(30000, 1001) and info.audio_codec == 'aac'
    assert abs(info.duration - probe_video(src).duration) < 0.05
    assert not work_dir(out).exists()  # the segments are gone once the film is complete
    # colour comes from the model, the luminance from the input
    (_, first_in), (_, first_out) = decoded_frames(src)[5], decoded_frames(out)[5]
    assert np.abs(rgb_to_gray(first_out).astype(int) - rgb_to_gray(first_in)).mean() < 6
    assert np.abs(first_out.astype(int) - first_in).mean() > 1


def test_odd_sized_film_keeps_its_size(tmp_path, colorizer):
    src = make_film(tmp_path / 'odd.mp4', frames=10, width=65, height=49, audio=False)
    out = tmp_path / 'out' / 'odd.mp4'
    render_film(colorizer, src, out, 2)
    info = _same_film(src, out)
    assert (info.width, info.height) == (65, 49)


@pytest.mark.parametrize('suffix', ['.mkv', '.avi', '.mov', '.webm'])
def test_other_containers(tmp_path, colorizer, suffix):
    src = make_film(tmp_path / f'in{suffix}', frames=12, width=48, height=32, rate=Fraction(25))
    out = tmp_path / 'out' / f'in{suffix}'
    render_film(colorizer, src, out, 2, segment_frames=5)
    _same_film(src, out, count_frames=suffix == '.avi')


class Interrupted(Exception):
    pass


def test_resume_equals_an_uninterrupted_render(tmp_path, colorizer):
    src = make_film(tmp_path / 'in.mp4', frames=22, width=64, height=48)
    whole = tmp_path / 'whole' / 'in.mp4'
    render_film(colorizer, src, whole, 2, segment_frames=6)

    out = tmp_path / 'resumed' / 'in.mp4'

    def stop_after_14(done):
        if done >= 14:
            raise Interrupted

    with pytest.raises(Interrupted):
        render_film(colorizer, src, out, 2, segment_frames=6, hook=stop_after_14)
    assert not out.exists()
    state = json.loads((work_dir(out) / 'progress.json').read_text())
    assert 1 <= state['segments_done'] <= 2 and not state['complete']

    seen = []
    render_film(colorizer, src, out, 2, segment_frames=6, resume=True, hook=seen.append)
    assert seen[0] == state['segments_done'] * 6 + 2  # finished segments were not colorized again
    a, b = decoded_frames(whole), decoded_frames(out)
    assert len(a) == len(b) == 22
    for (ta, fa), (tb, fb) in zip(a, b):
        assert ta == tb and np.array_equal(fa, fb)
    assert probe_video(out).audio_codec == 'aac'


def test_render_without_resume_starts_again(tmp_path, colorizer):
    src = make_film(tmp_path / 'in.mp4', frames=10, audio=False)
    out = tmp_path / 'out' / 'in.mp4'

    def stop(done):
        if done >= 6:
            raise Interrupted

    with pytest.raises(Interrupted):
        render_film(colorizer, src, out, 2, segment_frames=4, hook=stop)
    seen = []
    render_film(colorizer, src, out, 2, segment_frames=4, hook=seen.append)
    assert seen[0] == 2 and probe_video(out).frames == 10


def test_real_film_first_frames(tmp_path, colorizer, shared_data):
    src = shared_data / 'video' / 'slow_traffic_small.mp4'
    out = tmp_path / 'traffic.mp4'
    assert render_film(colorizer, src, out, 2, limit=24) == 24
    info = probe_video(out)
    assert (info.width, info.height, info.fps, info.frames, info.audio_codec) == (640, 360, Fraction(30000, 1001), 24, 'aac')
    assert abs(info.duration - 24 * 1001 / 30000) < 0.1  # the audio is cut where the frames end


class AlwaysOutOfMemory(torch.nn.Module):
    def forward(self, x):
        raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 8.00 GiB')


def test_out_of_memory_never_gives_an_uncolorized_film(tmp_path):
    src = make_film(tmp_path / 'in.mp4', frames=6, audio=False)
    out = tmp_path / 'out' / 'in.mp4'
    with pytest.raises(OutOfMemory):
        render_film(Colorizer(AlwaysOutOfMemory(), 2, device='cpu', bs=4), src, out, 2)
    assert not out.exists()


def test_bad_films(tmp_path, colorizer):
    text = tmp_path / 'notes.mp4'
    text.write_text('not a film')
    with pytest.raises(BadInputError, match='notes.mp4'):
        render_film(colorizer, text, tmp_path / 'out' / 'notes.mp4', 2)
    assert not work_dir(tmp_path / 'out' / 'notes.mp4').exists()


def test_command_keeps_an_unfinished_render_unless_told(tmp_path, model_path, capsys):
    src = make_film(tmp_path / 'in.mp4', frames=6, audio=False)
    out = tmp_path / 'out'
    (work_dir(out / 'in.mp4')).mkdir(parents=True)
    assert render([str(src)], model=str(model_path), out=str(out), render_factor=2) == 1
    assert '--resume continues it' in capsys.readouterr().err and not (out / 'in.mp4').exists()
    assert render([str(src)], model=str(model_path), out=str(out), render_factor=2, resume=True) == 0
    assert probe_video(out / 'in.mp4').frames == 6 and not work_dir(out / 'in.mp4').exists()


def test_audio_is_reencoded_only_where_the_container_cannot_hold_it(tmp_path, colorizer):
    src = make_film(tmp_path / 'in.mp4', frames=12, width=48, height=32)  # H.264 + AAC
    out = tmp_path / 'out' / 'in.webm'  # WebM holds neither: VP9 + Opus
    render_film(colorizer, src, out, 2)
    a, b = probe_video(src), probe_video(out)
    assert (b.codec, b.audio_codec, b.frames, b.fps) == ('vp9', 'opus', 12, a.fps)
    assert abs(b.duration - a.duration) < 0.1
