"""Brightness deflicker: old film's frame-to-frame changes of exposure removed, real changes kept.

Old film flickers in brightness: uneven exposure and development scale each frame's luminance by a gain,
over the whole frame and in slowly varying regions. `BrightnessDeflicker` is fed the luminance planes of a
film in order and gives them back, `window` frames later, with that flicker divided out:

1. Along the motion: for each pair of frames t−1, t, OpenCV DIS flow (which normalises patch means, so a
   change of exposure does not derail it) matches frame t's pixels in t−1; over the pixels that pass the
   forward–backward check (`film_metrics.checked_flow`) and are neither dark nor clipped in either frame, the log
   ratio log Y_t − log Y_{t−1}(x + B(x)) is fitted by a smooth field: a polynomial of degree `degree` in x,
   y (degree 2: 6 terms; 0: one global gain), with one robust refit that drops outliers (something that
   really changed: a lamp, a passing shadow). A surface that moves into shade is matched to itself, so a
   pan into shade gives no change here, and is kept.
   With the fit, the camera's motion from t to t−1: an affine map fitted to the same flow
   (`exposure_field.camera_motion`; a shift alone where the flow matched a patch).
2. Within a shot, the pairs add up along the motion (`exposure_field.flicker_correction`): each frame's field
   relative to frame t, read where frame t's content was in that frame, after the part fixed to the frame (a
   vignette, which a moving camera shows as a change along the motion; ridge `ridge`) is taken out.
3. The flicker is what does not persist: those fields against their trend over `window` frames on both sides
   (`lookahead.local_trend`: a Gaussian-weighted straight line, σ = `sigma`, window / 3 by default, so ramps
   such as a fade or an explosion's slow decay are kept). Frame t is multiplied by exp(trend − its own).
   Where the frame-mean log exposure bends significantly within the window (its parabola's curvature ≥ `bend_z`
   standard errors, fully from `bend_z` + 2; `lookahead.bend_kept_trend`), the trend follows the parabola:
   a change that comes and goes (a ride through shade, a cloud) is kept whole instead of being cut short at
   its top; not within σ frames of a shot's end, where a parabola extrapolates. The disturbance's noise hardly
   ever makes such a bend (wave 8, docs/deflicker.md).
   Cut at 3σ, a frame entering the window hardly moves the trend; cut at 2σ (σ 12, until wave 5), even the
   exact field of the bench's disturbance left the still `slow_traffic_small.mp4` at 1.25× its own
   flicker figure, and the wider trend took more of a film's real changes of light.

A cut (luminance histograms, normalised to the frame's mean so that flicker alone does not look like a
cut, or fewer than `min_trusted` of the pixels matched by the flow) starts a new shot; so does a change of the global gain of
more than `step` (log; 0.45 ≈ ×1.57) between two frames: a light switched on, a flash. Frames on either
side of such a break are never smoothed together, so the break is kept as it was.

Streaming: frames come out `window` frames after they go in (or when their shot ends); `flush()` gives the
rest. `state()` / `load_state()` hold everything (the pending frames, the pair fields and motions of the last
2·window + 1 frames), for a resumed render.
"""
from collections import deque

import cv2
import numpy as np

from .exposure_field import FieldAlgebra, basis as _field_basis, camera_motion, flicker_correction
from .lookahead import pack, unpack
from .film_metrics import checked_flow
from .stabilize import CUT_DISTANCE, MIN_TRUSTED, dis_flow, is_cut, luma_histogram, work_size

WINDOW = 24  # frames each side; the trend's σ is a third of it
WORK_SIDE = 320  # longer side of the working resolution: the gain field is smooth
DEGREE = 2
STEP = 0.45  # log gain between two frames above which the change is taken as real (a new light, a flash)
FULL_SHARE = 0.5  # share of the frame the flow must match for the full polynomial (else a tilt at most)
DARK, BRIGHT = 16, 240  # levels: pixels outside this range in either frame say nothing about the gain
BEND_Z = 3.0  # standard errors of the exposure's curvature from which the trend starts to follow a bend
RIDGE = 1e-2  # per pair, on the field fixed to the frame (`exposure_field.static_field`; wave 9's choice)


def check_window(window, enabled=True, flag='window', needs='the deflicker'):
    """A deflicker window (frames each side) as given by `flag`: 1 or more, and only with the deflicker on
    (`enabled`, by the flag `needs`); else a one-line ValueError naming the flags. None: the default."""
    if window is None:
        return
    if not enabled:
        raise ValueError(f'{flag} sets the brightness deflicker: give {needs} too')
    if int(window) < 1:
        raise ValueError(f'{flag} {window}: give a number of frames of 1 or more')


def _normalised_histogram(gray):
    "32-bin histogram of the frame scaled to a mean of 128: a global gain leaves it (nearly) as it is."
    g = gray.astype(np.float32) * (128.0 / max(float(gray.mean()), 1.0))
    return luma_histogram(np.clip(g, 0, 255).astype(np.uint8))


class BrightnessDeflicker:
    """Streaming brightness deflicker; `push(luma)` (uint8 (H, W), in order) returns the frames now finished,
    `flush()` the rest, each uint8 of its input's shape. `cuts`: the frames that started a shot;
    `events`: those that started one at a real change of brightness (`step`)."""
    REVISION = 9  # raised whenever the same settings give another output: a render resumed across it starts again

    def __init__(self, window=WINDOW, work_side=WORK_SIDE, degree=DEGREE, step=STEP, preset='fast',
                 cut_distance=CUT_DISTANCE, min_trusted=MIN_TRUSTED, full_share=FULL_SHARE, sigma=None, bend_z=BEND_Z,
                 ridge=RIDGE):
        window = WINDOW if window is None else window
        check_window(window)
        self.window, self.work_side, self.degree, self.step = int(window), int(work_side), int(degree), float(step)
        self.cut_distance, self.min_trusted, self.preset = cut_distance, min_trusted, preset
        self.full_share = float(full_share)
        self.sigma = float(sigma) if sigma else self.window / 3
        self.bend_z = None if bend_z is None else float(bend_z)  # None: the straight line only
        self.ridge, self.algebra = float(ridge), FieldAlgebra(self.degree)
        self.dis = dis_flow(preset)
        self.frames, self.cuts, self.events, self._bases = 0, [], [], {}
        self.pending = deque()  # frames waiting to go out: dict(index, luma)
        self.logs = deque()  # the last 2·window + 1 frames: dict(index, shot, pair field, motion to the one before)
        self.prev_gray = self.prev_hist = None
        self.shot = -1

    def _basis(self, h, w):
        if (h, w) not in self._bases:
            self._bases[h, w] = _field_basis(h, w, self.degree)
        return self._bases[h, w]

    def _pair_gains(self, g0, g1):
        """The log gain field from frame t−1 (g0) to t (g1) as polynomial coefficients and the camera's motion
        from t to t−1 (`exposure_field.camera_motion`), or None where the flow
        matches too little (fewer than `min_trusted` of the pixels): then frame t starts a new shot. (Taking the
        ratio of the frame means there instead, as FFmpeg's filter does, measured worse: new content is not a
        change of exposure.) Two passes: the flow of the second is computed with g0 brought to g1's exposure
        by the first pass's field. DIS normalises each patch's mean but not its contrast, so a change of
        exposure alone bends its flow (on the still `slow_traffic_small.mp4`, disturbed: a median of 0.4–0.6
        pixels of motion, 2.9 where the check fails) and each pair's gain comes out with an error of its own;
        on exposure-matched frames the flow is the motion's (docs/deflicker.md, wave 6)."""
        first = self._fit(g0, g1, g0, with_motion=False)
        if first is None:
            return None
        g0_exposed = np.clip(np.rint(g0 * np.exp(np.tensordot(first[0], self._basis(*g0.shape), 1))), 0, 255)
        return self._fit(g0, g1, g0_exposed.astype(np.uint8))

    def _fit(self, g0, g1, g0_for_flow, with_motion=True):
        """One pass of `_pair_gains`, its flow computed between `g0_for_flow` and g1: (coefficients, the camera
        motion if `with_motion`) or None."""
        fwd, bwd = self.dis.calc(g1, g0_for_flow, None), self.dis.calc(g0_for_flow, g1, None)
        mask, mapx, mapy = checked_flow(fwd, bwd)
        matched = float(mask.mean())
        if matched < self.min_trusted:
            return None
        motion = camera_motion(mask, mapx, mapy, shift_only=matched < self.full_share) if with_motion else None
        g0_at = cv2.remap(g0, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask &= (g1 > DARK) & (g1 < BRIGHT) & (g0_at > DARK) & (g0_at < BRIGHT)
        if mask.sum() < 16:
            return None
        d = np.log(g1[mask].astype(np.float64)) - np.log(g0_at[mask].astype(np.float64))
        basis = self._basis(*g1.shape)
        terms = len(basis) if matched >= self.full_share else min(len(basis), 3)  # a patch: a tilt at most
        a = basis[:terms, mask].T.astype(np.float64)
        coef = np.linalg.lstsq(a, d, rcond=None)[0]
        r = d - a @ coef
        keep = np.abs(r) <= max(3 * 1.4826 * float(np.median(np.abs(r))), 0.02)
        if keep.sum() >= a.shape[1] * 4:
            coef = np.linalg.lstsq(a[keep], d[keep], rcond=None)[0]
        return np.concatenate([coef, np.zeros(len(basis) - terms)]), motion

    def push(self, luma):
        luma = np.asarray(luma)
        if luma.ndim != 2 or luma.dtype != np.uint8:
            raise ValueError(f'expected a uint8 luminance plane (H, W), got {luma.dtype} {luma.shape}')
        size = work_size(*luma.shape, self.work_side)
        gray = cv2.resize(luma, size, interpolation=cv2.INTER_AREA) if luma.shape[::-1] != size else luma
        gray = np.ascontiguousarray(gray)
        hist = _normalised_histogram(gray)
        fitted = None
        if self.prev_gray is not None and self.prev_gray.shape == gray.shape and \
                not is_cut(self.prev_hist, hist, self.cut_distance):
            fitted = self._pair_gains(self.prev_gray, gray)
            if fitted is not None and abs(fitted[0][0]) > self.step:
                self.events.append(self.frames)
                fitted = None
        if fitted is None:
            self.cuts.append(self.frames)
            self.shot += 1
            fitted = np.zeros(len(self._basis(2, 2))), np.eye(3)
        self.logs.append(dict(index=self.frames, shot=self.shot, pair=fitted[0], motion=fitted[1]))
        while len(self.logs) > 2 * self.window + 1:
            self.logs.popleft()
        self.pending.append(dict(index=self.frames, luma=luma))
        self.frames += 1
        self.prev_gray, self.prev_hist = gray, hist
        done = []
        while self.pending and (len(self.pending) > self.window or self.logs[-1]['shot'] != self._log(
                self.pending[0]['index'])['shot']):
            done.append(self._finish(self.pending.popleft()))
        return done

    def flush(self):
        "The frames still held, finished with the frames there are."
        done = [self._finish(p) for p in self.pending]
        self.pending.clear()
        return done

    def _log(self, index):
        return self.logs[index - self.logs[0]['index']]

    def _finish(self, item):
        me = self._log(item['index'])
        near = [g for g in self.logs if g['shot'] == me['shot'] and abs(g['index'] - me['index']) <= self.window]
        if len(near) < 2:
            return item['luma']
        field = flicker_correction([g['index'] for g in near], [g['pair'] for g in near], [g['motion'] for g in near],
                                   me['index'], self.algebra, self.sigma, self.bend_z, self.ridge)
        correction = np.tensordot(field, self._basis(*item['luma'].shape), 1)
        return np.clip(np.rint(item['luma'] * np.exp(correction)), 0, 255).astype(np.uint8)

    # -- state at a segment boundary (resumable renders)
    def state(self):
        if self.prev_gray is None:
            return {}
        return dict(prev_gray=self.prev_gray, prev_hist=self.prev_hist,
                    counters=np.array([self.frames, self.shot]), cuts=np.array(self.cuts, np.int64),
                    events=np.array(self.events, np.int64), **pack('log', self.logs), **pack('pending', self.pending))

    def load_state(self, state):
        self.__init__(self.window, self.work_side, self.degree, self.step, self.preset, cut_distance=self.cut_distance,
                      min_trusted=self.min_trusted, full_share=self.full_share, sigma=self.sigma, bend_z=self.bend_z,
                      ridge=self.ridge)
        if not state:
            return
        self.prev_gray, self.prev_hist = np.asarray(state['prev_gray'], np.uint8), np.asarray(state['prev_hist'], np.float32)
        self.frames, self.shot = (int(x) for x in state['counters'])
        self.cuts, self.events = [int(x) for x in state['cuts']], [int(x) for x in state['events']]
        self.logs = deque(dict(index=int(g['index']), shot=int(g['shot']), pair=g['pair'], motion=g['motion'])
                          for g in unpack('log', state))
        self.pending = deque(dict(index=int(p['index']), luma=p['luma']) for p in unpack('pending', state))


def deflicker_brightness(lumas, **options):
    "Every luminance plane of `lumas` (an iterable, in order) deflickered: a generator, streamed."
    bd = BrightnessDeflicker(**options)
    for luma in lumas:
        yield from bd.push(luma)
    yield from bd.flush()
