"""The server's parts on their own: the upload size limit (enforced while the body streams in), type sniffing
by content, name sanitising, settings read from the renderer, restart persistence, and the API in-process."""
import asyncio
import io
import json
import socket
import time

import pytest
from PIL import Image

from deoldify_like.errors import BadInputError, DeoldifyLikeError
from render.serve import options as serve_options
from render.serve.jobs import Job, JobStore
from render.serve.uploads import UploadError, parse_size, receive_upload, safe_name, sniff
from render_helpers import make_film, save_tiny_model
from serve_helpers import free_port, photo, wait_for

fastapi = pytest.importorskip('fastapi')
from fastapi.testclient import TestClient  # noqa: E402

from render.serve.app import SharedColorizer, create_app, is_loopback  # noqa: E402


@pytest.fixture(scope='module')
def colorizer(tmp_path_factory):
    model = save_tiny_model(tmp_path_factory.mktemp('model') / 'tiny.safetensors', render_factor=2)
    return SharedColorizer.from_file(model, device='cpu', precision='fp32')


# ---- size limit, names, sizes
class FakeRequest:
    "What receive_upload reads: headers and an async body stream that counts the chunks taken from it."

    def __init__(self, body, chunk=65536, declared=True, boundary='XyZ'):
        self.body, self.chunk, self.taken = body, chunk, 0
        self.headers = {'content-type': f'multipart/form-data; boundary={boundary}'}
        if declared:
            self.headers['content-length'] = str(len(body))

    async def stream(self):
        for i in range(0, len(self.body), self.chunk):
            self.taken += 1
            yield self.body[i:i + self.chunk]


def multipart(fields, filename, data, boundary='XyZ'):
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f'Content-Type: application/octet-stream\r\n\r\n'.encode() + data + b'\r\n')
    return b''.join(parts) + f'--{boundary}--\r\n'.encode()


def test_upload_within_the_limit_is_written_to_the_given_path_with_its_fields(tmp_path):
    data = bytes(range(256)) * 1000
    req = FakeRequest(multipart({'render_factor': '7'}, '../../etc/x.jpg', data))
    fields, name = asyncio.run(receive_upload(req, tmp_path / 'upload', limit=10**6))
    assert fields == {'render_factor': '7'} and name == '../../etc/x.jpg'
    assert (tmp_path / 'upload').read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == ['upload']  # the name went nowhere near the disk


def test_upload_over_the_limit_is_cut_off_while_streaming(tmp_path):
    body = multipart({}, 'big.mp4', b'\0' * 4_000_000)
    req = FakeRequest(body, declared=False)  # no Content-Length: only counting can stop it
    with pytest.raises(UploadError) as e:
        asyncio.run(receive_upload(req, tmp_path / 'upload', limit=1_000_000))
    assert e.value.status == 413 and '1 MB' in str(e.value)
    assert req.taken <= 1_000_000 // 65536 + 2 < len(body) // 65536  # stopped early, not read to the end
    assert not (tmp_path / 'upload').exists()
    declared = FakeRequest(body)  # a declared size over the limit is refused before reading anything
    with pytest.raises(UploadError):
        asyncio.run(receive_upload(declared, tmp_path / 'upload', limit=1_000_000))
    assert declared.taken == 0


def test_upload_with_two_files_or_a_huge_field_is_refused(tmp_path):
    two = multipart({}, 'a.jpg', b'1' * 100)[:-len('--XyZ--\r\n')] + multipart({}, 'b.jpg', b'2' * 100)
    with pytest.raises(UploadError, match='exactly one file'):
        asyncio.run(receive_upload(FakeRequest(two), tmp_path / 'upload', limit=10**6))
    with pytest.raises(UploadError, match='longer than'):
        asyncio.run(receive_upload(FakeRequest(multipart({'render_factor': '7' * 20_000}, 'a.jpg', b'x')), tmp_path / 'upload', 10**6))
    assert not (tmp_path / 'upload').exists()


def test_parse_size_and_safe_names():
    assert parse_size('2GB') == 2 * 10**9 and parse_size('500 MB') == 5 * 10**8 and parse_size('1GiB') == 2**30
    assert parse_size('1048576') == 2**20
    for bad in ('lots', '2XB', '0'):
        with pytest.raises(DeoldifyLikeError):
            parse_size(bad)
    assert safe_name('../../etc/passwd') == 'passwd'
    assert safe_name('C:\\Users\\me\\Grand mother.JPG') == 'Grand mother.JPG'
    assert safe_name('.bashrc') == 'bashrc'
    assert safe_name('a\x00b\nc"d;.jpg') == 'a_b_c_d_.jpg'
    assert safe_name('Ölgemälde 1900.png') == 'Ölgemälde 1900.png'
    assert safe_name('...') == 'upload' and safe_name(None) == 'upload'
    assert len(safe_name('x' * 500 + '.jpeg')) <= 120 and safe_name('x' * 500 + '.jpeg').endswith('.jpeg')


# ---- sniffing by content
def test_sniff_reads_the_content_not_the_name(tmp_path):
    jpg = photo(tmp_path, 'p.jpg')
    as_mp4 = tmp_path / 'actually_a_photo.mp4'
    as_mp4.write_bytes(jpg.read_bytes())
    found = sniff(as_mp4, 'actually_a_photo.mp4')
    assert (found.kind, found.suffix, found.result_suffix) == ('photo', '.jpg', '.jpg')
    png = tmp_path / 'p.png'
    Image.open(jpg).save(png)
    assert sniff(png, 'x').result_suffix == '.png'
    gif = tmp_path / 'anim.gif'
    frames = [Image.open(jpg).rotate(a) for a in (0, 10, 20)]
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=80)
    assert (sniff(gif, 'anim.gif').kind, sniff(gif, 'anim.gif').frames) == ('gif', 3)
    film = make_film(tmp_path / 'f.mp4', frames=12).rename(tmp_path / 'f.bin')  # a name that says nothing
    found = sniff(film, 'f.bin')
    assert (found.kind, found.suffix, found.frames) == ('film', '.mp4', 12)


@pytest.mark.parametrize('content, problem', [
    (b'', 'empty file'),
    (b'hello, this is just some text\n' * 20, 'not a photo, GIF or film'),
    (b'\x89PNG\r\n\x1a\n' + b'\0' * 40, 'not a photo, GIF or film'),  # a PNG signature, nothing after it
])
def test_sniff_refuses_what_is_no_picture_with_one_line_naming_the_upload(tmp_path, content, problem):
    path = tmp_path / 'upload'
    path.write_bytes(content)
    with pytest.raises(BadInputError) as e:
        sniff(path, 'notes.jpg')
    assert str(e.value).startswith('notes.jpg: ') and problem in str(e.value) and str(tmp_path) not in str(e.value)


def test_sniff_refuses_a_truncated_jpeg(tmp_path):
    data = photo(tmp_path, 'p.jpg', size=(200, 150)).read_bytes()
    cut = tmp_path / 'cut'
    cut.write_bytes(data[:len(data) // 3])
    with pytest.raises(BadInputError, match='cut.jpg: truncated or damaged'):
        sniff(cut, 'cut.jpg')


# ---- settings from the renderer's signatures
def test_settings_come_from_the_render_functions(monkeypatch):
    opts = serve_options.available_options({'render_factor': 10}, bs=2, precision='auto')
    assert set(opts['photo']) == {'render_factor'} and {'render_factor', 'bs', 'precision'} <= set(opts['film'])
    assert opts['photo']['render_factor'].default == 10 and opts['film']['render_factor'].default == 6
    assert opts['film']['precision'].choices == ['auto', 'fp32', 'bf16', 'fp16']

    def render_film(colorizer, src, dest, render_factor, resume=False, hook=None, stabilize='none', crf: int = 17):
        "a future render_film with more options"
    monkeypatch.setitem(serve_options.RENDERERS, 'film', render_film)
    opts = serve_options.available_options()
    assert {'stabilize', 'crf'} <= set(opts['film']) and 'stabilize' not in opts['photo']
    parsed = serve_options.parse_settings({'render_factor': '12', 'film.stabilize': 'flow', 'film.crf': '20'}, opts)
    assert parsed['photo'] == {'render_factor': 12}
    assert parsed['film']['stabilize'] == 'flow' and parsed['film']['crf'] == 20 and parsed['film']['render_factor'] == 12


@pytest.mark.parametrize('fields, problem', [
    ({'colour': 'red'}, "unknown setting 'colour'"),
    ({'render_factor': '500'}, 'between 1 and 128'),
    ({'render_factor': 'big'}, 'whole number'),
    ({'film.precision': 'fp64'}, 'one of auto'),
    ({'photo.bs': '4'}, "photos have no setting 'bs'"),
])
def test_bad_settings_get_one_line(fields, problem):
    with pytest.raises(serve_options.SettingsError, match=problem):
        serve_options.parse_settings(fields, serve_options.available_options())


# ---- the job store: the worker and restart persistence
def _job_folder(store, job_id, state, attempts=0, created=0.0, src=None):
    folder = store.root / job_id
    folder.mkdir()
    (folder / 'input.jpg').write_bytes(src.read_bytes())
    job = Job(job_id, 'old.jpg', 'photo', 'input.jpg', '.jpg', {'render_factor': 2}, state=state,
              attempts=attempts, created=created)
    (folder / 'job.json').write_text(json.dumps(job.public()))
    return folder


def test_restart_lists_finished_jobs_requeues_unfinished_and_drops_cut_uploads(tmp_path, colorizer):
    src = photo(tmp_path, 'p.jpg')
    work = tmp_path / 'work'
    first = JobStore(work, colorizer)
    job = Job('aaaa00000001', 'p.jpg', 'photo', 'input.jpg', '.jpg', {'render_factor': 2}, created=1.0)
    (first.root / job.id).mkdir()
    (first.root / job.id / 'input.jpg').write_bytes(src.read_bytes())
    first.add(job)
    wait_for(lambda: job.state == 'done', 60, what='the first job')
    broken = Job('aaaa00000002', 'text.jpg', 'photo', 'input.jpg', '.jpg', {'render_factor': 2}, created=2.0)
    (first.root / broken.id).mkdir()
    (first.root / broken.id / 'input.jpg').write_text('not a picture')
    first.add(broken)
    wait_for(lambda: broken.state == 'failed', 60, what='the broken job')
    assert broken.error.startswith('text.jpg: ') and first.worker.is_alive()
    # what a stop in the middle leaves behind
    _job_folder(first, 'bbbb00000001', 'running', created=3.0, src=src)
    _job_folder(first, 'bbbb00000002', 'queued', created=4.0, src=src)
    _job_folder(first, 'bbbb00000003', 'running', attempts=1, created=5.0, src=src)
    (first.root / 'cccc00000001').mkdir()
    (first.root / 'cccc00000001' / 'upload').write_bytes(b'half an upl')

    second = JobStore(work, colorizer)
    assert second.restored == {'listed': 2, 'requeued': 2, 'failed': 1}
    assert not (work / 'jobs' / 'cccc00000001').exists()
    assert [j.id for j in second.list()] == ['aaaa00000001', 'aaaa00000002', 'bbbb00000001', 'bbbb00000002', 'bbbb00000003']
    assert second.get('aaaa00000001').state == 'done' and second.result_path(second.get('aaaa00000001')).is_file()
    assert second.get('bbbb00000003').state == 'failed' and 'stopped 2 times' in second.get('bbbb00000003').error
    wait_for(lambda: all(second.get(i).state == 'done' for i in ('bbbb00000001', 'bbbb00000002')), 60, what='requeued jobs')
    assert second.get('bbbb00000001').attempts == 1
    on_disk = json.loads((work / 'jobs' / 'bbbb00000002' / 'job.json').read_text())
    assert on_disk['state'] == 'done'


# ---- the API in-process
@pytest.fixture(scope='module')
def client(colorizer, tmp_path_factory):
    app = create_app(colorizer, tmp_path_factory.mktemp('work'), max_upload=300_000, model_name='tiny.safetensors')
    with TestClient(app) as c:
        yield c


def _wait_done(client, job_id):
    return wait_for(lambda: (j := client.get(f'/api/jobs/{job_id}').json())['state'] in ('done', 'failed') and j, 60)


def test_api_photo_job_result_preview_and_delete(client, tmp_path):
    src = photo(tmp_path, 'p.jpg', size=(120, 90))
    r = client.post('/api/jobs', files={'file': ('../../Grand;ma.jpg', src.read_bytes())}, data={'render_factor': '3'})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job['name'] == 'Grand_ma.jpg' and job['settings'] == {'render_factor': 3}
    done = _wait_done(client, job['id'])
    assert done['state'] == 'done', done
    result = client.get(done['result_url'])
    assert result.status_code == 200 and 'Grand_ma_colour.jpg' in result.headers['content-disposition']
    assert Image.open(io.BytesIO(result.content)).size == (120, 90)
    previews = [client.post('/api/preview', data={'job': job['id'], 'render_factor': str(rf), 'max_side': '60'}) for rf in (2, 5)]
    assert all(p.status_code == 200 and p.headers['content-type'] == 'image/jpeg' for p in previews)
    assert Image.open(io.BytesIO(previews[0].content)).size == (60, 45)
    assert previews[0].content != previews[1].content
    by_file = client.post('/api/preview', files={'file': ('p.jpg', src.read_bytes())}, data={'render_factor': '2'})
    assert by_file.status_code == 200 and Image.open(io.BytesIO(by_file.content)).size == (120, 90)
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 204
    assert client.get(f"/api/jobs/{job['id']}").status_code == 404
    assert client.delete(f"/api/jobs/{job['id']}").status_code == 404


def test_api_refuses_bad_uploads_with_one_line_and_keeps_serving(client, tmp_path):
    r = client.post('/api/jobs', files={'file': ('notes.jpg', b'just text, named like a photo\n' * 10)})
    assert r.status_code == 415 and r.json()['detail'].startswith('notes.jpg: not a photo, GIF or film')
    r = client.post('/api/jobs', files={'file': ('big.jpg', b'\xff' * 400_000)})
    assert r.status_code == 413 and 'limit' in r.json()['detail']
    r = client.post('/api/jobs', files={'file': ('p.jpg', photo(tmp_path, 'p.jpg').read_bytes())}, data={'render_factor': '0'})
    assert r.status_code == 400 and 'between 1 and 128' in r.json()['detail']
    r = client.post('/api/jobs', data={'render_factor': '3'})  # no file
    assert r.status_code == 415 and 'multipart/form-data' in r.json()['detail']
    r = client.post('/api/preview', files={'file': ('notes.jpg', b'text\n' * 50)})
    assert r.status_code == 415 and r.json()['detail'].startswith('notes.jpg: ')
    assert client.get('/api/jobs/nope/result').status_code == 404
    assert client.get('/api/options').status_code == 200
    jobs_folder = client.app.state.store.root
    assert all((d / 'job.json').is_file() for d in jobs_folder.iterdir())  # refused uploads left nothing behind


def test_api_options_and_openapi_describe_the_settings(client):
    opts = client.get('/api/options').json()
    assert opts['model'] == 'tiny.safetensors' and opts['max_upload'] == 300_000
    assert opts['model_info']['arch'] == 'resnet18' and opts['model_info']['render_factor'] == 2
    assert [o['name'] for o in opts['settings']['photo']] == ['render_factor']
    schema = client.get('/openapi.json').json()
    body = schema['paths']['/api/jobs']['post']['requestBody']['content']['multipart/form-data']['schema']
    assert {'file', 'render_factor', 'bs', 'precision'} <= set(body['properties'])
    assert client.get('/').text.startswith('<!doctype html>')
    page = client.get('/').text + client.get('/static/app.js').text
    assert 'http://' not in page and 'https://' not in page  # nothing loaded from elsewhere


def test_loopback_check():
    assert is_loopback('127.0.0.1') and is_loopback('::1') and is_loopback('localhost')
    assert not is_loopback('0.0.0.0') and not is_loopback('192.168.1.5') and not is_loopback('example.org')


def test_a_film_job_reports_frames_and_a_removed_running_job_is_stopped(client, tmp_path):
    film = make_film(tmp_path / 'f.mp4', frames=24, width=64, height=48)
    r = client.post('/api/jobs', files={'file': ('f.mp4', film.read_bytes())}, data={'film.render_factor': '2', 'film.bs': '1'})
    assert r.status_code == 201, r.text
    job = _wait_done(client, r.json()['id'])
    assert job['state'] == 'done' and job['frames_done'] == job['frames_total'] == 24 and job['fps'] > 0
    long_film = make_film(tmp_path / 'long.mp4', frames=240, width=64, height=48, audio=False)
    r = client.post('/api/jobs', files={'file': ('long.mp4', long_film.read_bytes())}, data={'film.render_factor': '2', 'film.bs': '1'})
    job_id = r.json()['id']
    running = wait_for(lambda: (j := client.get(f'/api/jobs/{job_id}').json())['frames_done'] > 0 and j, 60, every=0.05,
                       what='the film to start')
    assert running['state'] == 'running' and running['frames_total'] == 240 and running['fps'] > 0 and running['eta_s'] > 0
    assert client.delete(f'/api/jobs/{job_id}').status_code == 204
    folder = client.app.state.store.root / job_id
    wait_for(lambda: not folder.exists(), 60, what='the removed job folder to go')
    time.sleep(0.2)
    assert client.app.state.store.worker.is_alive()


# ---- the command
def test_serve_without_model_names_the_quickstart_place_and_warns_off_loopback(tmp_path, monkeypatch, colorizer, capsys):
    import inspect

    import uvicorn

    from render.serve import app as serve_app
    from train_stages.quickstart import quickstart
    assert serve_app.QUICKSTART_MODEL.parent.name == inspect.signature(quickstart).parameters['out'].default
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DeoldifyLikeError, match='no --model given and no quickstart model at deoldify_like_quickstart/model.safetensors'):
        serve_app.serve(work=str(tmp_path / 'work'))
    served = []
    monkeypatch.setattr(uvicorn.Server, 'run', lambda self, sockets: served.append(sockets[0].getsockname()))
    model = save_tiny_model(tmp_path / 'deoldify_like_quickstart' / 'model.safetensors', render_factor=2)
    port = free_port()
    assert serve_app.serve(host='0.0.0.0', port=port, work=str(tmp_path / 'work')) == 0
    out = capsys.readouterr()
    assert served == [('0.0.0.0', port)]
    assert 'warning: listening on 0.0.0.0' in out.err and str(model.relative_to(tmp_path)) in out.out
    serve_app.serve(port=free_port(), work=str(tmp_path / 'work'))
    assert 'warning' not in capsys.readouterr().err and served[1][0] == '127.0.0.1'
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        with pytest.raises(DeoldifyLikeError, match=f'cannot listen on 127.0.0.1 port {taken.getsockname()[1]}'):
            serve_app.serve(port=taken.getsockname()[1], work=str(tmp_path / 'work'))
