"""Colorizing a film, from source to output: `render_film`.

The film is colorized into resumable segments (render/film/segments.py) by the thread pipeline
(render/film/pipeline.py: decode -> colorize -> encode); when all are done they are joined with the
original audio (render/film/mux.py) into the output, written atomically, and the work folder is removed.

H.264 4:2:0 needs even sizes, so films with an odd width or height are encoded 4:4:4 (High 4:4:4 profile:
exact size, full colour resolution, though some browsers do not play it) rather than padded or cropped;
`web=True` adds a browser-safe copy (render/film/web_copy.py). The encoder comes from the codec table
(render/film/codecs.py: H.264 by default, H.265, AV1, VP9, lossless FFV1, ProRes 422 HQ, NVENC where it
opens). A part of a film (render/film/part.py) starts at time 0 in the output; whenever the output is
shorter than the source its audio is cut to the same span.
"""
from fractions import Fraction
from pathlib import Path

from deoldify_like.brightness import WINDOW, BrightnessDeflicker, check_window
from deoldify_like.errors import BadInputError, DeoldifyLikeError, SettingsError
from deoldify_like.stabilizers import default_strength, make_stabilizer
from deoldify_like.video import VIDEO_SUFFIXES, probe_video

from . import codecs
from .part import Span, select
from .pipeline import colorize_segments
from .reference import in_part, references_key
from .segments import SEGMENT_FRAMES, Segments
from .web_copy import web_path, write_web_copy


def is_film_path(path):
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _settings_key(src, colorizer, render_factor, segment_frames, limit, codec, crf, span, stabilizer=None,
                  stabilize=('none', None), brightness=None, references=()):
    """What a resumed render must match: the source file, the model and every setting that changes the output,
    with the stabiliser's and the deflicker's REVISION (a render stopped before their code changed starts again)."""
    st = Path(src).stat()
    return {'source': str(Path(src).resolve()), 'source_size': st.st_size, 'source_mtime': st.st_mtime,
            'model': colorizer.header.get('info', {}).get('saved_at'), 'model_config': colorizer.header.get('config'),
            **colorizer.settings(), 'render_factor': render_factor, 'segment_frames': segment_frames, 'limit': limit,
            **codec.key(crf), 'span': span.key(),
            **({} if stabilizer is None else {'stabilize': [*stabilize, stabilizer.REVISION]}),
            **({'deflicker_brightness': brightness.REVISION} if brightness is not None else {}),
            **({'deflicker_brightness_window': brightness.window} if brightness is not None and brightness.window != WINDOW else {}),
            **({'references': references_key(references)} if references else {})}


def render_film(colorizer, src, dest, render_factor, resume=False, segment_frames=SEGMENT_FRAMES, limit=None,
                hook=None, codec=None, crf=None, start=None, duration=None, web=False, stabilize='none',
                strength=None, deflicker_brightness=False, deflicker_brightness_window=None, references=None):
    """Colorize film `src` into `dest` (same size, frame rate, frame count and audio); returns the number of
    frames. `codec`: a name from render/film/codecs.py (default: H.264, VP9 for WebM) and `crf` its quality;
    `start`/`duration` (seconds or hh:mm:ss) and `limit` (a number of frames) render a part, which starts at
    0 in the output with its audio cut to the same span; `web`: also write a browser-safe copy (NAME.web.mp4).
    `stabilize` 'flow' passes the colour of every frame, in order, through the two-way stabiliser ('flow-one-way':
    the one-way one; deoldify_like/stabilizers.py) of `strength` (None: the mode's default); its state is
    saved at each segment's end, so a resumed render continues it exactly.
    `deflicker_brightness`: the input luminance passes through a `BrightnessDeflicker` (of
    `deflicker_brightness_window` frames each side, None for its default) before the model.
    The output is written as `codecs.codec_for_input` says: `codec`/`crf` win, else as good as the source
    (lossless kept lossless, ProRes kept, 4:4:4 kept).
    `references`: a list of `deoldify_like.reference_colour.Reference` (as `load_reference` gives; keyframes are
    frame numbers of the whole film, None: the frame it resembles most): the chroma comes from
    `colorize_with_references`, each reference carried through its shot, with the colour above (stabilised when
    asked) as the fallback; the luminance stays the film's (render/film/reference.py). A resumed render with
    the same references continues exactly.
    `hook(frames_done)` is called after every batch (tests interrupt a render with it)."""
    try:
        stabilizer = make_stabilizer(stabilize, strength)
        check_window(deflicker_brightness_window, deflicker_brightness, 'deflicker_brightness_window',
                     'deflicker_brightness')
    except ValueError as e:
        raise DeoldifyLikeError(str(e)) from None
    src, dest = Path(src), Path(dest)
    if codec is not None or crf is not None:
        codecs.check(codec, dest.suffix.lower(), crf)  # bad flags: one line before the film is read
    span = Span.of(start, duration, limit)
    info = probe_video(src)
    if info.frames == 0:
        raise BadInputError(src, 'film has no frames')
    codec = codecs.codec_for_input(codecs.Source.probe(src), dest.suffix.lower(), codec, crf)
    selection = None if span.whole else select(src, span, info.fps)
    total = selection.count if selection else min(info.frames, limit) if limit else info.frames
    origin = selection.origin if selection else Fraction(0)
    references = in_part(references or [], selection.first_index if selection else 0, total)
    strength = default_strength(stabilize) if strength is None else strength
    brightness = BrightnessDeflicker(window=deflicker_brightness_window) if deflicker_brightness else None
    key = _settings_key(src, colorizer, render_factor, segment_frames, limit, codec, crf, span, stabilizer,
                        (stabilize, strength), brightness, references)
    segments = Segments.beside(dest, codec, segment_frames).open(key, resume)
    try:
        if not segments.complete:
            frames = colorize_segments(colorizer, src, segments, render_factor, total, hook, crf, selection, stabilizer,
                                       brightness, references)
            segments.mark_complete(frames)
        # whenever the video is shorter than the source (a part, a limit, a truncated film) the audio is cut to it
        shorter = selection is not None or segments.frames_done < info.frames
        audio_span = (origin if selection else None, origin + segments.frames_done / info.fps) if shorter else None
        segments.join(src, dest, info.fps, audio_span)
    except (BadInputError, SettingsError):  # e.g. a reference's keyframe past the film's real end
        segments.remove()
        raise
    segments.remove()
    if web:
        write_web_copy(dest, web_path(dest))
    return segments.frames_done
