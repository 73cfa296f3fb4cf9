"""Joining a film's encoded segments with the source's audio into the output.

The segments' video packets, moved back to their start times, and the source's audio packets are
interleaved by time into the output (written atomically). Audio is copied, and re-encoded only where the
container cannot hold its codec (AAC into WebM becomes Opus); whenever the output is shorter than the
source (a part, a frame limit, a truncated film) the audio is cut to the same span.
"""
import contextlib
from fractions import Fraction
from heapq import merge

import av

from deoldify_like.images import atomic_path

from . import codecs


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


def join_segments(src, segments, starts, dest, rate, audio_span=None):
    """Remux the video packets of the `segments` files (each moved to its start time in `starts`, seconds)
    and the audio of `src`, interleaved by time, into `dest` atomically; `rate`: the frame rate.
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
