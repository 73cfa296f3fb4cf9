"""`render` of films follows the same codec rule as `deflicker` (`codecs.codec_for_input`): a lossless input
gives a lossless output, 4:4:4 stays 4:4:4; `render --deflicker-brightness` takes the brightness flicker out of
the input luminance before the model and resumes exactly."""
import json

import av
import cv2
import numpy as np
import pytest

from deoldify_like.brightness import BrightnessDeflicker
from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.flicker import BrightnessDisturbance
from deoldify_like.film_metrics import brightness_flicker
from deoldify_like.inference import Colorizer
from render.film import codecs, render_film, work_dir
from render_helpers import decoded_frames, save_tiny_model
from test_deflicker_quality import _head, _write
from test_film_codecs import render


class Interrupted(Exception):
    pass


@pytest.fixture(scope='module')
def colorizer(tmp_path_factory):
    path = save_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.safetensors')
    return Colorizer.from_file(path, render_factor=2, device='cpu', bs=2, precision='fp32')


@pytest.fixture(scope='module')
def flickering(tmp_path_factory, shared_data):
    "bikes.mp4's first 30 frames at half size with the brightness disturbance, as a lossless FFV1 film."
    disturb = BrightnessDisturbance(seed=0, regions=1)
    frames = [(disturb(i, cv2.resize(y, (320, 136), interpolation=cv2.INTER_AREA)),
               cv2.resize(u, (160, 68), interpolation=cv2.INTER_AREA), cv2.resize(v, (160, 68), interpolation=cv2.INTER_AREA))
              for i, (y, u, v) in enumerate(_head(shared_data / 'video' / 'bikes.mp4', 30))]
    return _write(tmp_path_factory.mktemp('film') / 'flicker.mkv', frames, 'ffv1', 'yuv420p', {})


def _means(path):
    return [float(cv2.cvtColor(f, cv2.COLOR_RGB2GRAY).mean()) for _, f in decoded_frames(path)]


def test_deflicker_brightness_before_the_model_resumes_exactly_and_lossless_stays_lossless(tmp_path, colorizer,
                                                                                          flickering):
    plain, whole = tmp_path / 'plain' / 'out.mkv', tmp_path / 'whole' / 'out.mkv'
    render_film(colorizer, flickering, plain, 2, segment_frames=10)
    render_film(colorizer, flickering, whole, 2, segment_frames=10, deflicker_brightness=True)
    assert codecs.Source.probe(whole) == codecs.Source('ffv1', 'bgr0', True)  # a lossless input: a lossless output
    assert brightness_flicker(_means(whole)) < 0.5 * brightness_flicker(_means(plain))

    out = tmp_path / 'resumed' / 'out.mkv'

    def stop_after_14(done):
        if done >= 14:
            raise Interrupted

    with pytest.raises(Interrupted):
        render_film(colorizer, flickering, out, 2, segment_frames=10, hook=stop_after_14, deflicker_brightness=True)
    state = json.loads((work_dir(out) / 'progress.json').read_text())
    assert state['segments_done'] == 1 and state['settings']['deflicker_brightness'] == BrightnessDeflicker.REVISION
    assert (work_dir(out) / 'brightness_00000.npz').is_file()  # where the resumed deflicker starts from
    render_film(colorizer, flickering, out, 2, segment_frames=10, resume=True, deflicker_brightness=True)
    a, b = decoded_frames(whole), decoded_frames(out)
    assert len(a) == len(b) == 30
    assert all(ta == tb and np.array_equal(fa, fb) for (ta, fa), (tb, fb) in zip(a, b))


def test_a_4_4_4_film_renders_to_4_4_4(tmp_path, colorizer):
    rgb = [np.roll(np.tile(np.linspace(0, 255, 64, dtype=np.uint8)[None, :, None], (48, 1, 3)), 3 * i, 1)
           for i in range(6)]
    src = _write(tmp_path / 'in444.mp4', rgb, 'libx264', 'yuv444p', {'crf': '17', 'bf': '0'})
    out = tmp_path / 'out' / 'in444.mp4'
    render_film(colorizer, src, out, 2)
    assert codecs.Source.probe(out) == codecs.Source('h264', 'yuv444p', False)
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames in (0, 6)


def test_deflicker_brightness_window_reaches_the_deflicker_and_the_resume_settings(tmp_path, colorizer, flickering):
    out = tmp_path / 'out.mkv'

    def stop_after_10(done):
        if done >= 10:
            raise Interrupted

    with pytest.raises(Interrupted):
        render_film(colorizer, flickering, out, 2, segment_frames=10, hook=stop_after_10, deflicker_brightness=True,
                    deflicker_brightness_window=6)
    state = json.loads((work_dir(out) / 'progress.json').read_text())
    assert state['settings']['deflicker_brightness'] == BrightnessDeflicker.REVISION and state['settings']['deflicker_brightness_window'] == 6
    model = tmp_path / 'unused.safetensors'
    assert render([str(flickering), '--model', str(model), '--out', str(tmp_path / 'o'),
                   '--deflicker-brightness-window', '6']) == 2  # without --deflicker-brightness: a usage error
    assert render([str(flickering), '--model', str(model), '--out', str(tmp_path / 'o'), '--deflicker-brightness',
                   '--deflicker-brightness-window', '0']) == 2
    assert not (tmp_path / 'o').exists()
    with pytest.raises(DeoldifyLikeError, match='deflicker_brightness_window'):  # the API (and the web page) too
        render_film(colorizer, flickering, tmp_path / 'api.mkv', 2, deflicker_brightness_window=6)
    assert not (tmp_path / 'api.mkv').exists()
