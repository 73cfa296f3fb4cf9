"""Jobs: one folder per upload under WORK/jobs/<id>/ holding `job.json` (state, settings, progress), the
input (named by its sniffed format: `input.jpg`, `input.mov`...) and, when done, `result.<suffix>`.

A film's colour references are stored beside it as `reference-<i>.<suffix>` and listed in the job with
their names and keyframes; the worker loads them and passes them to `render_film(references=...)`.

One worker thread per model takes jobs from a queue, one at a time, so a film and a photo never fight for
the CPU and memory stays that of one render. A job that fails gets its one-line reason and the worker goes
on with the next; nothing a job does can stop the server.

After a restart: done and failed jobs are listed again as they were; queued jobs are queued again in their
original order; a job that was running is queued again too (a film resumes from its last finished segment,
`render_film(resume=True)`), unless the server already stopped during it MAX_ATTEMPTS times, when it is
marked failed. A folder without a `job.json` (an upload cut off by the stop) is removed.
"""
import contextlib
import ctypes
import gc
import json
import queue
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

from deoldify_like.errors import BadInputError, DeoldifyLikeError, reraise_as
from deoldify_like.images import atomic_path
from deoldify_like.inference import resolve_precision
from deoldify_like.reference_colour import load_reference

from .options import RENDERERS

STATES = ('queued', 'running', 'done', 'failed')
MAX_ATTEMPTS = 2  # times the server may stop during one job before it is marked failed
SAVE_EVERY = 1.0  # seconds between job.json writes while a film renders


class Cancelled(Exception):
    "The job was removed while it ran."


@dataclass
class Job:
    id: str
    name: str  # the upload's sanitised name: a label, never a path
    kind: str  # photo | gif | film
    input: str  # file name inside the job folder
    result_suffix: str
    settings: dict
    state: str = 'queued'
    frames_total: int = 1
    frames_done: int = 0
    fps: float | None = None
    eta_s: float | None = None
    error: str | None = None
    attempts: int = 0
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    references: list = field(default_factory=list)  # a film's colour references: [{'name', 'file', 'frame'}]

    @property
    def result(self):
        return 'result' + self.result_suffix

    @property
    def download_name(self):
        stem = self.name.rsplit('.', 1)[0] if '.' in self.name else self.name
        return f'{stem}_colour{self.result_suffix}'

    def public(self):
        "What the API shows."
        return {**asdict(self), 'download_name': self.download_name,
                'result_url': f'/api/jobs/{self.id}/result' if self.state == 'done' else None}

    @classmethod
    def from_dict(cls, d):
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def release_memory():
    "Give freed memory back to the system between jobs (glibc keeps it otherwise, and RSS only grows)."
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL('libc.so.6').malloc_trim(0)


class JobStore:
    "The jobs of one server: their folders, the queue and its worker."

    def __init__(self, work, colorizer):
        self.root = Path(work) / 'jobs'
        self.root.mkdir(parents=True, exist_ok=True)
        self.colorizer = colorizer
        self.jobs, self.lock, self.queue = {}, threading.Lock(), queue.Queue()
        self._cancelled = set()
        self.restored = self._restore()
        self.worker = threading.Thread(target=self._work, name='serve-worker', daemon=True)
        self.worker.start()

    # -- folders and persistence
    def new_folder(self):
        "A fresh job id and its folder."
        while True:
            job_id = secrets.token_hex(6)
            folder = self.root / job_id
            with contextlib.suppress(FileExistsError):
                folder.mkdir()
                return job_id, folder

    def folder(self, job):
        return self.root / job.id

    def save(self, job):
        with atomic_path(self.folder(job) / 'job.json') as tmp:
            tmp.write_text(json.dumps(asdict(job), indent=1))

    def _restore(self):
        "Jobs found in the work folder, as the module docstring says; returns {'listed': n, 'requeued': n, 'failed': n}."
        counts = {'listed': 0, 'requeued': 0, 'failed': 0}
        found = []
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            try:
                job = Job.from_dict(json.loads((folder / 'job.json').read_text()))
                if job.id != folder.name or job.state not in STATES:
                    raise ValueError
            except (OSError, ValueError, TypeError):
                shutil.rmtree(folder, ignore_errors=True)  # an upload that never became a job
                continue
            found.append(job)
        for job in sorted(found, key=lambda j: j.created):
            if job.state in ('done', 'failed'):
                counts['listed'] += 1
            elif job.state == 'running' and job.attempts + 1 >= MAX_ATTEMPTS:
                job.attempts += 1
                job.state, job.finished = 'failed', time.time()
                job.error = f"{job.name}: the server stopped {job.attempts} times while rendering it; not tried again"
                counts['failed'] += 1
            else:
                job.attempts += job.state == 'running'
                job.state, job.fps, job.eta_s = 'queued', None, None
                counts['requeued'] += 1
            self.save(job)
            self.jobs[job.id] = job
            if job.state == 'queued':
                self.queue.put(job.id)
        return counts

    # -- what the API calls
    def add(self, job):
        with self.lock:
            self.jobs[job.id] = job
            self.save(job)
        self.queue.put(job.id)
        return job

    def get(self, job_id):
        with self.lock:
            return self.jobs.get(job_id)

    def list(self):
        with self.lock:
            return sorted(self.jobs.values(), key=lambda j: j.created)

    def remove(self, job_id):
        "Forget a job and delete its folder; a running job is stopped at its next batch first."
        with self.lock:
            job = self.jobs.pop(job_id, None)
            if job is None:
                return False
            if job.state == 'running':
                self._cancelled.add(job_id)  # the worker deletes the folder when the render stops
                return True
        shutil.rmtree(self.folder(job), ignore_errors=True)
        return True

    def result_path(self, job):
        return self.folder(job) / job.result

    # -- the worker
    def _work(self):
        while True:
            job_id = self.queue.get()
            with self.lock:
                job = self.jobs.get(job_id)
                if job is None or job.state != 'queued':
                    continue
                job.state, job.started = 'running', time.time()
                self.save(job)
            try:
                frames = self._run(job)
                job.state, job.frames_done, job.eta_s = 'done', frames, 0
            except Cancelled:
                pass
            except DeoldifyLikeError as e:
                job.state, job.error = 'failed', str(e)
            except Exception as e:  # noqa: BLE001 - a failed job never stops the server
                line = str(e).splitlines()[0] if str(e) else ''
                job.state, job.error = 'failed', f"{job.name}: failed ({type(e).__name__}: {line})"
            job.finished = time.time()
            with self.lock:
                if job.id in self._cancelled or job.id not in self.jobs:
                    self._cancelled.discard(job.id)
                    shutil.rmtree(self.folder(job), ignore_errors=True)
                else:
                    self.save(job)
            release_memory()

    def _run(self, job):
        "Render one job into its folder; returns the number of frames written."
        folder, settings = self.folder(job), dict(job.settings)
        src, dest = folder / job.input, folder / job.result
        renderer = RENDERERS[job.kind]
        colorizer = self.colorizer
        saved = colorizer.bs, colorizer.precision
        try:
            if 'bs' in settings:
                colorizer.bs = int(settings.pop('bs'))
            if 'precision' in settings:
                with reraise_as(DeoldifyLikeError, ValueError, f"{job.name}: "):
                    colorizer.precision = resolve_precision(settings.pop('precision'), colorizer.device)
                if colorizer.precision == 'fp16' and colorizer.device.type != 'cuda':
                    raise DeoldifyLikeError(f"{job.name}: precision fp16 needs a CUDA device; use bf16 or auto on CPU")
            try:
                if job.kind == 'film':  # the frames it could decode (a damaged film may end early)
                    if job.references:
                        settings['references'] = [replace(load_reference(folder / r['file'], r['frame']), name=r['name'])
                                                  for r in job.references]
                    return renderer(colorizer, src, dest, resume=job.attempts > 0, hook=self._film_hook(job), **settings)
                renderer(colorizer, src, dest, **settings)
                return job.frames_total
            except BadInputError as e:
                raise BadInputError(job.name, e.problem) from None  # the upload's name, not the server's path
        finally:
            colorizer.bs, colorizer.precision = saved

    def _film_hook(self, job):
        "Called by render_film after every batch: progress, frames/s, time left; stops a removed job."
        t0, first, last_save = time.perf_counter(), None, 0.0

        def hook(done):
            nonlocal first, last_save
            if job.id in self._cancelled:
                raise Cancelled
            now = time.perf_counter()
            if first is None:
                first = (now, done)  # a resumed render starts counting here
            job.frames_done = done
            if done > first[1] and now > first[0]:
                job.fps = (done - first[1]) / (now - first[0])
            elif now > t0:
                job.fps = done / (now - t0)
            job.eta_s = (job.frames_total - done) / job.fps if job.fps else None
            if now - last_save > SAVE_EVERY:
                last_save = now
                with self.lock:
                    if job.id in self.jobs:
                        self.save(job)
        return hook
