"""Progress reports and cancellation, as numbers: ``on_progress(stage, fraction, done, total, note)``.

``stage`` is a ``Stage`` value (a plain string, so JSON and the web side take it as it is), ``fraction`` the
stage's own 0..1, ``done``/``total`` counters of the stage's unit (frames for tracking and rendering, 0 when the
stage has no counter) and ``note`` a short English line for logs. Nothing downstream parses the note.
"""
from __future__ import annotations

import time
from enum import Enum

from .errors import Cancelled


class Stage(str, Enum):
    PROBE = "probe"
    AUDIO = "audio"
    TRACK = "track"
    SELECT = "select"
    RENDER = "render"
    FINISH = "finish"

    def __str__(self) -> str:
        return self.value


STAGES = tuple(s.value for s in Stage)
THROTTLE_S = 0.25  # ~4 reports a second at most: the web side stores each one


class Progress:
    """Wraps the caller's callbacks: throttles reports and raises ``Cancelled`` when ``should_cancel()`` says so
    (checked on every call, so each report is also a cancellation point)."""

    def __init__(self, on_progress=None, should_cancel=None):
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.last = 0.0
        self.stage = None

    def __call__(self, stage: Stage, fraction: float, done: int = 0, total: int = 0, note: str = "",
                 force: bool = False) -> None:
        self.check()
        now = time.monotonic()
        # A stage's first report always goes out: the throttle must not swallow it when the stage before
        # ended a moment ago.
        first = stage != self.stage
        if self.on_progress is not None and (force or first or now - self.last >= THROTTLE_S):
            self.last, self.stage = now, stage
            self.on_progress(Stage(stage).value, float(min(max(fraction, 0.0), 1.0)), int(done), int(total), note)

    def check(self) -> None:
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled()
