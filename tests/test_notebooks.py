"""The stage notebooks run headless, one after another on one tiny run, with their parameters overridden by
a cell injected after the one tagged `parameters` (as papermill does)."""
import importlib.util
import shutil
from pathlib import Path

import nbformat

from notebook_runner import outputs_of, run_notebook
from spliced_film import chroma_errors, write_picture, write_spliced_film

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = ['01_pretrain_generator', '02_pretrain_critic', '03_gan_burst']


def test_stage_notebooks_run_headless_on_one_tiny_run(shared_data, tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    for f in sorted((shared_data / 'photos' / 'bsds500_train').glob('*.jpg'))[:8]:
        shutil.copy(f, src / f.name)
    common = {'RUN': str(tmp_path / 'run'), 'DATA': str(shared_data)}
    overrides = {
        '01_pretrain_generator': {**common, 'SOURCES': [str(src)], 'TRAIN': str(tmp_path / 'data'), 'MAX_SIZE': 96,
                                  'SIZES': '32', 'EPOCHS': '1', 'BS': 4, 'LIMIT': 8},
        '02_pretrain_critic': {**common, 'EPOCHS': 1, 'BS': 4, 'SIZE': 64, 'NF': 8},
        '03_gan_burst': {**common, 'ITERS': 4, 'SAVE_EVERY': 2, 'BS': 4, 'SIZE': 64,
                         'PICTURE': str(shared_data / 'photos' / 'bsds500_val' / '101085.jpg')},
    }
    for name in NOTEBOOKS:
        book = run_notebook(name, overrides[name], timeout=300)  # from nbs/, as Jupyter runs them
        assert len(outputs_of(book, 'image/png')) >= 2, f'{name}: no pictures shown'
        assert not [t for t in outputs_of(book, 'stream') if 'Warning' in t], f'{name}: a library warning shown'
    run = tmp_path / 'run'
    assert (run / 'checkpoints' / 'gen-s32.safetensors').is_file()
    assert (run / 'checkpoints' / 'critic-c1.safetensors').is_file()
    assert sorted(p.name for p in (run / 'checkpoints').glob('gan-c1-*')) == ['gan-c1-i000002.safetensors', 'gan-c1-i000004.safetensors']


def test_film_notebook_renders_with_a_reference_for_one_shot(shared_data, tmp_path):
    """Notebook 06 on two DAVIS clips spliced (a cut at frame 8) with the true first frame attached as the
    reference of the first shot: its colours up to the cut, the (tiny random) model's after it."""
    truth = write_spliced_film(shared_data, tmp_path / 'spliced.mp4')
    reference = write_picture(truth[0], tmp_path / 'first.png')
    book = run_notebook('06_colorize_film', {'FILM': str(tmp_path / 'spliced.mp4'), 'FRAMES': None, 'RENDER_FACTOR': 2,
                                             'SWEEP': [2], 'REFERENCES': {0: str(reference)}}, cwd=tmp_path, timeout=300)
    out = tmp_path / 'out' / '06_colorize_film' / 'spliced_references.mp4'
    assert outputs_of(book, 'application/vnd.jupyter.widget-view+json'), 'the shots and their uploads'
    errors = chroma_errors(out, truth)
    assert len(errors) == 16 and max(errors[:8]) < 0.012 < min(errors[8:]), errors


def test_notebooks_are_what_the_builder_writes(tmp_path):
    """Every notebook in nbs/ comes from nbs/make_notebooks.py, cell by cell, and none is committed with outputs."""
    spec = importlib.util.spec_from_file_location('make_notebooks', ROOT / 'nbs' / 'make_notebooks.py')
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    fresh = builder.main(tmp_path)
    assert sorted(p.name for p in (ROOT / 'nbs').glob('*.ipynb')) == sorted(p.name for p in fresh)
    for path in fresh:
        on_disk = nbformat.read(ROOT / 'nbs' / path.name, as_version=4)
        expected = nbformat.read(path, as_version=4)
        assert [(c.id, c.source) for c in on_disk.cells] == [(c.id, c.source) for c in expected.cells], path.name
        assert not any(c.get('outputs') for c in on_disk.cells if c.cell_type == 'code'), path.name
        assert any('parameters' in c.metadata.get('tags', []) for c in on_disk.cells), path.name
