"""The page in headless Chromium (selenium + Debian's chromium-driver) against a real server process: upload a
photo, move the render-factor slider (the preview changes), download a result of the photo's size; upload a
film and see it finish with its frame count; a text file named .jpg gets a readable message and the server
keeps serving; a film with a colour reference picture chosen on the page."""
import contextlib
import os
import shutil
import time
import urllib.request

import pytest
from PIL import Image

from render_helpers import save_tiny_model
from serve_helpers import film, photo, running_server, wait_for
from spliced_film import chroma_errors, write_picture, write_spliced_film

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver') or ('/usr/bin/chromedriver' if os.path.exists('/usr/bin/chromedriver') else None)
webdriver = pytest.importorskip('selenium.webdriver')
pytest.importorskip('fastapi')
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason='no chromium/chromedriver (apt-get install chromium chromium-driver)')
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--window-size=1280,1400']

from selenium.common.exceptions import StaleElementReferenceException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402


def chromium(tmp_path, downloads):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in FLAGS + [f'--user-data-dir={tmp_path / "profile"}']:
        opts.add_argument(flag)
    opts.add_experimental_option('prefs', {'download.default_directory': str(downloads), 'download.prompt_for_download': False})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.execute_cdp_cmd('Page.setDownloadBehavior', {'behavior': 'allow', 'downloadPath': str(downloads)})
    return driver


@contextlib.contextmanager
def served_page(model, tmp_path, env, downloads):
    "A server process for `model` and the page open in headless Chromium: yields (process, base URL, driver)."
    with running_server(model, tmp_path / 'work', env, tmp_path / 'server.log', '--precision', 'fp32') as (proc, base):
        driver = chromium(tmp_path, downloads)
        try:
            driver.get(base + '/')
            wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, '#set-film-render_factor'), 30, what='the settings')
            yield proc, base, driver
        finally:
            driver.quit()


PREVIEW_BYTES = """const done = arguments[arguments.length - 1];
fetch(document.getElementById('after').src).then(r => r.arrayBuffer())
  .then(b => done(Array.from(new Uint8Array(b)).reduce((h, x) => (h * 31 + x) >>> 0, 7) + ':' + b.byteLength));"""


DROP = """const data = new DataTransfer();
data.items.add(new File([arguments[0]], arguments[1], {type: 'image/jpeg'}));
document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));"""


def preview_hash(driver):
    return driver.execute_async_script(PREVIEW_BYTES)


ROW_STATE = """const rows = [...document.querySelectorAll('#jobs li.job[data-id]')]
  .filter(r => (r.querySelector('.name')?.textContent || '').trim() === arguments[0]);
return rows.length ? rows[rows.length - 1].dataset.state : null;"""


def job_row(driver, name):
    "The last row of the job list named `name`; the list is redrawn as jobs progress, so a row read while it is replaced is read again."
    for _ in range(10):
        try:
            rows = [r for r in driver.find_elements(By.CSS_SELECTOR, '#jobs li.job[data-id]')
                    if r.find_element(By.CLASS_NAME, 'name').text == name]
            return rows[-1] if rows else None
        except StaleElementReferenceException:
            time.sleep(0.1)
    raise TimeoutError(f'the row of {name} kept being redrawn')


def row_state(driver, name):
    "The row's state, read in one script (no element handle that a redraw could make stale)."
    return driver.execute_script(ROW_STATE, name)


def test_page_photo_preview_download_film_and_bad_file(tmp_path, subprocess_env):
    model = save_tiny_model(tmp_path / 'tiny.safetensors', render_factor=3)
    src = photo(tmp_path, 'grandma.jpg', size=(150, 110))
    movie = film(tmp_path, 'reel.mp4', frames=30)
    notes = tmp_path / 'notes.jpg'
    notes.write_text('this is a text file with a photo name\n' * 10)
    downloads = tmp_path / 'downloads'
    downloads.mkdir()
    with served_page(model, tmp_path, subprocess_env, downloads) as (proc, base, driver):
        upload = driver.find_element(By.ID, 'file-input')
        # a photo: its before/after view and a preview
        upload.send_keys(str(src))
        wait_for(lambda: driver.find_element(By.ID, 'after').get_attribute('data-render-factor') == '3', 60, what='the first preview')
        assert driver.find_element(By.ID, 'viewer').is_displayed()
        first = preview_hash(driver)
        # move the slider with the keyboard, as a person would: the preview is rendered again and changes
        slider = driver.find_element(By.ID, 'rf')
        slider.send_keys(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT)
        wait_for(lambda: driver.find_element(By.ID, 'after').get_attribute('data-render-factor') == '6', 60, what='the second preview')
        assert driver.find_element(By.ID, 'rf-shown').text == '6'
        assert preview_hash(driver) != first
        # the full-size result, downloaded through the page's link
        wait_for(lambda: row_state(driver, 'grandma.jpg') == 'done', 60, what='the photo job')
        job_row(driver, 'grandma.jpg').find_element(By.CLASS_NAME, 'download').click()
        got = wait_for(lambda: [p for p in downloads.glob('*.jpg')], 30, what='the download')[0]
        assert got.name == 'grandma_colour.jpg'
        wait_for(lambda: Image.open(got).size == (150, 110), 10, what='a complete download')
        with Image.open(got) as img, Image.open(src) as orig:
            assert img.size == orig.size
        # a film: progress up to its frame count
        upload.send_keys(str(movie))
        wait_for(lambda: row_state(driver, 'reel.mp4') == 'done', 180, what='the film job')
        row = job_row(driver, 'reel.mp4')
        assert '30 / 30 frames' in row.find_element(By.CLASS_NAME, 'stats').text
        assert row.find_element(By.TAG_NAME, 'progress').get_attribute('value') == '30'
        # a text file named .jpg, dropped on the page: a readable message, and the server goes on serving
        driver.execute_script(DROP, notes.read_text(), 'notes.jpg')
        msg = wait_for(lambda: [m.text for m in driver.find_elements(By.CSS_SELECTOR, '#messages p') if 'notes.jpg' in m.text],
                       30, what='the message')[0]
        assert 'notes.jpg: not a photo, GIF or film' in msg
        assert proc.poll() is None
        upload.send_keys(str(src))
        wait_for(lambda: len([r for r in driver.find_elements(By.CSS_SELECTOR, '#jobs li.job[data-state=done]')]) == 3,
                 60, what='another photo after the bad file')
        # removing a result takes it off the list and off the server
        job_row(driver, 'reel.mp4').find_element(By.CLASS_NAME, 'remove').click()
        wait_for(lambda: row_state(driver, 'reel.mp4') is None, 10, what='the removed row')
        assert len(list((tmp_path / 'work' / 'jobs').iterdir())) == 2
        if os.environ.get('DEOLDIFY_LIKE_SCREENSHOT'):
            driver.save_screenshot(os.environ['DEOLDIFY_LIKE_SCREENSHOT'])


def test_page_film_with_a_reference_picture(tmp_path, subprocess_env, shared_data):
    """Reference pictures chosen on the page go with the next film: an unreadable one gets its message and nothing
    is queued; removed, and the true first frame added at frame 0, the film renders with it: its colours up to the
    cut, the model's after."""
    model = save_tiny_model(tmp_path / 'tiny.safetensors', render_factor=2)
    truth = write_spliced_film(shared_data, tmp_path / 'spliced.mp4')
    first = write_picture(truth[0], tmp_path / 'first.png')
    notes = tmp_path / 'notes.png'
    notes.write_text('a text file named like a picture\n' * 10)
    with served_page(model, tmp_path, subprocess_env, tmp_path) as (proc, base, driver):
        references = driver.find_element(By.ID, 'reference-input')
        references.send_keys(str(notes))
        driver.find_element(By.ID, 'file-input').send_keys(str(tmp_path / 'spliced.mp4'))
        msg = wait_for(lambda: [m.text for m in driver.find_elements(By.CSS_SELECTOR, '#messages p') if 'notes.png' in m.text],
                       60, what='the message about the reference')[0]
        assert 'reference notes.png: not a picture' in msg
        assert not driver.find_elements(By.CSS_SELECTOR, '#jobs li.job') and not list((tmp_path / 'work' / 'jobs').iterdir())
        driver.find_element(By.CSS_SELECTOR, '#references li button').click()
        references.send_keys(str(first))
        row = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, '#references li'), 10, what='the reference listed')
        assert len(row) == 1 and row[0].find_element(By.CLASS_NAME, 'name').text == 'first.png'
        row[0].find_element(By.CLASS_NAME, 'reference-frame').send_keys('0')
        driver.find_element(By.ID, 'file-input').send_keys(str(tmp_path / 'spliced.mp4'))
        wait_for(lambda: row_state(driver, 'spliced.mp4') == 'done', 180, what='the film with its reference')
        job = job_row(driver, 'spliced.mp4')
        stats = job.find_element(By.CLASS_NAME, 'stats').text
        assert '16 / 16 frames' in stats and 'first.png at frame 0' in stats, stats
        with urllib.request.urlopen(f"{base}/api/jobs/{job.get_attribute('data-id')}/result") as r:
            (tmp_path / 'result.mp4').write_bytes(r.read())
        errors = chroma_errors(tmp_path / 'result.mp4', truth)
        assert len(errors) == 16 and max(errors[:8]) < 0.012 < min(errors[8:]), errors
        assert proc.poll() is None
