"""Colour from a reference (deoldify_like.reference_colour): carried through its shot, the fallback's colour
after the cut, any reference size, one-line errors. Small real frames (DAVIS clips at 142x80)."""
import cv2
import numpy as np
import pytest

from deoldify_like.colour import recombine_luminance, rgb_to_gray
from deoldify_like import colour_match
from deoldify_like.colour_match import encoder_features, match_chroma, transfer_colour
from deoldify_like.edge_aware import normalized_fill, recursive_filter
from deoldify_like.errors import BadInputError, SettingsError
from deoldify_like.generator import build_generator
from deoldify_like.metrics import psnr
from deoldify_like.reference_colour import (ChromaCarrier, Reference, colorize_with_references, keyframe_from_name,
                                            load_reference, scan_film)
from deoldify_like.video import iter_frames

SIZE = (142, 80)
FRAMES = 8


def _clip(shared_data, name):
    frames = []
    for i, rgb in iter_frames(shared_data / 'video' / 'davis' / f'davis_{name}.mp4'):
        if i >= FRAMES:
            break
        frames.append(cv2.resize(rgb, SIZE, interpolation=cv2.INTER_AREA))
    return frames


@pytest.fixture(scope='module')
def spliced(shared_data):
    "Two clips one after the other: a cut at frame 8."
    return _clip(shared_data, 'car-shadow') + _clip(shared_data, 'goat')


def _tinted(luma):
    "A stand-in for the model: every frame a flat blue-ish tint, far from both clips' colours."
    rgb = np.repeat(luma[..., None], 3, -1).astype(np.int16)
    rgb[..., 2] += 40
    rgb[..., 0] -= 20
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _render(frames, refs):
    lumas = [rgb_to_gray(f) for f in frames]
    return lumas, list(colorize_with_references(lambda: iter(lumas), refs, _tinted))


def test_spliced_film_keeps_reference_in_its_shot_and_fallback_from_the_cut(spliced):
    lumas, out = _render(spliced, [Reference(spliced[0], 0)])
    assert len(out) == len(spliced) and scan_film(iter(lumas), []).shot_starts == [0, FRAMES]
    for t in range(1, FRAMES):  # the reference's colours, far closer to the truth than the fallback's
        fallback = recombine_luminance(lumas[t], _tinted(lumas[t]))
        assert psnr(out[t], spliced[t]) > psnr(fallback, spliced[t]) + 8
    for t in range(FRAMES, 2 * FRAMES):  # exactly the fallback's colours from the cut on
        np.testing.assert_array_equal(out[t], recombine_luminance(lumas[t], _tinted(lumas[t])))
    for t in range(len(out)):  # the film's own luminance (up to the 8-bit round trip and gamut clipping)
        assert np.abs(rgb_to_gray(out[t]).astype(int) - lumas[t]).mean() < 1.0


def test_keyframe_in_the_middle_carries_backward_too_and_is_found_without_a_number(spliced):
    lumas, out = _render(spliced, [Reference(spliced[4], None)])
    assert scan_film(iter(lumas), [Reference(spliced[4], None)]).keyframes == [4]
    for t in range(FRAMES):
        assert psnr(out[t], spliced[t]) > psnr(recombine_luminance(lumas[t], _tinted(lumas[t])), spliced[t]) + 8
    np.testing.assert_array_equal(out[FRAMES], recombine_luminance(lumas[FRAMES], _tinted(lumas[FRAMES])))


def test_each_direction_is_carried_by_the_carrier_class_given(spliced):
    "The hook benchmarks/reference_ceiling.py uses: both directions from a keyframe in mid-shot, up to the cut."
    lumas = [rgb_to_gray(f) for f in spliced]
    made = []

    class Recording(ChromaCarrier):
        def __init__(self, settings):
            super().__init__(settings)
            made.append(self)

    ref = [Reference(spliced[4], 4)]
    out = list(colorize_with_references(lambda: iter(lumas), ref, _tinted, carrier_class=Recording))
    assert sorted(c.steps for c in made) == [3, 4]  # forward to frame 7 (the cut at 8), backward to frame 0
    np.testing.assert_array_equal(np.stack(out), np.stack(list(colorize_with_references(lambda: iter(lumas), ref,
                                                                                       _tinted))))


@pytest.mark.parametrize('size', [(284, 160), (100, 100)], ids=['larger', 'square'])
def test_reference_of_another_size_or_aspect_is_accepted(spliced, size):
    ref = cv2.resize(spliced[0], size, interpolation=cv2.INTER_AREA)
    lumas, out = _render(spliced, [Reference(ref, 0)])
    assert all(o.shape == (SIZE[1], SIZE[0], 3) for o in out)
    fallback = recombine_luminance(lumas[2], _tinted(lumas[2]))
    margin = 8 if size == (284, 160) else 2  # the exact frame, or a match by features
    assert psnr(out[2], spliced[2]) > psnr(fallback, spliced[2]) + margin


def test_unreadable_or_colourless_reference_is_one_line_error(tmp_path, spliced):
    bad = tmp_path / 'ref_f3.png'
    bad.write_bytes(b'not a picture at all')
    with pytest.raises(BadInputError) as e:
        load_reference(bad)
    assert 'ref_f3.png' in str(e.value) and '\n' not in str(e.value)
    gray = tmp_path / 'gray.png'
    cv2.imwrite(str(gray), rgb_to_gray(spliced[0]))
    with pytest.raises(BadInputError, match='no colour'):
        load_reference(gray)
    lumas = [rgb_to_gray(f) for f in spliced]
    with pytest.raises(SettingsError, match='past'):
        next(colorize_with_references(lambda: iter(lumas), [Reference(spliced[0], 99)]))
    assert sorted(tmp_path.iterdir()) == sorted([bad, gray])  # nothing written beside them


def test_keyframe_from_name_and_load(tmp_path, spliced):
    assert keyframe_from_name('shot2_f120.png') == 120 and keyframe_from_name('frame7.jpg') == 7
    assert keyframe_from_name('street_4.5s.png', fps=24) == 108 and keyframe_from_name('photo2.jpg') is None
    path = tmp_path / 'frame5.png'
    cv2.imwrite(str(path), cv2.cvtColor(spliced[5], cv2.COLOR_RGB2BGR))
    ref = load_reference(path)
    assert ref.frame == 5 and ref.rgb.shape == spliced[5].shape
    assert load_reference(path, frame=2).frame == 2


def test_photo_colour_from_a_similar_photo(spliced):
    "Frame 6 coloured from frame 0 of the same shot by feature matching: far nearer the truth than the fallback."
    luma = rgb_to_gray(spliced[6])
    out = transfer_colour(luma, spliced[0], _tinted(luma))
    assert out.shape == spliced[6].shape
    assert psnr(out, spliced[6]) > psnr(recombine_luminance(luma, _tinted(luma)), spliced[6]) + 5


def test_encoder_features_match_a_photo(spliced):
    "The generator's encoder as the feature extractor: a feature grid, and a transfer that runs on it."
    features = encoder_features(build_generator(pretrained=False).eval())
    luma = rgb_to_gray(spliced[6])
    grid = features(luma, 16)
    assert grid.ndim == 3 and max(grid.shape[:2]) == 16 and np.isfinite(grid).all()
    out = transfer_colour(luma, spliced[0], _tinted(luma), features, side=16)
    assert out.shape == spliced[6].shape


def test_normalized_fill_keeps_to_its_luminance_region():
    "A hole takes the confident colour around it of its own luminance, not the colour across a strong edge."
    guide = np.full((40, 60), 0.2, np.float32)
    guide[:, 30:] = 0.8  # a strong luminance edge down the middle
    values = np.zeros((40, 60, 2), np.float32)
    values[:, :30], values[:, 30:] = (0.3, -0.1), (-0.2, 0.2)
    conf = np.ones((40, 60), np.float32)
    conf[10:30, 5:29] = 0  # a hole in the left region, reaching one pixel from the edge
    conf[:, 31:50] = 0  # right: only the far strip is known, the pixels beside the edge are not
    values[conf == 0] = (5.0, 5.0)  # whatever stood there must not come through
    filled, support = normalized_fill(guide, values, conf, sigma_s=30, sigma_r=0.08)
    np.testing.assert_allclose(filled[10:30, 5:29], np.broadcast_to((0.3, -0.1), (20, 24, 2)), atol=0.01)
    np.testing.assert_allclose(filled[:, 31:50], np.broadcast_to((-0.2, 0.2), (40, 19, 2)), atol=0.01)
    assert support[20, 20] > 0.2 and support.max() <= 1 + 1e-5
    flat = recursive_filter(np.zeros((40, 60), np.float32), values[..., 0] * conf, sigma_s=30)
    assert flat[20, 40] > 0.01  # without an edge the same filter does spread colour across the middle


@pytest.mark.parametrize('side', [48, 128])  # cells of 3 pixels, and of about 1 (the filter reaches 4 cells)
def test_match_made_only_where_wanted_is_the_full_match_there(spliced, monkeypatch, side):
    """The occlusion match with a mask of the pixels it is for: within the mask exactly the full match, in
    chunks of any size (one cell at a time included); far outside it nothing is matched."""
    gray, key = rgb_to_gray(spliced[6]), rgb_to_gray(spliced[0])
    chroma = cv2.cvtColor(spliced[0], cv2.COLOR_RGB2YUV)[..., 1:].astype(np.float32) / 255.0 - 0.5
    where = np.zeros(gray.shape, bool)
    where[30:45, 60:90] = True
    full, full_conf = match_chroma(gray, key, chroma, side=side)
    monkeypatch.setattr(colour_match, 'MATCH_CHUNK', 1)
    part, part_conf = match_chroma(gray, key, chroma, side=side, where=where)
    np.testing.assert_allclose(part[where], full[where], atol=1e-5)
    np.testing.assert_allclose(part_conf[where], full_conf[where], atol=1e-5)
    assert full_conf[:10, :20].max() > 0 and part_conf[:10, :20].max() == 0 and np.abs(part[:10, :20]).max() == 0
