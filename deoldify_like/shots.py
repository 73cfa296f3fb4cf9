"""The shots of a film: where each one starts, with a small picture of its first frame (what notebook 06
shows so that a person can attach a colour reference to each shot).

A frame starts a shot where the chroma stabiliser and `reference_colour.scan_film` say so: the
Bhattacharyya distance between the 32-bin luminance histograms of it and the frame before, at the working
resolution, is above `stabilize.CUT_DISTANCE`. The film is read once, streamed; only the thumbnails of
the shots' first frames are kept.
"""
from dataclasses import dataclass

import av
import cv2
import numpy as np

from .errors import BadInputError
from .progress import progress
from .stabilize import CUT_DISTANCE, WORK_SIDE, is_cut, luma_histogram, work_size
from .video import probe_video

THUMB_SIDE = 160  # longer side of a shot's thumbnail, pixels


class CutDetector:
    "Fed a film's luminance frames (uint8 (H, W)) in order, `starts_shot(luma)` says whether each begins a shot."

    def __init__(self, work_side=WORK_SIDE, cut_distance=CUT_DISTANCE):
        self.work_side, self.cut_distance, self.prev_hist = work_side, cut_distance, None

    def starts_shot(self, luma):
        gray = cv2.resize(luma, work_size(*luma.shape, self.work_side), interpolation=cv2.INTER_AREA)
        hist = luma_histogram(gray)
        cut = self.prev_hist is None or is_cut(self.prev_hist, hist, self.cut_distance)
        self.prev_hist = hist
        return cut


@dataclass
class Shot:
    start: int  # its first frame
    end: int  # one past its last frame
    seconds: float  # the time of its first frame
    thumbnail: np.ndarray  # uint8 RGB of its first frame, longer side THUMB_SIDE (or less)

    @property
    def frames(self):
        return self.end - self.start


def find_shots(film, limit=None, thumb_side=THUMB_SIDE, work_side=WORK_SIDE):
    """The shots of `film` (a path) among its first `limit` frames (None: all), in order, as `Shot`s.
    BadInputError (one line) for a file that is not a film or is damaged."""
    info = probe_video(film)
    total = min(info.frames, limit) if limit else info.frames
    detector, shots, count = CutDetector(work_side), [], 0
    scale = min(1.0, thumb_side / max(info.width, info.height))
    size = max(1, round(info.width * scale)), max(1, round(info.height * scale))
    with av.open(str(film)) as container:
        stream = container.streams.video[0]
        stream.thread_type = 'AUTO'
        try:
            for n, frame in enumerate(progress(container.decode(stream), total=total, comment='finding the shots')):
                if n >= total:
                    break
                if detector.starts_shot(frame.to_ndarray(format='gray')):
                    thumb = frame.reformat(width=size[0], height=size[1], format='rgb24').to_ndarray()
                    shots.append(Shot(n, n + 1, float(n / info.fps), thumb))
                count = n + 1
        except av.error.FFmpegError as e:
            raise BadInputError(film, f'damaged film, decoding stopped ({str(e).splitlines()[0]})') from None
    if not shots:
        raise BadInputError(film, 'film has no frames')
    for shot, following in zip(shots, shots[1:] + [None]):
        shot.end = following.start if following else count
    return shots
