"""Executing notebooks headless (nbclient), papermill style: a cell with the test's settings is injected
right after the cell tagged `parameters`."""
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'


def run_notebook(name, parameters, cwd=NBS, timeout=600):
    """Execute nbs/<name>.ipynb with `parameters` (a dict of NAME: value) injected, in `cwd` (nbs/, where
    Jupyter runs it, unless given); returns the executed notebook."""
    nb = nbformat.read(NBS / f'{name}.ipynb', as_version=4)
    assert not any(c.get('outputs') for c in nb.cells if c.cell_type == 'code'), f'{name}: committed with outputs'
    idx = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
    nb.cells.insert(idx + 1, nbformat.v4.new_code_cell('\n'.join(f'{k} = {v!r}' for k, v in parameters.items())))
    saved = os.environ.get('PYTHONPATH')
    os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), saved]))  # the kernel imports this checkout
    try:
        NotebookClient(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(cwd)}}).execute()
    finally:
        if saved is None:
            os.environ.pop('PYTHONPATH', None)
        else:
            os.environ['PYTHONPATH'] = saved
    return nb


def outputs_of(nb, kind):
    "Outputs of a kind ('image/png', 'text/html', 'application/vnd.jupyter.widget-view+json', or 'stream')."
    found = []
    for cell in nb.cells:
        for out in cell.get('outputs', []):
            if kind == 'stream':
                if out.get('output_type') == 'stream':
                    found.append(out.get('text', ''))
            elif kind in out.get('data', {}):
                found.append(out['data'][kind])
    return found
