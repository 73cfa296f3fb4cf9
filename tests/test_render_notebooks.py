"""The renderer's notebooks run headless (nbclient) with their tiny parameters: without a model they say they
show a random network; with the quickstart's promoted model in place they show that one."""
import os
from pathlib import Path

import nbformat
import pytest

from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.model_file import save_generator

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'


@pytest.mark.parametrize('name', ['05_colorize_photos.ipynb', '06_colorize_film.ipynb'])
def test_notebook_runs_headless(name, tmp_path, monkeypatch):
    from nbclient import NotebookClient
    monkeypatch.setenv('PYTHONPATH', str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    monkeypatch.setenv('DEOLDIFY_LIKE_QUIET', '1')
    if name.startswith('06'):  # where notebook 00 promotes the quickstart's model, seen from the notebook's folder
        cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5)
        save_generator(tmp_path / 'quickstart' / 'model.safetensors', build_generator(cfg), cfg,
                       promoted_from='gan-c1-i000030.safetensors')
    nb = nbformat.read(str(NBS / name), as_version=4)
    NotebookClient(nb, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == 'code' for o in c.get('outputs', [])]
    assert not [o for o in outputs if o.output_type == 'error']
    text = ''.join(o.get('text', '') for o in outputs)
    assert 'Warning' not in text  # no library warnings in the notebook's outputs
    if name.startswith('06'):
        assert f"model shown: {(tmp_path / 'quickstart' / 'model.safetensors').resolve()} (promoted from gan-c1-i000030" in text
        assert 'RANDOM' not in text
    else:
        assert 'no quickstart model found' in text and 'tiny RANDOM generator' in text
    images = [o for o in outputs if 'image/png' in o.get('data', {})]
    assert images, 'the sweep grid (and preview) show as pictures'
    if name.startswith('05'):
        assert any('application/vnd.jupyter.widget-view+json' in o.get('data', {}) for o in outputs)
        assert (tmp_path / 'out' / '05_colorize_photos').is_dir()
    else:
        assert any('<video' in o.get('data', {}).get('text/html', '') for o in outputs)
        assert '12 frames, 432x320' in text
