"""The notebooks as a person uses them: JupyterLab on a tiny run in headless Chromium. Run All from the menu,
then pick another checkpoint in the picker's dropdown, promote it, and move notebook 05's render-factor slider
with the keyboard; the metrics table must read whole at 1366 and 1920 px wide. Skipped, with one line, where
chromium and chromedriver are absent."""
import shutil
import time
from types import SimpleNamespace

import pytest

from lab_browser import (MISSING, chromium, jupyter_lab, notebook_copy, open_notebook, page_problems, run_all,
                         scroll_into_view, table_layout, wait_for)

if MISSING:
    pytest.skip(MISSING, allow_module_level=True)  # one line for the whole module

WIDTHS = (1366, 1920)


@pytest.fixture(scope='module')
def lab(tiny_run, tmp_path_factory):
    "JupyterLab serving a copy of the tiny run, notebooks 04 and 05 with tiny settings, and a quickstart model."
    from train_stages.promote import promote
    root = tmp_path_factory.mktemp('lab')
    shutil.copytree(tiny_run, root / 'run')
    promote(run=str(root / 'run'), checkpoint='gan-c1-i000006', out=str(root / 'quickstart' / 'model.safetensors'))
    notebook_copy('04_pick_checkpoint', {'RUN': 'run', 'RENDER_FACTOR': 2, 'LIMIT': 2}, root)
    notebook_copy('05_colorize_photos', {'SWEEP': [2, 3]}, root)
    with jupyter_lab(root, tmp_path_factory.mktemp('jupyter')) as (base, token):
        driver = chromium(tmp_path_factory.mktemp('profile'), WIDTHS[0], 1000)
        try:
            yield SimpleNamespace(root=root, base=base, token=token, driver=driver)
        finally:
            driver.quit()


def _css(driver, selector):
    from selenium.webdriver.common.by import By
    return driver.find_elements(By.CSS_SELECTOR, selector)


def test_picker_reads_whole_picks_and_promotes_in_jupyterlab(lab, tmp_path):
    from selenium.webdriver.support.ui import Select

    from deoldify_like.model_file import load_generator
    d = lab.driver
    open_notebook(d, lab.base, lab.token, '04_pick_checkpoint.ipynb')
    run_all(d)
    select = wait_for(d, lambda d: _css(d, '.widget-dropdown select')[0], 30, 'the picker to display')
    assert not page_problems(d)

    def shown(d):
        return _css(d, 'table.picker-metrics tr.picker-shown td')[0].text

    def large_view(d):
        return _css(d, '.widget-image img, img.widget-image')[0].get_attribute('src')
    assert 'c1 it6' in shown(d)
    for width in WIDTHS:
        d.set_window_size(width, 1000)
        time.sleep(1)
        scroll_into_view(d, select)
        d.save_screenshot(str(tmp_path / f'picker_{width}.png'))
        layout = table_layout(d, _css(d, 'table.picker-metrics')[0])
        names = [h['name'] for h in layout['heads']]
        assert names[0] == 'checkpoint' and names[-1] == 'drift' and {'sat ×', 'hue °', 'PSNR'} <= set(names), names
        for h in layout['heads']:  # inside the visible notebook area, wide enough for its header
            assert layout['area']['left'] <= h['left'] and h['right'] <= layout['area']['right'], (width, h, layout['area'])
            assert not h['clipped'], (width, h)
        assert max(layout['rows']) < 80, f'table rows stretched at {width} px: {layout["rows"]}'
        pictures = _css(d, '.widget-image')[0].rect
        assert pictures['x'] + pictures['width'] <= layout['area']['right'] + 1, 'the pictures do not fit'

    before = large_view(d)
    Select(select).select_by_visible_text('c1 it2 ema')  # as a person choosing in the dropdown
    wait_for(d, lambda d: 'c1 it2' in shown(d) and large_view(d) != before, 60,
             'the large view and the marked row to follow the dropdown')
    button = next(b for b in _css(d, 'button') if b.text.strip() == 'Promote this checkpoint')
    button.click()
    model = lab.root / 'run' / 'promoted.safetensors'
    wait_for(d, lambda d: model.is_file() and any('promoted' in e.text for e in _css(d, '.widget-html')), 60,
             'the promoted model file')
    _, header = load_generator(model)
    assert header['info']['promoted_from'] == 'gan-c1-i000002.safetensors'
    assert not page_problems(d)


def test_render_factor_slider_updates_the_preview_in_jupyterlab(lab, tmp_path):
    from selenium.webdriver.common.keys import Keys
    d = lab.driver
    d.set_window_size(WIDTHS[0], 1000)
    open_notebook(d, lab.base, lab.token, '05_colorize_photos.ipynb')
    run_all(d)
    handle = wait_for(d, lambda d: _css(d, '.widget-slider .noUi-handle')[0], 30, 'the slider to display')
    assert not page_problems(d)
    text = '\n'.join(e.text for e in _css(d, '.jp-OutputArea-output'))
    assert 'model shown:' in text and 'quickstart/model.safetensors (promoted from gan-c1-i000006' in text
    label = _css(d, '.widget-slider .widget-label')[0]
    assert label.text == 'render factor'
    assert d.execute_script('return arguments[0].scrollWidth <= arguments[0].clientWidth', label), 'label cut off'

    def readout(d):
        return _css(d, '.widget-slider .widget-readout')[0].text.strip()

    def preview(d):
        return _css(d, '.widget-image')[0].get_attribute('src')
    assert readout(d) == '4'
    before = preview(d)
    scroll_into_view(d, handle)
    handle.send_keys(Keys.ARROW_RIGHT)  # the keyboard on the slider's handle
    wait_for(d, lambda d: readout(d) == '5' and preview(d) != before, 60, 'the preview to follow the slider')
    d.save_screenshot(str(tmp_path / 'slider.png'))
    assert not page_problems(d)
