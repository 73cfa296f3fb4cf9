"""A small colour film of two shared DAVIS clips one after the other (a cut between them), and its true frames:
what the reference tests of notebook 06 and the web page render with a reference for the first shot."""
from pathlib import Path

import av
import cv2
import numpy as np

from deoldify_like.colour import rgb_to_yuv
from deoldify_like.video import iter_frames

CLIPS = ('car-shadow', 'goat')


def write_spliced_film(shared_data, dest, frames=8, size=(214, 120), clips=CLIPS):
    """`frames` frames of each clip at `size`, H.264 at 24 frames/s, into `dest`; returns the film's own
    frames as decoded (uint8 RGB), the truth a render is compared with. The cut is at frame `frames`."""
    with av.open(str(dest), 'w') as out:
        stream = out.add_stream('libx264', rate=24)
        stream.width, stream.height, stream.pix_fmt = *size, 'yuv420p'
        stream.options = {'crf': '12'}
        n = 0
        for clip in clips:
            for i, rgb in iter_frames(Path(shared_data) / 'video' / 'davis' / f'davis_{clip}.mp4'):
                if i >= frames:
                    break
                frame = av.VideoFrame.from_ndarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), format='rgb24')
                frame.pts, n = n, n + 1
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return [rgb for _, rgb in iter_frames(dest)]


def write_picture(rgb, dest):
    "A uint8 RGB picture as a PNG (a reference a person would attach)."
    cv2.imwrite(str(dest), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return Path(dest)


def chroma_errors(film, truth):
    "Mean absolute chroma (U, V of YUV in 0..1) difference of each frame of `film` from the true frames."
    return [float(np.abs(rgb_to_yuv(o)[..., 1:] - rgb_to_yuv(t)[..., 1:]).mean())
            for (_, o), t in zip(iter_frames(film), truth)]
