"""Films: colorizing one (`render_film`), in resumable segments (`Segments`), with the codec table, parts of a
film and browser-safe web copies.

    render.py      render_film: source -> segments -> output (+ web copy)
    pipeline.py    the threads: decode -> colorize -> encode into segments
    reference.py   colour from references (render_film's `references`), in the pipeline's writer thread
    encode.py      the segment encoder and the film's timing
    segments.py    Segments: naming, resume (progress.json) and joining, for render_film, the farm and deflicker
    mux.py         joining the segments with the source's audio
    codecs.py      the codec table (--codec, --crf)
    part.py        a part of a film (--start, --duration, --frames)
    web_copy.py    the browser-safe copy (--web)
"""
from . import codecs
from .codecs import KEPT_SUFFIXES, output_suffix
from .encode import Timing, film_timing
from .part import Span, parse_time
from .pipeline import colorize_segments
from .render import is_film_path, render_film
from .segments import SEGMENT_FRAMES, Segments, work_dir
from .web_copy import web_path, write_web_copy

__all__ = ['codecs', 'KEPT_SUFFIXES', 'output_suffix', 'Timing', 'film_timing', 'Span', 'parse_time',
           'colorize_segments', 'is_film_path', 'render_film', 'SEGMENT_FRAMES', 'Segments', 'work_dir', 'web_path',
           'write_web_copy']
