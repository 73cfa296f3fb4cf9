"""Through the API with plain HTTP against a real server process: 20 uploads in a row, broken files among
them, every one answered, no job lost, and the server's memory at the end within 10% of its memory after
the first job."""
import time

import pytest

from render_helpers import make_film, save_tiny_model
from serve_helpers import film, photo, running_server, wait_for

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
