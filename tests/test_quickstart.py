"""The quickstart end to end (through its notebook, tiny preset): every step runs, the report has every
section with its pictures and film, and a browser shows the grid and plays the film."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from deoldify_like.model_file import read_header
from deoldify_like.video import probe_video
from notebook_runner import outputs_of, run_notebook

SECTIONS = ['summary', 'losses', 'critic', 'checkpoints', 'promoted', 'pairs', 'sweep', 'film']
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
PROBE = """<script>
window.addEventListener('load', () => {
  const v = document.getElementById('film-video'), g = document.getElementById('grid');
  let done = false;
  const report = () => { if (done) return; done = true;
    document.body.setAttribute('data-check', JSON.stringify({grid: g ? g.naturalWidth : -1,
      video: v ? v.videoWidth : -1, error: v && v.error ? v.error.code : null,
      images: [...document.images].filter(i => i.naturalWidth > 0).length, all_images: document.images.length})); };
  if (!v || v.readyState >= 2) report(); else { v.addEventListener('loadeddata', report); v.addEventListener('error', report); setTimeout(report, 5000); }
});
</script>"""


@pytest.fixture(scope='module')
def quickstart_out(tmp_path_factory):
    out = tmp_path_factory.mktemp('qs') / 'out'
    nb = run_notebook('00_quickstart', {'OUT': str(out), 'PRESET': 'tiny', 'PRETRAINED': False}, out.parent, timeout=900)
    return out, nb


def test_quickstart_leaves_run_model_colorized_files_and_report(quickstart_out):
    out, nb = quickstart_out
    assert read_header(out / 'model.safetensors')['info']['promoted_from'].startswith(('gen-', 'gan-'))
    assert len(list((out / 'colorized' / 'photos').rglob('*.jpg'))) == 6
    films = sorted((out / 'colorized' / 'film').glob('*.mp4'))
    assert [f.name.endswith('.web.mp4') for f in films] == [False, True]  # the master and its web copy
    assert probe_video(films[0]).frames == probe_video(films[1]).frames == 360
    assert 'shown here through its web copy' in (out / 'report' / 'index.html').read_text()
    assert len(outputs_of(nb, 'image/png') + outputs_of(nb, 'image/jpeg')) >= 5  # grid, photos, sweep shown inline
    assert any('<video' in h for h in outputs_of(nb, 'text/html'))
    page = (out / 'report' / 'index.html').read_text()
    assert re.findall(r'<section id="([a-z]+)"', page) == SECTIONS
    for src in re.findall(r'src="([^"]+)"', page):
        assert (out / 'report' / src).is_file(), src
    assert 'deoldify-like promote --run' in page  # how to promote another checkpoint
    split = json.loads((out / 'run' / 'split.json').read_text())
    compared = {p.name for p in (out / 'compare').iterdir()}
    assert {Path(f).name for f in split['valid']} <= compared and len(split['valid']) == 2
    assert not compared & {Path(f).name for f in split['train']}  # the checkpoint is chosen on photos it never trained on
    assert 'which the run never trained on' in page


@pytest.mark.skipif(not CHROMIUM, reason='no Chromium installed (apt-get install chromium)')
def test_report_shows_the_grid_and_plays_the_film_in_chromium(quickstart_out, tmp_path):
    out, _ = quickstart_out
    check = out / 'report' / 'browser_check.html'
    check.write_text((out / 'report' / 'index.html').read_text().replace('</body>', PROBE + '</body>'))
    flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync',
             f'--user-data-dir={tmp_path / "profile"}', '--virtual-time-budget=10000']
    dom = subprocess.run([CHROMIUM, *flags, '--dump-dom', check.as_uri()], capture_output=True, text=True, timeout=120).stdout
    found = json.loads(re.search(r'data-check="([^"]*)"', dom).group(1).replace('&quot;', '"'))
    assert found['grid'] > 0 and found['video'] == 432 and found['error'] is None
    assert found['images'] == found['all_images'] > 5
    shot = tmp_path / 'report.png'
    subprocess.run([CHROMIUM, *flags, '--window-size=1200,3000', f'--screenshot={shot}', check.as_uri()],
                   capture_output=True, timeout=120)
    assert shot.stat().st_size > 50_000
