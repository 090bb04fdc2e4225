"""Process-wide runtime knobs, set explicitly once per worker (never at import)."""
from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def opencv_threads(n: int):
    """OpenCV's worker-thread count set to ``n`` for the block, then put back. The render stage's OpenCV work
    is on boxes a few hundred pixels square, where splitting each call over threads cost more CPU than it
    saved (the waiting workers spin) and took it from the decoder's and encoder's threads."""
    import cv2

    before = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(before)


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


def gpu_memory(device) -> dict:
    """GPU memory in bytes (``allocated``, ``peak``, ``free``, ``total``) of a torch ``device``, for the report;
    {} on CPU."""
    import torch

    device = torch.device(device)
    if device.type != "cuda":
        return {}
    free, total = torch.cuda.mem_get_info(device)
    return {"allocated": torch.cuda.memory_allocated(device), "peak": torch.cuda.max_memory_allocated(device),
            "free": free, "total": total}


def in_batches(n: int, size: int, step) -> int:
    """Run ``step(i, j)`` over ``[0, n)`` in slices of at most ``size``; returns the size that last fitted.

    When CUDA runs out of memory on a slice (a long video's batch next to another process, fragmentation), the
    size is halved and that slice retried, down to one sample; a single sample that still does not fit raises
    ``GpuOutOfMemory`` (a code the job shows) instead of torch's error. ``step`` must write its own results, so
    a failed slice leaves nothing half done.
    """
    import torch

    from .errors import GpuOutOfMemory

    size = max(1, int(size))
    i = 0
    while i < n:
        j = min(n, i + size)
        try:
            step(i, j)
        except torch.cuda.OutOfMemoryError as exc:
            torch.cuda.empty_cache()
            if size == 1:
                raise GpuOutOfMemory(f"one sample at {i} of {n}: {exc}"[:300]) from None
            size = max(1, size // 2)
            continue
        i = j
    return size
