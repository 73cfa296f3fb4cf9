"""A browser-safe copy of a film: H.264 4:2:0 (High profile) in MP4 with its index first (`faststart`),
AAC audio, even width and height.

Masters may be FFV1, ProRes, H.265, AV1 or 4:4:4 H.264 (odd sizes), which browsers play badly or not at all.
The copy is made from the finished master: decoded, padded by repeating the last column and/or row where a
size is odd (4:2:0 needs even sizes; the extra pixel is invisible), encoded again. Frame rate, frame times
(on the 1/rate grid, which undoes Matroska's millisecond rounding) and display rotation are kept; the master's audio is copied when it is AAC or MP3, else re-encoded as AAC.
"""
import contextlib
from fractions import Fraction
from heapq import merge
from pathlib import Path

import av
import numpy as np

from deoldify_like.images import atomic_path

from .codecs import BT601, LIMITED

WEB_X264 = {'crf': '20', 'preset': 'veryfast', 'profile': 'high', 'movflags': '+faststart'}
WEB_AUDIO = ('aac', 'mp3')  # played in MP4 by every current browser


def web_path(master):
    "Where the web copy of `master` goes: beside it, NAME.web.mp4."
    master = Path(master)
    return master.with_name(f'{master.stem}.web.mp4')


def even_pad(rgb):
    "Pad an (H, W, 3) picture to even sizes by repeating its last row / column."
    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        return rgb
    return np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode='edge')


def _video_frames(master, out_stream, rate):
    "Encoded packets of the master's frames, padded to even sizes, each at its time snapped to the 1/rate grid."
    with av.open(str(master)) as c:
        vs = c.streams.video[0]
        vs.thread_type = 'AUTO'
        last = None
        for i, frame in enumerate(c.decode(vs)):
            # Matroska keeps milliseconds: 30000/1001 films come back as 0, 33, 67 ms; MP4 wants them exact
            pts = round(frame.pts * frame.time_base * rate) if frame.pts is not None and frame.time_base else i
            if last is not None and pts <= last:
                pts = last + 1
            last = pts
            vf = av.VideoFrame.from_ndarray(even_pad(frame.to_ndarray(format='rgb24')), format='rgb24')
            vf = vf.reformat(format='yuv420p', dst_colorspace=BT601, dst_color_range=LIMITED)
            vf.pts, vf.time_base = pts, 1 / rate
            yield from out_stream.encode(vf)
        yield from out_stream.encode(None)


def _audio_packets(master, out_stream, copy):
    with av.open(str(master)) as c:
        a = c.streams.audio[0]
        if copy:
            for packet in c.demux(a):
                if packet.size:
                    yield packet
            return
        for frame in c.decode(a):
            frame.pts = None
            yield from out_stream.encode(frame)
        yield from out_stream.encode(None)


def _time(item):
    packet = item[0]
    ts = packet.dts if packet.dts is not None else packet.pts
    return float(ts * packet.time_base) if ts is not None else float('-inf')


def write_web_copy(master, dest=None):
    "Write the web copy of film `master` to `dest` (default NAME.web.mp4 beside it) atomically; returns `dest`."
    master = Path(master)
    dest = Path(dest) if dest else web_path(master)
    with av.open(str(master)) as c:
        vs = c.streams.video[0]
        width, height = vs.codec_context.width, vs.codec_context.height
        rate = Fraction(vs.average_rate or vs.guessed_rate)
        audio = c.streams.audio[0] if c.streams.audio else None
        audio_codec = audio.codec_context.name if audio is not None else None
        audio_rate = audio.rate if audio is not None else None
        rotation = 0
        with contextlib.suppress(av.error.FFmpegError, StopIteration):
            rotation = int(next(c.decode(vs)).rotation or 0)
    with atomic_path(dest) as tmp:
        with av.open(str(tmp), 'w', options={'movflags': '+faststart'}) as out:
            v_out = out.add_stream('libx264', rate=rate, options={k: v for k, v in WEB_X264.items() if k != 'movflags'})
            v_out.width, v_out.height, v_out.pix_fmt = width + width % 2, height + height % 2, 'yuv420p'
            v_out.time_base = v_out.codec_context.time_base = 1 / rate
            v_out.codec_context.colorspace, v_out.codec_context.color_range = BT601, LIMITED
            if rotation:
                v_out.set_display_rotation(rotation)
            sources = [((p, v_out) for p in _video_frames(master, v_out, rate))]
            if audio is not None:
                copy = audio_codec in WEB_AUDIO
                if copy:
                    with av.open(str(master)) as c:
                        a_out = out.add_stream_from_template(c.streams.audio[0])
                else:
                    a_out = out.add_stream('aac', rate=audio_rate)
                sources.append((p, a_out) for p in _audio_packets(master, a_out, copy))
            for packet, stream in merge(*sources, key=_time):
                packet.stream = stream
                out.mux(packet)
    return dest
