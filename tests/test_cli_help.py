"""The command line's --help, command by command, is the snapshot's (tests/cli_help/): moving code must not
change the contract users rely on. Renew it deliberately with `python tests/cli_help_snapshot.py --write`."""
import pytest

from cli_help_snapshot import SNAPSHOT, command_names, help_text


def test_every_command_has_a_snapshot():
    assert sorted(p.stem for p in SNAPSHOT.glob('*.txt')) == sorted(command_names())


@pytest.mark.parametrize('name', command_names())
def test_help_is_unchanged(name):
    assert help_text(name) == (SNAPSHOT / f'{name}.txt').read_text()
