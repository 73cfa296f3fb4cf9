"""Which settings a job may carry, read from the renderer itself so that a new render option appears on the
page and in the API without touching the server.

For each kind (photo, GIF, film) the settings are the keyword parameters of its render function
(`render_photo`, `render_gif`, `render_film`) that a user chooses, plus the Colorizer's per-run settings
(`bs`, `precision`) for films. Their type, help text and choices come from the `render` command's
parameters of the same name (`Annotated[str, "help", dict(choices=...)]` or a trailing `# comment`), else
from the render function's default value.

Form fields: `render_factor=12` applies to every kind that has the setting; `film.render_factor=12`
(kind-prefixed) only to films and wins over the plain one. A name no kind knows is an error; a known name
that does not apply to the uploaded kind is ignored.
"""
import inspect
import types
import typing
from dataclasses import asdict, dataclass, field

from fastcore.docments import docments

from deoldify_like.errors import SettingsError
from deoldify_like.inference import PRECISION_CHOICES, RENDER_FACTOR_RANGE, render_factor_for

from .. import cli as render_cli
from ..film import render_film
from ..gif import render_gif
from ..photos import render_photo

RENDERERS = {'photo': render_photo, 'gif': render_gif, 'film': render_film}
KINDS = tuple(RENDERERS)
# Parameters that are the server's business, not the user's (colour references are pictures, not text fields:
# a film's come as files of their own; a photo's, `render_photo(reference=...)`, are not taken yet).
INTERNAL = {'colorizer', 'src', 'dest', 'resume', 'segment_frames', 'limit', 'hook', 'references', 'reference'}
# Colorizer settings the worker sets for one job (it runs one job at a time).
COLORIZER_SETTINGS = {'film': ('bs', 'precision')}
BOUNDS = {'render_factor': RENDER_FACTOR_RANGE, 'bs': (1, 64)}
CHOICES = {'precision': PRECISION_CHOICES}
TRUE, FALSE = {'1', 'true', 'on', 'yes'}, {'0', 'false', 'off', 'no'}
_CLI_HELP = {k: v for k, v in docments(render_cli.render).items() if v}  # the trailing # comments


@dataclass
class Option:
    name: str
    type: str  # int | float | bool | str
    default: typing.Any
    help: str = ''
    choices: list | None = None
    min: float | None = None
    max: float | None = None
    kinds: list = field(default_factory=list)

    def convert(self, text):
        "The value of a form field, checked; SettingsError with one line when it does not fit."
        text = str(text).strip()
        try:
            if self.type == 'int':
                value = int(text)
            elif self.type == 'float':
                value = float(text)
            elif self.type == 'bool':
                if text.lower() not in TRUE | FALSE:
                    raise ValueError
                value = text.lower() in TRUE
            else:
                value = text
        except ValueError:
            raise SettingsError(f"{self.name} must be {'a whole number' if self.type == 'int' else 'a number' if self.type == 'float' else 'true or false' if self.type == 'bool' else 'text'}, got {text!r}") from None
        if self.choices and value not in self.choices:
            raise SettingsError(f"{self.name} must be one of {', '.join(map(str, self.choices))}, got {text!r}")
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise SettingsError(f"{self.name} must be between {self.min} and {self.max}, got {text!r}")
        return value


def _base_type(annotation, default):
    "int | float | bool | str from an annotation (Annotated, Optional and Literal unwrapped) or the default."
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next((a for a in typing.get_args(annotation) if a is not type(None)), str)
    if typing.get_origin(annotation) is typing.Literal:
        annotation = type(typing.get_args(annotation)[0])
    for t in (bool, int, float, str):
        if annotation is t:
            return t.__name__
    if default is not None and type(default) in (bool, int, float, str):
        return type(default).__name__
    return 'str'


def _described(name, fallback_default, fallback_annotation=inspect.Parameter.empty):
    "An Option from the `render` command's parameter of that name where it has one."
    cli = inspect.signature(render_cli.render).parameters.get(name)
    annotation = cli.annotation if cli is not None else fallback_annotation
    default = cli.default if cli is not None and cli.default is not inspect.Parameter.empty else fallback_default
    help_text = (_CLI_HELP.get(name) or '') if cli is not None else ''
    choices = CHOICES.get(name)
    if typing.get_origin(annotation) is typing.Annotated:
        for meta in typing.get_args(annotation)[1:]:
            if isinstance(meta, dict) and meta.get('choices'):
                choices = list(meta['choices'])
            elif isinstance(meta, str) and not help_text:
                help_text = meta
    if typing.get_origin(annotation) is typing.Literal:
        choices = list(typing.get_args(annotation))
    low, high = BOUNDS.get(name, (None, None))
    return Option(name, _base_type(annotation, default), default, help_text, choices and list(choices), low, high)



def available_options(header=None, bs=None, precision=None):
    """{kind: {name: Option}} for what the renderer takes today. Defaults: the model file's render factor
    for each kind, the server's own `bs` and `precision`, else the render function's default."""
    found = {}
    for kind, fn in RENDERERS.items():
        opts = {}
        for name, p in inspect.signature(fn).parameters.items():
            if name in INTERNAL or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            opt = _described(name, None if p.default is p.empty else p.default, p.annotation)
            if p.default is not p.empty and p.default is not None:
                opt.default = p.default
            opts[name] = opt
        for name in COLORIZER_SETTINGS.get(kind, ()):
            opts[name] = _described(name, None)
        if 'render_factor' in opts:
            opts['render_factor'].default = render_factor_for(header, 'photo' if kind == 'gif' else kind)
        if 'bs' in opts and bs is not None:
            opts['bs'].default = bs
        if 'precision' in opts and precision is not None:
            opts['precision'].default = precision
        found[kind] = opts
    for kind, opts in found.items():
        for name, opt in opts.items():
            opt.kinds = [k for k in KINDS if name in found[k]]
    return found


def options_json(options):
    "The JSON the page builds its settings from: {kind: [option, ...]}."
    return {kind: [asdict(o) for o in opts.values()] for kind, opts in options.items()}


def parse_settings(fields, options):
    """Form fields (name -> text) to {kind: {name: value}} with every setting of every kind filled in
    (given values checked, the rest defaults). SettingsError for an unknown name or a bad value."""
    plain, prefixed = {}, {k: {} for k in options}
    known = {name for opts in options.values() for name in opts}
    for key, text in fields.items():
        kind, _, name = key.rpartition('.')
        if kind:
            if kind not in options:
                raise SettingsError(f"unknown kind {kind!r} in {key!r}; kinds are {', '.join(options)}")
            if name not in options[kind]:
                raise SettingsError(f"{kind}s have no setting {name!r}; they take {', '.join(options[kind])}")
        elif name not in known:
            raise SettingsError(f"unknown setting {name!r}; settings are {', '.join(sorted(known))}")
        if str(text).strip() == '':
            continue  # an empty field means the default
        for k in ([kind] if kind else [k for k in options if name in options[k]]):
            value = options[k][name].convert(text)
            (prefixed[k] if kind else plain.setdefault(k, {}))[name] = value
    return {k: {**{n: o.default for n, o in opts.items()}, **plain.get(k, {}), **prefixed[k]}
            for k, opts in options.items()}
