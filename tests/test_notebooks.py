"""The stage notebooks run headless, one after another on one tiny run, with their parameters overridden by
a cell injected after the one tagged `parameters` (as papermill does)."""
import importlib.util
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]

NOTEBOOKS = ['01_pretrain_generator', '02_pretrain_critic', '03_gan_burst']


def with_parameters(book, text):
    idx = next(i for i, c in enumerate(book.cells) if 'parameters' in c.metadata.get('tags', []))
    book.cells.insert(idx + 1, nbformat.v4.new_code_cell(text))
    return book


def test_stage_notebooks_run_headless_on_one_tiny_run(shared_data, tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    for f in sorted((shared_data / 'photos' / 'bsds500_train').glob('*.jpg'))[:8]:
        shutil.copy(f, src / f.name)
    common = f"RUN = {str(tmp_path / 'run')!r}\nDATA = {str(shared_data)!r}\n"
    overrides = {
        '01_pretrain_generator': common + f"SOURCES = [{str(src)!r}]\nTRAIN = {str(tmp_path / 'data')!r}\n"
                                          "MAX_SIZE = 96\nSIZES, EPOCHS, BS, LIMIT = '32', '1', 4, 8",
        '02_pretrain_critic': common + "EPOCHS, BS, SIZE, NF = 1, 4, 64, 8",
        '03_gan_burst': common + "ITERS, SAVE_EVERY, BS, SIZE = 4, 2, 4, 64",
    }
    for name in NOTEBOOKS:
        book = nbformat.read(ROOT / 'nbs' / f'{name}.ipynb', as_version=4)
        assert not any(c.get('outputs') for c in book.cells if c.cell_type == 'code'), f'{name}: committed with outputs'
        book = with_parameters(book, overrides[name])
        NotebookClient(book, timeout=300, kernel_name='python3',
                       resources={'metadata': {'path': str(tmp_path)}}).execute()
        images = [o for c in book.cells if c.cell_type == 'code' for o in c.outputs if 'image/png' in o.get('data', {})]
        assert len(images) >= 2, f'{name}: no pictures shown'
    run = tmp_path / 'run'
    assert (run / 'checkpoints' / 'gen-s32.safetensors').is_file()
    assert (run / 'checkpoints' / 'critic-c1.safetensors').is_file()
    assert sorted(p.name for p in (run / 'checkpoints').glob('gan-c1-*')) == ['gan-c1-i000002.safetensors', 'gan-c1-i000004.safetensors']


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebooks_are_generated_by_the_script(name):
    "The committed notebooks are what nbs/make_notebooks.py writes (no hand edits, no outputs)."
    spec = importlib.util.spec_from_file_location('make_notebooks', ROOT / 'nbs' / 'make_notebooks.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    expected = getattr(mod, 'NB' + name[:2])
    on_disk = nbformat.read(ROOT / 'nbs' / f'{name}.ipynb', as_version=4)
    assert [c.source for c in on_disk.cells] == [c.source for c in expected.cells]
