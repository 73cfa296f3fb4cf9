"""The README and docs stay true: every relative link points at a file that exists, the commands the README
says `python -m render` offers are the ones it offers, and every console command is in the README's table."""
import re
import runpy
import sys
from pathlib import Path

import pytest

from train_stages.cli import COMMANDS

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / 'README.md', *sorted((ROOT / 'docs').glob('*.md'))]


@pytest.mark.parametrize('md', DOCS, ids=lambda p: p.name)
def test_relative_links_point_at_files(md):
    for target in re.findall(r'\]\(([^)#\s]+)(?:#[^)]*)?\)', md.read_text()):
        if not re.match(r'[a-z]+:', target):
            assert (md.parent / target).exists(), f"{md.name} links to missing {target}"


def test_python_m_render_offers_what_the_readme_says(monkeypatch, capsys):
    readme = (ROOT / 'README.md').read_text()
    sentence = re.search(r'`python -m render` for (.+?) alone', readme, re.S).group(1)
    said = set(re.findall(r'`([a-z-]+)`', sentence))
    monkeypatch.setattr(sys, 'argv', ['python -m render', '--help'])
    with pytest.raises(SystemExit):
        runpy.run_module('render', run_name='__main__')
    listed = set(re.findall(r'^  ([a-z-]+)$', capsys.readouterr().out, re.M))
    assert listed == said


def test_every_command_is_in_the_readme_table():
    readme = (ROOT / 'README.md').read_text()
    table = set(re.findall(r'^\| `([a-z0-9-]+)[ `]', readme, re.M))
    assert set(COMMANDS) <= table, set(COMMANDS) - table
