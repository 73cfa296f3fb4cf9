"""The resumable segments of one film render, in one place: their file names, which are complete, and joining them.

A film is encoded in segments of `segment_frames` frames, each its own file, renamed into a work folder
beside the output (`.NAME.parts/`) when complete; `progress.json` there counts the finished ones and keeps
the settings they were made with, so `--resume` continues only a render of the same film with the same
settings. Every segment starts a fresh encoder on a batch boundary, so segments made anywhere (a resumed
render, a Ray worker) are the ones an uninterrupted render makes. When all are done they are joined with
the source's audio (render/film/mux.py) and the work folder is removed.
"""
import contextlib
import json
import shutil
from fractions import Fraction
from pathlib import Path

from deoldify_like.images import atomic_path

from . import codecs
from .mux import join_segments

SEGMENT_FRAMES = 240  # frames per resumable segment: about 10 s of film, a minute or two of CPU work


def work_dir(dest):
    "Where a render in progress keeps its segments and progress.json."
    dest = Path(dest)
    return dest.parent / f'.{dest.name}.parts'


class Segments:
    """The segments of a film render into a `film_suffix` file with `codec`, kept in folder `work`.

    `state` is what progress.json holds: `segments_done` (segments 0..done-1 are complete), `frames_done`,
    `starts` (each segment's first frame time, seconds, as a string), `complete`, and for a resumable
    render its `settings`."""

    def __init__(self, work, codec, film_suffix, segment_frames=SEGMENT_FRAMES):
        self.work, self.codec, self.segment_frames = Path(work), codec, segment_frames
        self.film_suffix = film_suffix.lower()
        self.suffix = codecs.segment_suffix(codec, self.film_suffix)
        self.state = {'segments_done': 0, 'frames_done': 0, 'complete': False}

    @classmethod
    def beside(cls, dest, codec=None, segment_frames=SEGMENT_FRAMES):
        "The segments of a render into `dest`, in its work folder (codec None: the container's default)."
        dest = Path(dest)
        return cls(work_dir(dest), codec or codecs.default_codec(dest.suffix), dest.suffix, segment_frames)

    # naming
    def path(self, k):
        "The file of complete segment `k`."
        return self.work / f'seg_{k:05d}{self.suffix}'

    def partial_path(self, k):
        "Where segment `k` is written until it is complete."
        return self.work / f'.seg_{k:05d}.partial{self.suffix}'

    def stabilizer_path(self, k):
        "The chroma stabiliser's state after the last frame of segment `k`."
        return self.work / f'stabilizer_{k:05d}.npz'

    def brightness_path(self, k):
        "The brightness deflicker's state after the last frame of segment `k` went into it."
        return self.work / f'brightness_{k:05d}.npz'

    # progress
    def open(self, settings, resume):
        """Continue an earlier render with the same `settings` when `resume` (its progress.json says so),
        else start again in an empty work folder. Returns self."""
        path = self.work / 'progress.json'
        if resume and path.is_file():
            with contextlib.suppress(ValueError, OSError):
                state = json.loads(path.read_text())
                if state.get('settings') == settings:
                    self.state = state
                    return self
                print(f"{settings['source']}: the unfinished render in {self.work} used other settings; starting again",
                      flush=True)
        self.clear()
        self.state = {'settings': settings, 'segments_done': 0, 'frames_done': 0, 'complete': False}
        self.save()
        return self

    def clear(self, first=0):
        "An empty work folder; segments before `first` count as done elsewhere (a Ray worker's piece of a film)."
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(parents=True)
        self.state = {'segments_done': first, 'frames_done': first * self.segment_frames, 'complete': False}
        if first:
            self.state['starts'] = ['0'] * first
        return self

    def save(self):
        with atomic_path(self.work / 'progress.json') as tmp:
            tmp.write_text(json.dumps(self.state, indent=1))

    @property
    def done(self):
        "How many segments are complete (0..done-1)."
        return self.state['segments_done']

    @property
    def frames_done(self):
        return self.state['frames_done']

    @property
    def complete(self):
        return self.state['complete']

    def finished(self, k, start_seconds, total):
        "Segment `k` is complete; its first frame is at `start_seconds`; the film has `total` frames."
        self.state['segments_done'], self.state['frames_done'] = k + 1, min((k + 1) * self.segment_frames, total)
        self.state['starts'] = self.state.get('starts', [])[:k] + [str(start_seconds)]
        if 'settings' in self.state:  # only a resumable render keeps its progress on disk
            self.save()

    def mark_complete(self, frames):
        "Every segment is done; the film has `frames` frames."
        self.state.update(complete=True, frames_done=frames)
        if 'settings' in self.state:
            self.save()

    def start(self, k):
        "The time (seconds) of segment `k`'s first frame."
        return Fraction(self.state['starts'][k])

    def add(self, k, start_seconds, data):
        "Segment `k` made elsewhere (a Ray worker): its encoded bytes and its first frame's time."
        self.path(k).write_bytes(data)
        starts = self.state.setdefault('starts', [])
        starts.extend(['0'] * (k + 1 - len(starts)))
        starts[k] = str(start_seconds)
        self.state['segments_done'] = max(self.state['segments_done'], k + 1)

    # joining
    def join(self, src, dest, rate, audio_span=None):
        """Join the complete segments with the audio of `src` into `dest`, written atomically (see join_segments)."""
        return join_segments(src, [self.path(k) for k in range(self.done)], [self.start(k) for k in range(self.done)],
                             Path(dest), rate, audio_span)

    def remove(self):
        "Remove the work folder and everything in it."
        shutil.rmtree(self.work, ignore_errors=True)
