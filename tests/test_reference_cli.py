"""Colour from references through the renderer: `render_film(..., references=...)` and `render FILM --reference`.
A spliced film (two DAVIS clips at 142x80, FFV1 so every frame is exact) with one reference for the first shot
keeps the reference's colours there and exactly the model's from the cut on; resume continues exactly; other
sizes of reference are taken, bad ones are one line with nothing written; a photo from a similar photo;
`evaluate --film --reference first` gives its three rows."""
import json
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from deoldify_like.cli_support import run_command
from deoldify_like.colour import rgb_to_gray
from deoldify_like.errors import SettingsError
from deoldify_like.metrics import psnr
from deoldify_like.reference_colour import Reference
from render.cli import render
from render.evaluate import evaluate
from render.film import render_film, work_dir
from render.film.reference import GivenReference, parse_reference_at
from render_helpers import decoded_frames
from test_reference_colour import FRAMES as SHOT, _clip  # the spliced film's clips: 8 frames each at 142x80
from test_render_film import colorizer, model_path  # noqa: F401 - the tiny model and its Colorizer (fixtures)


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


# --- the command line: render FILM/PHOTO --reference, evaluate --film --reference first ---

def _render_cli(*argv):
    return run_command(render, [str(a) for a in argv], 'deoldify-like render')


def _save(rgb, path):
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


FLAGS = ('--render-factor', 2, '--device', 'cpu', '--precision', 'fp32', '--engine', 'torch', '--bs', 2)


@pytest.fixture(scope='module')
def cli_model_alone(spliced, model_path, tmp_path_factory):
    out = tmp_path_factory.mktemp('cli_alone')
    assert _render_cli(spliced[0], '--model', model_path, '--out', out, *FLAGS) == 0
    return [rgb for _, rgb in decoded_frames(out / 'spliced.mkv')]


def test_render_command_with_a_reference_for_the_first_shot(spliced, model_path, cli_model_alone, tmp_path):
    src, truth = spliced
    ref = _save(truth[0], tmp_path / 'colour.png')
    out = tmp_path / 'out'
    assert _render_cli(src, '--model', model_path, '--out', out, '--reference', ref, '--reference-at', 0, *FLAGS) == 0
    _assert_reference_then_model([rgb for _, rgb in decoded_frames(out / 'spliced.mkv')], truth, cli_model_alone)


@pytest.mark.parametrize('size', [(284, 160), (100, 100)], ids=['larger', 'square'])
def test_render_command_accepts_a_reference_of_another_size(spliced, model_path, cli_model_alone, tmp_path, size):
    src, truth = spliced
    ref = _save(cv2.resize(truth[2], size, interpolation=cv2.INTER_AREA), tmp_path / 'shot_f2.png')  # keyframe in its name
    out = tmp_path / 'out'
    assert _render_cli(src, '--model', model_path, '--out', out, '--reference', ref, *FLAGS) == 0
    frames = [rgb for _, rgb in decoded_frames(out / 'spliced.mkv')]
    assert len(frames) == len(truth) and frames[0].shape == truth[0].shape
    margin = 8 if size == (284, 160) else 2  # the exact frame, or a match by features
    assert psnr(frames[2], truth[2]) > psnr(cli_model_alone[2], truth[2]) + margin
    np.testing.assert_array_equal(frames[SHOT], cli_model_alone[SHOT])


def test_bad_references_are_one_line_and_write_nothing(spliced, model_path, tmp_path, capsys):
    src, truth = spliced
    bad = tmp_path / 'broken.png'
    bad.write_bytes(b'not a picture')
    good = _save(truth[0], tmp_path / 'good.png')
    out = tmp_path / 'out'
    cases = [(('--reference', bad), 1, 'broken.png'),
             (('--reference', good, '--reference', good, '--reference-at', 0), 2, '--reference-at was given 1 times'),
             (('--reference', good, '--reference-at', 'soon'), 2, '--reference-at soon'),
             (('--reference', good, '--reference-at', 99), 1, 'keyframe 99 is outside')]
    for flags, code, message in cases:
        assert _render_cli(src, '--model', model_path, '--out', out, *flags, *FLAGS) == code, flags
        err = [line for line in capsys.readouterr().err.splitlines() if 'error' in line or 'render:' in line]
        assert message in err[0] and (len(err) == 1 or err[-1].startswith('render: 0 done')), err
        assert not out.exists() or not any(p.is_file() for p in out.rglob('*')), flags  # nothing written


def test_photo_coloured_from_a_similar_photo(spliced, model_path, tmp_path):
    "A gray photo (frame 6) from a colour photo of the scene (frame 0, another size): nearer the truth than the model."
    _, truth = spliced
    photo = tmp_path / 'photo.png'
    cv2.imwrite(str(photo), rgb_to_gray(truth[6]))
    ref = _save(cv2.resize(truth[0], (213, 120), interpolation=cv2.INTER_AREA), tmp_path / 'scene.jpg')
    alone, coloured = tmp_path / 'alone', tmp_path / 'coloured'
    assert _render_cli(photo, '--model', model_path, '--out', alone, *FLAGS) == 0
    assert _render_cli(photo, '--model', model_path, '--out', coloured, '--reference', ref, *FLAGS) == 0
    a, c = (cv2.cvtColor(cv2.imread(str(d / 'photo.png')), cv2.COLOR_BGR2RGB) for d in (alone, coloured))
    assert c.shape == truth[6].shape
    assert np.abs(rgb_to_gray(c).astype(int) - rgb_to_gray(truth[6])).mean() < 1.0  # the photo's own luminance
    assert psnr(c, truth[6]) > psnr(a, truth[6]) + 2


def test_evaluate_film_with_the_first_frame_as_reference(spliced, model_path, tmp_path, capsys):
    src, _ = spliced
    report = tmp_path / 'eval.json'
    code = run_command(evaluate, ['--model', str(model_path), '--film', str(src), '--reference', 'first',
                                  '--render-factor', '2', '--device', 'cpu', '--json', str(report)],
                       'deoldify-like evaluate')
    assert code == 0
    rows = json.loads(report.read_text())['rows']
    assert [r['method'] for r in rows] == ['reference', 'model', 'static']
    by = {r['method']: r for r in rows}
    assert all(r['count'] == 2 * SHOT and r['cdc'] >= 0 and r['warp_error'] >= 0 for r in rows)
    assert by['reference']['psnr'] > by['model']['psnr'] and by['reference']['ciede2000'] < by['model']['ciede2000']
    printed = capsys.readouterr().out
    assert all(m in printed for m in ('reference', 'model', 'static'))
    assert run_command(evaluate, ['--model', str(model_path), '--film', str(src), '--reference', 'last'],
                       'deoldify-like evaluate') == 2


def test_reference_placement_by_flag_or_name():
    "--reference-at takes a frame number or a time; without it the name's frame or time, placed by the film's rate."
    rgb = np.zeros((4, 4, 3), np.uint8)
    assert parse_reference_at('120') == 120 and parse_reference_at('4.5s') == Fraction(9, 2)
    assert parse_reference_at('00:00:01.5') == Fraction(3, 2)
    with pytest.raises(SettingsError):
        parse_reference_at('-3')
    placed = [GivenReference(name, rgb, at).for_film(Fraction(24)).frame for name, at in
              [('x.png', 7), ('x.png', Fraction(9, 2)), ('shot_f30.png', None), ('street_0.5s.png', None),
               ('shot_f30.png', 2), ('photo.png', None)]]
    assert placed == [7, 108, 30, 12, 2, None]
