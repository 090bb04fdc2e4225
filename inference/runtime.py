"""Process-wide runtime knobs, set explicitly once per worker (never at import)."""
from __future__ import annotations

import os

_state = {"device": None}


def init_runtime(threads: int = 0, device: str = "auto") -> str:
    """Configure torch/OpenCV threading and pick the device. Returns "cuda" or "cpu"."""
    import cv2
    import torch

    n = threads or os.cpu_count() or 1
    torch.set_num_threads(n)
    cv2.setNumThreads(n)
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    _state["device"] = device
    return device


def current_device(requested: str = "auto", threads: int = 0) -> str:
    """The device to use for numeric work; initialises the runtime on first use (a worker should have called
    ``init_runtime`` already, which this then leaves alone)."""
    if _state["device"] is None or (requested != "auto" and requested != _state["device"]):
        return init_runtime(threads, requested)
    return _state["device"]


def release_memory() -> None:
    """Hand freed heap memory back to the OS (glibc's malloc_trim). Audio analysis frees many small blocks
    that otherwise stay in the process's heap, so a long job's render stage would peak that much higher than
    a short one's. A no-op where the C library has no malloc_trim."""
    import ctypes
    import ctypes.util

    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
