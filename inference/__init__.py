"""HeyGem's lip-sync engine: template video + driving audio in, lip-synced video out.

A plain package (never Django) so it runs from a worker, a CLI, a test or a GPU box alike. Importing it is cheap:
PyAV, torch, mediapipe and the speech models load inside the functions that need them.

    from inference import Config, generate
    report = generate("template.mp4", "speech.wav", "out.mp4", Config(), on_progress=print)

A typed script becomes the driving audio with ``inference.voices.synthesize`` (offline text-to-speech), whose
phone timings ``generate`` takes as ``phones=`` instead of recognising them.
"""
from .config import Config, MediaInfo, Report
from .progress import STAGES, Stage
from .errors import (
    ALL_ERRORS,
    Cancelled,
    GpuOutOfMemory,
    InferenceError,
    InputTooLarge,
    InputTooLong,
    ModelUnavailable,
    NoAudioStream,
    NoFace,
    NoVideoStream,
    ScriptEmpty,
    ScriptLanguage,
    ScriptTooLong,
    UnknownVoice,
    UnsupportedMedia,
    VoiceUnavailable,
)

__all__ = [
    "ALL_ERRORS",
    "Cancelled",
    "Config",
    "GpuOutOfMemory",
    "InferenceError",
    "InputTooLarge",
    "InputTooLong",
    "MediaInfo",
    "ModelUnavailable",
    "NoAudioStream",
    "NoFace",
    "NoVideoStream",
    "Report",
    "STAGES",
    "ScriptEmpty",
    "ScriptLanguage",
    "ScriptTooLong",
    "Stage",
    "UnknownVoice",
    "UnsupportedMedia",
    "VoiceUnavailable",
    "generate",
    "init_runtime",
    "probe",
]


def generate(video, audio, output, config=None, on_progress=None, should_cancel=None, phones=None) -> Report:
    """Lip-sync ``video`` (a template of the person) to ``audio`` and write an MP4 to ``output``.

    ``on_progress(stage, fraction, done, total, note)`` is called at least once a second in long stages:
    ``stage`` a ``Stage`` value, ``fraction`` 0..1 within the stage, ``done``/``total`` the stage's frame counters
    (0 when it has none), ``note`` an English line for logs. ``should_cancel()`` is polled every batch; when it
    returns True the partial output is removed and ``Cancelled`` is raised. ``phones``: the driving audio's
    phones when they are known (a typed script's, or ``Report.heard_phones`` of an earlier run on the same audio):
    ``[(ARPAbet phone, start_s, end_s), ...]`` in the phone set of ``speech.decode_phones``; they replace
    recognition. Raises the ``InferenceError`` subclasses for
    user-fixable problems.
    """
    from .pipeline import generate as _generate

    return _generate(video, audio, output, config or Config(), on_progress, should_cancel, phones)


def probe(path) -> MediaInfo:
    """Read a media file's streams without decoding it. Raises ``UnsupportedMedia`` for unreadable files."""
    from .media import probe as _probe

    return _probe(path)


def init_runtime(threads: int = 0, device: str = "auto") -> str:
    """Set process-wide knobs once per worker process; returns the device name used ("cuda" or "cpu")."""
    from .runtime import init_runtime as _init

    return _init(threads, device)
