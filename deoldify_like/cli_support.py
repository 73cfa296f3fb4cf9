"""Turning plain functions into subcommands: fastcore's `anno_parser` reads each parameter's trailing
`# comment` as its --help text. Expected failures print one line and exit non-zero, no traceback."""
import importlib
import sys

from fastcore.script import anno_parser

from .errors import DeoldifyLikeError


def _keyword_flags(parser):
    "A parameter named after a Python keyword carries a trailing underscore (`from_`): offered as `--from`."
    for action in parser._actions:
        for i, s in enumerate(action.option_strings):
            if s.startswith('--') and s.endswith('-'):
                action.option_strings[i] = s.rstrip('-')
                parser._option_string_actions[s.rstrip('-')] = parser._option_string_actions.pop(s)
    return parser


def run_command(func, argv, prog):
    "Parse `argv` for `func`, call it, and return the exit code."
    args = vars(_keyword_flags(anno_parser(func, prog=prog)).parse_args(argv))
    args.pop('pdb', None), args.pop('xtra', None)
    try:
        result = func(**args)
    except DeoldifyLikeError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return result if isinstance(result, int) and not isinstance(result, bool) else 0


def dispatch(commands, argv=None, prog='deoldify-like', description=''):
    """Run the subcommand named by argv[0]. `commands` maps names to 'module:function' (imported only when
    used, so `--help` and light commands stay fast); a value of None marks a command not built yet."""
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
    module, func = commands[name].split(':')
    return run_command(getattr(importlib.import_module(module), func), rest, f"{prog} {name}")
