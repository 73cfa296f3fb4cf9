"""Reading films with PyAV (FFmpeg's libraries, bundled in the wheel: no system ffmpeg needed)."""
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from .errors import BadInputError

VIDEO_SUFFIXES = {'.mp4', '.mkv', '.avi', '.mov', '.webm', '.m4v', '.mpg', '.mpeg', '.wmv', '.flv', '.ogv'}


def is_video_path(path):
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: Fraction  # average frame rate, exact (30000/1001 stays 30000/1001)
    frames: int  # as counted by demuxing (exact), not the container's estimate
    duration: float  # seconds
    codec: str
    audio_codec: str | None  # None when the film has no audio stream


def _open(path):
    path = Path(path)
    if not path.is_file():
        raise BadInputError(path, 'no such file')
    if path.stat().st_size == 0:
        raise BadInputError(path, 'empty file (0 bytes)')
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError) as e:
        raise BadInputError(path, f'not a film FFmpeg can read ({str(e).splitlines()[0]})') from None
    if not container.streams.video:
        container.close()
        raise BadInputError(path, 'has no video stream')
    return container


def probe_video(path, count_frames=True):
    "Size, exact frame rate, frame count (by demuxing packets, fast) and audio of a film."
    with _open(path) as container:
        vs = container.streams.video[0]
        fps = vs.average_rate or vs.guessed_rate
        if not fps:
            raise BadInputError(path, 'film has no frame rate')
        frames = vs.frames
        if count_frames or not frames:
            try:
                frames = sum(1 for p in container.demux(vs) if p.size)
            except av.error.FFmpegError as e:
                raise BadInputError(path, f'damaged film ({str(e).splitlines()[0]})') from None
        duration = float(container.duration / av.time_base) if container.duration else frames / float(fps)
        audio = container.streams.audio[0].codec_context.name if container.streams.audio else None
        return VideoInfo(vs.codec_context.width, vs.codec_context.height, Fraction(fps), frames, duration,
                         vs.codec_context.name, audio)


def iter_frames(path, every=1, start=0):
    "Yield `(index, rgb uint8 (H, W, 3))` for frame `start` and every `every`-th after it, decoded in a stream."
    with _open(path) as container:
        vs = container.streams.video[0]
        vs.thread_type = 'AUTO'
        try:
            for i, frame in enumerate(container.decode(vs)):
                if i >= start and (i - start) % every == 0:
                    yield i, frame.to_ndarray(format='rgb24')
        except av.error.FFmpegError as e:
            raise BadInputError(path, f'damaged film, decoding stopped ({str(e).splitlines()[0]})') from None
