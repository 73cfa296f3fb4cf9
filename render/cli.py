"""The `render` command: photos, GIFs, films and folders of them, with an adjustable render factor."""
import os
from typing import Annotated

from deoldify_like.choices import DEVICES, FITS
from deoldify_like.device import pick_device, render_batch_size
from deoldify_like.brightness import check_window
from deoldify_like.errors import DeoldifyLikeError, SettingsError, reraise_as
from deoldify_like.inference import (DEFAULT_FIT, DEFAULT_PRECISION, ENGINE_CHOICES, PRECISION_CHOICES, Colorizer,
                                     parse_sweep)
from deoldify_like.model_file import read_header
from deoldify_like.progress import say
from deoldify_like.stabilize import check_strength
from deoldify_like.stabilizers import STABILIZE_CHOICES

from .film import codecs
from .film.part import Span, parse_time
from .film.reference import given_references
from .folders import FilmOptions, Report, plan, render_jobs
from .ray_cluster import JOIN_TIMEOUT


DEFAULT_ENGINE = os.environ.get('DEOLDIFY_LIKE_ENGINE', 'auto')  # the tests set torch: no export per tiny model
ENGINE_HELP = "inference engine: auto is the fastest measured one whose quality holds on this device (deoldify_like/inference/engine_choice.json), else torch"


def make_colorizer(model, fit=DEFAULT_FIT, device='auto', bs=None, precision=DEFAULT_PRECISION, engine=DEFAULT_ENGINE):
    "A Colorizer for a model file, with command-line mistakes turned into one-line errors; bs None: the device's."
    if bs is None:
        bs = render_batch_size(pick_device(device))
    if bs < 1:
        raise DeoldifyLikeError(f"--bs must be at least 1, got {bs}")
    with reraise_as(DeoldifyLikeError, ValueError):
        return Colorizer.from_file(model, fit=fit, device=device, bs=bs, precision=precision, engine=engine)


def render(inputs: Annotated[str, "photos, GIFs, films, or folders of them (searched recursively)", dict(nargs='+')],
           model: Annotated[str, "model file (what `promote` writes)", dict(opt=True, required=True)],
           out: Annotated[str, "output folder; a folder given as input is mirrored inside it", dict(opt=True, required=True)],
           render_factor: int = None,  # the model sees a square of render_factor*16 px; default: the model file's, else 35 for photos and 21 for films
           sweep: str = None,  # render factors, e.g. 10,14,18: write one labelled grid per input (a film's middle frame) instead of rendering
           fit: Annotated[str, "how a non-square picture fits the model's square", dict(choices=FITS)] = DEFAULT_FIT,
           device: Annotated[str, "auto is CUDA when present, else CPU", dict(choices=DEVICES)] = 'auto',
           bs: int = None,  # pictures or film frames per model batch (default 2 on CPU, 8 on CUDA; halved automatically on out-of-memory)
           precision: Annotated[str, "model arithmetic: auto is bf16 where the CPU does it natively (same quality; its speed per engine: `deoldify-like bench`) or a GPU check recorded it holds, else fp32", dict(choices=PRECISION_CHOICES)] = DEFAULT_PRECISION,
           stabilize: Annotated[str, "films: 'flow' steadies the colour along the motion, from the frames before and after each (chroma only; see docs/render.md), 'flow-one-way' from those before only, 'none' renders frame by frame", dict(choices=STABILIZE_CHOICES)] = 'none',
           strength: float = None,  # films with --stabilize: 0..1 (below 1), how much colour carried along the motion is kept (default 0.96 for flow, 0.95 for flow-one-way)
           deflicker_brightness: bool = False,  # films: remove brightness flicker from the input luminance before the model (exposure changes that do not follow the motion; cuts and real changes kept)
           deflicker_brightness_window: int = None,  # with --deflicker-brightness: frames each side over which the exposure is smoothed (default 24; its trend's sigma is a third); more removes slower flicker, and more of the film's slow real changes of light
           engine: Annotated[str, ENGINE_HELP, dict(choices=ENGINE_CHOICES)] = DEFAULT_ENGINE,
           resume: bool = False,  # continue unfinished film renders where they stopped (finished outputs are skipped)
           overwrite: bool = False,  # redo outputs that exist already
           ray: Annotated[str, "spread photos and films over a Ray cluster: --ray alone (or local) starts a fresh one on this machine (127.0.0.1 only, stopped at the end), --ray auto joins this machine's running one, --ray HOST:PORT that one (e.g. HOST:6379 of `ray start --head`)",
                          dict(nargs='?', const='local')] = None,
           ray_timeout: float = JOIN_TIMEOUT,  # seconds --ray auto / HOST:PORT may take to reach the cluster; one that does not answer is one line, exit 1
           codec: Annotated[str, "film encoder: h264 (default; VP9 for .webm), h265 and av1 for small copies, ffv1 (lossless, MKV) and prores (422 HQ, MOV) for masters, h264_nvenc/hevc_nvenc where an NVIDIA GPU opens them", dict(choices=codecs.CODEC_CHOICES)] = None,
           crf: int = None,  # film quality for h264/h265/av1/vp9/nvenc (lower is better; default 8, 20, 35, 6, 19)
           web: bool = False,  # also write NAME.web.mp4 beside each film: H.264 4:2:0, even size, faststart (plays in browsers)
           start: str = None,  # render a film from this time on (seconds or hh:mm:ss[.fff]), cut on exact frames, audio cut too
           duration: str = None,  # render only this long a part of a film (seconds or hh:mm:ss[.fff])
           frames: int = None,  # render only this many frames of a film (from --start)
           at: str = None,  # with --sweep: the film frame shown at this time (seconds or hh:mm:ss) instead of the middle one
           reference: Annotated[str, "a colour picture to take colour from, repeatable: films carry each through its shot along the motion (its keyframe from --reference-at, else a frame number or time in its name, shot_f120.png or shot_4.5s.png, else the frame it resembles most); a photo gets the colour of a similar colour photo (one --reference); see docs/reference_colour.md",
                                dict(action='append')] = None,
           reference_at: Annotated[str, "films: the keyframe of each --reference, in order: a frame number (120) or a time (4.5s); give one per --reference or none",
                                   dict(action='append')] = None):
    "Colorize photos, GIFs, films and folders of them with a model file."
    with reraise_as(SettingsError):  # mistakes in the film flags are usage errors: one line, exit 2, nothing written
        film = FilmOptions(codecs.check(codec, None, crf) if codec else None, crf, web, Span.of(start, duration, frames),
                           stabilize, strength, deflicker_brightness, deflicker_brightness_window)
        with reraise_as(SettingsError, ValueError):
            check_window(deflicker_brightness_window, deflicker_brightness, '--deflicker-brightness-window',
                         '--deflicker-brightness')
        if crf is not None and codec is None:
            codecs.check(None, '.mp4', crf)
        at_time = parse_time(at, '--at') if at is not None else None
        if at is not None and not sweep:
            raise DeoldifyLikeError("--at picks the film frame of a sweep; give --sweep too")
        if reference_at and not reference:
            raise DeoldifyLikeError("--reference-at places a --reference; give --reference too")
        if reference and (sweep or ray):
            raise DeoldifyLikeError(f"--reference is for a local render, not with {'--sweep' if sweep else '--ray'}")
    references = given_references(reference, reference_at)  # read now: a bad picture is one line, nothing written
    factors = None
    if strength is not None:
        with reraise_as(DeoldifyLikeError, ValueError, '--strength: '):
            check_strength(strength)
    if sweep:
        with reraise_as(DeoldifyLikeError, ValueError):
            factors = parse_sweep(sweep)
    jobs, problems = plan(inputs, out, sweep=bool(factors), codec=film.codec)
    if len(references) > 1 and any(j.kind == 'photo' for j in jobs):
        raise SettingsError(f"a photo takes one --reference (a colour photo of the scene); {len(references)} were given")
    report = Report()
    for line in problems:
        report.add(line)
    if not jobs and not problems:
        report.add(f"{' '.join(inputs)}: no photos, GIFs or films found")
    if ray_timeout <= 0:
        raise SettingsError(f"--ray-timeout {ray_timeout:g}: give a number of seconds above 0")
    if ray and (stabilize != 'none' or deflicker_brightness or codec or crf is not None or web or start or duration or frames):
        raise SettingsError("--ray renders whole films with the default codec for now: --stabilize, --deflicker-brightness, --codec, --crf, "
                            "--web and parts (--start, --duration, --frames) are for a local render")
    if jobs and ray and not factors:
        from .farm import FARM_KINDS, render_on_ray
        try:
            header = read_header(model)
        except ValueError as e:
            raise DeoldifyLikeError(str(e)) from None
        render_on_ray(ray, model, [j for j in jobs if j.kind in FARM_KINDS], header, fit, device, bs, precision,
                      render_factor, overwrite, report, engine=engine, join_timeout=ray_timeout)
        jobs = [j for j in jobs if j.kind not in FARM_KINDS]  # GIFs are rendered here
    if jobs:
        render_jobs(make_colorizer(model, fit, device, bs, precision, engine), jobs, render_factor, resume, overwrite,
                    factors, report, film, at_time, references)
    say(f"render: {report.summary()}")
    return 1 if report.failed else 0
