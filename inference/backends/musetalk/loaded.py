"""The MuseTalk networks loaded once per worker process.

Loading reads about 3.9 GB (the UNet alone is 3.4 GB) and, on a GPU, places it in memory: once per worker, not
once per job. The model is kept keyed by the identity of every file it was read from (real path, size,
modification time) and the device settings, so an operator replacing a file gets it on the next job without a
restart. Only one model is kept: a worker runs one job at a time, and a replaced file must not leave its
predecessor resident on the GPU.
"""
from __future__ import annotations

import os
import threading

from ...errors import ModelUnavailable

_lock = threading.Lock()
_cache: dict = {}


def _identity(model_dir) -> tuple:
    from .files import check_files, required_files

    check_files(model_dir)  # ModelUnavailable naming missing files, before anything is read
    out = []
    for path in required_files(model_dir):
        try:
            st = os.stat(path)
        except OSError as exc:
            raise ModelUnavailable(f"not readable: {path} ({exc.strerror})") from None
        out.append((os.path.realpath(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


def get_model(model_dir, device: str = "cpu", fp16: bool = False, batch_size: int = 8):
    """A ``model.MuseTalk`` for the files under ``model_dir`` on ``device``, loaded at most once per version of
    those files. Raises ``ModelUnavailable`` (log-only detail) when a file is missing or unusable."""
    from .model import MuseTalk

    key = (_identity(model_dir), str(device), bool(fp16))
    with _lock:
        model = _cache.get(key)
        if model is None:
            _cache.clear()  # drop the previous model before loading the next (GPU memory)
            model = MuseTalk.load(model_dir, device, fp16=fp16, batch_size=batch_size)
            _cache[key] = model
        model.batch_size = max(1, int(batch_size))
        return model


def clear() -> None:
    """Forget the loaded model (tests; a worker shutting down)."""
    with _lock:
        _cache.clear()
