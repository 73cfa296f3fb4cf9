"""The thread pipeline that colorizes a film into segments: decode -> colorize -> encode.

Three threads joined by bounded queues, so memory does not grow with the film and decoding and encoding
run beside the model instead of in front of it:
  reader (PyAV decode, luminance)  ->  main (Colorizer.predict, `bs` frames at a time)  ->  writer
  (full-resolution colour, encode into segments: render/film/encode.py).
A resumed render (or a Ray worker's piece) decodes without colorizing up to its first unfinished segment.
"""
import queue
import threading
import time
from collections import deque

import av
import numpy as np

from deoldify_like.colour import recombine_luminance
from deoldify_like.errors import BadInputError
from deoldify_like.images import atomic_path
from deoldify_like.progress import progress, quiet, say
from deoldify_like.stabilizers import stabilized_rgb

from .encode import Frame, SegmentWriter, film_timing
from .part import seek_frames
from .reference import film_lumas, referenced_frames

QUEUE_BATCHES = 3  # batches waiting on each side of the model


def brightness_stream(deflicker, items, held=()):
    """(luma, tag) pairs in order -> (tag, deflickered luma) pairs in the same order, through a
    `BrightnessDeflicker` (which gives a frame back `window` frames after it went in); `held`: the tags of the
    frames a deflicker resumed from a saved state still holds."""
    tags = deque(held)
    for luma, tag in items:
        tags.append(tag)
        for out in deflicker.push(luma):
            yield tags.popleft(), out
    for out in deflicker.flush():
        yield tags.popleft(), out


class _Stopped(Exception):
    "A worker thread was told to stop."


def _put(q, item, stop, workers=()):
    "Put `item` on the bounded queue `q`, waiting; give up when told to stop or when a worker failed."
    while True:
        if stop.is_set():
            raise _Stopped
        for w in workers:
            _raise_from(w)
        try:
            return q.put(item, timeout=0.1)
        except queue.Full:
            pass


def _get(q, stop):
    while True:
        if stop.is_set():
            raise _Stopped
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            pass


def _raise_from(worker):
    if worker.error is not None:
        raise worker.error


def _get_checked(q, stop, workers):
    "Next item of `q`, raising a worker's error as soon as it has one."
    while True:
        for w in workers:
            _raise_from(w)
        try:
            return q.get(timeout=0.1)
        except queue.Empty:
            if stop.is_set():
                raise _Stopped from None


class _Worker(threading.Thread):
    "A thread whose exception is kept for the main thread to raise."

    def __init__(self, target, name):
        super().__init__(name=name, daemon=True)
        self._target_fn, self.error = target, None

    def run(self):
        try:
            self._target_fn()
        except _Stopped:
            pass
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            self.error = e


def _save_state(path, filter_):
    "A stabiliser's or deflicker's state (`state()`), written atomically to `path`."
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            np.savez(f, **filter_.state())


def _load_state(path, filter_):
    "Load the state saved at `path` into `filter_`; False (nothing loaded) when there is none."
    if not path.is_file():
        return False
    with np.load(path) as z:
        filter_.load_state({k: z[k] for k in z.files})
    return True


class _SegmentStates:
    """A streaming filter's state (a brightness deflicker's, a stabiliser's) saved to `path_of(k)` when segment
    k's last frame has gone into it: what a render resumed at segment k + 1 loads. The ones no resume can need
    any more are deleted as it goes (a resume needs only the last finished segment's)."""

    def __init__(self, path_of, filter_, segments):
        self.path_of, self.filter, self.segments, self.cleared = path_of, filter_, segments, 0

    def went_in(self, index):
        "Frame `index` has gone into the filter."
        n = self.segments.segment_frames
        if (index + 1) % n:
            return
        _save_state(self.path_of(index // n), self.filter)
        while self.cleared < min(index // n, self.segments.done - 1):
            self.path_of(self.cleared).unlink(missing_ok=True)
            self.cleared += 1


def _brightness_frames(frames, deflicker, segments, start):
    """Decoded `Frame`s (from the film's or the selection's first) -> the same with the luminance through the
    `BrightnessDeflicker`, from frame `start` on. Its state is saved after each segment's last frame went in, so
    a resumed render loads it and goes on from `start` (the frames still held then come out again, before
    `start`, and are dropped); without a saved state it runs again from the first frame."""
    n = segments.segment_frames
    first = start if start and _load_state(segments.brightness_path(start // n - 1), deflicker) else 0
    held = [Frame(p['index'], None, None, None) for p in deflicker.pending] if first else []
    states = _SegmentStates(segments.brightness_path, deflicker, segments)

    def pushed():
        for f in frames:
            if f.index < first:
                continue
            yield f.luma, f
            states.went_in(f.index)
    for f, luma in brightness_stream(deflicker, pushed(), held):
        yield Frame(f.index, f.pts, f.duration, luma)


def _stabilized_frames(pairs, stabilizer, segments, start):
    """(Frame, prediction) pairs from frame `start` on -> (Frame, uint8 RGB) with the colour through the
    stabiliser (`stabilizers.stabilized_rgb`; the two-way one gives a frame back frames later). Its state is
    saved when each segment's last frame has gone in, so a resumed render loads the one saved at `start` and
    goes on; the frames that state still holds come out again, before `start`, and are dropped."""
    held = []
    if start and _load_state(segments.stabilizer_path(start // segments.segment_frames - 1), stabilizer):
        held = [Frame(i, None, None, None) for i in stabilizer.pending]
    states = _SegmentStates(segments.stabilizer_path, stabilizer, segments)

    def pushed():
        for frame, pred in pairs:
            yield frame.luma, pred, frame
            states.went_in(frame.index)
    for frame, rgb in stabilized_rgb(stabilizer, pushed(), held):
        if frame.index >= start:
            yield frame, rgb


class _FrameTicker:
    "Progress bar over frames with a frames/s comment (nothing when quiet)."

    def __init__(self, total, already):
        self.bar = None if quiet() else progress(range(total), total=total)
        self.it = iter(self.bar) if self.bar is not None else None
        self.start, self.done = time.perf_counter(), 0
        for _ in range(already):
            self.tick(count=False)

    def tick(self, n=1, count=True):
        if count:
            self.done += n
        if self.it is None:
            return
        for _ in range(n):
            next(self.it, None)
        if count:
            self.bar.comment = f'{self.done / max(time.perf_counter() - self.start, 1e-9):.2f} frames/s'

    def close(self):
        if self.it is not None:
            for _ in self.it:
                pass


def colorize_segments(colorizer, src, segments, render_factor, total, hook=None, crf=None, selection=None,
                      stabilizer=None, brightness=None, references=None):
    """Colorize the first `total` frames of film `src` (or of the `selection` of it) into `segments`, from
    its first unfinished one on; returns the number of frames done. `hook(frames_done)` after every batch;
    `stabilizer`: a chroma stabiliser (`stabilizers.make_stabilizer`) the colour passes through, in frame
    order; `brightness`: a BrightnessDeflicker the input luminance passes through before the model (a
    resumed render runs it again over the frames before its first unfinished segment, so it continues
    exactly); `references`: a list of
    `reference_colour.Reference` (keyframes counted in the frames rendered) whose chroma is carried through
    their shots, the colour above being the fallback (render/film/reference.py)."""
    stop = threading.Event()
    segment_frames = segments.segment_frames
    start = segments.done * segment_frames
    frames_in, frames_out = queue.Queue(QUEUE_BATCHES * colorizer.bs), queue.Queue(QUEUE_BATCHES)
    END = object()

    container = av.open(str(src))
    vs = container.streams.video[0]
    # On CPU the model needs every core and coding is a few per cent of the work: one thread each for
    # decoding and encoding keeps them from crowding the model. On a GPU they are the bottleneck: all threads.
    threads = 1 if colorizer.device.type == 'cpu' else 0
    vs.codec_context.thread_count = threads
    if not threads:
        vs.thread_type = 'AUTO'
    width, height = vs.codec_context.width, vs.codec_context.height
    timing = film_timing(container, vs, segments.film_suffix, selection.first_pts if selection else 0)

    def read():
        try:
            decoded = container.decode(vs) if selection is None else seek_frames(container, vs, selection)
            # the deflicker may need frames before `start` (when it has no saved state to resume from)
            needed = 0 if brightness is not None else start
            frames = (Frame(i, frame.pts, frame.duration, frame.to_ndarray(format='gray') if i >= needed else None)
                      for i, frame in zip(range(total), decoded))
            if brightness is not None:
                frames = _brightness_frames(frames, brightness, segments, start)
            for frame in frames:
                if frame.index >= start:
                    _put(frames_in, frame, stop)
        except av.error.FFmpegError as e:
            raise BadInputError(src, f'damaged film, decoding stopped ({str(e).splitlines()[0]})') from None
        _put(frames_in, END, stop)

    def segment_done(k, start_seconds):
        segments.finished(k, start_seconds, total)

    writer = SegmentWriter(segments, width, height, timing, segment_done, threads, segments.codec, crf)

    def predicted():
        while (batch := _get(frames_out, stop)) is not END:
            yield from batch

    def stopped():
        if stop.is_set():
            raise _Stopped

    def write():
        if stabilizer is None:
            coloured = ((frame, recombine_luminance(frame.luma, pred)) for frame, pred in predicted())
        else:  # frames arrive in order: it sees the film as it runs
            coloured = _stabilized_frames(predicted(), stabilizer, segments, start)
        if references:  # the propagation reads the film itself too (a scan first): it stops when told
            coloured = referenced_frames(coloured, references, film_lumas(src, selection, total, stopped),
                                         lambda frame, rgb: rgb, start, relight=brightness is not None)
        for frame, rgb in coloured:
            writer.write(frame.index // segment_frames, frame, rgb)
        writer.close()

    reader_t, writer_t = _Worker(read, 'film-reader'), _Worker(write, 'film-writer')
    ticker = _FrameTicker(total, start)
    reader_t.start(), writer_t.start()
    done = start
    try:
        batch = []

        def flush():
            nonlocal done
            preds = colorizer.predict([f.luma for f in batch], render_factor)
            _put(frames_out, list(zip(batch, preds)), stop, [writer_t])
            done += len(batch)
            ticker.tick(len(batch))
            batch.clear()
            if hook is not None:
                hook(done)

        while True:
            item = _get_checked(frames_in, stop, [reader_t, writer_t])
            if item is END:
                break
            batch.append(item)
            if len(batch) >= colorizer.bs or (item.index + 1) % segment_frames == 0:
                flush()
        if batch:
            flush()
        _put(frames_out, END, stop, [writer_t])
        while writer_t.is_alive():
            writer_t.join(0.1)
            _raise_from(writer_t)
        _raise_from(writer_t)
        _raise_from(reader_t)
        ticker.close()
    finally:
        stop.set()
        reader_t.join(), writer_t.join()
        writer.abandon()
        container.close()
    if done < total:
        say(f"{src}: only {done} of its {total} frames could be decoded; the output has {done}")
    return done
