"""Matching a colour reference to a gray picture by features: chroma from where the pictures look alike.

`match_chroma(gray, ref_gray, ref_chroma)` gives every pixel of `gray` the chroma of the places in the
reference whose features are nearest (a soft k-nearest-neighbour vote, the correlation step of exemplar
colorization, Zhang et al. 2019), and a confidence 0..1 from how near the nearest one is, so a caller
falls back to its own colour where nothing in the reference looks alike. Matching runs on a coarse grid
(longer side `grid_side`), the result is brought back to full size by a guided filter on the luminance
(He et al. 2010), so colour edges follow the picture's own edges.

Features are a callable `features(gray uint8 (H, W)) -> float32 (h, w, C)`, any grid size:
- `patch_features` (the default): multi-scale luminance patches. Right for a film's own frames, whose
  luminance is the same scene's (occlusion fill, a coloured frame of the film as the reference).
- `encoder_features(model)`: the generator's encoder (deoldify_like.generator), for a colour photo of the
  scene that is not a frame of the film. Only as good as the encoder's training.

`resemblance` (normalised cross-correlation of 32-pixel gray thumbnails, the reference resized to the frame's
aspect) is how a reference given without a frame number finds its keyframe: the frame it resembles most
(reference_colour.scan_film).
"""
import cv2
import numpy as np
import torch

from .colour import rgb_to_gray, rgb_to_yuv, yuv_to_rgb
from .tensors import gray_batch_to_input

GRID_SIDE = 64  # longer side of the matching grid, cells
NEIGHBOURS = 8
TEMPERATURE = 0.02  # softmax temperature of the vote, in mean squared feature distance
POSITION_WEIGHT = 0.5  # weight of the (x, y) position in patch features: a match nearby is preferred
MATCH_DISTANCE = 0.01  # mean squared feature distance at which a match's confidence reaches 0
THUMB_SIDE = 32
MATCH_CHUNK = 2048  # grid cells matched at once: a chunk's distances to a 128-cell grid's 9216 take 75 MB


def guided_filter(guide, src, radius=4, eps=1e-3):
    "He et al.'s guided filter of `src` (H, W) or (H, W, C) by the float gray `guide` (H, W), box filters only."
    def box(x):
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)
    guide = guide.astype(np.float32)
    src = np.asarray(src, dtype=np.float32)
    planes = src[..., None] if src.ndim == 2 else src
    mean_i, var_i = box(guide), box(guide * guide) - box(guide) ** 2
    out = []
    for c in range(planes.shape[-1]):
        p = np.ascontiguousarray(planes[..., c])
        mean_p = box(p)
        a = (box(guide * p) - mean_i * mean_p) / (var_i + eps)
        b = mean_p - a * mean_i
        out.append(box(a) * guide + box(b))
    return out[0] if src.ndim == 2 else np.stack(out, -1)


def grid_size(height, width, side=GRID_SIDE):
    "(width, height) of the matching grid for a picture of the given size."
    scale = min(1.0, side / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def patch_features(gray, side=GRID_SIDE, position_weight=POSITION_WEIGHT):
    """Luminance patches on the matching grid: 5x5 cells at the grid's scale and 3x3 at half of it (0..1),
    plus the normalised position times `position_weight`."""
    g = np.asarray(gray, dtype=np.float32) / 255.0
    gw, gh = grid_size(*g.shape, side)
    planes = []
    for shrink, k in ((1, 5), (2, 3)):
        small = cv2.resize(g, (max(1, gw // shrink), max(1, gh // shrink)), interpolation=cv2.INTER_AREA)
        pad = k // 2
        padded = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_REFLECT)
        for dy in range(k):
            for dx in range(k):
                shifted = padded[dy:dy + small.shape[0], dx:dx + small.shape[1]]
                planes.append(cv2.resize(shifted, (gw, gh), interpolation=cv2.INTER_LINEAR))
    ys, xs = np.mgrid[0:gh, 0:gw].astype(np.float32)
    planes += [position_weight * xs / max(gw - 1, 1), position_weight * ys / max(gh - 1, 1)]
    return np.stack(planes, -1)


def encoder_features(model):
    """A features callable from a generator's encoder (its first module, a ResNet body): the activations of
    its last two stages, each L2-normalised per position and resized to the finer one's grid."""
    encoder = model[0]
    stages = [m for m in encoder.children()]

    @torch.no_grad()
    def features(gray, side=GRID_SIDE):
        gh, gw = np.shape(gray)
        scale = side / max(gh, gw)  # to a grid of `side` cells: a ResNet's third stage is 1/16 of its input
        w, h = (max(1, round(n * scale)) * 16 for n in (gw, gh))
        x = gray_batch_to_input([cv2.resize(np.asarray(gray), (w, h), interpolation=cv2.INTER_AREA)])
        x = x.to(next(encoder.parameters()).device)
        outs = []
        for stage in stages:
            x = stage(x)
            outs.append(x)
        fine, coarse = outs[-2], torch.nn.functional.interpolate(outs[-1], size=outs[-2].shape[-2:], mode='bilinear')
        f = torch.cat([torch.nn.functional.normalize(t, dim=1) for t in (fine, coarse)], 1) / 2 ** 0.5
        # scaled so that unit vectors at cosine 0.5 (squared distance 1) are MATCH_DISTANCE apart per feature,
        # where match_chroma's confidence reaches 0
        f = f * (MATCH_DISTANCE * f.shape[1]) ** 0.5
        return f[0].permute(1, 2, 0).float().cpu().numpy()
    return features


def _cells_needed(where, grid_wh, margin):
    "Flat indices of the grid cells that hold a pixel of the bool mask `where`, or lie within `margin` cells of one."
    cover = cv2.resize(np.asarray(where, np.float32), grid_wh, interpolation=cv2.INTER_AREA) > 0
    cover = cv2.dilate(cover.astype(np.uint8), np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)) > 0
    return np.flatnonzero(cover.ravel())


def match_chroma(gray, ref_gray, ref_chroma, features=patch_features, neighbours=NEIGHBOURS,
                 temperature=TEMPERATURE, match_distance=MATCH_DISTANCE, out_size=None, side=GRID_SIDE, where=None):
    """Chroma for `gray` voted by its nearest feature matches in the reference, and the match confidence.

    `gray`, `ref_gray`: uint8 (H, W) and (h, w), any sizes. `ref_chroma`: float32 (h', w', 2) of the
    reference. Returns float32 chroma (H, W, 2) and confidence (H, W) in 0..1 (or at `out_size` (W, H)).
    `side`: the longer side of the matching grid, passed to `features`. `where`: a bool mask at the output
    size of the pixels the caller will use; only the cells around them are matched (the cost is per matched
    cell times the reference's cells), the rest are left at chroma 0, confidence 0. Within the mask the result
    is the full match's (the cells matched around it cover the upscaling's and the guided filter's reach).
    """
    ft, fr = features(gray, side), features(ref_gray, side)
    th, tw, c = ft.shape
    rh, rw = fr.shape[:2]
    rc = torch.from_numpy(cv2.resize(np.asarray(ref_chroma, dtype=np.float32), (rw, rh),
                                     interpolation=cv2.INTER_AREA).reshape(-1, 2))
    a, b = torch.from_numpy(ft.reshape(-1, c)), torch.from_numpy(np.ascontiguousarray(fr.reshape(-1, c)))
    w, h = out_size or gray.shape[::-1]
    radius = max(2, round(max(w, h) / max(tw, th)))  # the guided filter's, in output pixels
    # a pixel's result depends on the cells within the filter's two boxes (2 radii) and the bilinear upscale's 1
    margin = int(np.ceil(2 * radius * max(tw, th) / max(w, h))) + 1
    rows = np.arange(len(a)) if where is None else _cells_needed(where, (tw, th), margin)
    chroma, conf = np.zeros((th * tw, 2), np.float32), np.zeros(th * tw, np.float32)
    b2, k = (b * b).sum(1)[None], min(neighbours, len(b))
    for lo in range(0, len(rows), MATCH_CHUNK):  # chunks bound the distance matrix's memory
        i = rows[lo:lo + MATCH_CHUNK]
        ai = a[torch.from_numpy(i)]
        # |b|² − 2a·b orders the reference cells as the squared distance does; |a|² is added to the k kept only
        near, idx = torch.addmm(b2, ai, b.T, alpha=-2).topk(k, dim=1, largest=False)
        near = (near + (ai * ai).sum(1, keepdim=True)).clamp_min(0) / c
        votes = torch.softmax(-near / temperature, 1)
        chroma[i] = (rc[idx] * votes[..., None]).sum(1).numpy()
        conf[i] = np.clip(1 - near[:, 0].numpy() / match_distance, 0, 1)
    chroma, conf = chroma.reshape(th, tw, 2), conf.reshape(th, tw)
    guide = cv2.resize(np.asarray(gray), (w, h), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    chroma = guided_filter(guide, cv2.resize(chroma, (w, h), interpolation=cv2.INTER_LINEAR), radius)
    conf = np.clip(guided_filter(guide, cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR), radius), 0, 1)
    return chroma.astype(np.float32), conf.astype(np.float32)


def _thumb(gray, size):
    t = cv2.resize(np.asarray(gray), size, interpolation=cv2.INTER_AREA).astype(np.float32)
    t -= t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-6)


def thumbnail_size(height, width):
    return grid_size(height, width, THUMB_SIDE)


def resemblance(ref_gray, frame_gray):
    "Normalised cross-correlation (-1..1) of 32-pixel gray thumbnails, the reference resized to the frame's aspect."
    size = thumbnail_size(*np.shape(frame_gray))
    return float((_thumb(ref_gray, size) * _thumb(frame_gray, size)).sum())


def transfer_colour(luma, ref_rgb, fallback_rgb, features=patch_features, **kwargs):
    """A photo coloured from a similar colour photo: `luma` (uint8 (H, W), kept) gets the chroma matched in
    `ref_rgb` (any size) where the match is confident and `fallback_rgb`'s (uint8 RGB of any size, e.g. the
    generator's prediction) elsewhere. Returns uint8 RGB (H, W, 3)."""
    luma = np.asarray(luma)
    h, w = luma.shape
    fallback = np.asarray(fallback_rgb)
    if fallback.shape[:2] != (h, w):
        fallback = cv2.resize(fallback, (w, h), interpolation=cv2.INTER_CUBIC)
    chroma, conf = match_chroma(luma, rgb_to_gray(ref_rgb), rgb_to_yuv(ref_rgb)[..., 1:], features, **kwargs)
    yuv = rgb_to_yuv(fallback)
    yuv[..., 1:] = conf[..., None] * chroma + (1 - conf[..., None]) * yuv[..., 1:]
    yuv[..., 0] = luma.astype(np.float32) / 255.0
    return yuv_to_rgb(yuv)
