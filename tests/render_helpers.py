"""Small real inputs for the renderer's tests: a tiny random generator file and short synthetic films
written with PyAV (moving colour gradients, a sine tone for audio)."""
from fractions import Fraction

import av
import numpy as np
import torch

from deoldify_like.generator import GeneratorConfig, build_generator
from deoldify_like.model_file import save_generator


def save_tiny_model(path, render_factor=4, seed=0):
    "A freshly built resnet18 generator with half-width decoder and random weights."
    torch.manual_seed(seed)
    cfg = GeneratorConfig(arch='resnet18', nf_factor=0.5)
    return save_generator(path, build_generator(cfg), cfg, render_factor=render_factor)


def film_frame(i, width, height):
    y, x = np.mgrid[0:height, 0:width]
    r = (x * 255 // max(1, width - 1) + 7 * i) % 256
    g = (y * 255 // max(1, height - 1) + 3 * i) % 256
    b = ((x + y) * 4 + 11 * i) % 256
    return np.stack([r, g, b], -1).astype(np.uint8)


def make_film(path, frames=24, width=64, height=48, rate=Fraction(30000, 1001), audio=True):
    "Write a short film; the codecs follow the suffix (VP9 + Opus for .webm, else H.264 + AAC)."
    webm = str(path).endswith('.webm')
    with av.open(str(path), 'w') as c:
        vs = c.add_stream('libvpx-vp9' if webm else 'libx264', rate=rate)
        vs.width, vs.height = width, height
        vs.pix_fmt = 'yuv420p' if webm or (width % 2 == 0 and height % 2 == 0) else 'yuv444p'
        if audio:
            sample_rate = 48000 if webm else 44100
            au = c.add_stream('libopus' if webm else 'aac', rate=sample_rate, layout='mono')
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(film_frame(i, width, height), format='rgb24')
            frame.pts = i
            frame.time_base = 1 / Fraction(rate)
            c.mux(vs.encode(frame))
        c.mux(vs.encode(None))
        if audio:
            n = int(sample_rate * frames / rate)
            t = np.arange(n) / sample_rate
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, n, 960):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, start:start + 960]), format='flt', layout='mono')
                af.sample_rate, af.pts = sample_rate, start
                c.mux(au.encode(af))
            c.mux(au.encode(None))
    return path


def decoded_frames(path):
    "Every frame of a film as RGB uint8, with its time in seconds."
    with av.open(str(path)) as c:
        return [(float(f.pts * f.time_base), f.to_ndarray(format='rgb24')) for f in c.decode(video=0)]
