"""The README's notebook screenshots, taken in JupyterLab in headless Chromium (1366 px wide) after Run All:

    python docs/make_notebook_screenshots.py --quickstart quickstart

`--quickstart` is the folder of a finished `deoldify-like quickstart --out DIR` (its run and promoted model).
Writes docs/notebook_picker.jpg (notebook 04 on the quickstart's run), docs/notebook_01.jpg (notebook 01 on
the embedded demo photos, tiny settings) and docs/notebook_06.jpg (notebook 06 with the quickstart's model),
each a JPEG under 120 KB. Needs chromium and chromedriver.
"""
import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'tests')]

from lab_browser import (MISSING, chromium, jupyter_lab, notebook_copy, open_notebook, page_problems,  # noqa: E402
                         run_all, save_jpeg, scroll_into_view, wait_for)


def heading(driver, text):
    from selenium.webdriver.common.by import By
    return next(h for h in driver.find_elements(By.CSS_SELECTOR, '.jp-RenderedMarkdown h1, .jp-RenderedMarkdown h2')
                if h.text.startswith(text))


def shoot(driver, element, dest, tmp):
    scroll_into_view(driver, element)
    time.sleep(1)
    problems = page_problems(driver)
    assert not problems, problems
    driver.save_screenshot(str(tmp / 'shot.png'))
    out = save_jpeg(tmp / 'shot.png', dest, width=1366)
    print(f'{dest}: {out.stat().st_size // 1024} KB')


def main(quickstart, out=ROOT / 'docs'):
    if MISSING:
        raise SystemExit(MISSING)
    from deoldify_like.demo import DEMO_COLOUR
    quickstart = Path(quickstart).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        root = tmp / 'nbs'
        root.mkdir()
        shutil.copytree(quickstart / 'run', root / 'run_quickstart')
        (root / 'quickstart').mkdir()
        shutil.copy(quickstart / 'model.safetensors', root / 'quickstart' / 'model.safetensors')
        notebook_copy('04_pick_checkpoint', {'RUN': 'run_quickstart', 'LIMIT': 3}, root)
        notebook_copy('01_pretrain_generator', {'SOURCES': [str(DEMO_COLOUR)], 'TRAIN': 'data', 'RUN': 'run', 'MAX_SIZE': 96,
                                                'SIZES': '32,64', 'EPOCHS': '1,1', 'BS': 4, 'LIMIT': 16}, root)
        notebook_copy('06_colorize_film', {'RENDER_FACTOR': 8, 'SWEEP': [4, 8, 12]}, root)
        with jupyter_lab(root, tmp / 'jupyter') as (base, token):
            driver = chromium(tmp / 'profile', 1366, 1000)
            try:
                from selenium.webdriver.common.by import By
                open_notebook(driver, base, token, '04_pick_checkpoint.ipynb')
                run_all(driver, timeout=600)
                select = wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, '.widget-dropdown'), 30, 'the picker')
                shoot(driver, select, Path(out) / 'notebook_picker.jpg', tmp)
                open_notebook(driver, base, token, '01_pretrain_generator.ipynb')
                run_all(driver, timeout=900)
                shoot(driver, heading(driver, 'Loss curves'), Path(out) / 'notebook_01.jpg', tmp)
                open_notebook(driver, base, token, '06_colorize_film.ipynb')
                run_all(driver, timeout=600)
                shoot(driver, heading(driver, 'Sweep on the middle frame'), Path(out) / 'notebook_06.jpg', tmp)
            finally:
                driver.quit()


if __name__ == '__main__':
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quickstart', required=True, help='folder of a finished `deoldify-like quickstart --out DIR`')
    parser.add_argument('--out', default=str(ROOT / 'docs'), help='where the JPEGs go')
    args = parser.parse_args()
    main(args.quickstart, args.out)
