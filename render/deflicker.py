"""`deoldify-like deflicker`: stabilise the colour of a film that is already in colour.

Works on the decoded YUV planes themselves (PyAV `frame.planes`), so each frame's Y plane goes to the encoder
bit for bit as it was decoded and only U and V pass through the `ChromaStabilizer` (flow on that Y). Films
in 8-bit planar YUV (4:2:0, 4:2:2, 4:4:4, full or limited range: nearly every film) keep their pixel format
and colour tags; anything else (10-bit, RGB, packed formats) is converted once to 8-bit YUV first, and it
is that Y which is kept. With `--lossless` the encoder is lossless too (H.264 qp 0, VP9 lossless), so the
output's luminance equals the input's exactly; by default it is H.264 crf 17 / VP9 as `render` writes, so
the luminance is as exact as that encoding.

Size, frame rate, every frame's timestamp, frame count, display rotation and audio are kept through the
film renderer's own pieces (`render.film`: timing, codec choice by container, `Segments` and the audio remux).
"""
import time
from pathlib import Path
from typing import Annotated

import av
import numpy as np

from deoldify_like.errors import BadInputError, DeoldifyLikeError, reraise_as
from deoldify_like.progress import progress, say
from deoldify_like.stabilize import DEFLICKER_STRENGTH, ChromaStabilizer, check_strength, stabilize_planes
from deoldify_like.video import probe_video

from .film import Segments, codecs, film_timing

PLANAR_YUV = {'yuv420p', 'yuv422p', 'yuv444p', 'yuvj420p', 'yuvj422p', 'yuvj444p'}
LOSSLESS = {'libx264': {'qp': '0', 'preset': 'veryfast', 'bf': '0'},
            'libvpx-vp9': {'lossless': '1', 'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}}


def frame_planes(frame):
    "The Y, U, V planes of an 8-bit planar YUV frame as uint8 arrays (views without the line padding)."
    return [np.frombuffer(p, np.uint8).reshape(p.height, p.line_size)[:, :p.width] for p in frame.planes]


def planes_frame(planes, width, height, fmt):
    "A new VideoFrame of format `fmt` holding `planes`."
    vf = av.VideoFrame(width, height, fmt)
    for p, a in zip(vf.planes, planes):
        buf = np.zeros((p.height, p.line_size), np.uint8)
        buf[:, :p.width] = a
        p.update(buf)
    return vf


def _working_format(frame):
    "The planar YUV format frames are stabilised in: the film's own where it is one, else 8-bit 4:2:0 / 4:4:4."
    name = frame.format.name
    if name in PLANAR_YUV:
        return name
    return 'yuv420p' if frame.width % 2 == 0 and frame.height % 2 == 0 else 'yuv444p'


def _open_encoder(path, vs_in, fmt, width, height, timing, suffix, lossless):
    codec = codecs.default_codec(suffix)  # what `render` writes to this container: H.264, VP9 for WebM
    options = LOSSLESS[codec.encoder] if lossless else codec.settings(width, height)[1]
    out = av.open(str(path), 'w')
    s = out.add_stream(codec.encoder, rate=timing.rate, options=dict(options))
    s.width, s.height = width, height
    s.pix_fmt = fmt.replace('yuvj', 'yuv')  # the j formats are full range: said by color_range instead
    s.time_base = s.codec_context.time_base = timing.out_tb
    cc_in, cc = vs_in.codec_context, s.codec_context
    for attr in ('colorspace', 'color_primaries', 'color_trc', 'color_range'):  # the film's own colour tags
        if hasattr(cc_in, attr) and hasattr(cc, attr):
            setattr(cc, attr, getattr(cc_in, attr))
    if fmt.startswith('yuvj'):
        cc.color_range = 2
    return out, s


def deflicker_film(src, dest, strength=DEFLICKER_STRENGTH, lossless=False, **stabilizer_options):
    """Write `src` to `dest` with its chroma stabilised (`ChromaStabilizer`), luminance untouched; same
    size, frame rate, timestamps, frame count and audio. Returns `(frames, stabilizer, seconds)`."""
    src, dest = Path(src), Path(dest)
    info = probe_video(src)
    if info.frames == 0:
        raise BadInputError(src, 'film has no frames')
    suffix = dest.suffix.lower()
    segments = Segments.beside(dest).clear()  # one segment: the whole film
    seg = segments.path(0)
    stab = ChromaStabilizer(strength, **stabilizer_options)
    n, t0, offset, last = 0, time.perf_counter(), None, None
    out = vs_out = None
    try:
        with av.open(str(src)) as c:
            vs = c.streams.video[0]
            vs.thread_type = 'AUTO'
            timing = film_timing(c, vs, suffix)
            try:
                for frame in progress(c.decode(vs), total=info.frames, comment=f'deflicker {src.name}'):
                    fmt = _working_format(frame)
                    f = frame if frame.format.name == fmt else frame.reformat(format=fmt)
                    y, u, v = frame_planes(f)
                    if out is None:
                        out, vs_out = _open_encoder(seg, vs, fmt, f.width, f.height, timing, suffix, lossless)
                    vf = planes_frame(stabilize_planes(stab, y, u, v), f.width, f.height, fmt)
                    pts = timing.out_pts(frame.pts, n)
                    if last is not None and pts <= last:  # damaged timestamps: keep them increasing
                        pts = last + 1
                    last = pts
                    offset = pts if offset is None else offset
                    vf.pts, vf.time_base = pts - offset, timing.out_tb
                    vf.duration = timing.out_duration(frame.duration)
                    out.mux(vs_out.encode(vf))
                    n += 1
            except av.error.FFmpegError as e:
                if not n:
                    raise BadInputError(src, f'damaged film ({str(e).splitlines()[0]})') from None
                say(f'{src}: damaged film, decoding stopped after {n} frames ({str(e).splitlines()[0]})')
        if out is None:
            raise BadInputError(src, 'no frame could be decoded')
        out.mux(vs_out.encode(None))
        out.close()
        out = None
        seconds = time.perf_counter() - t0
        audio_span = (None, n / info.fps) if n < info.frames else None  # a truncated film: audio cut to its video
        segments.finished(0, offset * timing.out_tb, n)
        segments.join(src, dest, info.fps, audio_span)
    finally:
        if out is not None:
            out.close()
        segments.remove()
    return n, stab, seconds


def deflicker(film: Annotated[str, "a film already in colour (colorized by this toolkit or anything else)"],
              out: Annotated[str, "the output film (its suffix picks the container), or an existing folder", dict(opt=True, required=True)],
              strength: float = DEFLICKER_STRENGTH,  # 0..1 (below 1): how much of the colour carried along the motion is kept; 0 copies the colour
              lossless: bool = False,  # encode losslessly (H.264 qp 0 / VP9 lossless): luminance bit for bit as decoded, large files
              overwrite: bool = False):  # replace an existing output
    "Stabilise the colour of a colour film along its motion (luminance kept exactly); same size, rate, frames and audio."
    src = Path(film)
    with reraise_as(DeoldifyLikeError, ValueError, '--strength: '):
        strength = check_strength(strength)
    dest = Path(out)
    if dest.is_dir():
        dest = dest / (src.stem + codecs.output_suffix(src))
    if dest.suffix.lower() not in codecs.KEPT_SUFFIXES:
        raise DeoldifyLikeError(f"{dest}: the output must end in one of {', '.join(sorted(codecs.KEPT_SUFFIXES))}")
    if dest.exists() and dest.resolve() == src.resolve():
        raise DeoldifyLikeError(f'{dest}: the output would replace the input')
    if dest.exists() and not overwrite:
        raise DeoldifyLikeError(f'{dest}: exists (--overwrite to replace it)')
    n, stab, seconds = deflicker_film(src, dest, strength, lossless)
    say(f'{src} -> {dest}: {n} frames, {len(stab.cuts)} shot start(s), {n / max(seconds, 1e-9):.1f} frames/s')
    return 0
