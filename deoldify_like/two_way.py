"""Two-way chroma stabiliser: a frame's colour from the frames before it AND after it, along the motion.

`stabilize.ChromaStabilizer` looks only back, so a frame's colour is a lagging memory of the past, and a
shot's first frames keep their own flicker. `TwoWayStabilizer` is offline (a film on disk, or a render whose
output may wait a few frames): it holds max(`window`, `trend`) frames ahead and gives frame t out when
frame t + max(window, trend) has come in (or its shot has ended). Luminance is never touched: chroma in, chroma out.

For each pair of frames (t−1, t), one pair of OpenCV DIS flows on the luminance gives both directions, each
with its per-pixel trust τ (0..1): the forward–backward check (`film_metrics.checked_flow`), times a photometric
check (warped luminance within `photo_tolerance` levels: full trust, none from twice that), times a motion
term 1 / (1 + (|flow| / (motion · side))²) (fast motion and its blur make the match and the colour less
certain). Then:

1. Global: the similarity of the (U, V) plane z -> a z + b (a complex: a hue turn and a saturation scale;
   spreads matched, not a least-squares slope) that takes frame t−1's chroma, warped, to frame t's over the
   trusted pixels. Chained within a shot, M_t maps the shot's first frame's colours to frame t's;
   c̃_t = M_t⁻¹(c_t) is every frame in one common colour frame. The trend M̄_t of M (log a and b, their
   Gaussian-weighted mean over R frames each side, σ = R / 2, `lookahead.local_trend`; a straight line
   instead would extrapolate the noise at a shot's ends) is the colour the shot really has at t: slow
   changes of light kept, a frame's own turn removed, even where nothing is tracked. The reach R follows
   the motion (`_reach`): `trend` frames on a still shot, where averaging more frames is what steadies it,
   back towards `window` as the shot moves and its colour really changes with its content.
2. Per pixel: weighted sums carried along the flow, forward over the whole shot and backward over the
   window (on a still shot up to `still_window` frames, as the trend's reach but halving at `STILL_BACK`:
   wave 6, against the slow drift a still camera's colour kept), each term shrunk by `strength` · τ a frame:
   A_t = c̃_t + s τ warp(A_{t−1}), W_t = 1 + s τ warp(W_{t−1}) (and the same backward, from frame t + that
   reach). The frame's colour is (A_fwd + A_bwd − c̃_t) /
   (W_fwd + W_bwd − 1): a weighted mean over the frames that truly show this point, before and after it; a
   newly visible pixel takes its colour from the frames after it, an occluded one from those before. The
   sums are re-warped every frame, bicubically (bilinear would blur them a little more each time).
3. A pixel seen in few other frames (weight of others below `FULL_SUPPORT`) takes, in that proportion, the
   correction of its well-seen neighbours instead of its own (a Gaussian of σ `fill` × the longer side,
   normalised by their support): flicker is smooth in space, so an occluded or fast-moving area is
   steadied with what is around it.
4. The correction's fine part (what a Gaussian of σ `DETAIL_SIGMA` pixels leaves out) is limited to ±`detail`
   levels (wave 7). Flicker is smooth in space (M takes out a frame's own turn; stains are wide), while a
   large fine correction is the flow's sub-pixel misregistration at colour edges blurring the frame's own
   detail; the small ones (quantisation, noise that differs frame to frame) are kept. Only in the fine layer:
   at the coarse layer's 48 pixels, 1.5 pixels is no fine detail. The result is
   M̄_t(the frame plus its correction); only the smooth correction is upscaled to a larger chroma plane.
5. The coarse layer (wave 5, `coarse`): on a fast pan the motion term lets little be carried, so each
   frame keeps most of its own blotches and turn. A second stabiliser of the same kind runs on the frames
   shrunk to `coarse` (48) pixels a side, where such a pan moves a few pixels a frame and is well matched,
   with a motion term 4× more lenient (`COARSE_MOTION`). Its correction below the scale of a 12-cell grid
   (`COARSE_SPLIT`; the disturbance's stains are 8–20 % of the side) replaces the fine one's there, in
   proportion m² / (m² + `COARSE_HALF`²), m the mean motion of the frames within `window` of t: nothing on a
   still shot (where the fine layer already averages long and the coarse one mixes a moving subject with its
   background), almost all on a fast pan. Fine detail is always the fine layer's. At 48 pixels the coarse
   layer's own global chain drifts (its mean and saturation wander off the input's over tens of frames), so
   its colour is first mapped to the fine layer's by the running mean (rate `COARSE_ALIGN`, about 4 frames;
   restarted at cuts) of the per-frame similarity between the two: the slow drift goes, the frame-to-frame
   corrections stay.

Cuts (luminance histograms, or too few pixels with consistent flow) end a shot: nothing is carried or
smoothed across them. Memory: max(`window`, `trend`, `still_window`) + 1 frames of working-resolution chroma, sums and flow maps plus
their full chroma (about 11 MB a frame at 640×360); the coarse layer adds the same for 48-pixel frames (a few
kB each) and the input chroma of the frames waiting for it. `state()` / `load_state()` hold all of it for a
resumed render.
"""
import cmath
import math
from collections import deque

import cv2
import numpy as np

from .lookahead import local_trend, pack, unpack
from .film_metrics import checked_flow
from .stabilize import (CUT_DISTANCE, MIN_TRUSTED, PHOTO_TOLERANCE, WORK_SIDE, dis_flow, is_cut, luma_histogram,
                        apply_similarity, check_strength, chroma_similarity, work_size)

STRENGTH = 0.96  # wave 5: with the coarse layer, 0.96 measured better than 0.97 on every clip (docs/deflicker.md)
WINDOW = 16  # frames ahead the per-pixel sums run over
TREND = 32  # frames each side the global trend may reach (a Gaussian of σ half the reach), on a still shot
STILL = 0.002  # mean motion (share of the longer side a frame) at which the trend's extra reach halves
STILL_BACK = 0.001  # the same for the backward sums' reach (`still_window`)
STILL_WINDOW = 32  # frames ahead the per-pixel sums may run over on a still shot (0: always `window`)
HEAVY = ('chroma', 'small', 'flat', 'acc', 'next_trust', 'next_mapx', 'next_mapy')
CARRY_INTERPOLATION = cv2.INTER_CUBIC  # the carried sums are warped again every frame: bilinear would blur them
FILL = 0.1  # σ of the filling of poorly seen pixels' correction from their neighbours', share of the longer side
FULL_SUPPORT = 2.0  # weight of other frames at which a pixel's own correction is used alone
DETAIL = 2.0  # U/V levels the correction's fine part may reach (0: no limit); wave 7, docs/deflicker.md
DETAIL_SIGMA = 1.5  # pixels of the working chroma plane: the Gaussian whose residue is the fine part
MOTION = 0.05  # share of the working frame's longer side a frame at which the motion term halves trust
COARSE = 48  # longer side of the coarse layer's working frame, pixels (0: no coarse layer)
COARSE_MOTION = 0.2  # the coarse layer's motion term: at 48 pixels a fast pan is a few pixels a frame, well matched
COARSE_SPLIT = 12  # longer side of the grid below which the coarse layer's correction replaces the fine one's
COARSE_HALF = 0.01  # mean motion (share of the longer side a frame) at which the coarse layer takes half
COARSE_ALIGN = 0.25  # rate of the running mean of the similarity from the coarse layer's colour to the fine one's


def _same_interpolation(chroma, mapx, mapy):
    """`chroma` through the interpolation a warp along (mapx, mapy) applies, without its displacement: each
    pixel moved by the fractional part of its own displacement only. A bilinear warp smooths the previous
    frame's fine chroma a little; the similarity fitted between that and the current frame as it is would
    find the spreads' ratio (the saturation scale) above 1 on every pair, and chained through a shot that
    compounds (×1.05 a frame on a model's smooth colour: ×80 over 90 frames, more than the trend can take
    back). Fitted against the current frame smoothed the same way, it is not biased."""
    h, w = chroma.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(chroma, gx + (mapx - gx) % 1, gy + (mapy - gy) % 1, cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def _coarse_part(correction):
    "The part of a correction (h, w, 2) below the scale of a `COARSE_SPLIT`-cell grid: shrunk to it, and back."
    h, w = correction.shape[:2]
    size = work_size(h, w, COARSE_SPLIT)
    if size == (w, h):
        return correction
    return cv2.resize(cv2.resize(correction, size, interpolation=cv2.INTER_AREA), (w, h), interpolation=cv2.INTER_LINEAR)


def _mean_motion(items):
    "The mean of the held frames' motion (share of the working frame's longer side a frame)."
    return float(np.mean([float(it['motion']) for it in items]))


def _similarity(warped_prev, chroma, trust, mapx, mapy):
    """`stabilize.chroma_similarity` from the warped previous frame to this one, its scale (the spreads'
    ratio) measured against this frame smoothed as the warp smoothed the previous one (`_same_interpolation`),
    its turn and shift against this frame as it is (aligned with the warped one)."""
    a, b = chroma_similarity(warped_prev, chroma, trust)
    scale = abs(chroma_similarity(warped_prev, _same_interpolation(chroma, mapx, mapy), trust)[0])
    if a == 1 or scale == 1:  # no fit: the identity (and the shift of the means)
        return a, b
    w = trust.reshape(-1).astype(np.float64)
    mean_prev = complex((w * warped_prev[..., 0].reshape(-1)).sum(), (w * warped_prev[..., 1].reshape(-1)).sum()) / w.sum()
    turned = a / abs(a) * scale
    return turned, b + (a - turned) * mean_prev  # b = mean_this − a · mean_prev


class TwoWayStabilizer:
    """Streaming two-way chroma stabiliser: `push(luma, chroma)` for each frame in order returns the list of
    frames now finished (float32 chroma of each input's shape, in order), `flush()` the rest.

    `luma` uint8 (H, W); `chroma` (h, w, 2) U and V centred on `centre` (128 for 8-bit planes; float
    YUV scaled to 0..255), at the luma's resolution or lower. `strength` 0 gives every frame's chroma back unchanged.
    """
    REVISION = 7  # raised whenever the same settings give another output: a render resumed across it starts again

    def __init__(self, strength=STRENGTH, window=WINDOW, work_side=WORK_SIDE, preset='fast', centre=128.0,
                 motion=MOTION, fill=FILL, photo_tolerance=PHOTO_TOLERANCE, cut_distance=CUT_DISTANCE, min_trusted=MIN_TRUSTED,
                 trend=TREND, coarse=COARSE, still_window=STILL_WINDOW, detail=DETAIL):
        self.strength = check_strength(strength)
        if int(window) < 1:
            raise ValueError(f'window must be at least 1 frame, got {window}')
        self.options = dict(strength=strength, window=window, work_side=work_side, preset=preset, centre=centre,
                            motion=motion, fill=fill, photo_tolerance=photo_tolerance, cut_distance=cut_distance,
                            min_trusted=min_trusted, trend=trend, coarse=coarse, still_window=still_window, detail=detail)
        if int(trend) < 1:
            raise ValueError(f'trend must be at least 1 frame, got {trend}')
        self.trend, self.still_window = int(trend), int(still_window or 0)
        self.latency = max(int(window), self.trend, self.still_window)  # frames a frame waits for those after it
        self.window, self.work_side, self.centre, self.motion = int(window), int(work_side), float(centre), motion
        self.fill, self.detail = fill, float(detail or 0)
        self.photo_tolerance, self.cut_distance, self.min_trusted = photo_tolerance, cut_distance, min_trusted
        self.dis = dis_flow(preset)
        self.frames, self.shot, self.cuts, self.trusted_sum = 0, -1, [], 0.0
        self.items = deque()  # the frames held: the last one that went out's successors, and the history the trend needs
        self.prev_gray = self.prev_hist = None
        # the coarse layer: a stabiliser of the same kind on 48-pixel frames, and what waits for the other layer
        self.coarse = None
        if coarse and self.strength > 0 and int(coarse) < int(work_side):
            self.coarse = TwoWayStabilizer(strength, window, coarse, preset, centre, COARSE_MOTION, 0, photo_tolerance,
                                           cut_distance, min_trusted, trend, coarse=0, still_window=still_window, detail=0)
        self.waiting = {'fine': deque(), 'coarse': deque(), 'input': deque(), 'motion': deque()}
        self.emitted, self.align = 0, None

    @property
    def pending(self):
        "The indices of the frames that went in and have not come out yet, in order."
        if self.coarse is not None:
            return list(range(self.emitted, self.frames))
        return [it['index'] for it in self.items if 'done' not in it]

    @property
    def trusted_fraction(self):
        "Mean share of pixels whose flow to the previous frame passes the forward–backward check, over frames with a past."
        n = self.frames - len(self.cuts)
        return self.trusted_sum / n if n > 0 else math.nan

    def _trust(self, fwd, bwd, g_from, g_to):
        "τ for the pixels of `g_from` pulled from `g_to` along `fwd` (checked against `bwd`), and the maps."
        mask, mapx, mapy = checked_flow(fwd, bwd)
        at = cv2.remap(g_to, mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        err = np.abs(g_from.astype(np.float32) - at.astype(np.float32))
        trust = mask * np.clip(2 - err / self.photo_tolerance, 0, 1)
        scale = self.motion * max(g_from.shape)
        trust = trust / (1 + (fwd ** 2).sum(-1) / scale ** 2)
        return cv2.GaussianBlur(trust.astype(np.float32), (3, 3), 0), mapx, mapy, float(mask.mean())

    def _carry(self, flat, trust, carried):
        """The sums of a frame (its colour `flat` and weight 1) plus the `carried` sums of its neighbour, each
        pixel's share s·τ."""
        sums = self.strength * trust[..., None] * carried
        sums[..., :2] += flat
        sums[..., 2] += 1
        return sums

    def push(self, luma, chroma):
        luma, chroma = np.asarray(luma), np.asarray(chroma, dtype=np.float32)
        if luma.ndim != 2 or chroma.ndim != 3 or chroma.shape[-1] != 2:
            raise ValueError(f'expected luma (H, W) and chroma (h, w, 2), got {luma.shape} and {chroma.shape}')
        if self.strength == 0:
            self.frames += 1
            return [chroma]
        if self.coarse is None:
            return self._push(luma, chroma)
        self.waiting['input'].append(chroma)
        fine = self._push(luma, chroma)
        return self._joined(fine, self.coarse._push(luma, chroma, shot_start=self.cuts[-1] == self.frames - 1))

    def flush(self):
        "The frames still held, finished with the frames there are."
        if self.coarse is None:
            return self._ready(final=True)
        return self._joined(self._ready(final=True), self.coarse.flush())

    def _joined(self, fine, coarse):
        """The frames both layers have finished: the fine layer's colour with its correction below the
        `COARSE_SPLIT` grid replaced, in proportion to the motion, by the coarse layer's (step 5)."""
        w = self.waiting
        w['fine'].extend(fine)
        w['coarse'].extend(coarse)
        out = []
        while w['fine'] and w['coarse']:
            f, k, c, m = w['fine'].popleft(), w['coarse'].popleft(), w['input'].popleft(), w['motion'].popleft()
            share = m ** 2 / (m ** 2 + COARSE_HALF ** 2)
            index = self.emitted + len(out)
            a, b = chroma_similarity(_coarse_part(k - self.centre), _coarse_part(f - self.centre), np.ones(f.shape[:2]))
            fit = np.array([cmath.log(a).real, cmath.log(a).imag, b.real, b.imag])
            self.align = fit if self.align is None or index in self.cuts else self.align + COARSE_ALIGN * (fit - self.align)
            if share > 0:  # the coarse layer brought to the fine one's colour by the slow part of their difference
                la, lb = complex(*self.align[:2]), complex(*self.align[2:])
                k = apply_similarity(k - self.centre, cmath.exp(la), lb) + self.centre
                f = f + share * (_coarse_part(k - c) - _coarse_part(f - c))
            out.append(f)
        self.emitted += len(out)
        return out

    def _push(self, luma, chroma, shot_start=None):
        "One frame in; `shot_start` True or False overrides the cut test (the coarse layer follows the fine one's)."
        ch, cw = chroma.shape[:2]
        size = work_size(ch, cw, self.work_side)
        gray = np.ascontiguousarray(cv2.resize(luma, size, interpolation=cv2.INTER_AREA) if luma.shape[::-1] != size
                                    else luma, dtype=np.uint8)
        small = (cv2.resize(chroma, size, interpolation=cv2.INTER_AREA) if (cw, ch) != size else chroma) - self.centre
        hist = luma_histogram(gray)
        prev = self.items[-1] if self.items else None
        pair = None
        if prev is not None and self.prev_gray.shape == gray.shape and \
                not (is_cut(self.prev_hist, hist, self.cut_distance) if shot_start is None else shot_start):
            back, ahead = self.dis.calc(gray, self.prev_gray, None), self.dis.calc(self.prev_gray, gray, None)
            trust, mapx, mapy, share = self._trust(back, ahead, gray, self.prev_gray)  # frame t's pixels from t−1
            if share >= self.min_trusted or shot_start is False:  # else too little matches: a cut
                pair = trust, mapx, mapy, float(np.sqrt((back ** 2).sum(-1)).mean()) / max(size)
                self.trusted_sum += share
                prev['next_trust'], prev['next_mapx'], prev['next_mapy'], _ = self._trust(ahead, back, self.prev_gray, gray)
        if pair is None:  # a new shot: its first frame is the colour frame of the chain
            self.cuts.append(self.frames)
            self.shot += 1
            log_a, b, motion = 0j, 0j, 0.0
            flat = small
            acc = np.dstack([flat, np.ones(size[::-1], np.float32)])
        else:
            trust, mapx, mapy, motion = pair
            carried = cv2.remap(prev['acc'], mapx, mapy, CARRY_INTERPOLATION, borderMode=cv2.BORDER_REPLICATE)
            warped_prev = cv2.remap(prev['small'], mapx, mapy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            a, b_pair = _similarity(warped_prev, small, trust, mapx, mapy)
            a_prev = cmath.exp(complex(prev['log_a']))
            log_a = complex(prev['log_a']) + cmath.log(a)
            b = a * complex(prev['b']) + b_pair
            flat = apply_similarity(small, 1 / (a * a_prev), -b / (a * a_prev))  # M_t⁻¹: into the shot's colour frame
            acc = self._carry(flat, trust, carried)
        self.items.append(dict(index=self.frames, shot=self.shot, chroma=chroma, small=small, flat=flat, acc=acc,
                               log_a=np.complex128(log_a), b=np.complex128(b), motion=np.float64(motion)))
        self.prev_gray, self.prev_hist = gray, hist
        self.frames += 1
        return self._ready(final=False)

    def _ready(self, final):
        out = []
        newest = self.items[-1] if self.items else None
        while True:
            waiting = [it for it in self.items if 'done' not in it]
            if not waiting:
                break
            me = waiting[0]
            if not final and newest['shot'] == me['shot'] and newest['index'] - me['index'] < self.latency:
                break
            out.append(self._finish(me))
            for k in HEAVY:  # what is left is what the trend of the frames after it needs
                me.pop(k, None)
            me['done'] = True
        while self.items and 'done' in self.items[0] and self.items[-1]['index'] - self.items[0]['index'] >= self.latency + self.trend:
            self.items.popleft()  # no longer needed by any trend
        if final:
            self.items.clear()
        return out

    def _finish(self, me):
        t = me['index']
        shot = [it for it in self.items if it['shot'] == me['shot'] and abs(it['index'] - t) <= self.latency]
        motion = _mean_motion([it for it in shot if abs(it['index'] - t) <= self.window])
        ahead = [it for it in shot if t <= it['index'] <= t + self._reach_back(motion)]
        back = np.dstack([ahead[-1]['flat'], np.ones(ahead[-1]['flat'].shape[:2], np.float32)])
        for it in reversed(ahead[:-1]):  # from the farthest frame ahead back to t, along the flow
            carried = cv2.remap(back, it['next_mapx'], it['next_mapy'], CARRY_INTERPOLATION, borderMode=cv2.BORDER_REPLICATE)
            back = self._carry(it['flat'], it['next_trust'], carried)
        total = me['acc'] + back
        mean = (total[..., :2] - me['flat']) / (total[..., 2:] - 1)
        corr = mean - me['flat']
        if self.fill:  # pixels seen in few other frames: the correction of their well-seen neighbours
            support = np.clip((total[..., 2] - 1) / FULL_SUPPORT, 0, 1)
            sigma = self.fill * max(corr.shape[:2])
            near = cv2.GaussianBlur(corr * support[..., None], (0, 0), sigma) / \
                np.maximum(cv2.GaussianBlur(support, (0, 0), sigma), 1e-3)[..., None]
            corr = corr + (1 - support[..., None]) * (near - corr)
        if self.detail:  # step 4: the fine part limited
            smooth = cv2.GaussianBlur(corr, (0, 0), DETAIL_SIGMA)
            corr = smooth + np.clip(corr - smooth, -self.detail, self.detail)
        mean = me['flat'] + corr
        reach = self._reach(motion, self.trend)
        if self.coarse is not None:  # the share the coarse layer takes for this frame (`_joined`)
            self.waiting['motion'].append(motion)
        shot = [it for it in shot if abs(it['index'] - t) <= reach]
        trend = local_trend([it['index'] for it in shot],
                            [[it['log_a'].real, it['log_a'].imag, it['b'].real, it['b'].imag] for it in shot], t,
                            reach / 2, degree=0)
        steady = apply_similarity(mean, cmath.exp(complex(trend[0], trend[1])), complex(trend[2], trend[3]))
        chroma = me['chroma']
        if steady.shape == chroma.shape:
            return steady + self.centre
        ch, cw = chroma.shape[:2]
        return chroma + cv2.resize(steady - me['small'], (cw, ch), interpolation=cv2.INTER_LINEAR)

    def _reach_back(self, motion):
        "Frames ahead the backward sums run over: `window`, up to `still_window` on a still shot (`_reach`)."
        return round(self._reach(motion, self.still_window, STILL_BACK)) if self.still_window else self.window

    def _reach(self, motion, longest, still=STILL):
        """Frames each side of the global trend (`longest` = `trend`) or ahead of the backward sums (`longest` =
        `still_window`, `still` = `STILL_BACK`): `longest` on a still shot, down to `window` as the mean motion of
        the frames within `window` (`_mean_motion`) grows past `still` (a moving shot's colour really changes as
        its content does)."""
        return self.window + (max(longest, self.window) - self.window) / (1 + (motion / still) ** 2)

    # -- state at a segment boundary (resumable renders)
    def state(self):
        "Everything held, as a flat dict of arrays (empty before the first frame)."
        if self.prev_gray is None:
            return {}
        items = [{k: (np.array(1) if k == 'done' else v) for k, v in it.items()} for it in self.items]
        state = dict(prev_gray=self.prev_gray, prev_hist=self.prev_hist, cuts=np.array(self.cuts, np.int64),
                     counters=np.array([self.frames, self.shot, self.emitted]), trusted_sum=np.array(self.trusted_sum),
                     **pack('item', items))
        if self.coarse is not None:
            state.update({f'coarse.{k}': v for k, v in self.coarse.state().items()})
            if self.align is not None:
                state['align'] = self.align
            for name, queue in self.waiting.items():
                state.update(pack(f'waiting.{name}', [{'v': v} for v in queue]))
        return state

    def load_state(self, state):
        self.__init__(**self.options)
        if not state:
            return
        self.prev_gray, self.prev_hist = np.asarray(state['prev_gray'], np.uint8), np.asarray(state['prev_hist'], np.float32)
        self.frames, self.shot, *emitted = (int(x) for x in state['counters'])
        self.emitted = emitted[0] if emitted else 0
        if self.coarse is not None:
            self.coarse.load_state({k[len('coarse.'):]: v for k, v in state.items() if k.startswith('coarse.')})
            self.align = np.asarray(state['align'], np.float64) if 'align' in state else None
            for name, queue in self.waiting.items():
                queue.extend(float(it['v']) if name == 'motion' else it['v'] for it in unpack(f'waiting.{name}', state))
        self.cuts, self.trusted_sum = [int(x) for x in state['cuts']], float(state['trusted_sum'])
        for it in unpack('item', state):
            it['index'], it['shot'] = int(it['index']), int(it['shot'])
            it['log_a'], it['b'] = np.complex128(it['log_a']), np.complex128(it['b'])
            self.items.append(it)


def stabilize_stream(stabilizer, frames, held=()):
    """(luma, chroma, tag) triples in order -> (tag, stabilised chroma) pairs in the same order, streamed
    through a `TwoWayStabilizer` (the tag, e.g. a frame's index, timestamps or its luma, travels alongside).
    `held`: the tags of the frames a stabiliser resumed from a saved state still holds (`pending`)."""
    tags = deque(held)
    for luma, chroma, tag in frames:
        tags.append(tag)
        for c in stabilizer.push(luma, chroma):
            yield tags.popleft(), c
    for c in stabilizer.flush():
        yield tags.popleft(), c
