"""The generator loaded once per worker process.

A worker serves many jobs with the same checkpoint; reading and checking 145-436 MB per job would cost seconds
and, on a GPU, a fresh copy of the weights each time. The runner is kept keyed by the file's identity (real path,
size, modification time) and the device settings, so an operator replacing the file gets the new weights on the
next job without a restart. Only one model is kept: a worker runs one job at a time, and a replaced file must
not leave its predecessor resident on the GPU.
"""
from __future__ import annotations

import os
import threading

from ...errors import ModelUnavailable

_lock = threading.Lock()
_cache: dict = {}


def get_runner(path, device: str = "cpu", fp16: bool = False, max_batch: int = 128, trusted: bool = False):
    """A ``generator.Wav2LipRunner`` for the checkpoint at ``path`` on ``device``, loaded at most once per file
    version. Raises ``ModelUnavailable`` (log-only detail) when the file is absent or not a Wav2Lip checkpoint."""
    from .checkpoint import load_wav2lip
    from .generator import Wav2LipRunner

    if not path:
        raise ModelUnavailable("no wav2lip checkpoint configured")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ModelUnavailable(f"checkpoint not readable: {path} ({exc.strerror})") from None
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, str(device), bool(fp16))
    with _lock:
        runner = _cache.get(key)
        if runner is None:
            _cache.clear()  # drop the previous model before loading the next (GPU memory)
            runner = Wav2LipRunner(load_wav2lip(path, device, trusted=trusted), device, fp16=fp16)
            _cache[key] = runner
        runner.max_batch = max(1, int(max_batch))
        return runner


def clear() -> None:
    """Forget the loaded model (tests; a worker shutting down)."""
    with _lock:
        _cache.clear()
