"""Lip-sync backends: one folder each, one line each in ``REGISTRY``.

A backend subclasses ``base.Backend``. The registry names its class by import path so that ``import inference``
stays cheap (torch and model code load only when a backend is used). Adding a backend is one folder plus one
line here; ``auto`` tries the registered backends by their ``auto_rank``.
"""
from __future__ import annotations

import importlib

from ..errors import ModelUnavailable

# name -> "module:Class" (a class itself is accepted too, for backends defined outside the package)
REGISTRY = {
    "retrieval": "inference.backends.retrieval:Retrieval",
    "warp": "inference.backends.warp:Warp",
    "wav2lip": "inference.backends.wav2lip.backend:Wav2LipBackend",
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str):
    """The backend class registered as ``name``."""
    entry = REGISTRY[name]
    if not isinstance(entry, str):
        return entry
    module, _, attr = entry.partition(":")
    return getattr(importlib.import_module(module), attr)


def choose(config) -> tuple[type, str]:
    """The backend class to run for ``config`` and why. A backend asked for by name that cannot run raises
    ``ModelUnavailable``; ``auto`` takes the best-ranked one that can."""
    if config.backend != "auto":
        cls = get(config.backend)
        problem = cls.unavailable(config)
        if problem:
            raise ModelUnavailable(f"backend {config.backend} requested but {problem}")
        return cls, "requested"
    ranked = sorted((c for c in map(get, REGISTRY) if c.auto_rank is not None), key=lambda c: c.auto_rank)
    for cls in ranked:
        if not cls.unavailable(config):
            return cls, cls.auto_reason(config)
    raise ModelUnavailable("no backend can run with this configuration")
