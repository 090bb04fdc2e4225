"""wav2vec2 audio features per video frame, from a local transformers model directory (never the Hub).

For the retrieval backend: richer acoustic features than the engine's mel profile when an operator provides a
model directory (``save_pretrained`` layout: ``config.json``, weights, optionally ``preprocessor_config.json``).
Any wav2vec2-family model ``AutoModel`` knows (wav2vec2, HuBERT, WavLM) works.

The directory must exist locally: a name like ``facebook/wav2vec2-base`` is refused rather than looked up, and
``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE`` are set before transformers is used, because a worker must never
reach the network (a missing optional file would otherwise trigger a Hub request and a long timeout).
"""
from __future__ import annotations

import os
import threading

import numpy as np

from .errors import ModelUnavailable

RATE = 16000


class Wav2Vec2Features:
    """Per-frame features from hidden layer ``layer`` (default the last) of a local wav2vec2-family model.

    ``chunk_s`` bounds memory on long audio (self-attention grows with the square of the length): the audio is
    processed in chunks of that length with ``context_s`` of extra audio either side, whose outputs are dropped.
    """

    def __init__(self, model_dir, device: str = "cpu", layer: int = -1, chunk_s: float = 20.0,
                 context_s: float = 1.0):
        model_dir = os.fspath(model_dir) if model_dir else ""
        if not model_dir or not os.path.isfile(os.path.join(model_dir, "config.json")):
            raise ModelUnavailable(f"no local wav2vec2 model directory with a config.json at {model_dir!r}")
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # worker logs are JSON lines; a tqdm bar per job would litter them

        try:
            self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).eval().to(device)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise ModelUnavailable(f"{model_dir} is not a loadable wav2vec2 model: {type(exc).__name__}: "
                                   f"{str(exc).splitlines()[0][:200] if str(exc) else ''}") from None
        self.torch = torch
        self.device = device
        self.layer = layer
        self.normalize = True
        pre = os.path.join(model_dir, "preprocessor_config.json")
        if os.path.isfile(pre):
            import json

            with open(pre) as f:
                self.normalize = bool(json.load(f).get("do_normalize", True))
        cfg = self.model.config
        self.hop = int(np.prod(cfg.conv_stride))  # samples per output frame (320 = 20 ms for the usual models)
        # Receptive field of the convolutional front end: the first output frame sees samples [0, field).
        field = 1
        for k, s in reversed(list(zip(cfg.conv_kernel, cfg.conv_stride))):
            field = (field - 1) * s + k
        self.field = field
        self.dim = int(cfg.hidden_size)
        # Whole hops, so every chunk's frames lie on the same 20 ms grid as an unchunked run.
        self.chunk = max(int(chunk_s * RATE) // self.hop, -(-self.field // self.hop)) * self.hop
        self.context = int(context_s * RATE) // self.hop * self.hop

    def frames(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Model frames of mono float32 16 kHz audio: ``(features float32 (K, D), centre times float64 (K,) s)``."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(x) < self.field:
            x = np.pad(x, (0, self.field - len(x)))
        if self.normalize:
            # What Wav2Vec2FeatureExtractor does with do_normalize: zero mean, unit variance per utterance (the
            # whole input, not per chunk, so chunking does not change the scale).
            x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
        feats, times = [], []
        for start in range(0, len(x), self.chunk):
            end = min(start + self.chunk, len(x))
            a = max(0, start - self.context)
            b = min(len(x), end + self.context)
            if b - a < self.field:
                a = max(0, b - self.field)
            f = self._run(x[a:b])
            centre = a + np.arange(len(f)) * self.hop + self.field / 2
            keep = (centre >= start) & (centre < end) if end < len(x) else centre >= start
            feats.append(f[keep])
            times.append(centre[keep] / RATE)
        return np.concatenate(feats).astype(np.float32), np.concatenate(times)

    def _run(self, x: np.ndarray) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            out = self.model(torch.from_numpy(np.ascontiguousarray(x))[None].to(self.device),
                             output_hidden_states=True)
            return out.hidden_states[self.layer][0].float().cpu().numpy()

    def __call__(self, samples: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
        """Features for video frames: float32 (n_frames, D); frame i is interpolated at its centre (i + 0.5)/fps."""
        feats, times = self.frames(samples)
        at = (np.arange(n_frames) + 0.5) / float(fps)
        out = np.empty((n_frames, feats.shape[1]), dtype=np.float32)
        for d in range(feats.shape[1]):
            out[:, d] = np.interp(at, times, feats[:, d])
        return out


_lock = threading.Lock()
_cache: dict = {}


def get_features(model_dir, device: str = "cpu") -> Wav2Vec2Features:
    """A ``Wav2Vec2Features`` kept once per worker process, keyed by the directory's identity (real path and
    config.json's modification time) and the device, so a replaced model is picked up on the next job."""
    path = os.path.join(os.fspath(model_dir or ""), "config.json")
    try:
        key = (os.path.realpath(path), os.stat(path).st_mtime_ns, str(device))
    except OSError:
        key = None  # Wav2Vec2Features raises the readable ModelUnavailable
    with _lock:
        features = _cache.get(key) if key else None
        if features is None:
            features = Wav2Vec2Features(model_dir, device)
            _cache.clear()
            _cache[key] = features
        return features


def per_frame(features: Wav2Vec2Features, samples: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """Features for ``n_frames`` video frames, normalised per utterance (zero mean, unit variance per dimension)
    as retrieval's log-mels are, so the acoustic cost keeps its scale whichever features feed it."""
    out = features(samples, n_frames, fps)
    return ((out - out.mean(0)) / (out.std(0) + 1e-5)).astype(np.float32)
