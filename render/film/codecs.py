"""The film encoders, in one table: name -> encoder, containers, pixel format, options, lossless or not.

All of them are in the PyAV wheel (libx264, libx265, libsvtav1, libvpx-vp9, ffv1, prores_ks); NVENC
(h264_nvenc, hevc_nvenc) is in the wheel too but only opens where an NVIDIA GPU and driver are present,
so it is offered only after an encoder context actually opened. No encoder here puts B-frames in the
container's decoding order (x264 and NVENC `bf 0`, x265 `bframes=0`; SVT-AV1 and VP9 reorder inside the
bitstream), so each segment's packets have increasing timestamps and segments join without gaps.

FFV1 is encoded from RGB (`bgr0`): the frames the model produced come back bit for bit, which a YUV
format would not give (RGB -> YUV rounds). ProRes is 422 HQ (prores_ks profile 3, 10-bit 4:2:2).
"""
import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av

from deoldify_like.errors import DeoldifyLikeError

BT601, LIMITED, RGB_MATRIX, FULL = 5, 1, 0, 2  # FFmpeg's AVColorSpace / AVColorRange numbers
KEPT_SUFFIXES = ('.mp4', '.m4v', '.mov', '.mkv', '.avi', '.webm')  # other input containers are written as .mkv
MP4_LIKE = ('.mp4', '.m4v', '.mov')


@dataclass(frozen=True)
class Codec:
    name: str  # what --codec takes
    encoder: str  # FFmpeg's encoder
    container: str  # the suffix used when the input's own container cannot hold this codec
    containers: tuple  # suffixes that can hold it
    pix_fmt: str
    odd_pix_fmt: str  # for an odd width or height (4:2:0 needs even sizes in H.264, H.265 and NVENC)
    options: dict = field(default_factory=dict)
    lossless: bool = False
    crf_option: str | None = 'crf'  # the option --crf sets; None: no quality scale (lossless or profile-based)
    crf_max: int = 51
    rgb: bool = False  # RGB pixel format: tagged as RGB, no YUV matrix
    segment: str = '.mp4'  # container of the resumable segments (MP4 keeps any time base exactly)
    gpu: bool = False
    tag: str | None = None  # codec tag for MP4/MOV (hvc1: what Apple players want for H.265)

    def settings(self, width, height, crf=None):
        "Pixel format and encoder options for a film of this size, with --crf applied."
        options = dict(self.options)
        if crf is not None:
            options[self.crf_option] = str(crf)
        odd = width % 2 or height % 2
        return (self.odd_pix_fmt if odd else self.pix_fmt), options

    @property
    def colour_tags(self):
        "(colorspace, color_range) the frames are converted to and the stream is tagged with."
        return (RGB_MATRIX, FULL) if self.rgb else (BT601, LIMITED)

    def key(self, crf=None):
        "What decides the encoded bits (part of a resumable render's settings)."
        return {'codec': self.name, 'encoder': self.encoder, 'pix_fmt': [self.pix_fmt, self.odd_pix_fmt],
                'options': self.settings(2, 2, crf)[1]}


_H264_BOXES = ('.mp4', '.m4v', '.mov', '.mkv', '.avi')
_X264 = {'crf': '17', 'preset': 'veryfast', 'bf': '0'}  # crf 17 as the reference; veryfast keeps the encoder light
_NVENC = {'preset': 'p4', 'tune': 'hq', 'rc': 'vbr', 'cq': '19', 'b': '0', 'bf': '0'}

CODECS = {c.name: c for c in [
    Codec('h264', 'libx264', '.mp4', _H264_BOXES, 'yuv420p', 'yuv444p', _X264),
    Codec('h265', 'libx265', '.mp4', ('.mp4', '.m4v', '.mov', '.mkv'), 'yuv420p', 'yuv444p',
          {'crf': '20', 'preset': 'veryfast', 'x265-params': 'bframes=0:log-level=error'}, tag='hvc1'),
    Codec('av1', 'libsvtav1', '.mp4', ('.mp4', '.mkv', '.webm'), 'yuv420p', 'yuv420p',
          {'crf': '35', 'preset': '8'}, crf_max=63),
    Codec('vp9', 'libvpx-vp9', '.webm', ('.webm', '.mkv', '.mp4'), 'yuv420p', 'yuv420p',
          {'crf': '30', 'b': '0', 'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}, crf_max=63, segment='.webm'),
    Codec('ffv1', 'ffv1', '.mkv', ('.mkv', '.avi'), 'bgr0', 'bgr0',
          {'level': '3', 'g': '1', 'slicecrc': '1', 'slices': '4'}, lossless=True, crf_option=None, rgb=True),
    Codec('prores', 'prores_ks', '.mov', ('.mov', '.mkv'), 'yuv422p10le', 'yuv422p10le',
          {'profile': '3', 'vendor': 'apl0'}, crf_option=None, segment='.mov'),
    Codec('h264_nvenc', 'h264_nvenc', '.mp4', _H264_BOXES, 'yuv420p', 'yuv444p', _NVENC, crf_option='cq', gpu=True),
    Codec('hevc_nvenc', 'hevc_nvenc', '.mp4', ('.mp4', '.m4v', '.mov', '.mkv'), 'yuv420p', 'yuv444p', _NVENC,
          crf_option='cq', gpu=True, tag='hvc1'),
]}
CODEC_CHOICES = list(CODECS)
DEFAULT = 'h264'


def default_codec(suffix):
    "The codec when none is asked for: VP9 for WebM, H.264 for everything else (what the renderer always did)."
    return CODECS['vp9' if suffix.lower() == '.webm' else DEFAULT]


def output_suffix(src, codec=None):
    """The output's container: the input's own (mp4, m4v, mov, mkv, avi, webm; others become mkv) when it
    can hold the codec, else the codec's own (FFV1 -> mkv, ProRes -> mov, H.264/H.265/AV1 -> mp4)."""
    suffix = Path(src).suffix.lower()
    suffix = suffix if suffix in KEPT_SUFFIXES else '.mkv'
    if codec is None:
        return suffix
    codec = get(codec)
    return suffix if suffix in codec.containers else codec.container


def segment_suffix(codec, suffix):
    "Segments are AVI for AVI films (frames counted, no timestamps), else the codec's segment container."
    return '.avi' if suffix == '.avi' else codec.segment


def get(codec):
    if isinstance(codec, Codec):
        return codec
    if codec not in CODECS:
        raise DeoldifyLikeError(f"--codec {codec}: unknown codec; choose one of {', '.join(CODECS)}")
    return CODECS[codec]


def _opens(encoder):
    "None when an encoder context of `encoder` opens here, else FFmpeg's reason."
    try:
        ctx = av.CodecContext.create(encoder, 'w')
        ctx.width, ctx.height, ctx.pix_fmt = 256, 144, 'yuv420p'
        ctx.time_base, ctx.framerate = Fraction(1, 25), Fraction(25)
        ctx.open()
        ctx.close()
        return None
    except (av.error.FFmpegError, OSError, ValueError) as e:
        return str(e).splitlines()[0]


def check(codec, suffix=None, crf=None):
    """The Codec for `codec` (a name, or None: the default for `suffix`), after checking that its encoder is
    in this PyAV build, that a GPU encoder really opens, that `suffix` can hold it and that --crf fits."""
    codec = default_codec(suffix or '.mp4') if codec is None else get(codec)
    try:
        av.codec.Codec(codec.encoder, 'w')
    except (av.error.FFmpegError, ValueError) as e:
        raise DeoldifyLikeError(f"--codec {codec.name}: this PyAV build has no {codec.encoder} encoder ({e})") from None
    if codec.gpu and (why := _opens(codec.encoder)) is not None:
        raise DeoldifyLikeError(f"--codec {codec.name}: the {codec.encoder} encoder does not open on this machine "
                                f"(it needs an NVIDIA GPU and driver: {why}); use --codec "
                                f"{'h265' if 'hevc' in codec.name else 'h264'}")
    if suffix is not None and suffix.lower() not in codec.containers:
        raise DeoldifyLikeError(f"--codec {codec.name} cannot be written into a {suffix} file; "
                                f"use one of {', '.join(codec.containers)}")
    if crf is not None:
        if codec.crf_option is None:
            why = 'it is lossless' if codec.lossless else 'its quality is set by its profile'
            raise DeoldifyLikeError(f"--crf does not apply to --codec {codec.name}: {why}")
        if not 0 <= crf <= codec.crf_max:
            raise DeoldifyLikeError(f"--crf {crf}: {codec.name} takes 0 to {codec.crf_max}")
    if codec.encoder == 'libsvtav1':
        os.environ.setdefault('SVT_LOG', '1')  # SVT-AV1 prints its whole configuration to stderr unless told not to
    return codec


def available():
    "The codec names that work on this machine (NVENC ones only where an encoder context opens)."
    names = []
    for name in CODECS:
        try:
            check(name)
            names.append(name)
        except DeoldifyLikeError:
            pass
    return names
