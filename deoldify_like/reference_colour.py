"""Colour from a reference: a colour picture attached to a keyframe, carried along the motion through its shot.

The user colours one frame per shot in any editor (or gives a colour photo of the scene). Its chroma is
carried frame to frame, forward and backward from the keyframe up to the shot's cuts, along OpenCV DIS
optical flow on the film's own luminance. Each direction keeps, at the working resolution (longer side
`work_side`), a carried chroma S and a confidence A (0..1) of the reference in it:

    q      = forward-backward check (metrics.consistent_matches) × soft photometric check, smoothed
    T      = W + m · (M_t − W),           W = warp(S_{t-1})
    T     += f · (F − T),                 (F, n) = normalized_fill(luma, W, q · warp(A_{t-1})),
                                          f = (1 − m) · min(1, n / fill_support)
    S_t    = W + (1 − q) · (T − W)
    A_t    = decay · (q · warp(A_{t-1}) + (1 − q) · C),   C = m · A_key + (1 − m) · keep · warp(A_{t-1}), C += f · (1 − C)

where (M_t, m) is the chroma and confidence of a feature match of frame t against the keyframe
(colour_match.match_chroma, on a grid of `match_grid` = 128 cells along the longer side, made only around
the pixels where q < 1): where the flow fails (occlusion, a part coming back into view) the keyframe's
colour of the place that looks alike is taken instead; where that match is weak, the trusted carried colour
of the same luminance region nearby (edge_aware.normalized_fill: colour spreads about `fill_sigma` pixels
and hardly across a luminance edge), as far as there is such support n; where neither, the carried colour
is kept. A is smoothed by a guided filter on the luminance (no seams). The two
directions are joined by confidence (S = (A_f S_f + A_b S_b) / (A_f + A_b), A = 1 − (1 − A_f)(1 − A_b)),
and the frame's chroma is A · S + (1 − A) · the fallback's chroma (the generator's), upscaled; the
luminance is the film's own. Frames of a shot without a reference get exactly the fallback's colour
(`recombine_luminance`), from the cut on.

Streaming (`colorize_with_references`): the film is read two or three times through `open_lumas()`:
1. a scan: cuts (luma histograms, as the chroma stabiliser) and 32-pixel thumbnails to place references
   given without a frame number (the frame it resembles most, colour_match.resemblance);
2. only if a keyframe is not the first frame of its shot: the work-size grays of the `reach` frames before
   it are kept, the backward direction is run from the keyframe down, and its (S, A) kept per frame as
   float16 at the working resolution, then the grays dropped;
3. the output pass: the forward direction runs along, joined with the stored backward results.
Memory is bounded by `reach` (default 250) frames at the working resolution per keyframe that is not at its
shot's start (float16 S and A: 6 bytes a pixel, about 1.4 MB a frame at 640×360, at most 350 MB a keyframe;
all backward results are kept until the output pass reaches them), not by the film's length. A reference
is not carried past `reach` frames.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .colour import gray_to_rgb, rgb_to_gray, rgb_to_yuv, yuv_to_rgb
from .colour_match import TEMPERATURE, guided_filter, match_chroma, patch_features, resemblance
from .edge_aware import SIGMA_RANGE, SIGMA_SPACE, normalized_fill
from .errors import BadInputError, SettingsError
from .images import load_image
from .film_metrics import consistent_matches
from .stabilize import MIN_TRUSTED, PHOTO_TOLERANCE, dis_flow, is_cut, luma_histogram, work_size

REVISION = 3  # raised whenever the same references give another output: a render resumed across it starts again
REACH = 250  # frames a reference is carried at most, each way
DECAY = 1.0  # confidence kept per frame where the flow is trusted (1: only distrust lowers it)
KEEP_UNMATCHED = 1.0  # share of the confidence kept by a carried colour where flow and match both fail
TRUSTED_EPS = 1e-4  # trust above 1 - this is taken as full: the match is only made where the flow failed
FILL_SUPPORT = 0.5  # support (edge-aware mean of trusted confidence) from which the fill is taken fully
SAME_FRAME_NCC = 0.9  # a reference of the film's aspect that resembles its keyframe this well is that frame
WORK_SIDE = 640
FLOW_PRESET = 'fine'
FILL_GRID = 128  # the occlusion match's grid (longer side, cells): finer than a photo's match, whose default is 64
FILL_MATCH_DISTANCE = 0.0075  # ... and the feature distance at which its confidence reaches 0
_KEYFRAME_IN_NAME = re.compile(r'(?:^|[^a-z])(?:frame|f)[_-]?(\d+)$', re.IGNORECASE)
_TIME_IN_NAME = re.compile(r'(?:^|[^a-z0-9.])(?:t[_-]?)?(\d+(?:\.\d+)?)s$', re.IGNORECASE)


@dataclass
class Reference:
    "A colour picture (uint8 RGB, any size) for one keyframe; `frame` None: the frame it resembles most."
    rgb: np.ndarray
    frame: int | None = None
    name: str = 'reference'


def keyframe_from_name(path, fps=None):
    """The keyframe a reference's file name gives: `..._f120.png`, `frame120.png` (frame 120) or
    `..._4.5s.png` (second 4.5, needs `fps`); None when the name says nothing."""
    stem = Path(path).stem
    found = _KEYFRAME_IN_NAME.search(stem)
    if found:
        return int(found.group(1))
    found = _TIME_IN_NAME.search(stem)
    if found and fps:
        return round(float(found.group(1)) * float(fps))
    return None


def load_reference(path, frame=None, fps=None):
    """A `Reference` from an image file; the keyframe is `frame`, else the one in its name, else None.
    An unreadable file or a reference without colour is a `BadInputError` (one line)."""
    img = load_image(path)
    if img.is_gray:
        raise BadInputError(path, 'a reference must be a colour picture; this one has no colour')
    if frame is not None and int(frame) < 0:
        raise SettingsError(f'{path}: reference frame must be 0 or more, got {frame}')
    frame = int(frame) if frame is not None else keyframe_from_name(path, fps)
    return Reference(img.rgb, frame, Path(path).name)


def chroma_at(rgb, size):
    "The U, V planes of uint8 RGB at `size` (W, H), area-resized: a reference's chroma at the working size."
    return cv2.resize(rgb_to_yuv(rgb)[..., 1:], size, interpolation=cv2.INTER_AREA)


@dataclass
class Settings:
    "The knobs of the propagation (defaults chosen on 6 DAVIS clips: docs/reference_colour.md)."
    work_side: int = WORK_SIDE
    reach: int = REACH
    decay: float = DECAY
    keep_unmatched: float = KEEP_UNMATCHED
    photo_tolerance: float = PHOTO_TOLERANCE * 2
    flow_preset: str = FLOW_PRESET
    match_grid: int = FILL_GRID  # longer side of the matching grid of the occlusion fill, cells
    temperature: float = TEMPERATURE
    match_distance: float = FILL_MATCH_DISTANCE
    features: object = patch_features  # for matching a photo of the scene to its keyframe
    fill_features: object = patch_features  # for occlusion fill from the keyframe
    fill_sigma: float = SIGMA_SPACE  # reach of the edge-aware fill from trusted carried colour, pixels (0: none)
    fill_range: float = SIGMA_RANGE  # luminance difference (0..1) across which that fill hardly passes
    fill_support: float = FILL_SUPPORT


class ChromaCarrier:
    """One direction of the propagation from one keyframe: `start(gray, chroma, conf)` at the keyframe,
    then `step(gray)` for each next frame (forward or backward in time) -> (S, A) at the working size."""

    def __init__(self, settings):
        self.settings = settings
        self.dis = dis_flow(settings.flow_preset)
        self.prev = None

    def start(self, gray, chroma, conf):
        self.key_gray, self.key_chroma, self.key_conf = gray, chroma, conf
        self.prev, self.chroma, self.conf, self.steps = gray, chroma, conf, 0
        return chroma, conf

    @property
    def alive(self):
        return self.prev is not None and self.steps < self.settings.reach

    def stop(self):
        self.prev = None

    def step(self, gray):
        s = self.settings
        followed = self.follow(gray)
        if followed is None:  # the flow has lost the scene: the shot ends for this direction
            self.stop()
            return None
        trust, carried, conf = followed
        failed = trust < 1 - TRUSTED_EPS  # where the flow's colour is replaced, in part or whole
        trust = np.where(failed, trust, 1)[..., None]
        matched, match = self.match(gray, failed)
        match = match[..., None]
        key_conf = cv2.resize(self.key_conf, gray.shape[::-1])[..., None] if self.key_conf.ndim == 2 else 1.0
        target = carried + match * (matched - carried)  # what replaces the carried colour where the flow fails
        target_conf = match * key_conf + (1 - match) * s.keep_unmatched * conf
        if s.fill_sigma > 0:  # where the match is weak: the trusted carried colour of the same luminance region
            filled, support = self.fill(gray, carried, (trust * conf)[..., 0])
            fill = np.clip(support / s.fill_support, 0, 1)[..., None] * (1 - match)
            target += fill * (filled - target)
            target_conf += fill * (1 - target_conf)
        self.chroma = carried + (1 - trust) * (target - carried)
        conf = s.decay * (trust * conf + (1 - trust) * target_conf)
        self.conf = np.clip(guided_filter(gray.astype(np.float32) / 255.0, conf[..., 0]), 0, 1)
        self.prev, self.steps = gray, self.steps + 1
        return self.chroma, self.conf

    # The three sources of a step, separate so that benchmarks/reference_ceiling.py can put the truth in one
    def follow(self, gray):
        """The flow from the previous frame: its trust q (H, W) and the carried chroma and confidence warped to
        `gray` ((H, W, 2), (H, W, 1)), or None where too little of the frame has consistent flow."""
        consistent, mapx, mapy = consistent_matches(self.dis, gray, self.prev)
        if consistent.mean() < MIN_TRUSTED:
            return None
        prev_at = cv2.remap(self.prev, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        error = np.abs(gray.astype(np.float32) - prev_at.astype(np.float32))
        trust = consistent.astype(np.float32) * np.clip(2 - error / self.settings.photo_tolerance, 0, 1)
        carried = cv2.remap(self.chroma, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        conf = cv2.remap(self.conf, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)[..., None]
        return cv2.GaussianBlur(trust, (5, 5), 0), carried, conf

    def match(self, gray, failed):
        "The keyframe's colour of the place that looks alike, and its confidence (H, W), made where `failed`."
        s = self.settings
        return match_chroma(gray, self.key_gray, self.key_chroma, s.fill_features, temperature=s.temperature,
                            match_distance=s.match_distance, side=s.match_grid, where=failed)

    def fill(self, gray, carried, weight):
        "The carried colour spread within luminance regions from where it is trusted (`weight`), and its support."
        s = self.settings
        return normalized_fill(gray.astype(np.float32) / 255.0, carried, weight, s.fill_sigma, s.fill_range)


def keyframe_chroma(ref_rgb, key_gray, features=patch_features):
    """The reference's chroma and confidence at the keyframe's working size. A reference of the film's
    aspect that resembles the frame closely is that frame coloured: resized, confidence 1. Anything else
    (another aspect, a photo of the scene) is matched by features, confident only where the match is."""
    h, w = key_gray.shape
    rh, rw = ref_rgb.shape[:2]
    same_aspect = abs(rw / rh - w / h) < 0.01 * (w / h)
    ref_gray = rgb_to_gray(ref_rgb)
    if same_aspect and resemblance(ref_gray, key_gray) >= SAME_FRAME_NCC:
        return chroma_at(ref_rgb, (w, h)), np.ones((h, w), np.float32)
    return match_chroma(key_gray, ref_gray, rgb_to_yuv(ref_rgb)[..., 1:], features, out_size=(w, h))


def _join(a, b):
    "Two directions' (S, A) joined by confidence; either may be None."
    if a is None or b is None:
        return a if b is None else b
    (sa, ca), (sb, cb) = a, b
    total = np.maximum(ca + cb, 1e-6)[..., None]
    return (ca[..., None] * sa + cb[..., None] * sb) / total, 1 - (1 - ca) * (1 - cb)


def blend_frame(luma, fallback_rgb, carried):
    """The output frame: the film's luminance `luma` (uint8 (H, W), kept exactly), chroma A·S + (1−A)·the
    fallback's. `carried` None (no reference reaches this frame): exactly `recombine_luminance`."""
    h, w = luma.shape
    if fallback_rgb.shape[:2] != (h, w):
        fallback_rgb = cv2.resize(fallback_rgb, (w, h), interpolation=cv2.INTER_CUBIC)
    yuv = rgb_to_yuv(fallback_rgb)
    if carried is not None:
        chroma, conf = carried
        chroma = cv2.resize(chroma.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        conf = cv2.resize(conf.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        yuv[..., 1:] = conf * chroma + (1 - conf) * yuv[..., 1:]
    yuv[..., 0] = luma.astype(np.float32) / 255.0
    return yuv_to_rgb(yuv)


@dataclass
class Scan:
    "What the first read of a film gives: shot starts, frame count, working size and each reference's keyframe."
    shot_starts: list
    frames: int
    size: tuple
    keyframes: list

    def shot_of(self, frame):
        return max(s for s in self.shot_starts if s <= frame)


def scan_film(lumas, references, work_side=WORK_SIDE):
    "Cuts (luma histograms, as the chroma stabiliser) and each reference's keyframe (given, or the most alike)."
    starts, prev_hist, thumbs_best, count, size = [], None, {}, 0, None
    ref_grays = {i: rgb_to_gray(r.rgb) for i, r in enumerate(references) if r.frame is None}
    for n, luma in enumerate(lumas):
        if size is None:
            size = work_size(*luma.shape, work_side)
        gray = cv2.resize(luma, size, interpolation=cv2.INTER_AREA)
        hist = luma_histogram(gray)
        if prev_hist is None or is_cut(prev_hist, hist):
            starts.append(n)
        prev_hist = hist
        for i, ref_gray in ref_grays.items():
            score = resemblance(ref_gray, gray)
            if i not in thumbs_best or score > thumbs_best[i][1]:
                thumbs_best[i] = (n, score)
        count = n + 1
    if size is None:
        raise BadInputError('film', 'has no frames')
    keyframes = [r.frame if r.frame is not None else thumbs_best[i][0] for i, r in enumerate(references)]
    for r, k in zip(references, keyframes):
        if k >= count:
            raise SettingsError(f"{r.name}: keyframe {k} is past the film's last frame ({count - 1})")
    return Scan(starts, count, size, keyframes)


def _backward_results(open_lumas, scan, references, settings, carrier_class):
    "Pass 2: for each keyframe past its shot's start, the backward direction's (S, A) per frame (float16)."
    wanted = {}  # frame -> keyframes whose backward pass needs it
    for i, k in enumerate(scan.keyframes):
        first = max(scan.shot_of(k), k - settings.reach)
        if first < k:
            for f in range(first, k + 1):
                wanted.setdefault(f, []).append(i)
    if not wanted:
        return {}
    grays, results = {}, {}
    for n, luma in enumerate(open_lumas()):
        if n in wanted:
            grays[n] = cv2.resize(luma, scan.size, interpolation=cv2.INTER_AREA)
        for i, k in enumerate(scan.keyframes):
            if k == n and n in wanted:
                carrier = carrier_class(settings)
                carrier.start(grays[k], *keyframe_chroma(references[i].rgb, grays[k], settings.features))
                f = k - 1
                while f in grays and i in wanted.get(f, ()) and carrier.alive:
                    state = carrier.step(grays[f])
                    if state is None:
                        break
                    results.setdefault(f, []).append(_half(state))
                    f -= 1
        for f in [f for f in grays if all(scan.keyframes[i] <= n for i in wanted[f])]:
            del grays[f]  # every backward pass that needed it is done
    return results


def _half(state):
    return state[0].astype(np.float16), state[1].astype(np.float16)


def colorize_with_references(open_lumas, references, fallback=gray_to_rgb, settings=None, carrier_class=ChromaCarrier):
    """Yield the film's output frames (uint8 RGB) in order, each reference carried through its shot.

    `open_lumas()`: a new iterator over the film's uint8 luminance frames (H, W) each time it is called
    (it is called two or three times). `references`: a list of `Reference`. `fallback(luma)`: uint8 RGB of
    any size for a frame, e.g. the generator's prediction (`Colorizer.predict([luma])[0]`); called once for
    every frame, in order, during the last read only (so a stateful fallback, such as one that stabilises
    the generator's colour with `stabilize_rgb`, sees the film as a render does). The default, gray, is no
    colour at all. `carrier_class(settings)` makes each direction's carrier (a `ChromaCarrier` subclass in
    benchmarks/reference_ceiling.py). Raises `SettingsError` for a keyframe past the film's end.
    """
    settings = settings or Settings()
    scan = scan_film(open_lumas(), references, settings.work_side)
    backward = _backward_results(open_lumas, scan, references, settings, carrier_class)
    by_frame = {}
    for i, k in enumerate(scan.keyframes):
        by_frame.setdefault(k, []).append(i)
    carriers, shot_starts = [], set(scan.shot_starts)
    for n, luma in enumerate(open_lumas()):
        gray = cv2.resize(luma, scan.size, interpolation=cv2.INTER_AREA)
        if n in shot_starts:
            carriers = []
        states = []
        for c in carriers:
            state = c.step(gray) if c.alive else None
            if state is not None:
                states.append(state)
        carriers = [c for c in carriers if c.alive]
        for i in by_frame.get(n, []):
            c = carrier_class(settings)
            states.append(c.start(gray, *keyframe_chroma(references[i].rgb, gray, settings.features)))
            carriers.append(c)
        states += [(s.astype(np.float32), a.astype(np.float32)) for s, a in backward.pop(n, [])]
        joined = None
        for state in states:
            joined = _join(joined, state)
        yield blend_frame(luma, np.asarray(fallback(luma)), joined)
