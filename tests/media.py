"""Small media files generated for tests with PyAV."""

import math
import struct
from fractions import Fraction

import av
import numpy as np


def write_audio(path, seconds=2.0, rate=16000, container=None):
    """A tone with a changing pitch, so it is not silence."""
    with av.open(str(path), "w", format=container) as out:
        codec = "pcm_s16le" if str(path).endswith(".wav") else "aac"
        stream = out.add_stream(codec, rate=rate, layout="mono")
        samples = int(seconds * rate)
        t = np.arange(samples) / rate
        wave = (0.3 * np.sin(2 * math.pi * (220 + 80 * np.sin(t)) * t) * 32767).astype(np.int16)
        step = 1024
        for start in range(0, samples, step):
            frame = av.AudioFrame.from_ndarray(wave[None, start:start + step], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_video(path, seconds=1.0, size=(160, 120), fps=25, with_audio=False):
    """Moving colour bars (no face), H.264 in MP4."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=16000, layout="mono") if with_audio else None
        for index in range(int(seconds * fps)):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            image[:, :, 0] = (np.arange(size[0]) + index * 4) % 256
            image[:, :, 1] = 128
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if audio is not None:
            silence = av.AudioFrame.from_ndarray(np.zeros((1, int(seconds * 16000)), np.int16), format="s16",
                                                 layout="mono")
            silence.sample_rate = 16000
            for packet in [*audio.encode(silence), *audio.encode(None)]:
                out.mux(packet)
    return path


def write_wav_claiming(path, seconds, rate=8000):
    """A WAV whose header announces `seconds` of audio while the file holds one second.

    This is how a 10-hour recording looks to the server's probe, without writing 10 hours.
    """
    data = np.zeros(rate, np.int16).tobytes()
    claimed = int(seconds * rate * 2)
    header = b"RIFF" + struct.pack("<I", 36 + claimed) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate * 2, 2, 16) + b"data" + struct.pack("<I", claimed)
    path.write_bytes(header + data)
    return path


def write_long_silence(path, seconds, rate=8000):
    """A real `seconds`-long 8-bit WAV of silence, stored sparse so it takes no disk space."""
    size = int(seconds * rate)
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVE" + b"fmt " + struct.pack(
        "<IHHIIHH", 16, 1, 1, rate, rate, 1, 8) + b"data" + struct.pack("<I", size)
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + size)
    return path


def vowel(f1, seconds, rate=16000, pitch=120.0, f2=1500.0):
    """A synthetic voiced vowel, float32 samples: a glottal pulse train through two resonators (F1, F2),
    normalised to a 0.3 peak. The first formant (F1) rises as a real jaw opens: 300 Hz "ee", 800 Hz "aa"."""
    n = int(seconds * rate)
    x = np.zeros(n)
    x[:: int(rate / pitch)] = 1.0
    for freq, bandwidth in ((f1, 80.0), (f2, 120.0)):
        r, theta = np.exp(-np.pi * bandwidth / rate), 2 * np.pi * freq / rate
        y = np.zeros(n)
        for i in range(n):
            y[i] = x[i] + 2 * r * np.cos(theta) * y[i - 1] - r * r * y[i - 2] if i >= 2 else x[i]
        x = y
    return (0.3 * x / np.abs(x).max()).astype(np.float32)
