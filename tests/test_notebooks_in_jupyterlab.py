"""The notebooks as a person uses them: JupyterLab on a tiny run in headless Chromium. Run All from the menu,
then pick another checkpoint in the picker's dropdown, promote it, move notebook 05's render-factor slider
with the keyboard, and in notebook 06 attach a colour reference to a shot and render the film with it; the
metrics table must read whole at 1366 and 1920 px wide. Skipped, with one line, where chromium and
chromedriver are absent."""
import shutil
import time
from types import SimpleNamespace

import pytest

from lab_browser import (MISSING, chromium, jupyter_lab, notebook_copy, open_notebook, page_problems, run_all,
                         scroll_into_view, table_layout, wait_for)
from spliced_film import chroma_errors, write_picture, write_spliced_film

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


# ipywidgets' FileUpload keeps its <input type=file> out of the page and clicks it to open the browser's file
# chooser, which a headless browser cannot show: instead the input is put into the page when clicked, and the
# file is chosen in it as in the chooser (its change event reaches the widget as a person's choice does).
FILE_CHOOSER = """
const click = HTMLInputElement.prototype.click;
HTMLInputElement.prototype.click = function () {
  if (this.type === 'file' && !this.isConnected) { this.classList.add('test-file-chooser'); document.body.append(this); return; }
  return click.call(this);
};
"""


def test_film_notebook_shots_take_a_reference_upload_and_render_in_jupyterlab(lab, shared_data, tmp_path):
    """Notebook 06 on two spliced DAVIS clips: the row of shots shows both, a colour reference chosen in the second
    shot's upload is attached, and the button renders the film with it (its colours after the cut)."""
    truth = write_spliced_film(shared_data, lab.root / 'spliced.mp4')
    reference = write_picture(truth[8], tmp_path / 'second_shot.png')
    notebook_copy('06_colorize_film', {'FILM': 'spliced.mp4', 'FRAMES': None, 'RENDER_FACTOR': 2, 'SWEEP': [2]}, lab.root)
    d = lab.driver
    d.set_window_size(WIDTHS[0], 1000)
    open_notebook(d, lab.base, lab.token, '06_colorize_film.ipynb')
    run_all(d)
    cards = wait_for(d, lambda d: len(_css(d, '.shot-references-card')) == 2 and _css(d, '.shot-references-card'), 30,
                     'the row of shots')
    assert not page_problems(d)
    assert 'shot 2: frame 8, 0.33 s (8 frames)' in cards[1].text
    d.execute_script(FILE_CHOOSER)
    upload = cards[1].find_element('css selector', '.widget-upload')
    scroll_into_view(d, upload)
    upload.click()  # the widget's button opens its file chooser: here the chooser's input, put in the page
    wait_for(d, lambda d: _css(d, 'input.test-file-chooser'), 10, 'the file chooser')[0].send_keys(str(reference))
    wait_for(d, lambda d: 'attached: second_shot.png' in _css(d, '.shot-references-card')[1].text, 30,
             'the reference attached to the second shot')
    button = next(b for b in _css(d, 'button') if b.text.strip() == 'Render with these references')
    scroll_into_view(d, button)
    button.click()
    wait_for(d, lambda d: _css(d, '.shot-references-done'), 180, 'the render with the reference')
    d.save_screenshot(str(tmp_path / 'shots.png'))
    assert not page_problems(d)
    errors = chroma_errors(lab.root / 'out' / '06_colorize_film' / 'spliced_references.mp4', truth)
    assert len(errors) == 16 and max(errors[8:]) < 0.012 < min(errors[:8]), errors
