"""Writes the notebooks in nbs/ from the cell lists below (run: python nbs/build_notebooks.py).

Notebooks are thin drivers of the library; each has a cell tagged `parameters` that tests replace with
tiny settings (tests/notebook_runner.py). Keeping their source here keeps diffs readable."""
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent


def notebook(cells):
    made = []
    for kind, src in cells:
        src = src.strip('\n')
        if kind == 'md':
            made.append(new_markdown_cell(src))
        else:
            made.append(new_code_cell(src, metadata={'tags': ['parameters']} if kind == 'params' else {}))
    nb = new_notebook(cells=made)
    nb.metadata.update({'kernelspec': {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'},
                        'language_info': {'name': 'python'}})
    return nb


NOTEBOOKS = {}

NOTEBOOKS['04_pick_checkpoint.ipynb'] = [
    ('md', '''
# 4. Pick the best checkpoint by eye

The GAN burst improves colour for a while and then breaks: orange skin, red lips and blotches come first.
Move through the checkpoints below, look at the same pictures each time, read the metrics beside them
(a **drift** warning means saturation or hue is moving away from the truth), and promote the last one
before things go wrong.
'''),
    ('params', '''
run = 'runs/demo'          # the run folder of notebooks 1-3
images = None              # a folder of pictures, or None for the run's fixed validation sample
render_factor = 8          # the model sees render_factor x 16 pixels
limit = 6                  # pictures to compare
promote_to = None          # set a path to promote the checkpoint shown last without clicking
'''),
    ('code', '''
from train_stages.picker import CheckpointPicker
from train_stages.compare import format_table

picker = CheckpointPicker(run, images=images, render_factor=render_factor, limit=limit)
picker
'''),
    ('md', 'All checkpoints at once (the same table `deoldify-like checkpoints` prints and writes as CSV):'),
    ('code', 'print(format_table(picker.rows))'),
    ('md', '''
Promote with the button above, or here (the same as
`deoldify-like promote --run RUN --checkpoint NAME --out MODEL`):
'''),
    ('code', '''
if promote_to:
    picker.out_path.value = str(promote_to)
    print('written:', picker.promote_shown())
'''),
]

if __name__ == '__main__':
    for name, cells in NOTEBOOKS.items():
        nbformat.write(notebook(cells), HERE / name)
        print('wrote', HERE / name)
