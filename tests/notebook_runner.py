"""Executing notebooks headless (nbclient) with the `parameters` cell replaced, papermill style."""
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'


def run_notebook(name, parameters, cwd, timeout=600):
    "Execute nbs/<name> with `parameters` (a dict) in place of its parameters cell; returns the executed notebook."
    nb = nbformat.read(NBS / name, as_version=4)
    cell = next(c for c in nb.cells if 'parameters' in c.metadata.get('tags', []))
    cell.source = '\n'.join(f'{k} = {v!r}' for k, v in parameters.items())
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
    "All outputs of a kind ('image/png', 'text/plain', 'application/vnd.jupyter.widget-view+json') in a notebook."
    found = []
    for cell in nb.cells:
        for out in cell.get('outputs', []):
            data = out.get('data', {})
            if kind in data:
                found.append(data[kind])
            elif kind == 'stream' and out.get('output_type') == 'stream':
                found.append(out.get('text', ''))
    return found
