"""A part of a film: `--start T --duration D` (seconds or [hh:]mm:ss[.fff]) or `--frames N`, cut on exact frames.

Times count from the film's first frame. A frame belongs to the span when its presentation time t satisfies
start <= t < start + duration (150 frames for 5 s at 30000/1001 from 10 s). The frames are found by demuxing
the video packets (their pts are presentation times; nothing is decoded), and the reader seeks to the
keyframe before the first one and decodes forward to its exact pts.
"""
import re
from dataclasses import dataclass
from fractions import Fraction

import av

from deoldify_like.errors import BadInputError, DeoldifyLikeError

_CLOCK = re.compile(r'^(?:(\d+):)?(\d+):(\d+(?:\.\d+)?)$')


def parse_time(text, what='--start'):
    "Seconds as a Fraction from '12', '12.5', '1:02.5' or '00:01:02.5'."
    if isinstance(text, (int, float, Fraction)):
        value = Fraction(text)
    else:
        text = str(text).strip()
        m = _CLOCK.match(text)
        try:
            if m:
                h, mnt, s = m.groups()
                if int(mnt) >= 60 and h is not None or Fraction(s) >= 60:
                    raise ValueError
                value = int(h or 0) * 3600 + int(mnt) * 60 + Fraction(s)
            else:
                value = Fraction(text)
        except (ValueError, ZeroDivisionError):
            raise DeoldifyLikeError(f"{what} {text}: not a time; give seconds (12.5) or hh:mm:ss (00:00:12.5)") from None
    if value < 0:
        raise DeoldifyLikeError(f"{what} {text}: a time cannot be negative")
    return value


@dataclass(frozen=True)
class Span:
    "What part of a film to render; the default is all of it."
    start: Fraction = Fraction(0)
    duration: Fraction | None = None
    frames: int | None = None

    @classmethod
    def of(cls, start=None, duration=None, frames=None):
        "From command-line values (strings, numbers or None), checked."
        if frames is not None and frames < 1:
            raise DeoldifyLikeError(f"--frames {frames}: give at least 1")
        if frames is not None and duration is not None:
            raise DeoldifyLikeError("give --duration or --frames, not both")
        d = None if duration is None else parse_time(duration, '--duration')
        if d is not None and d <= 0:
            raise DeoldifyLikeError(f"--duration {duration}: must be more than 0")
        return cls(Fraction(0) if start is None else parse_time(start, '--start'), d, frames)

    @property
    def whole(self):
        return self.start == 0 and self.duration is None

    def key(self):
        return {'start': str(self.start), 'duration': None if self.duration is None else str(self.duration),
                'frames': self.frames}


@dataclass
class Selection:
    "The frames of a span: how many, and the pts and time (seconds) of the first."
    count: int
    first_pts: int | None  # None: the film carries no timestamps (frames are counted from the start)
    first_index: int  # the first frame's index in the whole film
    origin: Fraction  # the first frame's presentation time in the stream, seconds (the output's time 0 for a part)


def select(path, span, fps):
    "The frames of `span` in film `path`, found from the video packets' timestamps."
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        tb = Fraction(vs.time_base) if vs.time_base else None
        pts = [p.pts for p in c.demux(vs) if p.size]
    if not pts:
        raise BadInputError(path, 'film has no frames')
    if tb is None or any(p is None for p in pts):  # no timestamps: frame i is at i / fps
        times, pts, tb = [Fraction(i) / fps for i in range(len(pts))], None, None
    else:
        pts.sort()
        times = [(p - pts[0]) * tb for p in pts]
    end = None if span.duration is None else span.start + span.duration
    chosen = [i for i, t in enumerate(times) if t >= span.start and (end is None or t < end)]
    if span.frames is not None:
        chosen = chosen[:span.frames]
    if not chosen:
        length = float(times[-1] + 1 / fps)
        raise BadInputError(path, f'nothing to render from {float(span.start):g} s: the film is {length:.3f} s long')
    first = chosen[0]
    origin = pts[first] * tb if pts is not None else times[first]
    return Selection(len(chosen), None if pts is None else pts[first], first, origin)


def seek_frames(container, stream, selection):
    """Decoded frames from the selection's first one on: seek to the keyframe at or before it, then decode and
    drop frames until its exact pts (a film without timestamps is decoded from the start and counted)."""
    if selection.first_pts is None or selection.first_index == 0:
        skip = selection.first_index
        for i, frame in enumerate(container.decode(stream)):
            if i >= skip:
                yield frame
        return
    container.seek(selection.first_pts, stream=stream, backward=True, any_frame=False)
    started = False
    for frame in container.decode(stream):
        if not started:
            if frame.pts is None or frame.pts < selection.first_pts:
                continue
            started = True
        yield frame
