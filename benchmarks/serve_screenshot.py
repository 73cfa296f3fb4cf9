"""The screenshot of the web page in the README (docs/serve.jpg): `deoldify-like serve` with a model, a demo
photo uploaded and shown before/after, the demo film queued, taken in headless Chromium 1280 px wide and
saved as a JPEG.

    PYTHONPATH=. python benchmarks/serve_screenshot.py --model deoldify_like_quickstart/model.safetensors \
        [--out docs/serve.jpg] [--render-factor 8] [--frames 48]
"""
import argparse
import contextlib
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import av
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By

from deoldify_like.demo import DEMO_BW, DEMO_FILM

FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage', '--hide-scrollbars']


def wait(fn, timeout=300):
    end = time.time() + timeout
    while not (value := fn()):
        if time.time() > end:
            raise TimeoutError(fn)
        time.sleep(0.3)
    return value


def answers(url):
    try:
        with urllib.request.urlopen(url, timeout=5):
            return True
    except OSError:
        return False


def short_film(dest, frames):
    "The first `frames` frames of the demo film (a film that finishes while the screenshot waits)."
    with av.open(str(DEMO_FILM)) as inp, av.open(str(dest), 'w') as out:
        vs = inp.streams.video[0]
        s = out.add_stream('libx264', rate=vs.average_rate)
        s.width, s.height, s.pix_fmt = vs.codec_context.width, vs.codec_context.height, 'yuv420p'
        for i, frame in enumerate(inp.decode(vs)):
            if i >= frames:
                break
            frame.pts, frame.time_base = i, 1 / vs.average_rate
            out.mux(s.encode(frame.reformat(format='yuv420p')))
        out.mux(s.encode(None))
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--model', required=True)
    ap.add_argument('--out', default='docs/serve.jpg')
    ap.add_argument('--render-factor', type=int, default=8)
    ap.add_argument('--frames', type=int, default=48)
    ap.add_argument('--photo', default=str(DEMO_BW / 'Locomotive1880s.jpg'))
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix='serve_shot_'))
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    env = {**os.environ, 'PYTHONPATH': str(Path(__file__).resolve().parents[1]), 'DEOLDIFY_LIKE_QUIET': '1'}
    server = subprocess.Popen([sys.executable, '-m', 'train_stages', 'serve', '--model', args.model, '--port', str(port),
                               '--work', str(tmp / 'work')], env=env)
    base = f'http://127.0.0.1:{port}'
    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which('chromium')
    for flag in FLAGS + [f'--user-data-dir={tmp / "profile"}', '--window-size=1280,1000']:
        opts.add_argument(flag)
    driver = None
    try:
        wait(lambda: answers(base + '/api/options'))
        driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=shutil.which('chromedriver')))
        driver.get(base + '/')
        wait(lambda: driver.find_elements(By.CSS_SELECTOR, '#set-film-render_factor'))
        for kind in ('photo', 'gif', 'film'):
            driver.execute_script("const e = document.getElementById(arguments[0]); e.value = arguments[1];"
                                  "e.dispatchEvent(new Event('input'))", f'set-{kind}-render_factor', args.render_factor)
        driver.execute_script("const e = document.getElementById('rf'); e.value = arguments[0]; e.dispatchEvent(new Event('input'))",
                              args.render_factor)
        upload = driver.find_element(By.ID, 'file-input')
        upload.send_keys(str(short_film(tmp / 'a-bomb_blast_effects_part.mp4', args.frames)))
        wait(lambda: driver.find_elements(By.CSS_SELECTOR, '#jobs li[data-state=done]'))
        upload.send_keys(args.photo)
        wait(lambda: driver.find_element(By.ID, 'after').get_attribute('data-render-factor'))
        wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, '#jobs li[data-state=done]')) == 2)
        height = driver.execute_script('return document.documentElement.scrollHeight')
        driver.set_window_size(1280, height + 20)
        time.sleep(0.5)
        png = driver.get_screenshot_as_png()
    finally:
        if driver is not None:
            driver.quit()
        server.terminate()
        server.wait(20)
        shutil.rmtree(tmp, ignore_errors=True)
    img = Image.open(io.BytesIO(png)).convert('RGB')
    img = img.resize((1280, round(img.height * 1280 / img.width))) if img.width != 1280 else img
    for quality in (85, 75, 65, 55, 45):
        buf = io.BytesIO()
        img.save(buf, format='JPEG', quality=quality, optimize=True, progressive=True)
        if buf.tell() < 150_000:
            break
    Path(args.out).write_bytes(buf.getvalue())
    print(f'{args.out}: {img.width}x{img.height}, {buf.tell() / 1000:.0f} KB (JPEG quality {quality})')


if __name__ == '__main__':
    with contextlib.suppress(KeyboardInterrupt):
        main()
