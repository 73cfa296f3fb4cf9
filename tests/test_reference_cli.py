"""Colour from references through the renderer: `render_film(..., references=...)` and `render FILM --reference`.
A spliced film (two DAVIS clips at 142x80, FFV1 so every frame is exact) with one reference for the first shot
keeps the reference's colours there and exactly the model's from the cut on; resume continues exactly."""
import av
import cv2
import numpy as np
import pytest

from deoldify_like.inference import Colorizer
from deoldify_like.metrics import psnr
from deoldify_like.reference_colour import Reference
from deoldify_like.video import iter_frames
from render.film import render_film, work_dir
from render_helpers import decoded_frames, save_tiny_model

SIZE = (142, 80)
SHOT = 8  # frames per clip: the cut is at frame 8


def _clip(shared_data, name):
    frames = []
    for i, rgb in iter_frames(shared_data / 'video' / 'davis' / f'davis_{name}.mp4'):
        if i >= SHOT:
            break
        frames.append(cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA))
    return frames


def write_lossless_film(path, frames, rate=24):
    with av.open(str(path), 'w') as c:
        vs = c.add_stream('ffv1', rate=rate)
        vs.width, vs.height, vs.pix_fmt = frames[0].shape[1], frames[0].shape[0], 'bgr0'
        for i, rgb in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(rgb, format='rgb24')
            vf.pts = i
            c.mux(vs.encode(vf))
        c.mux(vs.encode(None))
    return path


@pytest.fixture(scope='module')
def spliced(shared_data, tmp_path_factory):
    "(film path, its true frames): car-shadow then goat, a cut at frame 8."
    frames = _clip(shared_data, 'car-shadow') + _clip(shared_data, 'goat')
    return write_lossless_film(tmp_path_factory.mktemp('film') / 'spliced.mkv', frames), frames


@pytest.fixture(scope='module')
def model_path(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.safetensors')


@pytest.fixture(scope='module')
def colorizer(model_path):
    return Colorizer.from_file(model_path, render_factor=2, device='cpu', bs=2)


@pytest.fixture(scope='module')
def model_alone(spliced, colorizer, tmp_path_factory):
    "The film rendered without references: the model's colours."
    out = tmp_path_factory.mktemp('alone') / 'spliced.mkv'
    render_film(colorizer, spliced[0], out, 2)
    return [rgb for _, rgb in decoded_frames(out)]


def _assert_reference_then_model(out, truth, alone):
    assert len(out) == len(truth)
    for t in range(1, SHOT):  # the first shot: the reference's colours, far nearer the truth than the model's
        assert psnr(out[t], truth[t]) > psnr(alone[t], truth[t]) + 8, t
    for t in range(SHOT, len(out)):  # exactly the model's colours from the cut frame on
        np.testing.assert_array_equal(out[t], alone[t])


def test_render_film_with_a_reference_for_the_first_shot(spliced, colorizer, model_alone, tmp_path):
    src, truth = spliced
    out = tmp_path / 'out.mkv'
    assert render_film(colorizer, src, out, 2, references=[Reference(truth[0], 0)]) == len(truth)
    _assert_reference_then_model([rgb for _, rgb in decoded_frames(out)], truth, model_alone)


class Interrupted(Exception):
    pass


def test_resume_with_references_continues_exactly(spliced, colorizer, tmp_path):
    src, truth = spliced
    refs = [Reference(truth[3], None)]  # placed by resemblance, carried backward too
    whole = tmp_path / 'whole.mkv'
    render_film(colorizer, src, whole, 2, segment_frames=5, references=refs, stabilize='flow')
    part = tmp_path / 'part.mkv'

    def stop(done):
        if done >= 6:
            raise Interrupted
    with pytest.raises(Interrupted):
        render_film(colorizer, src, part, 2, segment_frames=5, references=refs, stabilize='flow', hook=stop)
    assert work_dir(part).exists()
    render_film(colorizer, src, part, 2, segment_frames=5, references=refs, stabilize='flow', resume=True)
    for (_, a), (_, b) in zip(decoded_frames(whole), decoded_frames(part), strict=True):
        np.testing.assert_array_equal(a, b)
