"""Receiving files safely: a multipart body streamed straight to disk with a size limit, the type decided
by the content (Pillow, OpenCV, FFmpeg) and never by the name, and the uploaded name kept only as a
sanitised label for display and download, never as a path. A film may come with colour reference pictures
(form fields `reference`, each with an optional `reference_frame`), checked before the job is queued.
"""
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import av
from PIL import Image, UnidentifiedImageError
from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from deoldify_like.errors import BadInputError, DeoldifyLikeError, SettingsError
from deoldify_like.images import load_image
from deoldify_like.reference_colour import keyframe_from_name, load_reference
from deoldify_like.video import probe_video

from ..film.reference import parse_reference_at

MAX_FIELDS, MAX_FIELD_BYTES = 50, 10_000
MAX_REFERENCES = 16  # reference pictures with one film
UNITS = {'': 1, 'b': 1, 'k': 10**3, 'kb': 10**3, 'kib': 2**10, 'm': 10**6, 'mb': 10**6, 'mib': 2**20,
         'g': 10**9, 'gb': 10**9, 'gib': 2**30, 't': 10**12, 'tb': 10**12, 'tib': 2**40}
# Pillow formats written back as they came; every other picture comes back as PNG.
PHOTO_SUFFIXES = {'JPEG': '.jpg', 'MPO': '.jpg', 'PNG': '.png', 'WEBP': '.webp', 'TIFF': '.tif', 'BMP': '.bmp'}
WEBM_CODECS = {'vp8', 'vp9', 'av1'}
# FFmpeg demuxers that read text or single pictures, not films.
NOT_FILM_FORMATS = {'tty', 'txt', 'image2', 'image2pipe', 'srt', 'ass', 'webvtt', 'lrc', 'subviewer', 'mpl2'}


class UploadError(DeoldifyLikeError):
    "An upload the server refuses, with the HTTP status to answer."

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def parse_size(text):
    "'2GB', '500 MB', '1.5GiB' or a plain number of bytes to bytes (KB/MB/GB are powers of 1000)."
    m = re.fullmatch(r'\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*', str(text))
    if not m or m.group(2).lower() not in UNITS:
        raise DeoldifyLikeError(f"size {text!r} not understood; write e.g. 2GB, 500MB or 1048576")
    size = int(float(m.group(1)) * UNITS[m.group(2).lower()])
    if size <= 0:
        raise DeoldifyLikeError(f"size {text!r} must be more than 0 bytes")
    return size


def human_size(n):
    for unit in ('bytes', 'KB', 'MB', 'GB'):
        if n < 1000 or unit == 'GB':
            return f'{n:.0f} {unit}' if unit == 'bytes' else f'{n:.3g} {unit}'
        n /= 1000


def safe_name(name, fallback='upload'):
    """A label for an uploaded file's name, safe as a download name: the last path component only, letters,
    digits, spaces and ._-() kept, everything else (separators, control characters, quotes) as '_', no
    leading dots, at most 120 characters."""
    name = unicodedata.normalize('NFKC', str(name or ''))
    name = re.split(r'[\\/]', name)[-1]
    name = ''.join(c if c.isalnum() or c in ' ._-()' else '_' for c in name)
    name = re.sub(r'\s+', ' ', name).strip(' .')
    if len(name) > 120:
        stem, dot, suffix = name.rpartition('.')
        name = (stem[:110] + dot + suffix[:9]) if dot and len(suffix) < 10 else name[:120]
    return name or fallback


@dataclass
class Received:
    "What a multipart upload brought: the form fields as text, the file's name as sent, and any references."
    fields: dict
    filename: str | None  # a label only; None when no file came
    references: list = field(default_factory=list)  # [(path written, name as sent)] of the `reference` parts
    reference_frames: list = field(default_factory=list)  # the `reference_frame` fields as text, in order


async def receive_upload(request, dest, limit, require_file=True):
    """Stream the multipart body of `request` into the file `dest` (the part named 'file') and return
    `(fields, filename)`: the other form fields as text and the uploaded name as given (a label only;
    None when no file came and `require_file` is False). As `receive_form`, without references."""
    received = await receive_form(request, dest, limit, require_file)
    return received.fields, received.filename


async def receive_form(request, dest, limit, require_file=True, references_dir=None):
    """Stream the multipart body of `request` into the file `dest` (the part named 'file'); with
    `references_dir`, parts named `reference` (at most MAX_REFERENCES) go to `references_dir/reference-<i>`
    and `reference_frame` fields are kept in order. Returns a `Received`.

    The limit applies to the whole body and is enforced while it arrives: a declared Content-Length over it
    is refused before reading, and a body that grows past it is cut off (UploadError 413). `dest` and the
    references are removed on any failure."""
    dest = Path(dest)
    declared = request.headers.get('content-length')
    if declared and declared.isdigit() and int(declared) > limit:
        raise UploadError(f"the upload is {human_size(int(declared))}, more than this server's limit of {human_size(limit)}", 413)
    ctype, params = parse_options_header(request.headers.get('content-type', ''))
    if ctype == b'application/x-www-form-urlencoded' and not require_file:
        return Received(await _urlencoded(request), None)
    if ctype != b'multipart/form-data' or b'boundary' not in params:
        raise UploadError("send the file as multipart/form-data (a form field named 'file')", 415)

    fields, names, part, out = {}, {}, {}, None
    refs, ref_frames, ref_out = [], [], None
    header = {'field': b'', 'value': b''}

    def on_part_begin():
        part.clear()
        part.update(headers={}, data=bytearray(), file=False)

    def on_header_field(data, start, end):
        header['field'] += data[start:end]

    def on_header_value(data, start, end):
        header['value'] += data[start:end]

    def on_header_end():
        part['headers'][header['field'].lower()] = header['value']
        header['field'] = header['value'] = b''

    def on_headers_finished():
        nonlocal out, ref_out
        _, opts = parse_options_header(part['headers'].get(b'content-disposition', b''))
        name = opts.get(b'name', b'').decode('utf-8', 'replace')
        part['name'] = name
        if b'filename' in opts and name == 'reference' and references_dir is not None:
            if len(refs) >= MAX_REFERENCES:
                raise UploadError(f"too many reference pictures (at most {MAX_REFERENCES} with one film)")
            refs.append((Path(references_dir) / f'reference-{len(refs)}', opts[b'filename'].decode('utf-8', 'replace')))
            part['file'] = 'reference'
            ref_out = open(refs[-1][0], 'wb')
        elif b'filename' in opts:
            if name != 'file' or out is not None:
                raise UploadError("send exactly one file, in the form field named 'file'"
                                  + (" (and reference pictures in fields named 'reference')" if references_dir else ''))
            names['file'] = opts[b'filename'].decode('utf-8', 'replace')
            part['file'] = True
            out = open(dest, 'wb')
        elif len(fields) >= MAX_FIELDS:
            raise UploadError(f"too many form fields (at most {MAX_FIELDS})")

    def on_part_data(data, start, end):
        if part['file'] == 'reference':
            ref_out.write(data[start:end])
        elif part['file']:
            out.write(data[start:end])
        else:
            part['data'] += data[start:end]
            if len(part['data']) > MAX_FIELD_BYTES:
                raise UploadError(f"form field {part['name']!r} is longer than {MAX_FIELD_BYTES} bytes")

    def on_part_end():
        if part['file'] == 'reference':
            ref_out.close()
        elif not part['file']:
            text = part['data'].decode('utf-8', 'replace')
            if part['name'] == 'reference_frame' and references_dir is not None:
                ref_frames.append(text)
            else:
                fields[part['name']] = text

    callbacks = dict(on_part_begin=on_part_begin, on_part_data=on_part_data, on_part_end=on_part_end,
                     on_header_field=on_header_field, on_header_value=on_header_value,
                     on_header_end=on_header_end, on_headers_finished=on_headers_finished)
    parser, received = MultipartParser(params[b'boundary'], callbacks), 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise UploadError(f"the upload is more than this server's limit of {human_size(limit)}", 413)
            parser.write(chunk)
        parser.finalize()
        if out is None and require_file:
            raise UploadError("no file: send it in the form field named 'file'")
    except Exception as e:
        for f in (out, ref_out):
            if f is not None:
                f.close()
        dest.unlink(missing_ok=True)
        for path, _ in refs:
            path.unlink(missing_ok=True)
        if isinstance(e, UploadError):
            raise
        raise UploadError(f"the upload could not be read as a form ({type(e).__name__}: {e})") from None
    if out is not None:
        out.close()
    return Received(fields, names.get('file'), refs, ref_frames)


async def _urlencoded(request):
    "The fields of a form without a file (`curl -d`), at most MAX_FIELDS of MAX_FIELD_BYTES."
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FIELDS * MAX_FIELD_BYTES:
            raise UploadError("the form is too long for a form without a file", 413)
    return dict(urllib.parse.parse_qsl(body.decode('utf-8', 'replace'), max_num_fields=MAX_FIELDS))


@dataclass
class Sniffed:
    kind: str  # photo | gif | film
    suffix: str  # what the input is stored as (the format it really has)
    result_suffix: str  # what the colour version is written as
    frames: int  # 1 for photos, the frame count for GIFs and films


def _picture_format(path):
    "Pillow's name for the picture format of `path`, None when Pillow cannot identify it."
    try:
        with Image.open(path) as img:
            return img.format, getattr(img, 'n_frames', 1)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None, 0


def _film(path, label):
    "A film FFmpeg reads with frames, else BadInputError."
    try:
        with av.open(str(path)) as c:
            fmt = c.format.name
            codec = c.streams.video[0].codec_context.name if c.streams.video else None
    except (av.error.FFmpegError, UnicodeDecodeError, IndexError):
        return None
    names = set(fmt.split(','))
    if codec is None or names & NOT_FILM_FORMATS or any(n.endswith('_pipe') for n in names):
        return None  # text, subtitles or a single picture
    info = probe_video(path)
    if info.frames == 0:
        raise BadInputError(label, 'film has no frames')
    if 'mp4' in names or 'mov' in names:
        suffix = '.mp4'
    elif 'matroska' in names:
        suffix = '.webm' if codec in WEBM_CODECS else '.mkv'
    elif 'avi' in names:
        suffix = '.avi'
    else:  # MPEG, WMV, FLV...: read by FFmpeg, written as Matroska
        return Sniffed('film', '.' + fmt.split(',')[0], '.mkv', info.frames)
    return Sniffed('film', suffix, suffix, info.frames)


def sniff(path, label):
    """What the file at `path` is, by its content: a photo (Pillow or OpenCV reads it), a GIF (Pillow says
    GIF) or a film (FFmpeg finds a video stream with frames). BadInputError naming `label` (the upload's
    sanitised name, never the server's path) when it is none of them or is damaged."""
    path = Path(path)
    if path.stat().st_size == 0:
        raise BadInputError(label, 'empty file (0 bytes)')
    fmt, frames = _picture_format(path)
    try:
        if fmt == 'GIF':
            load_image(path)
            return Sniffed('gif', '.gif', '.gif', frames)
        if fmt is not None:
            load_image(path)
            suffix = PHOTO_SUFFIXES.get(fmt, '.png')
            return Sniffed('photo', suffix if fmt in PHOTO_SUFFIXES else '.' + fmt.lower(), suffix, 1)
        film = _film(path, label)
        if film is not None:
            return film
        load_image(path)  # OpenCV-only pictures (some 16-bit colour TIFF and PNG variants)
        return Sniffed('photo', '.img', '.png', 1)
    except BadInputError as e:
        raise BadInputError(label, e.problem.replace('neither Pillow nor OpenCV', 'neither Pillow, OpenCV nor FFmpeg')
                            .replace('not an image file', 'not a photo, GIF or film')) from None


def _reference_frame(text, label, fps):
    """The keyframe of a reference: the `reference_frame` given (a frame number or a time, as `--reference-at`),
    else a frame number or time in its name, else None."""
    text = str(text or '').strip()
    if not text:
        return keyframe_from_name(label, fps)
    try:
        at = parse_reference_at(text)
    except SettingsError:
        raise SettingsError(f"{label}: reference_frame must be a frame number (120) or a time (4.5s), or empty; "
                            f"got {text!r}") from None
    return at if isinstance(at, int) else round(at * fps)


def store_references(received, folder, film, frames):
    """The reference pictures that came with the film at `film` (`frames` frames), checked and moved to
    `folder/reference-<i><suffix>`: [{'name', 'file', 'frame'}] for the job (`frame` None: the frame the
    picture resembles most, found when it renders). Each must be a colour picture (BadInputError naming it)
    with a keyframe inside the film (SettingsError); `reference_frame` fields, when given, are one per
    reference, in order (an empty one: by its name or resemblance)."""
    given = received.reference_frames
    if given and len(given) != len(received.references):
        raise SettingsError(f"{len(given)} reference_frame fields for {len(received.references)} reference pictures: "
                            "give one per reference, in order (empty: matched by its name or by resemblance), or none")
    fps = probe_video(film, count_frames=False).fps if received.references else None
    stored = []
    for i, (path, sent_name) in enumerate(received.references):
        label = safe_name(sent_name, f'reference-{i + 1}')
        frame = _reference_frame(given[i] if given else '', label, fps)
        if frame is not None and frame >= frames:
            raise SettingsError(f"{label}: keyframe {frame} is past the film's last frame ({frames - 1})")
        try:
            load_reference(path)
        except BadInputError as e:
            raise BadInputError(f'reference {label}', e.problem.replace('not an image file', 'not a picture')) from None
        fmt, _ = _picture_format(path)
        file = f'reference-{i}{PHOTO_SUFFIXES.get(fmt, ".png")}'
        path.rename(Path(folder) / file)
        stored.append({'name': label, 'file': file, 'frame': frame})
    return stored
