"""Inference engines and exported models: ONNX / OpenVINO files against the PyTorch model on real photos,
the Colorizer on each engine, the on-disk cache, `--engine auto`'s choice, and a plain onnxruntime port."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from deoldify_like.colour import rgb_to_lab
from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.images import load_image
from deoldify_like.metrics import ciede2000_lab
from deoldify_like.model_file import load_generator, save_generator
from deoldify_like.inference import Colorizer
from deoldify_like.inference.engine_choice import candidates, pick
from deoldify_like.inference.export import export_model_file, exportable, metadata, onnx_to_openvino
from render.photos import render_photo

ROOT = Path(__file__).resolve().parents[1]
RF = 4  # 64 px squares: small and fast


@pytest.fixture(scope='module')
def model_file(tmp_path_factory):
    torch.manual_seed(0)
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5)
    path = tmp_path_factory.mktemp('engines') / 'tiny.safetensors'
    return save_generator(path, build_generator(cfg), cfg, render_factor=RF, note='tiny random test model')


@pytest.fixture(scope='module')
def photos(shared_data):
    files = sorted((shared_data / 'photos' / 'bsds500_val').glob('*.jpg'))[:3]
    if not files:
        pytest.skip('no bsds500_val photos')
    return files


@pytest.fixture(scope='module')
def engine_cache(tmp_path_factory):
    "One export cache for the module (each export of even a tiny model takes seconds)."
    cache = tmp_path_factory.mktemp('cache')
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv('DEOLDIFY_LIKE_CACHE', str(cache))
        yield cache


@pytest.fixture(scope='module')
def onnx_file(model_file, tmp_path_factory):
    pytest.importorskip('onnx')
    return export_model_file(model_file, 'onnx', tmp_path_factory.mktemp('onnx') / 'tiny.onnx', RF)


def torch_rgb01(model_file, gray01):
    "The PyTorch model (through the export wrapper) on gray N x 1 x H x W in 0..1."
    model, _ = load_generator(model_file)
    with torch.no_grad():
        return exportable(model)(torch.from_numpy(gray01)).numpy()


def photo_squares(photos, side):
    import cv2
    return np.stack([cv2.resize(load_image(f).luma, (side, side), interpolation=cv2.INTER_AREA)
                     for f in photos]).astype(np.float32)[:, None] / 255.0


def test_onnx_export_matches_torch_and_carries_metadata(model_file, onnx_file, photos):
    ort = pytest.importorskip('onnxruntime')
    onnx = pytest.importorskip('onnx')
    path = onnx_file
    meta = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    assert meta['deoldify_like.render_factor'] == str(RF) and meta['deoldify_like.size'] == '64x64'
    assert 'YUV BT.601' in meta['deoldify_like.colour_handling']
    assert json.loads(meta['deoldify_like.model'])['info']['note'] == 'tiny random test model'
    x = photo_squares(photos, 64)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    assert session.get_inputs()[0].shape == ['n', 1, 64, 64]
    got = session.run(None, {'gray': x})[0]  # a batch of 3: the batch size is free
    want = torch_rgb01(model_file, x)
    assert got.shape == (3, 3, 64, 64) and 0 <= got.min() and got.max() <= 1
    assert np.abs(got - want).max() < 1e-4
    assert want.std() > 1e-3  # not a constant picture, so the comparison means something


def test_dynamic_onnx_export_takes_other_sizes(model_file, photos, tmp_path):
    ort = pytest.importorskip('onnxruntime')
    path = export_model_file(model_file, 'onnx', tmp_path / 'dyn.onnx', RF, dynamic=True)
    session = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    for side in (64, 80):  # 80: odd decoder sizes (5 -> 3 at the bottom), the resizes the trace must keep
        x = photo_squares(photos[:1], side)
        assert np.abs(session.run(None, {'gray': x})[0] - torch_rgb01(model_file, x)).max() < 1e-4


def test_openvino_export_matches_torch(model_file, onnx_file, photos, tmp_path):
    ov = pytest.importorskip('openvino')
    xml = onnx_to_openvino(onnx_file, tmp_path / 'tiny.xml', metadata(load_generator(model_file)[1], RF * 16, False))
    assert xml.with_suffix('.bin').is_file()
    model = ov.Core().read_model(str(xml))
    assert model.get_rt_info(['deoldify_like', 'render_factor']).astype(str) == str(RF)
    compiled = ov.Core().compile_model(model, 'CPU', {'INFERENCE_PRECISION_HINT': 'f32'})
    x = photo_squares(photos, 64)
    assert np.abs(compiled({0: x})[0] - torch_rgb01(model_file, x)).max() < 1e-4


@pytest.mark.parametrize('engine,precision', [('onnxruntime', 'fp32'), ('openvino', 'fp32'), ('openvino', 'bf16')])
def test_colorizer_engines_agree_with_torch(model_file, photos, engine, precision, engine_cache):
    pytest.importorskip(engine)
    if precision == 'bf16' and ('openvino', 'bf16') not in candidates(torch.device('cpu')):
        pytest.skip('this CPU has no native bf16')
    lumas = [load_image(f).luma for f in photos]
    want = Colorizer.from_file(model_file, RF, device='cpu', precision='fp32').predict(lumas)
    col = Colorizer.from_file(model_file, RF, device='cpu', precision=precision, engine=engine)
    assert col.settings()['engine'] == engine
    got = col.predict(lumas + lumas[:1])  # 4 pictures: batches of 2 and 2 (and the cache filled once)
    tol = 1 if precision == 'fp32' else 8
    for g, w in zip(got, want):
        assert g.shape == w.shape and np.abs(g.astype(int) - w).max() <= tol
    keys = {p: json.loads((p / 'key.json').read_text()) for p in engine_cache.iterdir() if (p / 'key.json').is_file()}
    mine = [p for p, key in keys.items() if key['engine'] == engine]
    assert len(mine) == 1 and keys[mine[0]]['side'] == 64  # one export per engine and size, bf16 or not
    stamp = (mine[0] / 'key.json').stat().st_mtime_ns
    Colorizer.from_file(model_file, RF, device='cpu', precision=precision, engine=engine).predict(lumas[:1])
    assert (mine[0] / 'key.json').stat().st_mtime_ns == stamp  # the second render reused the export


def test_auto_picks_fastest_engine_whose_quality_holds(tmp_path, monkeypatch):
    cpu = torch.device('cpu')
    import deoldify_like.inference.engine_choice as ec
    monkeypatch.setattr(ec, 'native_bf16', lambda device: True)
    monkeypatch.setattr(ec, 'engine_installed', lambda name: True)
    choice = tmp_path / 'choice.json'
    rows = [{'engine': 'torch', 'precision': 'fp32', 'model_only_fps': 1.0, 'delta_psnr': 0, 'delta_cf': 0},
            {'engine': 'openvino', 'precision': 'bf16', 'model_only_fps': 3.0, 'delta_psnr': -0.02, 'delta_cf': 0.1},
            {'engine': 'onnxruntime', 'precision': 'fp32', 'model_only_fps': 9.0, 'delta_psnr': -0.3, 'delta_cf': 0.1},
            {'engine': 'openvino', 'precision': 'fp32', 'model_only_fps': 2.0, 'delta_psnr': 0.0, 'delta_cf': 0.0}]
    choice.write_text(json.dumps({'devices': {'cpu-bf16': {'engines': rows}}}))
    assert pick(cpu, 'auto', choice) == ('openvino', 'bf16')  # onnxruntime is faster but loses 0.3 dB
    assert pick(cpu, 'fp32', choice) == ('openvino', 'fp32')
    monkeypatch.setattr(ec, 'engine_installed', lambda name: name == 'torch')
    assert pick(cpu, 'auto', choice) == ('torch', 'fp32')
    monkeypatch.setattr(ec, 'native_bf16', lambda device: False)  # another CPU: no entry, torch as before
    assert pick(cpu, 'auto', choice) == ('torch', 'auto')
    assert pick(cpu, 'auto', tmp_path / 'missing.json') == ('torch', 'auto')
    # a GPU nothing was measured on runs fp32 until a check says its reduced precision holds
    gpu = torch.device('cuda')
    assert pick(gpu, 'auto', choice) == ('torch', 'fp32') and pick(gpu, 'bf16', choice) == ('torch', 'bf16')
    monkeypatch.setattr(ec, 'native_bf16', lambda device: True)
    choice.write_text(json.dumps({'devices': {'cuda': {'engines': [dict(rows[1], engine='torch')]}}}))
    assert pick(gpu, 'auto', choice) == ('torch', 'bf16')


def test_plain_onnxruntime_port_matches_render(model_file, onnx_file, photos, tmp_path):
    "The example script (onnxruntime, numpy, Pillow, OpenCV only) gives the colours `render` gives."
    pytest.importorskip('onnxruntime')
    onnx_path = onnx_file
    script = ROOT / 'examples' / 'onnx_colorize.py'
    run = ("import runpy, sys; sys.argv = sys.argv[1:]; code = 0\n"
           "try:\n    runpy.run_path(sys.argv[0], run_name='__main__')\nexcept SystemExit as e:\n    code = e.code\n"
           "bad = [m for m in ('torch', 'deoldify_like', 'render', 'fastai') if m in sys.modules]\n"
           "sys.exit(f'imported {bad}' if bad else code)")
    r = subprocess.run([sys.executable, '-c', run, str(script), str(onnx_path), *map(str, photos), '--out', str(tmp_path / 'port')],
                       capture_output=True, text=True, cwd=tmp_path, env={'PATH': '/usr/bin:/bin'})
    assert r.returncode == 0, r.stderr[-2000:]
    col = Colorizer.from_file(model_file, RF, device='cpu', precision='fp32', engine='torch')
    for f in photos:
        ours = render_photo(col, f, tmp_path / 'render' / f.name)
        a, b = load_image(tmp_path / 'port' / f.name).rgb, load_image(ours).rgb
        de = ciede2000_lab(rgb_to_lab(a), rgb_to_lab(b))
        assert de < 1.0, (f.name, de)


def test_import_render_leaves_engines_unimported(subprocess_env):
    code = ("import sys, deoldify_like.inference, render.photos, render.gif, render.export; "
            "bad = [m for m in ('onnxruntime', 'openvino', 'onnx', 'av') if m in sys.modules]; sys.exit(str(bad) if bad else 0)")
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=subprocess_env)
    assert r.returncode == 0, r.stderr[-2000:]


def test_render_command_with_engine_auto(model_file, photos, tmp_path, engine_cache):
    "`render --engine auto` runs whatever this device's measurements pick, with torch's colours."
    from render.cli import render
    assert render([str(photos[0])], model=str(model_file), out=str(tmp_path / 'auto'), render_factor=RF, engine='auto') == 0
    assert render([str(photos[0])], model=str(model_file), out=str(tmp_path / 'torch'), render_factor=RF, engine='torch',
                  precision='fp32') == 0
    a, b = (load_image(tmp_path / d / photos[0].name).rgb for d in ('auto', 'torch'))
    assert ciede2000_lab(rgb_to_lab(a), rgb_to_lab(b)) < 1.0


def test_precision_auto_fits_the_engine(model_file):
    pytest.importorskip('onnxruntime')
    col = Colorizer.from_file(model_file, RF, device='cpu', engine='onnxruntime')  # precision auto
    assert col.precision == 'fp32' and col.engine.name == 'onnxruntime'
    with pytest.raises(ValueError, match='onnxruntime runs fp32'):
        Colorizer.from_file(model_file, RF, device='cpu', engine='onnxruntime', precision='bf16')
