"""A render farm on Ray: `render ... --ray [ADDRESS]` spreads photos and films over a Ray cluster
(render/ray_cluster.py: which cluster, started or joined).

- One actor per worker (a CPU, or a GPU where the cluster has them) loads the model once and keeps it.
- A film is cut into pieces at the local render's own segment boundaries (every `segment_frames` frames,
  where render_film starts a fresh encoder: the keyframes of the output; cutting anywhere else would
  change the encoding). A worker decodes the film up to its piece without colorizing (as a resumed
  render does), colorizes and encodes the piece exactly as render_film does, and returns the encoded
  segments. The driver remuxes all
  segments with the source's audio (copied once) - the same function as a local render - so the result
  is the local render, byte for byte where the same threads and library versions run both.
- Photos go to the workers in chunks of the model batch; each returns the encoded output file.
- Inputs travel in Ray's object store and outputs come back as bytes, so workers need no shared disk.
- A worker process that dies is restarted (the model loaded again) and its task retried
  (`max_restarts`, `max_task_retries`); a progress bar on the driver advances as pieces finish anywhere.
Ray is an optional extra: `pip install -e ".[ray]"`.
"""
import os
import shutil
import tempfile
from pathlib import Path

from deoldify_like.errors import BadInputError
from deoldify_like.images import atomic_path
from deoldify_like.progress import progress, quiet, say

from .film import SEGMENT_FRAMES, Segments, codecs, colorize_segments, output_suffix
from .ray_cluster import JOIN_TIMEOUT, cluster, ray_module

FARM_KINDS = ('photo', 'film')  # GIFs and sweeps are rendered by the driver
RETRIES = 3  # restarts of a dead worker, and retries of the piece it was working on
PIECE_SEGMENTS = 1  # film segments per task: one segment (240 frames) is a few minutes of CPU work


def film_pieces(total, segment_frames, piece_segments=PIECE_SEGMENTS):
    "[(first segment, end segment)] covering the film's segments, `piece_segments` at a time."
    n = -(-total // segment_frames)
    return [(a, min(n, a + piece_segments)) for a in range(0, n, piece_segments)]


class _Worker:
    "The actor: one model, loaded once, rendering film pieces and photo chunks sent to it."

    def __init__(self, model_bytes, fit, device, bs, precision, threads, crash_marker=None, engine='torch'):
        import torch

        from deoldify_like.device import pick_device, render_batch_size
        from deoldify_like.inference import Colorizer
        bs = bs or render_batch_size(pick_device(device))
        if threads:
            torch.set_num_threads(threads)
        self.tmp = Path(tempfile.mkdtemp(prefix='deoldify_farm_'))
        model = self.tmp / 'model.safetensors'
        model.write_bytes(model_bytes)
        self.colorizer = Colorizer.from_file(model, fit=fit, device=device, bs=bs, precision=precision, engine=engine)
        self.crash_marker = crash_marker

    def _maybe_crash(self):
        "Tests: the first call anywhere kills its worker process (as a crash or a lost node would)."
        if self.crash_marker and not os.path.exists(self.crash_marker):
            Path(self.crash_marker).write_text(str(os.getpid()))
            os._exit(1)

    def film_piece(self, name, film, render_factor, segment_frames, first, end, total):
        "Segments [first, end) of a film: (film name, [(segment number, start seconds, encoded bytes)])."
        self._maybe_crash()
        work = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            src = work / f'source{Path(name).suffix}'
            src.write_bytes(film)
            suffix = output_suffix(name)
            codec = codecs.codec_for_input(codecs.Source.probe(src), suffix)  # the local render's rule
            segments = Segments(work / 'parts', codec, suffix, segment_frames).clear(first)
            colorize_segments(self.colorizer, src, segments, render_factor, min(total, end * segment_frames))
            return name, [(k, str(segments.start(k)), segments.path(k).read_bytes()) for k in range(first, segments.done)]
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def photos(self, items, render_factor):
        "[(name, photo bytes)] -> [(name, output bytes or None, problem or None)], one model batch."
        from deoldify_like.images import load_image

        from . import photos as photo_mod
        self._maybe_crash()
        work = Path(tempfile.mkdtemp(dir=self.tmp))
        try:
            loaded, out = [], []
            for i, (name, data) in enumerate(items):
                src = work / f'{i}_{Path(name).name}'
                src.write_bytes(data)
                try:
                    loaded.append((name, src, load_image(src)))
                except BadInputError as e:
                    out.append((name, None, e.problem))
            colours = self.colorizer.colorize([img.luma for _, _, img in loaded], render_factor) if loaded else []
            for (name, src, _), rgb in zip(loaded, colours):
                dest = work / f'out_{src.name}'
                try:
                    photo_mod.save_photo(rgb, dest, photo_mod.read_alpha(src))
                    out.append((name, dest.read_bytes(), None))
                except (OSError, ValueError, BadInputError) as e:
                    out.append((name, None, str(e).splitlines()[0]))
            return out
        finally:
            shutil.rmtree(work, ignore_errors=True)


def start_workers(model_ref, fit, device, bs, precision, n_workers=None, crash_marker=None, engine='torch'):
    """One actor per CPU (or GPU) of the cluster, each with the model loaded; at least one. `model_ref`: the
    model file's bytes in the object store (kept referenced by the caller, so that a restarted actor finds it)."""
    ray = ray_module()
    res = ray.cluster_resources()
    gpus = int(res.get('GPU', 0)) if device != 'cpu' else 0
    n = n_workers or max(1, gpus or int(res.get('CPU', 1)))
    opts = {'num_gpus': 1, 'num_cpus': 1} if gpus else {'num_cpus': 1}
    actor = ray.remote(_Worker).options(max_restarts=RETRIES, max_task_retries=RETRIES, **opts)
    return [actor.remote(model_ref, fit, 'cuda' if gpus else 'cpu', bs, precision, 1 if not gpus else 0, crash_marker, engine)
            for _ in range(n)]


def farm_jobs(workers, jobs, header, render_factor=None, report=None, segment_frames=None):
    """Render the `jobs` of render.folders.plan on the workers (films in pieces, photos in chunks); the
    Report of render_jobs. GIFs and sweeps are not spread: the caller renders those locally."""
    from ray.util import ActorPool

    from .folders import Report
    from deoldify_like.inference import render_factor_for
    from deoldify_like.video import probe_video
    ray = ray_module()
    report = report or Report()
    segment_frames = segment_frames or SEGMENT_FRAMES
    tasks, films = [], {}
    photo_jobs = [j for j in jobs if j.kind == 'photo']
    bs = 8
    for i in range(0, len(photo_jobs), bs):
        chunk = photo_jobs[i:i + bs]
        tasks.append(('photos', [(str(j.src), j.src.read_bytes()) for j in chunk],
                      render_factor_for(header, 'photo', render_factor)))
    for job in (j for j in jobs if j.kind == 'film'):
        try:
            total = probe_video(job.src).frames
            if total == 0:
                raise BadInputError(job.src, 'film has no frames')
        except BadInputError as e:
            report.fail(job, e.problem)
            continue
        ref = ray.put(job.src.read_bytes())
        pieces = film_pieces(total, segment_frames)
        films[str(job.src)] = {'job': job, 'total': total, 'segments': {}, 'pieces': len(pieces), 'failed': None}
        rf = render_factor_for(header, 'film', render_factor)
        for a, b in pieces:
            tasks.append(('film', str(job.src), ref, rf, a, b, total))

    def submit(actor, task):
        if task[0] == 'photos':
            return actor.photos.remote(task[1], task[2])
        _, name, ref, rf, a, b, total = task
        return actor.film_piece.remote(name, ref, rf, segment_frames, a, b, total)

    by_src = {str(j.src): j for j in jobs}
    pool = ActorPool(workers)
    results = pool.map_unordered(submit, tasks)
    bar = progress(range(len(tasks)), total=len(tasks)) if tasks and not quiet() else None
    ticks = iter(bar) if bar is not None else None
    for _ in range(len(tasks)):
        try:
            result = next(results)
        except ray.exceptions.RayError as e:  # a piece failed on every try: its film fails, the rest goes on
            say(f"render: a task failed on the cluster ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
            continue
        finally:
            if ticks is not None:
                next(ticks, None)
        if isinstance(result, list):
            for name, data, problem in result:
                job = by_src[name]
                if problem:
                    report.fail(job, problem)
                    continue
                job.dest.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(job.dest) as tmp:
                    Path(tmp).write_bytes(data)
                report.done.append(job.dest)
        else:
            name, segments = result
            films[name]['segments'].update({k: (start, data) for k, start, data in segments})
    for name, f in films.items():
        _join_film(f, segment_frames, report)
    return report


def _join_film(f, segment_frames, report):
    "Write the segments to the output's work folder and join them with the source's audio, as render_film does."
    from deoldify_like.video import probe_video

    job = f['job']
    n = -(-f['total'] // segment_frames)
    if sorted(f['segments']) != list(range(n)):
        report.fail(job, f"{n - len(f['segments'])} of its {n} segments could not be rendered on the cluster")
        return
    segments = Segments.beside(job.dest, codecs.codec_for_input(codecs.Source.probe(job.src), job.dest.suffix.lower()),
                               segment_frames)
    try:
        segments.clear()
        for k in range(n):
            start, data = f['segments'][k]
            segments.add(k, start, data)
        segments.join(job.src, job.dest, probe_video(job.src).fps)
        report.done.append(job.dest)
    except Exception as e:  # noqa: BLE001 - one line per film, the rest goes on
        report.fail(job, f"joining its segments failed ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})")
    finally:
        segments.remove()


def render_on_ray(address, model, jobs, header, fit, device, bs, precision, render_factor=None, overwrite=False,
                  report=None, n_workers=None, segment_frames=None, crash_marker=None, engine='torch',
                  join_timeout=JOIN_TIMEOUT):
    """The farm behind `render --ray`: existing outputs skipped unless `overwrite`; returns the Report. The
    cluster is render/ray_cluster.py's for `address` (None or 'local': a fresh one on 127.0.0.1, stopped at the
    end; 'auto' or HOST:PORT: joined within `join_timeout` seconds)."""
    from .folders import Report
    report = report or Report()
    todo = []
    for job in jobs:
        if job.dest.exists() and not overwrite:
            say(f"{job.dest}: exists, skipped (--overwrite to redo it)")
            report.skipped.append(job.dest)
        else:
            todo.append(job)
    if not todo:
        return report
    with cluster(address, join_timeout) as ray:
        model_ref = ray.put(Path(model).read_bytes())
        workers = start_workers(model_ref, fit, device, bs, precision, n_workers, crash_marker, engine)
        say(f"render: {len(workers)} Ray workers, each with the model loaded once")
        try:
            return farm_jobs(workers, todo, header, render_factor, report, segment_frames)
        finally:
            for w in workers:
                ray.kill(w)
