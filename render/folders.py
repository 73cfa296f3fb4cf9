"""Many inputs at once: files and folders (recursive) become jobs whose outputs mirror the input tree; each
bad file gets one line and the rest goes on.

A file given by name is written to `OUT/<its name>`; a folder `F` to `OUT/<F's name>/<path inside F>`.
Hidden files and folders (a leading dot, e.g. a render's own work folder) are left out, and so is the output
folder when it lies inside an input folder. Photos are colorized `bs` at a time.
"""
import sys
from dataclasses import dataclass, field
from pathlib import Path

from deoldify_like.errors import BadInputError
from deoldify_like.images import is_image_path, load_image
from deoldify_like.inference import OutOfMemory, render_factor_for
from deoldify_like.progress import progress, say
from deoldify_like.video import probe_video

from . import photos
from .film import is_film_path, render_film, work_dir
from .film.codecs import Codec, output_suffix as film_suffix
from .gif import render_gif
from .film.part import Span
from .sweep import render_sweep
from .film.web_copy import web_path, write_web_copy


@dataclass
class FilmOptions:
    """How films are written: codec (None: H.264, VP9 for WebM) and crf, a web copy, the part rendered, and the
    chroma stabiliser ('none', 'flow' or 'flow-one-way'; its strength, None for the mode's default) and the brightness deflicker
    (its window, None for the deflicker's default)."""
    codec: Codec | None = None
    crf: int | None = None
    web: bool = False
    span: Span = field(default_factory=Span)
    stabilize: str = 'none'
    strength: float | None = None
    deflicker_brightness: bool = False
    deflicker_brightness_window: int | None = None


@dataclass
class Job:
    src: Path
    dest: Path
    kind: str  # photo | gif | film


def kind_of(path):
    suffix = Path(path).suffix.lower()
    if suffix == '.gif':
        return 'gif'
    if is_image_path(path):
        return 'photo'
    if is_film_path(path):
        return 'film'
    return None


def output_name(src, kind, sweep=False, codec=None):
    src = Path(src)
    if sweep:
        return f'{src.stem}.sweep.jpg'
    if kind == 'film':
        return src.stem + film_suffix(src, codec)
    if kind == 'photo':
        return src.stem + photos.output_suffix(src)
    return src.name


def _hidden(rel):
    return any(part.startswith('.') for part in rel.parts)


def plan(inputs, out, sweep=False, codec=None):
    "Jobs for `inputs` (files and folders) writing under `out`, and one line per input that cannot be a job."
    out = Path(out)
    jobs, problems, seen = [], [], {}
    for given in inputs:
        given = Path(given)
        if given.is_dir():
            found = []
            for f in sorted(given.rglob('*')):
                rel = f.relative_to(given)
                if f.is_file() and kind_of(f) and not _hidden(rel) and not f.resolve().is_relative_to(out.resolve()):
                    found.append((f, out / given.resolve().name / rel.parent))
        elif given.is_file():
            if kind_of(given) is None:
                problems.append(f"{given}: not a photo, GIF or film (unknown suffix {given.suffix!r})")
                continue
            found = [(given, out)]
        else:
            problems.append(f"{given}: no such file or folder")
            continue
        for src, folder in found:
            kind = kind_of(src)
            dest = folder / output_name(src, kind, sweep, codec)
            key = dest.resolve()
            if key == src.resolve():
                problems.append(f"{src}: the output would overwrite the input; choose another --out")
            elif key in seen:
                problems.append(f"{src}: its output {dest} is also the output of {seen[key]}; rename one of them")
            else:
                seen[key] = src
                jobs.append(Job(src, dest, kind))
    return jobs, problems


class Report:
    "Counts and one line per failed file (on stderr)."

    def __init__(self):
        self.done, self.skipped, self.failed = [], [], []

    def fail(self, job, problem):
        self.add(f"{job.src}: {problem}")

    def add(self, line):
        print(f"render: {line}", file=sys.stderr, flush=True)
        self.failed.append(line)

    def summary(self):
        return f"{len(self.done)} done, {len(self.skipped)} skipped, {len(self.failed)} failed"


def _failure(error):
    "One line for an error while rendering a file; out-of-memory and interrupts are not per-file problems."
    if isinstance(error, BadInputError):
        return error.problem
    return f"failed ({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''})"


def _render_photo_chunk(colorizer, chunk, render_factor, report, reference=None):
    "Colorize photos together (one model batch) and write each one; `reference`: uint8 RGB to take colour from."
    loaded = []
    for job in chunk:
        try:
            loaded.append((job, load_image(job.src)))
        except BadInputError as e:
            report.fail(job, e.problem)
    rf = render_factor_for(colorizer, 'photo', render_factor)
    colours = photos.photo_colours(colorizer, [img.luma for _, img in loaded], rf, reference) if loaded else []
    for (job, _), rgb in zip(loaded, colours):
        try:
            photos.save_photo(rgb, job.dest, photos.read_alpha(job.src))
            report.done.append(job.dest)
        except (OSError, ValueError, BadInputError) as e:
            report.fail(job, _failure(e))


def _render_one(colorizer, job, render_factor, resume, sweep, film, at, references):
    if sweep:
        return render_sweep(colorizer, job.src, job.dest, sweep, at=at)
    if job.kind == 'film':
        s = film.span
        fps = probe_video(job.src, count_frames=False).fps if references else None
        return render_film(colorizer, job.src, job.dest, render_factor_for(colorizer, 'film', render_factor), resume=resume,
                           codec=film.codec, crf=film.crf, start=s.start, duration=s.duration, limit=s.frames, web=film.web,
                           stabilize=film.stabilize, deflicker_brightness=film.deflicker_brightness,
                           deflicker_brightness_window=film.deflicker_brightness_window,
                           references=[r.for_film(fps) for r in references] or None,
                           **({} if film.strength is None else dict(strength=film.strength)))
    return render_gif(colorizer, job.src, job.dest, render_factor_for(colorizer, 'photo', render_factor))


def render_jobs(colorizer, jobs, render_factor=None, resume=False, overwrite=False, sweep=None, report=None,
                film=None, at=None, references=()):
    """Run every job; a finished output is skipped unless `overwrite`. Returns the Report.
    `sweep`: a list of render factors (make sweep grids instead of renders), `at`: the sweep's film frame
    time; `film`: FilmOptions; `references`: `film.reference.GivenReference`s, carried through each film
    (render_film's `references`); photos take their colour from the first (GIFs are coloured without)."""
    report = report or Report()
    film = film or FilmOptions()
    references = list(references or ())
    chunk = []

    def flush():
        if chunk:
            _render_photo_chunk(colorizer, chunk, render_factor, report, references[0].rgb if references else None)
            chunk.clear()

    for job in progress(jobs, total=len(jobs)) if len(jobs) > 1 else jobs:
        if job.dest.exists() and not overwrite and job.kind == 'film' and film.web and not sweep \
                and not web_path(job.dest).exists():
            try:  # the film is done but its web copy is missing (asked for later, or interrupted)
                write_web_copy(job.dest, web_path(job.dest))
                report.done.append(web_path(job.dest))
            except Exception as e:  # noqa: BLE001 - one line per bad file, the rest goes on
                report.fail(job, _failure(e))
            continue
        if job.dest.exists() and not overwrite:
            say(f"{job.dest}: exists, skipped (--overwrite to redo it)")
            report.skipped.append(job.dest)
            continue
        if job.kind == 'film' and not sweep:
            unfinished = work_dir(job.dest).exists()
            if unfinished and not (resume or overwrite):  # never throw away finished work unasked
                report.fail(job, f"an unfinished render is in {work_dir(job.dest)}; "
                                 f"--resume continues it, --overwrite starts again")
                continue
            say(f"{job.src} -> {job.dest}" + (' (resuming)' if resume and unfinished else ''))
        if job.kind == 'photo' and not sweep:
            chunk.append(job)
            if len(chunk) >= colorizer.bs:
                flush()
            continue
        flush()
        try:
            _render_one(colorizer, job, render_factor, resume, sweep, film, at, references)
            report.done.append(job.dest)
        except (OutOfMemory, KeyboardInterrupt):
            raise
        except Exception as e:  # noqa: BLE001 - one line per bad file, the rest goes on
            report.fail(job, _failure(e))
    flush()
    return report
