"""`deoldify-like deflicker`: stabilise the colour of a film that is already in colour, and its brightness.

Works on the decoded YUV planes themselves (PyAV `frame.planes`): U and V pass through the two-way
`TwoWayStabilizer` (flow on Y; a frame comes out 32 frames after it went in, or at its shot's end), and each
frame's Y plane goes to the encoder bit for bit as it was decoded, unless `--brightness` first passes it
through the `BrightnessDeflicker` (the stabiliser then works on the corrected Y). Films in 8-bit planar YUV
(4:2:0, 4:2:2, 4:4:4, full or limited range: nearly every film) keep their pixel format and colour tags;
anything else (10-bit, RGB, packed formats) is converted once to 8-bit YUV first, and it is that Y which is kept.

The output is written as well as the input came (`codecs.codec_for_input`, the rule `render` follows too): a
lossless input (FFV1, H.264 / H.265 lossless) gives a lossless output, so the luminance equals the input's
exactly; ProRes gives ProRes; 4:4:4 stays 4:4:4; anything else the container's default (H.264 at its crf,
VP9 for WebM). `--lossless` makes any input's output lossless. Size, frame rate, every frame's timestamp,
frame count, display rotation and audio are kept through the film renderer's own pieces (`render.film`).
"""
import time
from pathlib import Path
from typing import Annotated

import av
import numpy as np

from deoldify_like.errors import BadInputError, DeoldifyLikeError, reraise_as
from deoldify_like.progress import progress, say
from deoldify_like.brightness import BrightnessDeflicker, check_window
from deoldify_like.stabilize import check_strength
from deoldify_like.two_way import STRENGTH, TwoWayStabilizer, stabilize_stream
from deoldify_like.video import probe_video

from .film import Segments, codecs, film_timing
from .film.pipeline import brightness_stream

PLANAR_YUV = {'yuv420p', 'yuv422p', 'yuv444p', 'yuvj420p', 'yuvj422p', 'yuvj444p'}


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
    """The planar YUV format frames are stabilised in: the film's own where it is one, else 8-bit 4:4:4 for
    full-colour films (RGB, 4:4:4 at other depths) and odd sizes, 8-bit 4:2:0 for the rest."""
    name = frame.format.name
    if name in PLANAR_YUV:
        return name
    odd = frame.width % 2 or frame.height % 2
    return 'yuv444p' if odd or codecs.full_chroma(name) else 'yuv420p'


def _open_encoder(path, vs_in, fmt, width, height, timing, codec):
    "The output stream: `codec`'s encoder on the working format `fmt` (ProRes and AV1: their own), the film's colour tags."
    options = codec.settings(width, height)[1]
    pix_fmt = fmt.replace('yuvj', 'yuv')  # the j formats are full range: said by color_range instead
    if codec.encoder == 'prores_ks' or (codec.encoder == 'libsvtav1' and pix_fmt != 'yuv420p'):
        pix_fmt = codec.pix_fmt
    out = av.open(str(path), 'w')
    s = out.add_stream(codec.encoder, rate=timing.rate, options=dict(options))
    s.width, s.height, s.pix_fmt = width, height, pix_fmt
    s.time_base = s.codec_context.time_base = timing.out_tb
    if codec.tag and Path(path).suffix in codecs.MP4_LIKE:
        s.codec_tag = codec.tag
    cc_in, cc = vs_in.codec_context, s.codec_context
    for attr in ('colorspace', 'color_primaries', 'color_trc', 'color_range'):  # the film's own colour tags
        if hasattr(cc_in, attr) and hasattr(cc, attr):
            setattr(cc, attr, getattr(cc_in, attr))
    if fmt.startswith('yuvj'):
        cc.color_range = 2
    return out, s


def _decoded(container, vs, src, fmt_of):
    "(frame, Y, U, V) of each decoded frame in the working format; a damaged film stops with a line (none: an error)."
    n = 0
    try:
        for frame in container.decode(vs):
            fmt = fmt_of(frame)
            f = frame if frame.format.name == fmt else frame.reformat(format=fmt)
            yield (f, *frame_planes(f))
            n += 1
    except av.error.FFmpegError as e:
        if not n:
            raise BadInputError(src, f'damaged film ({str(e).splitlines()[0]})') from None
        say(f'{src}: damaged film, decoding stopped after {n} frames ({str(e).splitlines()[0]})')


def deflicker_film(src, dest, strength=STRENGTH, lossless=False, brightness=False, crf=None, brightness_window=None,
                   **stabilizer_options):
    """Write `src` to `dest` with its chroma stabilised (`TwoWayStabilizer`) and, with `brightness`, its luminance
    deflickered first (`BrightnessDeflicker`; else the Y plane is untouched); same size, frame rate, timestamps,
    frame count and audio, written as `codecs.codec_for_input` says (`lossless`: the container's default codec
    made lossless; `crf`: that crf; `brightness_window`: the deflicker's window, None for its default). Returns
    `(frames, stabilizer, seconds)`; the stabiliser's `brightness` attribute is the BrightnessDeflicker or None."""
    src, dest = Path(src), Path(dest)
    info = probe_video(src)
    if info.frames == 0:
        raise BadInputError(src, 'film has no frames')
    suffix = dest.suffix.lower()
    try:
        source = codecs.Source.probe(src)
    except (av.error.FFmpegError, IndexError) as e:
        raise BadInputError(src, f'cannot be read ({e})') from None
    codec = codecs.lossless(codecs.default_codec(suffix)) if lossless else \
        codecs.codec_for_input(source, suffix, crf=crf)
    segments = Segments.beside(dest, codec).clear()  # one segment: the whole film
    seg = segments.path(0)
    stab = TwoWayStabilizer(strength, **stabilizer_options)
    stab.brightness = BrightnessDeflicker(window=brightness_window) if brightness else None
    n, t0, offset, last = 0, time.perf_counter(), None, None
    out = vs_out = None
    try:
        with av.open(str(src)) as c:
            vs = c.streams.video[0]
            vs.thread_type = 'AUTO'
            timing = film_timing(c, vs, suffix)
            frames = _decoded(c, vs, src, _working_format)
            if stab.brightness is not None:
                steadied = brightness_stream(stab.brightness, ((y, (f, u, v)) for f, y, u, v in frames))
                frames = ((f, y, u, v) for (f, u, v), y in steadied)
            planes = ((y, np.dstack([u, v]), (f, y)) for f, y, u, v in frames)
            for (frame, y), uv in progress(stabilize_stream(stab, planes), total=info.frames,
                                           comment=f'deflicker {src.name}'):
                fmt = frame.format.name
                if out is None:
                    out, vs_out = _open_encoder(seg, vs, fmt, frame.width, frame.height, timing, codec)
                uv = np.clip(np.rint(uv), 0, 255).astype(np.uint8)
                vf = planes_frame((y, uv[..., 0], uv[..., 1]), frame.width, frame.height, fmt)
                if vs_out.pix_fmt != fmt.replace('yuvj', 'yuv'):
                    vf = vf.reformat(format=vs_out.pix_fmt)
                pts = timing.out_pts(frame.pts, n)
                if last is not None and pts <= last:  # damaged timestamps: keep them increasing
                    pts = last + 1
                last = pts
                offset = pts if offset is None else offset
                vf.pts, vf.time_base = pts - offset, timing.out_tb
                vf.duration = timing.out_duration(frame.duration)
                out.mux(vs_out.encode(vf))
                n += 1
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
              strength: float = STRENGTH,  # 0..1 (below 1): how much of the colour carried along the motion (both ways) is kept; 0 copies the colour
              brightness: bool = False,  # also remove brightness flicker (exposure changes that do not follow the motion; cuts and real changes kept): the luminance is then changed
              brightness_window: int = None,  # with --brightness: frames each side over which the exposure is smoothed (default 24; its trend's sigma is a third); more removes slower flicker, and more of the film's slow real changes of light
              lossless: bool = False,  # encode losslessly (H.264 qp 0 / VP9 lossless) whatever the input; a lossless input is written lossless anyway
              overwrite: bool = False):  # replace an existing output
    "Stabilise the colour of a colour film along its motion, both ways (luminance kept exactly unless --brightness); same size, rate, frames and audio, written as well as it came."
    src = Path(film)
    with reraise_as(DeoldifyLikeError, ValueError, '--strength: '):
        strength = check_strength(strength)
    with reraise_as(DeoldifyLikeError, ValueError):
        check_window(brightness_window, brightness, '--brightness-window', '--brightness')
    dest = Path(out)
    if dest.is_dir():
        dest = dest / (src.stem + codecs.output_suffix(src))
    if dest.suffix.lower() not in codecs.KEPT_SUFFIXES:
        raise DeoldifyLikeError(f"{dest}: the output must end in one of {', '.join(sorted(codecs.KEPT_SUFFIXES))}")
    if dest.exists() and dest.resolve() == src.resolve():
        raise DeoldifyLikeError(f'{dest}: the output would replace the input')
    if dest.exists() and not overwrite:
        raise DeoldifyLikeError(f'{dest}: exists (--overwrite to replace it)')
    n, stab, seconds = deflicker_film(src, dest, strength, lossless, brightness, brightness_window=brightness_window)
    light = f', brightness: {len(stab.brightness.cuts)} shot start(s), {len(stab.brightness.events)} change(s) of light kept' \
        if stab.brightness is not None else ''
    say(f'{src} -> {dest}: {n} frames, {len(stab.cuts)} shot start(s){light}, {n / max(seconds, 1e-9):.1f} frames/s')
    return 0
