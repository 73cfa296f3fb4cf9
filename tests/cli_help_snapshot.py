"""Every command's --help as text, to compare with the snapshot in tests/cli_help/ (the command line is a
contract: a change to it must be deliberate). `python tests/cli_help_snapshot.py --write` renews the snapshot."""
import contextlib
import io
import os
import sys
from pathlib import Path

SNAPSHOT = Path(__file__).parent / 'cli_help'


def help_text(name):
    from deoldify_like.cli_support import dispatch
    from train_stages.cli import COMMANDS
    os.environ['COLUMNS'] = '100'
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        dispatch(COMMANDS, [name, '--help'])
    return out.getvalue()


def command_names():
    from train_stages.cli import COMMANDS
    return list(COMMANDS)


if __name__ == '__main__' and sys.argv[1:] == ['--write']:
    os.environ.setdefault('DEOLDIFY_LIKE_ENGINE', 'torch')  # as tests/conftest.py: render's help shows it
    SNAPSHOT.mkdir(exist_ok=True)
    for name in command_names():
        (SNAPSHOT / f'{name}.txt').write_text(help_text(name))
