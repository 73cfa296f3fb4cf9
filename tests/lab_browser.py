"""JupyterLab in headless Chromium, driven the way a person uses it: a JupyterLab server on a free loopback
port with a token of our own (no browser of its own, no news, no update checks, a fresh config, settings
and workspace folder), and Debian's chromium + chromedriver through selenium. Used by
tests/test_notebooks_in_jupyterlab.py and docs/make_notebook_screenshots.py."""
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat

from ports import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
MISSING = None if CHROMIUM and CHROMEDRIVER else 'no chromium + chromedriver (apt-get install chromium chromium-driver)'
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage', '--hide-scrollbars']
# JupyterLab user settings: no toasts or news, every cell rendered (widgets live in the page, not deferred)
LAB_SETTINGS = {
    '@jupyterlab/apputils-extension/notification.jupyterlab-settings':
        {'checkForUpdates': False, 'fetchNews': 'false', 'doNotDisturbMode': True},
    '@jupyterlab/notebook-extension/tracker.jupyterlab-settings': {'windowingMode': 'none'},
}



def notebook_copy(name, parameters, dest):
    """nbs/<name>.ipynb written to `dest` with a cell of `parameters` after the `parameters` cell (as papermill)."""
    nb = nbformat.read(ROOT / 'nbs' / f'{name}.ipynb', as_version=4)
    idx = next(i for i, c in enumerate(nb.cells) if 'parameters' in c.metadata.get('tags', []))
    cell = nbformat.v4.new_code_cell('\n'.join(f'{k} = {v!r}' for k, v in parameters.items()))
    cell.id = 'injected-parameters'
    nb.cells.insert(idx + 1, cell)
    nbformat.write(nb, Path(dest) / f'{name}.ipynb')
    return Path(dest) / f'{name}.ipynb'


@contextmanager
def jupyter_lab(root, workdir):
    """A JupyterLab server serving `root` (its kernels run there, with this checkout first on PYTHONPATH);
    yields (base_url, token)."""
    workdir = Path(workdir)
    for rel, values in LAB_SETTINGS.items():
        (workdir / 'settings' / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / 'settings' / rel).write_text(json.dumps(values))
    env = {**os.environ, 'JUPYTER_CONFIG_DIR': str(workdir / 'config'), 'JUPYTER_RUNTIME_DIR': str(workdir / 'runtime'),
           'JUPYTER_DATA_DIR': str(workdir / 'data'),  # the venv's share/jupyter (the widget extension) still counts
           'JUPYTERLAB_SETTINGS_DIR': str(workdir / 'settings'), 'JUPYTERLAB_WORKSPACES_DIR': str(workdir / 'workspaces'),
           'IPYTHONDIR': str(workdir / 'ipython'), 'DEOLDIFY_LIKE_QUIET': '1',
           'PYTHONPATH': os.pathsep.join(filter(None, [str(ROOT), os.environ.get('PYTHONPATH')]))}
    token, port = secrets.token_hex(16), free_port()
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', f'--port={port}', '--ServerApp.port_retries=0',
           '--ServerApp.ip=127.0.0.1', f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={root}',
           '--LabApp.news_url=None', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
           '--LabApp.extension_manager=readonly', '--LabApp.expose_app_in_browser=True']
    if hasattr(os, 'geteuid') and os.geteuid() == 0:  # CI containers run as root
        cmd.append('--allow-root')
    log = open(workdir / 'jupyterlab.log', 'w')
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f'JupyterLab did not start: {(workdir / "jupyterlab.log").read_text()[-2000:]}')
            time.sleep(0.5)
        yield base, token
    finally:
        proc.terminate()  # the server shuts its kernels down on SIGTERM
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def chromium(profile, width=1366, height=900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS + [f'--user-data-dir={profile}', f'--window-size={width},{height}']:
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(CHROMEDRIVER))
    driver.set_window_size(width, height)
    return driver


def wait_for(driver, condition, timeout, what):
    "Polls `condition(driver)` until it is truthy; returns it, or fails saying `what` did not happen."
    deadline = time.time() + timeout
    while True:
        try:
            got = condition(driver)
        except AssertionError:
            raise
        except Exception:  # the page is still changing under us
            got = None
        if got:
            return got
        if time.time() > deadline:
            raise AssertionError(f'timed out after {timeout} s waiting for {what}')
        time.sleep(0.5)


NOTEBOOK_STATE = """
// the notebook shown: the shell's current widget, or (a headless browser may leave no widget current, as
// JupyterLab 4.6 does when the page never had focus) the one widget of the main area
const app = window.jupyterapp;
const panel = app && (app.shell.currentWidget || Array.from(app.shell.widgets('main')).pop());
if (!panel || !panel.sessionContext || !panel.sessionContext.session || !panel.sessionContext.session.kernel) return null;
const cells = panel.content.widgets.filter(c => c.model.type === 'code');
return {kernel: panel.sessionContext.session.kernel.status,
        counts: cells.map(c => c.model.executionCount), dirty: panel.model.dirty};
"""


def open_notebook(driver, base, token, path, timeout=120):
    "Opens `path` (relative to the server's root) in JupyterLab and waits until its kernel is idle."
    # a fresh workspace of its own: only this notebook open (an earlier one restored beside it could be the active tab)
    driver.get(f'{base}/lab/workspaces/{Path(path).stem}/tree/{path}?token={token}&reset')
    wait_for(driver, lambda d: (d.execute_script(NOTEBOOK_STATE) or {}).get('kernel') == 'idle', timeout,
             f'{path} to open with an idle kernel')


def run_all(driver, timeout=300):
    """Run > Run All Cells from JupyterLab's menu bar, then waits until every code cell has run and the kernel
    is idle again."""
    from selenium.webdriver.common.by import By
    menu = next(m for m in driver.find_elements(By.CSS_SELECTOR, '.lm-MenuBar-item') if m.text.strip() == 'Run')
    menu.click()
    wait_for(driver, lambda d: next(i for i in d.find_elements(By.CSS_SELECTOR, '.lm-Menu-item')
                                    if i.text.startswith('Run All Cells')), 10, 'Run All Cells in the Run menu').click()

    def done(d):
        s = d.execute_script(NOTEBOOK_STATE)
        if s['kernel'] == 'idle' and d.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"] .ansi-red-fg'):
            raise AssertionError(f'a cell failed: {page_problems(d)}')  # Run All stops at the first error
        return s['kernel'] == 'idle' and all(c is not None for c in s['counts'])
    wait_for(driver, done, timeout, 'every cell to run')
    time.sleep(1)  # widgets render asynchronously after their output arrives


def page_problems(driver):
    "What a person would see go wrong: widgets that failed to display, and stderr outputs (errors, warnings)."
    from selenium.webdriver.common.by import By
    problems = []
    if 'Error displaying widget' in driver.page_source:
        problems.append('Error displaying widget')
    for out in driver.find_elements(By.CSS_SELECTOR, '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'):
        problems.append(out.text[:300])
    return problems


def scroll_into_view(driver, element):
    driver.execute_script('arguments[0].scrollIntoView({block: "start"});', element)
    time.sleep(0.5)


TABLE_BOUNDS = """
const table = arguments[0];
const area = table.closest('.jp-WindowedPanel-outer') || table.closest('.jp-NotebookPanel');
const a = area.getBoundingClientRect();
const visible = {left: Math.max(a.left, 0), right: Math.min(a.right, window.innerWidth)};
const heads = [...table.querySelectorAll('th')].map(th => {
  const r = th.getBoundingClientRect();
  return {name: th.textContent.trim(), left: r.left, right: r.right, height: r.height,
          clipped: th.scrollWidth > th.clientWidth + 1};
});
const rows = [...table.querySelectorAll('tbody tr')].map(tr => tr.getBoundingClientRect().height);
return {area: visible, heads: heads, rows: rows};
"""


def table_layout(driver, table):
    """Where each header cell of `table` lies against the notebook's visible area, whether its text is clipped,
    and the height of each body row."""
    return driver.execute_script(TABLE_BOUNDS, table)


def save_jpeg(png_path, jpeg_path, width=None, max_bytes=120_000):
    "A PNG screenshot as a JPEG under `max_bytes` (scaled to `width` px, lowering the quality until it fits)."
    from PIL import Image
    img = Image.open(png_path).convert('RGB')
    if width and img.width > width:
        img = img.resize((width, round(img.height * width / img.width)), Image.LANCZOS)
    for quality in (85, 78, 70, 62, 55, 48, 40):
        img.save(jpeg_path, 'JPEG', quality=quality, optimize=True, progressive=True)
        if Path(jpeg_path).stat().st_size <= max_bytes:
            break
    return Path(jpeg_path)
