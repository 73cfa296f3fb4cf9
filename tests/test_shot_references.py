"""Notebook 06's shots and references (deoldify_like/shots.py, render/shot_references.py), in process on a
spliced film of two DAVIS clips: the shots are where the reference propagation cuts, an upload per shot
attaches a reference (an unreadable one is a line beside its shot, nothing attached), and the render keeps the
reference's colours in its shot and the model's after the cut."""
from datetime import datetime, timezone

import av
import pytest

from deoldify_like.errors import BadInputError, SettingsError
from deoldify_like.inference import Colorizer
from deoldify_like.reference_colour import scan_film
from deoldify_like.shots import find_shots
from render.shot_references import ShotReferences
from render_helpers import save_tiny_model
from spliced_film import chroma_errors, write_picture, write_spliced_film


@pytest.fixture(scope='module')
def spliced(shared_data, tmp_path_factory):
    folder = tmp_path_factory.mktemp('spliced')
    truth = write_spliced_film(shared_data, folder / 'spliced.mp4')
    return folder / 'spliced.mp4', truth


def uploaded(name, data):
    "What a FileUpload's value holds for one file chosen in the browser."
    return {'name': name, 'type': 'image/png', 'size': len(data), 'content': memoryview(data),
            'last_modified': datetime.now(timezone.utc)}


def test_shots_are_where_the_reference_propagation_cuts(spliced, tmp_path):
    film, truth = spliced
    shots = find_shots(film)
    assert [(s.start, s.end) for s in shots] == [(0, 8), (8, 16)]
    with av.open(str(film)) as container:  # the film's luminance as the renderer decodes it
        lumas = [f.to_ndarray(format='gray') for f in container.decode(video=0)]
    assert [s.start for s in shots] == scan_film(iter(lumas), []).shot_starts
    assert shots[1].seconds == pytest.approx(8 / 24) and shots[0].thumbnail.shape == (90, 160, 3)
    assert [(s.start, s.end) for s in find_shots(film, limit=5)] == [(0, 5)]
    notes = tmp_path / 'notes.mp4'
    notes.write_text('not a film\n' * 20)
    with pytest.raises(BadInputError, match='notes.mp4: '):
        find_shots(notes)


def test_upload_per_shot_and_render_with_a_reference(spliced, tmp_path):
    film, truth = spliced
    colorizer = Colorizer.from_file(save_tiny_model(tmp_path / 'tiny.safetensors', render_factor=2), device='cpu',
                                    precision='fp32')
    panel = ShotReferences(colorizer, film, tmp_path / 'out', 2)
    assert sorted(panel.uploads) == [0, 8]
    panel.uploads[8].value = (uploaded('notes.png', b'text!'),)
    assert 'notes.png: not an image file' in panel.notes[8].value and panel.references == []
    reference = write_picture(truth[0], tmp_path / 'first.png').read_bytes()
    with pytest.raises(SettingsError, match=r'frame 16 is not among the 16 frames shown \(0..15\)'):
        panel.attach(16, tmp_path / 'first.png')
    panel.uploads[0].value = (uploaded('first.png', reference),)
    assert [(r.frame, r.name) for r in panel.references] == [(0, 'first.png')]
    assert 'attached: first.png' in panel.notes[0].value and (tmp_path / 'out' / 'references' / 'f000000.png').is_file()
    panel._clicked(panel.button)
    assert panel.dest == tmp_path / 'out' / 'spliced_references.mp4'
    assert 'done: 16 frames' in panel.status.value and panel.bar.value == 16, panel.status.value
    errors = chroma_errors(panel.dest, truth)
    assert len(errors) == 16
    assert max(errors[:8]) < 0.012 < min(errors[8:]), errors  # the reference's colours up to the cut, the model's after
    assert len(panel.result.children) == 4 * 3  # a header row, then each shot: film, reference, first, last frame
