"""The renderer's notebooks run headless (nbclient) with their tiny parameters, and match their generator."""
import importlib.util
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'


def _generator():
    spec = importlib.util.spec_from_file_location('make_render_notebooks', NBS / 'make_render_notebooks.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_notebooks_are_what_the_generator_writes(tmp_path):
    for fresh in _generator().main(tmp_path):
        committed = nbformat.read(str(NBS / fresh.name), as_version=4)
        generated = nbformat.read(str(fresh), as_version=4)
        assert [c.source for c in committed.cells] == [c.source for c in generated.cells], fresh.name
        assert all(not c.get('outputs') for c in committed.cells if c.cell_type == 'code'), 'outputs committed'
        assert 'parameters' in committed.cells[1].metadata.get('tags', [])


@pytest.mark.parametrize('name', ['05_colorize_photos.ipynb', '06_colorize_film.ipynb'])
def test_notebook_runs_headless(name, tmp_path, monkeypatch):
    from nbclient import NotebookClient
    monkeypatch.setenv('PYTHONPATH', str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    monkeypatch.setenv('DEOLDIFY_LIKE_QUIET', '1')
    nb = nbformat.read(str(NBS / name), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])]
    assert not [o for o in outputs if o.output_type == 'error']
    images = [o for o in outputs if 'image/png' in o.get('data', {})]
    assert images, 'the sweep grid (and preview) show as pictures'
    if name.startswith('05'):
        assert any('application/vnd.jupyter.widget-view+json' in o.get('data', {}) for o in outputs)
        assert (tmp_path / 'out' / '05_colorize_photos').is_dir()
    else:
        assert any('<video' in o.get('data', {}).get('text/html', '') for o in outputs)
        text = ''.join(o.get('text', '') for o in outputs)
        assert '12 frames, 432x320' in text
