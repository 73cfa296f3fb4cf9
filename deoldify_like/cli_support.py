"""Turning plain functions into subcommands: fastcore's `anno_parser` reads each parameter's trailing
`# comment` as its --help text. Options shared by several commands (device, precision, fit, arch) get their
choices from one place, and required options say so, the same way in every command. Expected failures
print one line and exit non-zero, no traceback: a setting that cannot work exits 2, other failures 1."""
import sys

from fastcore.script import anno_parser

from .choices import OPTION_CHOICES
from .errors import DeoldifyLikeError, SettingsError


def _keyword_flags(parser):
    "A parameter named after a Python keyword carries a trailing underscore (`from_`): offered as `--from`."
    for action in parser._actions:
        for i, s in enumerate(action.option_strings):
            if s.startswith('--') and s.endswith('-'):
                action.option_strings[i] = s.rstrip('-')
                parser._option_string_actions[s.rstrip('-')] = parser._option_string_actions.pop(s)
    return parser


def _uniform_options(parser):
    "The shared options' choices from deoldify_like.choices; '(required)' on every required option."
    for action in parser._actions:
        if action.dest in OPTION_CHOICES and action.option_strings:
            action.choices = list(OPTION_CHOICES[action.dest])
            action.metavar = None
        if action.required and action.option_strings and '(required)' not in (action.help or ''):
            action.help = f"{action.help or ''} (required)".strip()
    return parser


def command_parser(func, prog):
    "The argparse parser of a command function; a mistyped option is one line (not the whole usage) and exit 2."
    parser = _uniform_options(_keyword_flags(anno_parser(func, prog=prog)))

    def one_line_error(message):
        print(f"{prog}: error: {message} (see {prog} --help)", file=sys.stderr)
        raise SystemExit(2)
    parser.error = one_line_error
    return parser


def _one_line(e):
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def run_command(func, argv, prog):
    "Parse `argv` for `func`, call it, and return the exit code."
    args = vars(command_parser(func, prog).parse_args(argv))
    args.pop('pdb', None), args.pop('xtra', None)
    try:
        result = func(**args)
    except SettingsError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except DeoldifyLikeError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except ValueError as e:  # a value the code could not use, from a library or our own checks
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except OSError as e:  # a file or device problem: disk full, permission, a missing file
        print(f"{prog}: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def dispatch(commands, argv=None, prog='deoldify-like', description=''):
    """Run the subcommand named by argv[0]. `commands` maps names to loaders: functions that import and return
    the command's function, so that `--help` and light commands import only what they use (no torch for
    `--help`); a value of None marks a command not built yet."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(f"usage: {prog} COMMAND [options]\n\n{description}\n\ncommands:")
        for name, target in commands.items():
            print(f"  {name}{'' if target else '   (not built yet)'}")
        print(f"\n{prog} COMMAND --help for a command's options")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in commands:
        print(f"{prog}: unknown command {name!r}; known: {', '.join(commands)}", file=sys.stderr)
        return 2
    if commands[name] is None:
        print(f"{prog} {name}: not built yet", file=sys.stderr)
        return 2
    return run_command(commands[name](), rest, f"{prog} {name}")
