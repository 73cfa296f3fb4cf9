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
from dataclasses import dataclass, field, replace
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
_X264 = {'crf': '8', 'preset': 'fast', 'bf': '0'}  # crf 8, fast: a film through deflicker comes back at >= 38 dB (docs/deflicker.md, waves 5 and 7)
_NVENC = {'preset': 'p4', 'tune': 'hq', 'rc': 'vbr', 'cq': '19', 'b': '0', 'bf': '0'}

CODECS = {c.name: c for c in [
    Codec('h264', 'libx264', '.mp4', _H264_BOXES, 'yuv420p', 'yuv444p', _X264),
    Codec('h265', 'libx265', '.mp4', ('.mp4', '.m4v', '.mov', '.mkv'), 'yuv420p', 'yuv444p',
          {'crf': '20', 'preset': 'veryfast', 'x265-params': 'bframes=0:log-level=error'}, tag='hvc1'),
    Codec('av1', 'libsvtav1', '.mp4', ('.mp4', '.mkv', '.webm'), 'yuv420p', 'yuv420p',
          {'crf': '35', 'preset': '8'}, crf_max=63),
    Codec('vp9', 'libvpx-vp9', '.webm', ('.webm', '.mkv', '.mp4'), 'yuv420p', 'yuv420p',
          {'crf': '6', 'b': '0', 'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}, crf_max=63, segment='.webm'),  # crf 6: >= 38 dB, as H.264's 8
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


LOSSLESS_OPTIONS = {'libx264': {'qp': '0', 'preset': 'veryfast', 'bf': '0'},
                    'libx265': {'preset': 'veryfast', 'x265-params': 'lossless=1:bframes=0:log-level=error'},
                    'libvpx-vp9': {'lossless': '1', 'deadline': 'good', 'cpu-used': '5', 'row-mt': '1'}}


def full_chroma(pix_fmt):
    "Whether frames of `pix_fmt` carry colour at every pixel (4:4:4 YUV with or without alpha, RGB; gray: no)."
    try:
        components = av.VideoFormat(pix_fmt, 16, 16).components
    except (ValueError, av.error.FFmpegError):
        return False
    return len(components) >= 3 and all((c.width, c.height) == (16, 16) for c in components)


def lossless(codec):
    "The lossless form of `codec` (H.264 qp 0, H.265 lossless=1, VP9 lossless; FFV1 as it is), None if it has none."
    codec = get(codec)
    if codec.lossless:
        return codec
    if codec.encoder not in LOSSLESS_OPTIONS:
        return None
    return replace(codec, options=LOSSLESS_OPTIONS[codec.encoder], lossless=True, crf_option=None)


@dataclass(frozen=True)
class Source:
    "What decides how a film is written back: its codec, pixel format, and whether its encoding is lossless."
    codec: str
    pix_fmt: str
    lossless: bool

    @classmethod
    def probe(cls, path):
        "The Source of the first video stream of film `path` (the first packet read where the headers say too little)."
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            cc = stream.codec_context
            exact = cc.name == 'ffv1'
            if cc.name in ('h264', 'hevc'):
                data = bytes(cc.extradata or b'')
                if not data:  # Annex B (raw streams, AVI): the parameter sets travel in the stream
                    data = next((bytes(p) for p in c.demux(stream) if p.size), b'')
                exact = _h264_lossless(data) if cc.name == 'h264' else _hevc_lossless(data)
            return cls(cc.name, cc.pix_fmt or 'yuv420p', exact)

    @property
    def full_chroma(self):
        return full_chroma(self.pix_fmt)


def codec_for_input(source, suffix, codec=None, crf=None):
    """The one rule for how `deflicker` and `render` write a film made from `source` into a `suffix` file:
    `codec` / `crf` given win; else a lossless source (FFV1, H.264 / H.265 lossless) gives a lossless output
    (FFV1 where the container holds it, else the container's default codec made lossless), ProRes gives
    ProRes, anything else the container's default at its default crf. A 4:4:4 (or RGB) source gives 4:4:4
    with every codec that has it."""
    suffix = suffix.lower()
    if codec is not None or crf is not None:
        chosen = check(codec, suffix, crf)
        if crf is not None:
            chosen = replace(chosen, options={**chosen.options, chosen.crf_option: str(crf)})
    elif source.lossless:
        chosen = CODECS['ffv1'] if source.codec == 'ffv1' and suffix in CODECS['ffv1'].containers else \
            lossless(default_codec(suffix))
    elif source.codec == 'prores' and suffix in CODECS['prores'].containers:
        chosen = CODECS['prores']
    else:
        chosen = default_codec(suffix)
    if source.full_chroma and not chosen.rgb and chosen.encoder not in ('libsvtav1',):
        fmt = 'yuv444p10le' if chosen.encoder == 'prores_ks' else 'yuv444p'
        options = {**chosen.options, 'profile': '4'} if chosen.encoder == 'prores_ks' else chosen.options
        chosen = replace(chosen, pix_fmt=fmt, odd_pix_fmt=fmt, options=options)
    return chosen


class _Bits:
    "Exp-Golomb reader over an H.264/H.265 RBSP (emulation-prevention bytes removed)."

    def __init__(self, nal):
        self.data, self.pos = nal.replace(b'\x00\x00\x03', b'\x00\x00'), 0

    def u(self, n=1):
        v = 0
        for _ in range(n):
            v = v << 1 | (self.data[self.pos >> 3] >> (7 - (self.pos & 7))) & 1
            self.pos += 1
        return v

    def ue(self):
        zeros = 0
        while self.u() == 0:
            zeros += 1
        return (1 << zeros) - 1 + self.u(zeros)


def _nals(data, hevc):
    "The NAL units in avcC / hvcC extradata or an Annex B byte stream."
    if data[:1] == b'\x01' and len(data) > 23:  # avcC / hvcC
        units, pos = [], 22 if hevc else 5
        if hevc:
            arrays, pos = data[pos], pos + 1
            for _ in range(arrays):
                count, pos = int.from_bytes(data[pos + 1:pos + 3], 'big'), pos + 3
                for _ in range(count):
                    n = int.from_bytes(data[pos:pos + 2], 'big')
                    units.append(data[pos + 2:pos + 2 + n])
                    pos += 2 + n
            return units
        for _ in range(2):  # the SPS, then the PPS
            count, pos = data[pos] & 0x1f, pos + 1
            for _ in range(count):
                n = int.from_bytes(data[pos:pos + 2], 'big')
                units.append(data[pos + 2:pos + 2 + n])
                pos += 2 + n
        return units
    return [u.lstrip(b'\x00') for u in data.split(b'\x00\x00\x01')[1:]]


def _h264_lossless(data):
    "Whether the stream's SPS allows lossless macroblocks (qpprime_y_zero_transform_bypass_flag: what x264 qp 0 sets)."
    for nal in _nals(data, False):
        if nal and nal[0] & 0x1f == 7 and len(nal) > 4:
            if nal[1] not in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
                return False
            b = _Bits(nal[4:])
            b.ue()
            if b.ue() == 3:
                b.u()
            b.ue(), b.ue()
            return bool(b.u())
    return False


def _hevc_lossless(data):
    "Whether the stream's PPS enables transquant bypass (x265 --lossless)."
    with_pps = [nal for nal in _nals(data, True) if len(nal) > 2 and (nal[0] >> 1) & 0x3f == 34]
    for nal in with_pps:
        b = _Bits(nal[2:])
        b.ue(), b.ue(), b.u(), b.u(), b.u(3), b.u(), b.u(), b.ue(), b.ue(), b.ue(), b.u(), b.u()
        if b.u():
            b.ue()
        b.ue(), b.ue(), b.u(), b.u(), b.u()
        return bool(b.u())
    return False


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
