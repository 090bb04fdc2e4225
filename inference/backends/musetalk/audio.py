"""Whisper-tiny features per video frame, as MuseTalk 1.5 builds them (spec §6.1, §4.5).

The samples are cut into 30-s segments; each becomes a (80, 3000) log-mel (transformers'
``WhisperFeatureExtractor``) and goes through the encoder, whose five hidden states are stacked per Whisper frame
(50 a second). Video frame i takes the 10 Whisper frames starting at ``floor(i * 50 / fps) - 2p`` (zeros outside the
audio, p = ceil(50 / fps)), flattened time-major to (50, 384), plus MuseTalk's sinusoidal positional encoding.
"""
from __future__ import annotations

import math

import numpy as np

RATE = 16000
WHISPER_FPS = 50
SEGMENT = 30 * RATE
PAD_LEFT, PAD_RIGHT = 2, 2
WINDOW = 2 * (PAD_LEFT + PAD_RIGHT + 1)  # Whisper frames per video frame: 10
D_MODEL = 384


def positional_encoding(rows: int = 50, d_model: int = D_MODEL):
    """MuseTalk's table, float32 (rows, d_model): sin on even columns, cos on odd, computed the way the official
    ``PositionalEncoding`` computes it (float32 products) so the sums agree to the last bit."""
    import torch

    position = torch.arange(0, rows, dtype=torch.float).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
    pe = torch.zeros(rows, d_model)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    return pe


def hidden_states(samples: np.ndarray, extractor, encoder, device="cpu"):
    """Encoder states of ``samples`` (float32 mono 16 kHz in [-1, 1]): float32 tensor (S * 1500, 5, 384) on CPU
    for S 30-s segments; row k is Whisper frame k (20 ms)."""
    import torch

    samples = np.asarray(samples, dtype=np.float32).reshape(-1)
    if len(samples) == 0:
        return torch.zeros((0, 5, D_MODEL))
    out = []
    for start in range(0, len(samples), SEGMENT):
        segment = samples[start : start + SEGMENT]
        mel = extractor(segment, sampling_rate=RATE, return_tensors="pt").input_features
        with torch.inference_mode():
            states = encoder(mel.to(device, torch.float32), output_hidden_states=True).hidden_states
        out.append(torch.stack(states, dim=2)[0].float().cpu())
    return torch.cat(out, dim=0)


def frame_windows(states, n_samples: int, fps: float, n_frames: int | None = None):
    """Per-frame feature blocks, float32 (T, 50, 384), without the positional encoding.

    ``fps`` is used as given (the official code passes ``int(fps)``, see ``official_fps``). ``n_frames`` defaults
    to the official count ``floor(n_samples / 16000 * fps)``; more frames than that get the zero padding's
    silence at the end instead of failing.
    """
    import torch

    fps = float(fps)
    step = WHISPER_FPS / fps
    pad = math.ceil(step)
    actual = math.floor(n_samples / RATE * WHISPER_FPS)
    if n_frames is None:
        n_frames = math.floor(n_samples / RATE * fps)
    states = states[:actual]
    starts = [math.floor(i * step) for i in range(n_frames)]
    right = max(pad * 3 * PAD_RIGHT, (starts[-1] + WINDOW - pad * PAD_LEFT - len(states)) if starts else 0)
    zeros = states.new_zeros((1,) + tuple(states.shape[1:]))
    padded = torch.cat([zeros.expand(pad * PAD_LEFT, *states.shape[1:]), states,
                        zeros.expand(right, *states.shape[1:])], dim=0)
    if not starts:
        return padded.new_zeros((0, WINDOW * states.shape[1], states.shape[2]))
    index = torch.tensor(starts)[:, None] + torch.arange(WINDOW)[None, :]
    blocks = padded[index]  # (T, 10, 5, 384)
    return blocks.reshape(n_frames, WINDOW * states.shape[1], states.shape[2]).contiguous()


def official_fps(fps: float) -> int:
    """The official script chunks at ``int(fps)``: a 29.97 fps video is chunked as 29 fps (spec §6.1 step 6)."""
    return int(fps)


class FrameFeatures:
    """Per-frame conditioning computed on demand from the encoder states, so a long job holds the states
    (7.7 KB per 20 ms) instead of every frame's (50, 384) block (77 KB per frame).

    ``rows(start, stop)``: float32 (stop - start, 50, 384) with the positional encoding added, identical to
    ``frame_windows(...)[start:stop] + pe``. Frame i starts at Whisper frame floor(i * 50 / fps).
    """

    def __init__(self, states, n_samples: int, fps: float, n_frames: int, pe):
        import torch

        self.fps = float(fps)
        self.step = WHISPER_FPS / self.fps
        self.pad = math.ceil(self.step)
        self.n_frames = int(n_frames)
        states = states[: math.floor(n_samples / RATE * WHISPER_FPS)]
        last = math.floor(max(self.n_frames - 1, 0) * self.step)
        right = max(self.pad * 3 * PAD_RIGHT, last + WINDOW - self.pad * PAD_LEFT - len(states))
        shape = tuple(states.shape[1:])
        self.padded = torch.cat([states.new_zeros((self.pad * PAD_LEFT,) + shape), states,
                                 states.new_zeros((right,) + shape)], dim=0)
        self.pe = pe

    def __len__(self):
        return self.n_frames

    def rows(self, start: int, stop: int):
        import torch

        starts = torch.tensor([math.floor(i * self.step) for i in range(start, stop)], dtype=torch.long)
        index = starts[:, None] + torch.arange(WINDOW)[None, :]
        blocks = self.padded[index].reshape(len(starts), -1, self.padded.shape[-1])
        return blocks + self.pe[None, : blocks.shape[1]]
