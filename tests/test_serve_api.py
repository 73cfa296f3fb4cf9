"""Through the API with plain HTTP against a real server process: 20 uploads in a row, broken files among
them, every one answered, no job lost, and the server's memory at the end within 10% of its memory after
the first job; a film uploaded with a colour reference picture, and references refused with one line."""
import time

import numpy as np
import pytest

from render_helpers import make_film, save_tiny_model
from serve_helpers import film, photo, running_server, wait_for
from spliced_film import chroma_errors, write_picture, write_spliced_film

httpx = pytest.importorskip('httpx')
psutil = pytest.importorskip('psutil')
pytest.importorskip('fastapi')


def rss(pid):
    return psutil.Process(pid).memory_info().rss


def uploads(folder):
    "20 files: photos of a few sizes, a GIF, films, and broken ones (name, bytes, what should happen)."
    p = photo(folder, 'a.jpg', (96, 72), 0).read_bytes()
    q = photo(folder, 'b.png', (80, 100), 1).read_bytes()
    movie = film(folder, 'f.mp4', frames=24).read_bytes()
    webm = make_film(folder / 'w.webm', frames=12, width=48, height=32).read_bytes()
    gif = photo(folder, 'c.gif', (64, 48), 2).read_bytes()
    broken = [('notes.jpg', b'a text file named like a photo\n' * 20, 415),
              ('empty.png', b'', 415),
              ('cut.jpg', p[:len(p) // 3], 415),
              ('notes.mp4', b'not a film either\n' * 50, 415),
              ('cut.mp4', movie[:len(movie) // 2], None)]  # a cut film: refused or failed, never lost
    good = [('a.jpg', p, 201), ('b.png', q, 201), ('f.mp4', movie, 201), ('c.gif', gif, 201), ('w.webm', webm, 201)]
    files = good + broken + good[:2] + broken[:2] + good[:2] + broken[2:3] + good[:1] + good[3:4] + broken[:1]
    assert len(files) == 20
    return files


def test_twenty_uploads_all_answered_none_lost_memory_flat(tmp_path, subprocess_env):
    model = save_tiny_model(tmp_path / 'tiny.safetensors', render_factor=2)
    files = uploads(tmp_path)
    with running_server(model, tmp_path / 'work', subprocess_env, tmp_path / 'server.log', '--max-upload', '5MB',
                        '--precision', 'fp32') as (proc, base), httpx.Client(base_url=base, timeout=120) as http:
        accepted, after_first = {}, None
        for i, (name, data, expected) in enumerate(files):
            r = http.post('/api/jobs', files={'file': (name, data)}, data={'render_factor': '2', 'film.bs': '2'})
            assert r.status_code in (201, 415), (name, r.status_code, r.text)
            if expected is not None:
                assert r.status_code == expected, (name, r.text)
            if r.status_code == 201:
                accepted[r.json()['id']] = name
            else:
                assert r.json()['detail'].startswith(f'{name}: '), r.text
            if after_first is None and accepted:
                first = next(iter(accepted))
                wait_for(lambda: http.get(f'/api/jobs/{first}').json()['state'] in ('done', 'failed'), 120, what='the first job')
                time.sleep(0.5)
                after_first = rss(proc.pid)

        def finished():
            states = {j['id']: j for j in http.get('/api/jobs').json()}
            return all(states.get(i, {}).get('state') in ('done', 'failed') for i in accepted) and states
        states = wait_for(finished, 300, every=0.5, what='every job to finish')
        assert set(accepted) == set(states)  # no job lost, none made up
        for job_id, name in accepted.items():
            job = states[job_id]
            if name == 'cut.mp4':
                assert job['state'] in ('done', 'failed') and (job['state'] == 'done' or job['error'].startswith('cut.mp4: '))
                continue
            assert job['state'] == 'done', job
            assert http.get(f'/api/jobs/{job_id}/result').status_code == 200
        assert states[next(i for i, n in accepted.items() if n == 'f.mp4')]['frames_done'] == 24
        time.sleep(0.5)
        at_end = rss(proc.pid)
        assert proc.poll() is None  # still serving
        print(f'server RSS after the first job {after_first / 2**20:.0f} MiB, after 20 uploads {at_end / 2**20:.0f} MiB')
        assert at_end <= 1.10 * after_first, (after_first, at_end)


def test_film_with_a_reference_picture_and_refused_references(tmp_path, subprocess_env, shared_data):
    """A film of two spliced DAVIS clips uploaded with its true first frame as a reference (no frame number: placed
    by resemblance) keeps the reference's colours up to the cut; references that cannot be used are a 4xx with
    one line naming them, and nothing is queued."""
    model = save_tiny_model(tmp_path / 'tiny.safetensors', render_factor=2)
    truth = write_spliced_film(shared_data, tmp_path / 'spliced.mp4')
    movie = (tmp_path / 'spliced.mp4').read_bytes()
    first = write_picture(truth[0], tmp_path / 'first.png').read_bytes()
    gray = write_picture(np.repeat(truth[0][..., :1], 3, -1), tmp_path / 'gray.png').read_bytes()
    settings = {'film.render_factor': '2', 'film.bs': '4'}
    with running_server(model, tmp_path / 'work', subprocess_env, tmp_path / 'server.log', '--precision', 'fp32') as (proc, base), \
            httpx.Client(base_url=base, timeout=120) as http:
        refused = [([('reference', ('notes.png', b'a text file\n' * 20))], {}, 415, 'reference notes.png: not a picture'),
                   ([('reference', ('gray.png', gray))], {}, 415, 'reference gray.png: a reference must be a colour picture'),
                   ([('reference', ('late_f40.png', first))], {}, 400, "late_f40.png: keyframe 40 is past the film's last frame (15)"),
                   ([('reference', ('first.png', first))], {'reference_frame': '2s'}, 400, "first.png: keyframe 48 is past the film's last"),
                   ([('reference', ('first.png', first))], {'reference_frame': 'one'}, 400, 'first.png: reference_frame must be a frame number'),
                   ([('reference', ('first.png', first))], {'reference_frame': ['0', '3']}, 400, '2 reference_frame fields for 1')]
        for refs, fields, status, problem in refused:
            r = http.post('/api/jobs', files=[('file', ('spliced.mp4', movie)), *refs], data={**settings, **fields})
            assert r.status_code == status and r.json()['detail'].startswith(problem), (problem, r.status_code, r.text)
        assert http.get('/api/jobs').json() == [] and not list((tmp_path / 'work' / 'jobs').iterdir())  # nothing queued
        r = http.post('/api/jobs', files=[('file', ('spliced.mp4', movie)), ('reference', ('first.png', first))],
                      data={**settings, 'reference_frame': ''})
        assert r.status_code == 201, r.text
        job = r.json()
        assert [(x['name'], x['frame']) for x in job['references']] == [('first.png', None)]
        photo_job = http.post('/api/jobs', files=[('file', ('p.jpg', photo(tmp_path, 'p.jpg').read_bytes())),
                                                  ('reference', ('first.png', first))]).json()
        assert photo_job['kind'] == 'photo' and photo_job['references'] == []  # references are for films only
        done = wait_for(lambda: (j := http.get(f"/api/jobs/{job['id']}").json())['state'] in ('done', 'failed') and j,
                        180, what='the film with a reference')
        assert done['state'] == 'done' and done['frames_done'] == 16, done
        (tmp_path / 'result.mp4').write_bytes(http.get(done['result_url']).content)
        errors = chroma_errors(tmp_path / 'result.mp4', truth)
        assert len(errors) == 16 and max(errors[:8]) < 0.012 < min(errors[8:]), errors
