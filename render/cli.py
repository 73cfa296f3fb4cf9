"""The `render` command: photos, GIFs, films and folders of them, with an adjustable render factor."""
import os
from typing import Annotated

from deoldify_like.errors import DeoldifyLikeError
from deoldify_like.progress import say

from .colorizer import DEFAULT_BS, DEFAULT_PRECISION, ENGINE_CHOICES, PRECISION_CHOICES, Colorizer
from .folders import Report, plan, render_jobs
from .render_factor import DEFAULT_FIT, FITS, parse_sweep


DEFAULT_ENGINE = os.environ.get('DEOLDIFY_LIKE_ENGINE', 'auto')  # the tests set torch: no export per tiny model
ENGINE_HELP = "inference engine: auto is the fastest measured one whose quality holds on this device (render/engine_choice.json), else torch"


def make_colorizer(model, fit=DEFAULT_FIT, device='auto', bs=DEFAULT_BS, precision=DEFAULT_PRECISION, engine=DEFAULT_ENGINE):
    "A Colorizer for a model file, with command-line mistakes turned into one-line errors."
    if bs < 1:
        raise DeoldifyLikeError(f"--bs must be at least 1, got {bs}")
    try:
        return Colorizer.from_file(model, fit=fit, device=device, bs=bs, precision=precision, engine=engine)
    except ValueError as e:
        raise DeoldifyLikeError(str(e)) from None


def render(inputs: Annotated[str, "photos, GIFs, films, or folders of them (searched recursively)", dict(nargs='+')],
           model: Annotated[str, "model file (what `promote` writes)", dict(opt=True, required=True)],
           out: Annotated[str, "output folder; a folder given as input is mirrored inside it", dict(opt=True, required=True)],
           render_factor: int = None,  # the model sees a square of render_factor*16 px; default: the model file's, else 35 for photos and 21 for films
           sweep: str = None,  # render factors, e.g. 10,14,18: write one labelled grid per input (a film's middle frame) instead of rendering
           fit: Annotated[str, "how a non-square picture fits the model's square", dict(choices=FITS)] = DEFAULT_FIT,
           device: Annotated[str, "auto is CUDA when present, else CPU", dict(choices=['auto', 'cpu', 'cuda'])] = 'auto',
           bs: int = DEFAULT_BS,  # pictures or film frames per model batch (halved automatically on out-of-memory)
           precision: Annotated[str, "model arithmetic: auto is bf16 where the CPU or GPU does it natively (2-3x faster on CPU, same quality), else fp32", dict(choices=PRECISION_CHOICES)] = DEFAULT_PRECISION,
           engine: Annotated[str, ENGINE_HELP, dict(choices=ENGINE_CHOICES)] = DEFAULT_ENGINE,
           resume: bool = False,  # continue unfinished film renders where they stopped (finished outputs are skipped)
           overwrite: bool = False):  # redo outputs that exist already
    "Colorize photos, GIFs, films and folders of them with a model file."
    factors = None
    if sweep:
        try:
            factors = parse_sweep(sweep)
        except ValueError as e:
            raise DeoldifyLikeError(str(e)) from None
    jobs, problems = plan(inputs, out, sweep=bool(factors))
    report = Report()
    for line in problems:
        report.add(line)
    if not jobs and not problems:
        report.add(f"{' '.join(inputs)}: no photos, GIFs or films found")
    if jobs:
        render_jobs(make_colorizer(model, fit, device, bs, precision, engine), jobs, render_factor, resume, overwrite, factors, report)
    say(f"render: {report.summary()}")
    return 1 if report.failed else 0
