"""The web page and its JSON/HTTP API (FastAPI), and the `serve` command that runs them with uvicorn.

API (the page uses nothing else; docs/serve.md has examples):
  GET    /api/options           the model, the upload limit and the settings each kind takes
  POST   /api/jobs              multipart: `file` plus settings as form fields (a film: also colour
                                `reference` pictures, each with an optional `reference_frame`) -> 201 {"id", ...job}
  GET    /api/jobs              every job, oldest first
  GET    /api/jobs/{id}         state (queued, running, done, failed) and progress
  GET    /api/jobs/{id}/result  the colour file (409 until done)
  DELETE /api/jobs/{id}         stop and remove a job and its files
  POST   /api/preview           multipart: `file` (or `job`: an id) + render_factor (+ max_side) -> JPEG
A file that is not a photo, GIF or film is answered 415 with one line naming it; a bad setting 400; an
upload over the limit 413; a reference that is not a colour picture 415, one placed past the film's end 400,
with nothing queued. Errors are JSON {"detail": "..."}.
"""
import io
import ipaddress
import secrets
import shutil
import socket
import sys
import threading
from pathlib import Path
from typing import Annotated

import cv2
from PIL import Image

from deoldify_like.choices import DEVICES
from deoldify_like.errors import BadInputError, DeoldifyLikeError, SettingsError, reraise_as
from deoldify_like.images import load_image
from deoldify_like.inference import DEFAULT_BS, DEFAULT_PRECISION, PRECISION_CHOICES, Colorizer
from deoldify_like.progress import say

from .jobs import Job, JobStore
from .options import available_options, options_json, parse_settings
from .uploads import MAX_REFERENCES, UploadError, parse_size, receive_form, receive_upload, safe_name, sniff, store_references

try:
    from fastapi import FastAPI, HTTPException, Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import FileResponse, Response
    from fastapi.staticfiles import StaticFiles
except ImportError:  # the serve extra is not installed
    FastAPI = None

WEB = Path(__file__).parent / 'web'
QUICKSTART_MODEL = Path('deoldify_like_quickstart') / 'model.safetensors'  # where `quickstart` promotes its model
DEFAULT_WORK = 'deoldify_like_serve'
PREVIEW_SIDE, PREVIEW_QUALITY = 800, 90


class SharedColorizer(Colorizer):
    """A Colorizer used by the job worker and by previews at once: one model batch at a time, so a preview
    waits for at most one batch of a film, not for the whole film."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.model_lock = threading.Lock()

    def forward(self, squares):
        with self.model_lock:
            return super().forward(squares)


def _error(e):
    "An expected failure as an HTTP error with its one line."
    status = e.status if isinstance(e, UploadError) else 415 if isinstance(e, BadInputError) else 400
    return HTTPException(status, str(e))


def _multipart_schema(options):
    "The request body of POST /api/jobs for the OpenAPI document, from the settings the renderer takes."
    props = {'file': {'type': 'string', 'format': 'binary', 'description': 'a photo, GIF or film (type read from the content)'}}
    for kind, opts in options.items():
        for name, o in opts.items():
            schema = {'type': {'int': 'integer', 'float': 'number', 'bool': 'boolean'}.get(o.type, 'string'),
                      'description': f"{o.help} (for {', '.join(o.kinds)}; `{kind}.{name}` sets it for {kind}s only)"}
            if o.choices:
                schema['enum'] = o.choices
            if o.min is not None:
                schema['minimum'], schema['maximum'] = o.min, o.max
            props.setdefault(name, schema)
    props['reference'] = {'type': 'array', 'maxItems': MAX_REFERENCES, 'items': {'type': 'string', 'format': 'binary'},
                          'description': 'films only: colour pictures of keyframes (a frame coloured, or a colour photo of '
                                         'the scene), each carried through its shot (docs/reference_colour.md)'}
    props['reference_frame'] = {'type': 'array', 'items': {'type': 'string'},
                                'description': "one per reference, in order: its frame number (120) or time (4.5s); empty: the frame number "
                                               "or time in its name (shot_f120.png, street_4.5s.png), else the frame it "
                                               "resembles most"}
    return {'requestBody': {'required': True, 'content': {'multipart/form-data': {
        'schema': {'type': 'object', 'required': ['file'], 'properties': props}}}}}


def create_app(colorizer, work, max_upload, model_name='model', precision=DEFAULT_PRECISION):
    """The FastAPI app for one model; jobs live in `work` (restored from it when it holds earlier jobs).
    `precision` is the film jobs' default (as given, e.g. 'auto'; the colorizer holds it resolved)."""
    if FastAPI is None:
        raise DeoldifyLikeError("serve needs FastAPI, uvicorn and python-multipart: pip install 'deoldify-like[serve]'")
    work = Path(work)
    store = JobStore(work, colorizer)
    options = available_options(colorizer.header, colorizer.bs, precision)
    tmp = work / 'tmp'
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    app = FastAPI(title='deoldify_like', version='1', summary='Colorize photos, GIFs and films with one model file.')
    app.state.store = store
    header = colorizer.header or {}
    about = {'arch': (header.get('config') or {}).get('arch'), 'render_factor': header.get('render_factor'),
             **{k: v for k, v in (header.get('info') or {}).items() if k in ('saved_at', 'promoted_from', 'preset')}}

    @app.get('/', include_in_schema=False)
    def index():
        return FileResponse(WEB / 'index.html', media_type='text/html')

    app.mount('/static', StaticFiles(directory=WEB), name='static')

    @app.get('/api/options')
    def get_options():
        "The model, the upload limit and, for each kind, the settings a job takes (name, type, default, range, choices, help)."
        return {'model': model_name, 'model_info': about, 'max_upload': max_upload, 'settings': options_json(options)}

    @app.post('/api/jobs', status_code=201, openapi_extra=_multipart_schema(options))
    async def post_job(request: Request):
        """Upload a photo, GIF or film (multipart field `file`) with settings as form fields; it is queued. A film
        may come with colour `reference` pictures (ignored with a photo or GIF), checked before it is queued."""
        job_id, folder = store.new_folder()
        upload = folder / 'upload'
        try:
            received = await receive_form(request, upload, max_upload, references_dir=folder)
            per_kind = parse_settings(received.fields, options)
            name = safe_name(received.filename)
            found = await run_in_threadpool(sniff, upload, name)
            references = []
            if found.kind == 'film':
                references = await run_in_threadpool(store_references, received, folder, upload, found.frames)
            upload.rename(folder / ('input' + found.suffix))
        except Exception as e:  # noqa: BLE001 - every refusal leaves nothing behind and one line for the user
            shutil.rmtree(folder, ignore_errors=True)
            if isinstance(e, DeoldifyLikeError):
                raise _error(e) from None
            raise HTTPException(500, f"the upload could not be stored or read ({type(e).__name__}: {e})") from None
        for path, _ in received.references if found.kind != 'film' else ():
            path.unlink(missing_ok=True)  # references are for films, as settings of another kind are ignored
        job = Job(job_id, name, found.kind, 'input' + found.suffix, found.result_suffix, per_kind[found.kind],
                  frames_total=found.frames, references=references)
        return store.add(job).public()

    @app.get('/api/jobs')
    def list_jobs():
        "Every job, oldest first."
        return [j.public() for j in store.list()]

    def _job(job_id):
        job = store.get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id!r} (removed, or never made)")
        return job

    @app.get('/api/jobs/{job_id}')
    def get_job(job_id: str):
        "A job's state (queued, running, done, failed), progress (frames_done of frames_total, fps, eta_s) and error."
        return _job(job_id).public()

    @app.get('/api/jobs/{job_id}/result')
    def get_result(job_id: str):
        "The colour file, named after the upload."
        job = _job(job_id)
        if job.state != 'done':
            raise HTTPException(409, f"{job.name} is {job.state}" + (f": {job.error}" if job.error else ', not done yet'))
        return FileResponse(store.result_path(job), filename=job.download_name)

    @app.delete('/api/jobs/{job_id}', status_code=204)
    def delete_job(job_id: str):
        "Remove a job and its files (a running one is stopped)."
        if not store.remove(job_id):
            raise HTTPException(404, f"no job {job_id!r}")
        return Response(status_code=204)

    def _preview(path, label, render_factor, max_side):
        try:
            luma = load_image(path).luma
        except BadInputError as e:
            raise BadInputError(label, e.problem) from None
        h, w = luma.shape
        if max(h, w) > max_side:
            scale = max_side / max(h, w)
            luma = cv2.resize(luma, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
        rgb = colorizer.colorize([luma], render_factor)[0]
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format='JPEG', quality=PREVIEW_QUALITY)
        return buf.getvalue()

    @app.post('/api/preview', responses={200: {'content': {'image/jpeg': {}}}})
    async def post_preview(request: Request):
        """A quick colour version of a photo as JPEG: multipart `file` (or `job`, the id of an uploaded photo),
        `render_factor`, and `max_side` (pixels, default 800)."""
        upload = tmp / f'preview-{secrets.token_hex(8)}'
        try:
            fields, filename = await receive_upload(request, upload, max_upload, require_file=False)
            if filename is not None:
                source, label = upload, safe_name(filename)
            else:
                job = _job(fields.get('job', ''))
                if job.kind not in ('photo', 'gif'):
                    raise UploadError(f"{job.name} is a {job.kind}; previews are for photos and GIFs")
                source, label = store.folder(job) / job.input, job.name
            extra = {k: fields.pop(k) for k in ('job', 'max_side') if k in fields}
            rf = parse_settings({'render_factor': fields.pop('render_factor', '')}, {'photo': options['photo']})['photo']['render_factor']
            if fields:
                raise SettingsError(f"a preview takes render_factor and max_side, not {', '.join(fields)}")
            side = extra.get('max_side', str(PREVIEW_SIDE))
            if not side.isdigit() or not 16 <= int(side) <= 4096:
                raise SettingsError(f"max_side must be a whole number of pixels from 16 to 4096, got {side!r}")
            jpeg = await run_in_threadpool(_preview, source, label, rf, int(side))
        except DeoldifyLikeError as e:
            raise _error(e) from None
        finally:
            upload.unlink(missing_ok=True)
        return Response(jpeg, media_type='image/jpeg')

    return app


def is_loopback(host):
    "Whether `host` (an address or 'localhost') is reachable from this machine only."
    if host == 'localhost':
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listening_socket(host, port):
    "A socket bound to `host`:`port` for uvicorn; one line when the address is taken or not this machine's."
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
    except OSError as e:
        raise DeoldifyLikeError(f"cannot listen on {host} port {port} ({e.strerror or e}); choose another --port or --host") from None
    return sock


def find_model(model):
    "The model file to serve: `model`, else the quickstart's promoted model; one clear line when neither exists."
    if model:
        return Path(model)
    if QUICKSTART_MODEL.is_file():
        say(f"serve: no --model given; using the quickstart's promoted model {QUICKSTART_MODEL}")
        return QUICKSTART_MODEL
    raise DeoldifyLikeError(f"no --model given and no quickstart model at {QUICKSTART_MODEL} (in {Path.cwd()}); "
                            "pass --model FILE (what `promote`, `import-deoldify` or `quickstart` writes)")


def serve(model: str = None,  # model file; default: the quickstart's promoted model, deoldify_like_quickstart/model.safetensors in the current folder
          host: str = '127.0.0.1',  # address to listen on; anything but loopback lets other machines upload (there is no login)
          port: int = 8000,  # port to listen on
          max_upload: str = '2GB',  # largest upload accepted, e.g. 500MB or 2GB (checked while it arrives)
          work: str = DEFAULT_WORK,  # folder for uploads and results; jobs in it are listed again after a restart
          device: Annotated[str, "auto is CUDA when present, else CPU", dict(choices=DEVICES)] = 'auto',
          bs: int = DEFAULT_BS,  # film frames per model batch (a film job may choose its own)
          precision: Annotated[str, "model arithmetic (a film job may choose its own)", dict(choices=PRECISION_CHOICES)] = DEFAULT_PRECISION):
    "A local web page (and JSON API) to colorize photos, GIFs and films with one model file."
    if FastAPI is None:
        raise DeoldifyLikeError("serve needs FastAPI, uvicorn and python-multipart: pip install 'deoldify-like[serve]'")
    import uvicorn

    limit = parse_size(max_upload)
    sock = listening_socket(host, port)  # before the slow model load: a port in use is one line at once
    path = find_model(model)
    if bs < 1:
        raise DeoldifyLikeError(f"--bs must be at least 1, got {bs}")
    with reraise_as(DeoldifyLikeError, ValueError):
        colorizer = SharedColorizer.from_file(path, device=device, bs=bs, precision=precision)
    app = create_app(colorizer, work, limit, path.name, precision)
    restored = app.state.store.restored
    if sum(restored.values()):
        say(f"serve: {restored['listed']} finished jobs listed again, {restored['requeued']} unfinished queued again, "
            f"{restored['failed']} marked failed (from {work})")
    if not is_loopback(host):
        print(f"serve: warning: listening on {host}, not only on this machine: anyone who can reach port {port} can "
              "upload files and use this computer's processor; there is no login. Use --host 127.0.0.1 to keep it local.",
              file=sys.stderr, flush=True)
    shown = f'[{host}]' if ':' in host else host
    print(f"serve: open http://{shown}:{port}/ (model {path}, uploads up to {max_upload}, work folder {work}); Ctrl+C stops",
          flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level='warning', timeout_graceful_shutdown=5)).run(sockets=[sock])
    return 0
