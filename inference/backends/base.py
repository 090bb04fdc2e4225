"""The one small interface every lip-sync backend implements, and what the pipeline hands it.

The pipeline (``inference.pipeline``) runs the shared stages in order: probe, load the backend's models, read
the audio, track the template's face, analyse speech; then it gives the backend a ``Job`` to ``plan`` and a
stream of base frames to ``render``. It never branches on a backend's name: what differs is declared here as
class attributes and methods.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np

from ..config import Config
from ..speech import SpeechAnalysis
from ..template import MouthCache, Track


@dataclass
class Job:
    """Everything known once the shared stages ran. ``n_out`` output frames at ``fps``; ``bases`` int64 (n_out,)
    the template frame shown under each output frame; ``samples``/``template_samples`` mono float32 16 kHz
    (template None when it has no soundtrack or the backend does not use it); ``drive``/``template`` their
    speech analyses (None when the backend does not ask for them); ``track`` the template's face;
    ``mouths`` the template's lower-face crops."""

    config: Config
    device: str
    width: int
    height: int
    fps: float
    n_out: int
    bases: np.ndarray
    track: Track
    mouths: MouthCache
    samples: np.ndarray
    template_samples: np.ndarray | None = None
    drive: SpeechAnalysis | None = None
    template: SpeechAnalysis | None = None
    template_speech_s: float = 0.0


@dataclass
class Rendered:
    """What ``render`` reports back: frames where the backend kept the base frame's own mouth (no face, or a
    paste that would not line up), and anything it wants in the run report (``Report.details``)."""

    kept_own_mouth: int = 0
    details: dict = field(default_factory=dict)
    debug: dict = field(default_factory=dict)


class Backend:
    """Base class of a backend. Subclasses live in their own folder under ``inference/backends/`` and are named
    once in ``inference.backends.REGISTRY``.

    Class attributes say what the shared stages must prepare:
    ``uses_speech``: analyse the driving audio (voice activity, log-mels) and the template's own soundtrack;
    ``uses_phones``: also decode phones (in a child process, while the face is tracked);
    ``auto_rank``: order of preference under ``backend="auto"`` (lower first; None: never chosen by auto).
    """

    name = ""
    label = ""
    uses_speech = True
    uses_phones = True
    auto_rank: int | None = None
    # A platform sends the jobs that ask for this backend by name only to workers with a GPU (it may run on
    # a CPU, but far too slowly to serve anyone).
    needs_gpu = False

    def __init__(self, config: Config, device: str):
        self.config = config
        self.device = device

    @classmethod
    def unavailable(cls, config: Config) -> str | None:
        """Why this backend cannot run with ``config`` (a missing model file setting, no GPU), or None."""
        return None

    @classmethod
    def auto_reason(cls, config: Config) -> str:
        """Why ``auto`` chose it, for the report."""
        return "the default engine"

    def drive_phones(self) -> str | None:
        """How the driving audio's phones are to be found for this backend and ``config.speech_language``:
        ``"words"`` (English words recognised, their phones force-aligned), ``"phones"`` (all-phone decoding
        only) or None (none needed)."""
        if not self.uses_phones:
            return None
        # A voice in another language opens with its first formant; all-phone decoding (about a quarter of word
        # recognition's CPU) still places its pauses and P/B/M closures: planned Mandarin +0.375 with it, +0.293
        # with no phones (retrieval.model.heard_targets).
        return "words" if self.config.speech_language == "en" else "phones"

    def load(self, progress) -> None:
        """Load models before any media work: a missing or broken file must fail in seconds, as
        ``ModelUnavailable``. Models are kept per worker process by the backend's own ``loaded`` cache."""

    def plan(self, job: Job, progress) -> None:
        """Decide what each output frame shows (the select stage)."""

    def render(self, job: Job, frames: Iterator[np.ndarray], write: Callable[[np.ndarray], None],
               progress) -> Rendered:
        """Change each base frame (I420 uint8, in place or not) and ``write`` it, in order, exactly ``job.n_out``
        times. Report through ``progress(Stage.RENDER, fraction, done, total)`` at least once a second."""
        raise NotImplementedError
