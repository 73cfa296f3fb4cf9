"""Encoding colour frames into segment files, with the film's own timing.

Timing is kept exactly: the output stream has the input's frame rate and time base and every frame keeps
its pts (AVI, which counts frames, gets time base 1/rate). Each segment starts at 0 and its first pts is
added back when the segments are joined (render/film/mux.py).
"""
import contextlib
import os
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from . import codecs


@dataclass
class Frame:
    "A decoded film frame on its way to the model: its index in the film, its timing and its luminance."
    index: int
    pts: int
    duration: int
    luma: np.ndarray


@dataclass
class Timing:
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


def film_timing(container, stream, suffix, origin=0):
    "The Timing of video `stream` of `container` written to a `suffix` file (`origin`: the pts that becomes 0)."
    rate = Fraction(stream.average_rate or stream.guessed_rate)
    count = suffix == '.avi' or 'avi' in container.format.name.split(',')
    in_tb = Fraction(stream.time_base) if stream.time_base else 1 / rate
    return Timing(in_tb, 1 / rate if count else in_tb, rate, count, origin or 0)


class SegmentWriter:
    "Encodes colour frames into the numbered files of `segments`, each renamed into place when complete."

    def __init__(self, segments, width, height, timing, on_segment_done, threads=0, codec=None, crf=None):
        codec = codecs.get(codec) if codec else codecs.default_codec(segments.film_suffix)
        self.segments, self.width, self.height, self.timing = segments, width, height, timing
        self.threads, self.last_pts = threads, None
        self.codec, (self.pix_fmt, self.options) = codec.encoder, codec.settings(width, height, crf)
        self.colorspace, self.color_range = codec.colour_tags
        self.on_segment_done = on_segment_done
        self.container = self.stream = self.tmp = None
        self.segment = None

    def _open(self, k):
        self.segment, self.tmp, self.offset = k, self.segments.partial_path(k), None
        self.container = av.open(str(self.tmp), 'w')
        s = self.container.add_stream(self.codec, rate=self.timing.rate, options=dict(self.options))
        s.width, s.height, s.pix_fmt = self.width, self.height, self.pix_fmt
        s.time_base = s.codec_context.time_base = self.timing.out_tb
        # what we encode: BT.601 limited range for YUV formats, RGB full range for FFV1's bgr0
        s.codec_context.colorspace, s.codec_context.color_range = self.colorspace, self.color_range
        s.codec_context.thread_count = self.threads
        self.stream = s

    def write(self, segment, frame: Frame, rgb):
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
        os.replace(self.tmp, self.segments.path(self.segment))
        self.container = None
        self.on_segment_done(self.segment, self.offset * self.timing.out_tb)

    def abandon(self):
        if self.container is not None:
            with contextlib.suppress(Exception):
                self.container.close()
            self.container = None
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)
