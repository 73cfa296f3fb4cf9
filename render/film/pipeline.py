"""Colorizing films: streamed decode -> batched colorize -> encode, in resumable segments.

Three threads joined by bounded queues, so memory does not grow with the film and decoding and encoding
run beside the model instead of in front of it:
  reader (PyAV decode, luminance)  ->  main (Colorizer.predict, `bs` frames at a time)  ->  writer
  (full-resolution colour, encode, mux).
The film is encoded in segments of `segment_frames` frames, each its own file, renamed into a work folder
beside the output when complete, with `progress.json` counting the finished ones; `--resume` skips them and
decodes (without colorizing) up to the first unfinished one. Every segment starts a fresh encoder on a
batch boundary, so a resumed render is frame for frame the one an uninterrupted render gives. When all are
done their packets are remuxed, interleaved with the original audio packets (copied; re-encoded only where
the container cannot hold the codec), into the output, written atomically, and the work folder is removed.

Timing is kept exactly: the output stream has the input's frame rate and time base and every frame keeps
its pts (AVI, which counts frames, gets time base 1/rate). H.264 4:2:0 needs even sizes, so films with an
odd width or height are encoded 4:4:4 (High 4:4:4 profile: exact size, full colour resolution, though some
browsers do not play it) rather than padded or cropped; `web=True` adds a browser-safe copy (render/web.py).

The encoder comes from the codec table (render/codecs.py: H.264 by default, H.265, AV1, VP9, lossless
FFV1, ProRes 422 HQ, NVENC where it opens). A part of a film (render/span.py) starts at time 0 in the
output; whenever the output is shorter than the source its audio is cut to the same span.
"""
import contextlib
import json
import os
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from heapq import merge
from pathlib import Path

import av
import numpy as np

from deoldify_like.colour import recombine_luminance
from deoldify_like.errors import BadInputError, DeoldifyLikeError
from deoldify_like.images import atomic_path
from deoldify_like.progress import progress, quiet, say
from deoldify_like.stabilize import DEFAULT_STRENGTH, make_stabilizer, stabilize_rgb
from deoldify_like.video import VIDEO_SUFFIXES, probe_video

from . import codecs
from .codecs import KEPT_SUFFIXES, output_suffix  # noqa: F401 - output_suffix is part of this module's API
from .span import Span, seek_frames, select
from .web import web_path, write_web_copy

SEGMENT_FRAMES = 240  # frames per resumable segment: about 10 s of film, a minute or two of CPU work
QUEUE_BATCHES = 3  # batches waiting on each side of the model


def is_film_path(path):
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def work_dir(dest):
    "Where a render in progress keeps its segments and progress.json."
    dest = Path(dest)
    return dest.parent / f'.{dest.name}.parts'


@dataclass
class _Frame:
    index: int
    pts: int
    duration: int
    luma: np.ndarray


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


@dataclass
class _Timing:
    """How output pts are made: the input's pts in its own time base, or frame counts in 1/rate for AVI;
    a part of a film is moved to start at 0 (`origin`: its first frame's pts)."""
    in_tb: Fraction
    out_tb: Fraction
    rate: Fraction
    count_frames: bool
    origin: int = 0

    def out_pts(self, pts, index):
        if self.count_frames or pts is None:  # AVI stores no pts (decoders guess them); raw streams neither
            return round(index / self.rate / self.out_tb)
        return round((pts - self.origin) * self.in_tb / self.out_tb)

    def out_duration(self, duration):
        if self.count_frames or not duration:
            return round(1 / self.rate / self.out_tb)
        return round(duration * self.in_tb / self.out_tb)


def _timing(container, stream, suffix, origin=0):
    rate = Fraction(stream.average_rate or stream.guessed_rate)
    count = suffix == '.avi' or 'avi' in container.format.name.split(',')
    in_tb = Fraction(stream.time_base) if stream.time_base else 1 / rate
    return _Timing(in_tb, 1 / rate if count else in_tb, rate, count, origin or 0)


class _SegmentWriter:
    "Encodes colour frames into numbered segment files, each renamed into place when complete."

    def __init__(self, work, suffix, width, height, timing, on_segment_done, threads=0, codec=None, crf=None):
        codec = codecs.get(codec) if codec else codecs.default_codec(suffix)
        self.work, self.width, self.height, self.timing = work, width, height, timing
        self.suffix = codecs.segment_suffix(codec, suffix)
        self.threads, self.last_pts = threads, None
        self.codec, (self.pix_fmt, self.options) = codec.encoder, codec.settings(width, height, crf)
        self.colorspace, self.color_range = codec.colour_tags
        self.on_segment_done = on_segment_done
        self.container = self.stream = self.tmp = None
        self.segment = None

    def segment_path(self, k):
        return self.work / f'seg_{k:05d}{self.suffix}'

    def _open(self, k):
        self.segment, self.tmp, self.offset = k, self.work / f'.seg_{k:05d}.partial{self.suffix}', None
        self.container = av.open(str(self.tmp), 'w')
        s = self.container.add_stream(self.codec, rate=self.timing.rate, options=dict(self.options))
        s.width, s.height, s.pix_fmt = self.width, self.height, self.pix_fmt
        s.time_base = s.codec_context.time_base = self.timing.out_tb
        # what we encode: BT.601 limited range for YUV formats, RGB full range for FFV1's bgr0
        s.codec_context.colorspace, s.codec_context.color_range = self.colorspace, self.color_range
        s.codec_context.thread_count = self.threads
        self.stream = s

    def write(self, segment, frame: _Frame, rgb):
        if segment != self.segment:
            self.close()
            self._open(segment)
        vf = av.VideoFrame.from_ndarray(rgb, format='rgb24').reformat(
            format=self.pix_fmt, dst_colorspace=self.colorspace, dst_color_range=self.color_range)
        pts = self.timing.out_pts(frame.pts, frame.index)
        if self.last_pts is not None and pts <= self.last_pts:  # damaged timestamps: keep them increasing
            pts = self.last_pts + 1
        self.last_pts = pts
        if self.offset is None:
            # Each segment starts at 0 and its first pts is added back when remuxing: MP4 would otherwise
            # round a late start to its 1/1000 s movie time scale (an edit list) and shift every frame.
            self.offset = pts
        vf.pts = pts - self.offset
        vf.duration = self.timing.out_duration(frame.duration)
        vf.time_base = self.timing.out_tb
        self.container.mux(self.stream.encode(vf))

    def close(self):
        "Finish the open segment and rename it into place."
        if self.container is None:
            return
        self.container.mux(self.stream.encode(None))
        self.container.close()
        os.replace(self.tmp, self.segment_path(self.segment))
        self.container = None
        self.on_segment_done(self.segment, self.offset * self.timing.out_tb)

    def abandon(self):
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.close()
            self.container = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


def _settings_key(src, colorizer, render_factor, segment_frames, limit, codec, crf, span, stabilize=('none', None)):
    st = Path(src).stat()
    return {'source': str(Path(src).resolve()), 'source_size': st.st_size, 'source_mtime': st.st_mtime,
            'model': colorizer.header.get('info', {}).get('saved_at'), 'model_config': colorizer.header.get('config'),
            **colorizer.settings(), 'render_factor': render_factor, 'segment_frames': segment_frames, 'limit': limit,
            **codec.key(crf), 'span': span.key(), **({} if stabilize[0] == 'none' else {'stabilize': list(stabilize)})}


def _save_state(work, state):
    with atomic_path(work / 'progress.json') as tmp:
        tmp.write_text(json.dumps(state, indent=1))


def _start_state(work, key, resume):
    "The progress of an earlier render of the same film with the same settings (when resuming), else a fresh one."
    path = work / 'progress.json'
    if resume and path.is_file():
        with contextlib.suppress(ValueError, OSError):
            state = json.loads(path.read_text())
            if state.get('settings') == key:
                return state
            print(f"{key['source']}: the unfinished render in {work} used other settings; starting again", flush=True)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    state = {'settings': key, 'segments_done': 0, 'frames_done': 0, 'complete': False}
    _save_state(work, state)
    return state


def _stabilizer_state_path(work, segment):
    return work / f'stabilizer_{segment:05d}.npz'


def _save_stabilizer(work, segment, stabilizer):
    "The stabiliser's state after the last frame of `segment`: where a resumed render picks it up."
    with atomic_path(_stabilizer_state_path(work, segment)) as tmp:
        with open(tmp, 'wb') as f:
            np.savez(f, **stabilizer.state())


def _resume_stabilizer(work, start_segment, stabilizer):
    "Load the state saved at the end of the segment before `start_segment` (a fresh start when there is none)."
    path = _stabilizer_state_path(work, start_segment - 1)
    if start_segment > 0 and path.is_file():
        with np.load(path) as z:
            stabilizer.load_state({k: z[k] for k in z.files})


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


def _colorize_segments(colorizer, src, state, work, suffix, render_factor, segment_frames, limit, total, hook,
                       codec, crf, selection=None, stabilizer=None):
    "Colorize the film (or the `selection` of it) into segments; returns the number of frames done."
    stop = threading.Event()
    start = state['segments_done'] * segment_frames
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
    timing = _timing(container, vs, suffix, selection.first_pts if selection else 0)

    def read():
        try:
            frames = container.decode(vs) if selection is None else seek_frames(container, vs, selection)
            for i, frame in enumerate(frames):
                if limit is not None and i >= limit:
                    break
                if i >= start:
                    _put(frames_in, _Frame(i, frame.pts, frame.duration, frame.to_ndarray(format='gray')), stop)
        except av.error.FFmpegError as e:
            raise BadInputError(src, f'damaged film, decoding stopped ({str(e).splitlines()[0]})') from None
        _put(frames_in, END, stop)

    def segment_done(k, start_seconds):
        state['segments_done'], state['frames_done'] = k + 1, min((k + 1) * segment_frames, total)
        state['starts'] = state.get('starts', [])[:k] + [str(start_seconds)]
        _save_state(work, state)

    writer = _SegmentWriter(work, suffix, width, height, timing, segment_done, threads, codec, crf)
    if stabilizer is not None:
        _resume_stabilizer(work, state['segments_done'], stabilizer)

    def write():
        while (batch := _get(frames_out, stop)) is not END:
            for frame, pred in batch:
                if stabilizer is None:
                    rgb = recombine_luminance(frame.luma, pred)
                else:  # frames arrive here in order, so the stabiliser sees the film as it runs
                    rgb = stabilize_rgb(stabilizer, frame.luma, pred)
                    if (frame.index + 1) % segment_frames == 0:
                        _save_stabilizer(work, frame.index // segment_frames, stabilizer)
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


def _packets(path, stream_index=0, kind='video', shift=0, span=None):
    """The packets of one stream of a file, moved `shift` seconds later; with `span` (start, end) in seconds
    of the file, only those that start inside it (audio cut on whole audio frames: its length is the span's
    within one audio frame, and it never starts before the video, which Matroska could not store)."""
    with av.open(str(path)) as c:
        stream = c.streams.video[0] if kind == 'video' else c.streams.audio[stream_index]
        for packet in c.demux(stream):
            if packet.size:
                if span is not None and not _inside(packet.pts, packet.time_base, span):
                    continue
                if shift:
                    ticks = round(shift / packet.time_base)
                    packet.pts = None if packet.pts is None else packet.pts + ticks
                    packet.dts = None if packet.dts is None else packet.dts + ticks
                yield packet


def _inside(pts, time_base, span):
    "Whether a packet or frame starts in `span` (start or None: from the beginning, end) seconds; no timestamp: no."
    if pts is None or time_base is None:
        return False
    t = pts * Fraction(time_base)
    return (span[0] is None or span[0] <= t) and t < span[1]


def _packet_time(packet_and_stream):
    packet = packet_and_stream[0]
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else float('-inf')


def _audio_codec_name(stream):
    codec = stream.codec_context.codec
    return getattr(codec, 'canonical_name', None) or codec.name


def _reencoded_audio(src, index, out_stream, span=None):
    "Decode an audio stream (the frames inside `span`) and encode it for a container that cannot hold its codec."
    with av.open(str(src)) as c:
        for frame in c.decode(c.streams.audio[index]):
            if span is not None and not _inside(frame.pts, frame.time_base, span):
                continue
            frame.pts = None
            yield from out_stream.encode(frame)
        yield from out_stream.encode(None)


def _display_rotation(src):
    "The rotation a player applies to the film's frames (phones record upright films as rotated frames)."
    with contextlib.suppress(av.error.FFmpegError, StopIteration):
        with av.open(str(src)) as c:
            return int(next(c.decode(video=0)).rotation or 0)
    return 0


def _decoder_only(container):
    "Whether the video's decoder has no encoder of the same name (AV1 is read by libdav1d): copy it as is."
    try:
        av.codec.Codec(container.streams.video[0].codec_context.codec.name, 'w')
        return None
    except (av.error.FFmpegError, ValueError):
        return True


def _concatenate(src, segments, starts, dest, rate, audio_span=None):
    """Remux the segments' video packets and the source's audio, interleaved by time, into `dest` atomically.
    `audio_span` (start, end) in seconds of the source: only that audio, moved to start at 0."""
    shift = -audio_span[0] if audio_span and audio_span[0] else 0
    mp4 = dest.suffix.lower() in codecs.MP4_LIKE
    with av.open(str(src)) as source:
        audio_streams = list(source.streams.audio)
        with atomic_path(dest) as tmp:
            # faststart: the index goes before the frames, so a browser can play while downloading
            with av.open(str(tmp), 'w', options={'movflags': '+faststart'} if mp4 else {}) as out:
                with av.open(str(segments[0])) as first:
                    video_out = out.add_stream_from_template(first.streams.video[0], opaque=_decoder_only(first))
                    if mp4 and first.streams.video[0].codec_context.name == 'hevc':
                        video_out.codec_context.codec_tag = 'hvc1'  # what Apple's players want for H.265
                video_out.codec_context.framerate = rate  # the stream's frame rate (Matroska's default duration)
                if rotation := _display_rotation(src):
                    video_out.set_display_rotation(rotation)  # frames are kept as stored, shown as the input is
                sources = [((p, video_out) for s, t in zip(segments, starts) for p in _packets(s, shift=t))]
                for i, a in enumerate(audio_streams):
                    if _audio_codec_name(a) in out.supported_codecs:
                        a_out = out.add_stream_from_template(a)
                        sources.append((p, a_out) for p in _packets(src, i, 'audio', shift, audio_span))
                    else:
                        codec = 'libopus' if dest.suffix.lower() == '.webm' else 'aac'
                        a_out = out.add_stream(codec, rate=48000 if codec == 'libopus' else a.rate)
                        sources.append((p, a_out) for p in _reencoded_audio(src, i, a_out, audio_span))
                for packet, stream in merge(*sources, key=_packet_time):
                    packet.stream = stream
                    out.mux(packet)
    return dest


def render_film(colorizer, src, dest, render_factor, resume=False, segment_frames=SEGMENT_FRAMES, limit=None,
                hook=None, codec=None, crf=None, start=None, duration=None, web=False, stabilize='none',
                strength=DEFAULT_STRENGTH):
    """Colorize film `src` into `dest` (same size, frame rate, frame count and audio); returns the number of
    frames. `codec`: a name from render/codecs.py (default: H.264, VP9 for WebM) and `crf` its quality;
    `start`/`duration` (seconds or hh:mm:ss) and `limit` (a number of frames) render a part, which starts at
    0 in the output with its audio cut to the same span; `web`: also write a browser-safe copy (NAME.web.mp4).
    `stabilize` 'flow' passes the colour of every frame, in order, through a `ChromaStabilizer` of `strength`
    (its state is saved at each segment's end, so a resumed render continues it exactly).
    `hook(frames_done)` is called after every batch (tests interrupt a render with it)."""
    try:
        stabilizer = make_stabilizer(stabilize, strength)
    except ValueError as e:
        raise DeoldifyLikeError(str(e)) from None
    src, dest = Path(src), Path(dest)
    codec = codecs.check(codec, dest.suffix.lower(), crf)
    span = Span.of(start, duration, limit)
    info = probe_video(src)
    if info.frames == 0:
        raise BadInputError(src, 'film has no frames')
    selection = None if span.whole else select(src, span, info.fps)
    total = selection.count if selection else min(info.frames, limit) if limit else info.frames
    origin = selection.origin if selection else Fraction(0)
    work = work_dir(dest)
    key = _settings_key(src, colorizer, render_factor, segment_frames, limit, codec, crf, span,
                        (stabilize, strength) if stabilizer is not None else ('none', None))
    state = _start_state(work, key, resume)
    try:
        if not state['complete']:
            frames = _colorize_segments(colorizer, src, state, work, dest.suffix.lower(), render_factor,
                                        segment_frames, total, total, hook, codec, crf, selection, stabilizer)
            state.update(complete=True, frames_done=frames)
            _save_state(work, state)
        segments = [work / f'seg_{k:05d}{codecs.segment_suffix(codec, dest.suffix.lower())}'
                    for k in range(state['segments_done'])]
        # whenever the video is shorter than the source (a part, a limit, a truncated film) the audio is cut to it
        shorter = selection is not None or state['frames_done'] < info.frames
        audio_span = (origin if selection else None, origin + state['frames_done'] / info.fps) if shorter else None
        _concatenate(src, segments, [Fraction(t) for t in state['starts']], dest, info.fps, audio_span)
    except BadInputError:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    if web:
        write_web_copy(dest, web_path(dest))
    return state['frames_done']
