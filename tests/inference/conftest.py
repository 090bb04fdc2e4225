"""Fixtures for the inference engine tests: real faces from ../shared/media, small clips made here with PyAV.

No Django and no database: these tests run with or without pytest-django.
"""
from __future__ import annotations

import fractions
import os
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    # Plain `pytest` in prepend mode puts only this folder on sys.path; the engine lives at the repo root.
    sys.path.insert(0, str(REPO))
MEDIA = Path(os.environ.get("HEYGEM_TEST_MEDIA", REPO.parent / "shared" / "media"))
VIDEO = MEDIA / "video"
AUDIO = MEDIA / "audio"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds (still runs in CI)")


def media(name: str) -> str:
    for folder in (VIDEO, AUDIO):
        if (folder / name).exists():
            return str(folder / name)
    pytest.skip(f"shared test media missing: {name}")


@pytest.fixture(scope="session")
def real_template():
    """A real 4.9 s talking-head clip with the speaker's own speech: enough for the retrieval backend."""
    return media("woman_glasses_524sq_25fps.mp4")


def read_rgb(path: str, count: int, size: int | None = None, start: int = 0) -> list[np.ndarray]:
    """The first ``count`` frames (after ``start``) of a real video as RGB uint8, optionally resized square."""
    import av
    import cv2

    frames = []
    with av.open(path) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i < start:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            if size:
                rgb = cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
            frames.append(rgb)
            if len(frames) == count:
                break
    return frames


def read_pcm(path: str, seconds: float, rate: int = 16000, start: float = 0.0) -> np.ndarray:
    """Mono float32 samples of a file's audio."""
    from inference.media import load_audio

    samples = load_audio(path, rate)
    return samples[int(start * rate) : int((start + seconds) * rate)]


AUDIO_CODEC = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus", "avi": "libmp3lame", "flv": "aac"}


def write_video(path, frames, fps=25, codec="libx264", fmt=None, rotation=0, audio=None, audio_rate=16000,
                times=None, pix_fmt="yuv420p"):
    """Encode RGB ``frames`` to ``path``. ``rotation``: counter-clockwise display matrix angle; ``times``:
    presentation time of each frame in seconds (variable frame rate); ``audio``: mono float32 samples."""
    import av

    fmt = fmt or {".mkv": "matroska", ".webm": "webm", ".avi": "avi", ".mov": "mov", ".flv": "flv"}.get(
        Path(path).suffix, "mp4")
    with av.open(str(path), "w", format=fmt) as out:
        h, w = frames[0].shape[:2]
        tb = fractions.Fraction(1, 1000) if times is not None else fractions.Fraction(1, fps)
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if times is not None:
            stream.time_base = tb
            stream.codec_context.time_base = tb  # else timestamps are rounded to the nominal rate
        if rotation:
            stream.set_display_rotation(rotation)
        astream = None
        if audio is not None:
            astream = out.add_stream(AUDIO_CODEC.get(fmt, "aac"), rate=48000 if fmt == "webm" else audio_rate)
            astream.layout = "mono"
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = int(round(times[i] * 1000)) if times is not None else i
            frame.time_base = tb
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if astream is not None:
            _encode_audio(out, astream, audio, audio_rate)
    return str(path)


def _encode_audio(out, astream, samples, rate):
    import av

    frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format=astream.codec_context.format.name, layout="mono",
                                  rate=astream.codec_context.sample_rate,
                                  frame_size=astream.codec_context.frame_size or 1024)
    for chunk in resampler.resample(frame) + resampler.resample(None):
        chunk.pts = None
        for packet in astream.encode(chunk):
            out.mux(packet)
    for packet in astream.encode(None):
        out.mux(packet)


def write_audio(path, samples, rate=16000, codec=None, fmt=None):
    """Encode mono float32 ``samples`` as an audio-only file (wav, mp3, flac, ogg/opus, m4a)."""
    import av

    ext = Path(path).suffix
    codec = codec or {".wav": "pcm_s16le", ".mp3": "libmp3lame", ".flac": "flac", ".ogg": "libopus",
                      ".m4a": "aac"}[ext]
    fmt = fmt or {".m4a": "mp4", ".ogg": "ogg"}.get(ext)
    with av.open(str(path), "w", format=fmt) as out:
        astream = out.add_stream(codec, rate=48000 if codec == "libopus" else rate)
        astream.layout = "mono"
        _encode_audio(out, astream, samples, rate)
    return str(path)


@pytest.fixture(scope="session")
def face_frames():
    """50 frames (2 s at 25 fps) of a real talking face at 256x256, RGB uint8."""
    return read_rgb(media("woman_glasses_524sq_25fps.mp4"), 50, 256)


@pytest.fixture(scope="session")
def face_audio():
    """2 s of the same person's real speech, mono float32 at 16 kHz."""
    return read_pcm(media("woman_glasses_524sq_25fps.mp4"), 2.0)


@pytest.fixture(scope="session")
def speech_wav(tmp_path_factory):
    """3 s of another speaker, as a 16 kHz mono WAV file."""
    samples = read_pcm(media("speech_44k_stereo_5s.wav"), 3.0)
    return write_audio(tmp_path_factory.mktemp("audio") / "speech.wav", samples)


@pytest.fixture(scope="module")
def speech(request, tmp_path_factory):
    """Another speaker's real speech (from 1 s into the clip) as a 16 kHz mono WAV, as long as the test module's
    ``AUDIO_S`` seconds: the driving audio of a backend's end-to-end run."""
    samples = read_pcm(media("speech_44k_stereo_5s.wav"), request.module.AUDIO_S, start=1.0)
    return write_audio(tmp_path_factory.mktemp("speech") / "speech.wav", samples)


@pytest.fixture(scope="session")
def face_clip(tmp_path_factory, face_frames, face_audio):
    """A 2 s H.264/AAC MP4 of a real face with its own speech."""
    return write_video(tmp_path_factory.mktemp("clips") / "face.mp4", face_frames, audio=face_audio)


def decode_rgb(path: str) -> list[np.ndarray]:
    import av

    with av.open(path) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


@pytest.fixture(scope="session")
def mk():
    """Helpers to build test media: ``mk.write_video``, ``mk.write_audio``, ``mk.read_rgb``, ``mk.read_pcm``,
    ``mk.media``, ``mk.decode_rgb`` (fixtures, not imports: this folder has no package of its own)."""
    return SimpleNamespace(write_video=write_video, write_audio=write_audio, read_rgb=read_rgb, read_pcm=read_pcm,
                           media=media, decode_rgb=decode_rgb)


@pytest.fixture(scope="session")
def musetalk_models(tmp_path_factory):
    """The official MuseTalk ``models/`` layout with generated weights (reduced UNet and VAE widths, real
    Whisper-tiny encoder and BiSeNet), written once per test session."""
    from inference.backends.musetalk import loaded, synthetic

    root = synthetic.write_models(tmp_path_factory.mktemp("musetalk") / "models")
    yield root
    loaded.clear()
