import numpy as np
import pytest
from PIL import Image

from deoldify_like.errors import BadInputError
from deoldify_like.images import atomic_path, load_image, save_image


def _save(img, path, **kw):
    img.save(path, **kw)
    return path


@pytest.fixture
def rgb_pil(colour_image):
    return Image.fromarray(colour_image)


@pytest.mark.parametrize('mode', ['L', 'LA', 'P', 'RGB', 'RGBA', 'CMYK', '1', 'I;16'])
def test_modes_load_as_rgb_uint8(tmp_path, rgb_pil, mode):
    if mode == 'I;16':
        arr = (np.asarray(rgb_pil.convert('L'), np.uint16) * 257)
        img = Image.fromarray(arr.astype('<u2'))
        assert img.mode == 'I;16'
        suffix = '.png'
    else:
        img = rgb_pil.convert(mode)
        suffix = '.tif' if mode == 'CMYK' else '.png'
    path = _save(img, tmp_path / f'x{suffix}')
    loaded = load_image(path)
    assert loaded.rgb.dtype == np.uint8 and loaded.rgb.shape == (48, 64, 3)
    assert loaded.luma.shape == (48, 64)
    if mode in ('L', 'LA', '1', 'I;16'):
        assert loaded.is_gray
    if mode == 'I;16':  # 16-bit scaled down, not clipped
        np.testing.assert_allclose(loaded.luma.astype(int), np.asarray(rgb_pil.convert('L')).astype(int), atol=1)
    if mode in ('RGB', 'RGBA', 'CMYK', 'P'):
        assert not loaded.is_gray


def test_alpha_is_composited_on_white(tmp_path):
    img = Image.new('RGBA', (16, 16), (255, 0, 0, 0))
    loaded = load_image(_save(img, tmp_path / 'clear.png'))
    assert loaded.rgb.min() == 255


def test_exif_rotation_is_applied(tmp_path, rgb_pil):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = _save(rgb_pil, tmp_path / 'rot.jpg', exif=exif)
    assert load_image(path).rgb.shape == (64, 48, 3)


def test_sixteen_bit_colour_png_via_opencv(tmp_path, colour_image):
    import cv2
    arr16 = colour_image[..., ::-1].astype(np.uint16) * 257
    path = tmp_path / 'deep.png'
    cv2.imwrite(str(path), arr16)
    loaded = load_image(path)
    assert np.abs(loaded.rgb.astype(int) - colour_image).max() <= 1


@pytest.mark.parametrize('make,problem', [
    (lambda p: p.write_bytes(b''), 'empty file'),
    (lambda p: p.write_text('this is not a picture'), 'not an image'),
    (lambda p: Image.new('RGB', (1, 1)).save(p, format='PNG'), 'too small'),
])
def test_bad_files_get_one_line_naming_the_file(tmp_path, make, problem):
    path = tmp_path / 'bad.jpg'
    make(path)
    with pytest.raises(BadInputError) as e:
        load_image(path)
    msg = str(e.value)
    assert str(path) in msg and problem in msg and '\n' not in msg


def test_truncated_jpeg(tmp_path, rgb_pil):
    good = _save(rgb_pil.resize((256, 256)), tmp_path / 'good.jpg', quality=95)
    bad = tmp_path / 'cut.jpg'
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    with pytest.raises(BadInputError, match='truncated'):
        load_image(bad)


def test_real_photos_load(shared_data):
    for path in sorted((shared_data / 'historic_bw').iterdir())[:6]:
        loaded = load_image(path)
        assert loaded.rgb.ndim == 3 and loaded.rgb.dtype == np.uint8
    colour = load_image(next((shared_data / 'photos' / 'bsds500_val').glob('*.jpg')))
    assert not colour.is_gray


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    dest = tmp_path / 'out.png'
    dest.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with atomic_path(dest) as tmp:
            tmp.write_bytes(b'half')
            raise RuntimeError('crash')
    assert dest.read_bytes() == b'old' and list(tmp_path.iterdir()) == [dest]


def test_save_image_round_trip(tmp_path, colour_image):
    path = save_image(colour_image, tmp_path / 'sub' / 'o.png')
    assert np.array_equal(np.asarray(Image.open(path)), colour_image)


def test_outputs_get_usual_permissions(tmp_path, colour_image):
    import os
    import stat
    umask = os.umask(0o022)
    os.umask(umask)
    mode = stat.S_IMODE(save_image(colour_image, tmp_path / 'p.png').stat().st_mode)
    assert mode == 0o666 & ~umask
