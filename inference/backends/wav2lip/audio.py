"""Wav2Lip's audio front end (spec §5) in numpy, and the per-video-frame mel windows (spec §5.1).

The official code calls librosa 0.7.0; later librosa versions changed ``filters.mel``'s signature and ``stft``'s
default padding (which silently alters the first and last two columns), so this module computes the same closed
form itself: preemphasis 0.97, |STFT| with a periodic Hann window (n_fft = win = 800, hop 200, centred with
*reflect* padding), 80 Slaney mel bands 55-7600 Hz with Slaney area normalisation, 20*log10(max(1e-5, mel)) - 20 dB,
then clip(0.08*S + 4, -4, 4).
"""
from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16000
PREEMPHASIS = 0.97
N_FFT = 800
HOP = 200  # 12.5 ms: 80 mel columns per second
WIN = 800
N_MELS = 80
FMIN, FMAX = 55.0, 7600.0
MIN_LEVEL_DB = -100.0
REF_LEVEL_DB = 20.0
MAX_ABS = 4.0
MEL_STEP = 16  # columns per generator / SyncNet window (200 ms)
MEL_FPS = SAMPLE_RATE / HOP  # 80.0


def _hz_to_mel(f):
    """Slaney's mel scale (librosa ``htk=False``): linear below 1 kHz, logarithmic above."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    mels = f / f_sp
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep, mels)


def _mel_to_hz(m):
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    freqs = f_sp * m
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), freqs)


def mel_basis(sr: int = SAMPLE_RATE, n_fft: int = N_FFT, n_mels: int = N_MELS, fmin: float = FMIN,
              fmax: float = FMAX) -> np.ndarray:
    """Triangular Slaney filters with area normalisation, float64 (n_mels, 1 + n_fft // 2)."""
    fft_freqs = np.linspace(0, sr / 2, 1 + n_fft // 2)
    mel_f = _mel_to_hz(np.linspace(_hz_to_mel(fmin), _hz_to_mel(fmax), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    return weights * (2.0 / (mel_f[2:] - mel_f[:-2]))[:, None]


def _stft_magnitude(y: np.ndarray) -> np.ndarray:
    """|STFT| float64 (1 + N_FFT // 2, 1 + len(y) // HOP), centred frames with reflect padding."""
    pad = N_FFT // 2
    padded = np.pad(y, pad, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(WIN) / WIN)  # periodic Hann
    return np.abs(np.fft.rfft(padded[idx] * window, axis=1)).T


def melspectrogram(samples: np.ndarray) -> np.ndarray:
    """Normalised log-mel of mono audio at 16 kHz.

    ``samples``: float (S,) in [-1, 1]. Returns float32 (80, 1 + S // 200) in [-4, 4]; row 0 is the lowest band,
    column j is centred on sample 200*j. Raises ``ValueError`` on NaN input (the official code fails there too).
    """
    x = np.asarray(samples, dtype=np.float64).reshape(-1)
    if x.size == 0 or not np.isfinite(x).all():
        raise ValueError("audio is empty or holds NaN/inf samples")
    y = np.empty_like(x)
    y[0] = x[0]
    y[1:] = x[1:] - PREEMPHASIS * x[:-1]
    n_cols = 1 + len(x) // HOP
    mag = _stft_magnitude(y)[:, :n_cols]
    mel = mel_basis() @ mag
    s = 20.0 * np.log10(np.maximum(10 ** (MIN_LEVEL_DB / 20), mel)) - REF_LEVEL_DB
    out = np.clip((2 * MAX_ABS) * ((s - MIN_LEVEL_DB) / -MIN_LEVEL_DB) - MAX_ABS, -MAX_ABS, MAX_ABS)
    return out.astype(np.float32)


def official_chunk_count(n_cols: int, fps: float) -> int:
    """How many frames the official ``inference.py`` renders for a mel of ``n_cols`` columns (spec §5.1)."""
    mult = 80.0 / float(fps)
    i = 0
    while int(i * mult) + MEL_STEP <= n_cols:
        i += 1
    return i + 1  # the chunk that first overruns is replaced by the final 16 columns and ends the list


def mel_window_starts(n_cols: int, fps: float, n_frames: int | None = None) -> np.ndarray:
    """First mel column of each frame's 16-column window, int64 (n_frames,).

    Frame i starts at ``int(i * (80 / fps))`` (the official float arithmetic, so e.g. 30 fps gives 0, 2, 5, 8, 10
    ...), clamped to ``n_cols - 16``: for the official frame count (the default) this is exactly the official
    chunk list including its repeated final chunk; longer requests keep the final window.
    """
    if n_frames is None:
        n_frames = official_chunk_count(n_cols, fps)
    mult = 80.0 / float(fps)
    starts = np.array([int(i * mult) for i in range(n_frames)], dtype=np.int64)
    return np.minimum(starts, max(n_cols - MEL_STEP, 0))


def mel_windows(mel: np.ndarray, fps: float, n_frames: int | None = None) -> np.ndarray:
    """The generator's audio input per video frame: float32 (n_frames, 80, 16) in [-4, 4].

    A mel shorter than 16 columns (audio under 0.19 s) is padded on the right with -4, the value of silence.
    """
    mel = np.asarray(mel, dtype=np.float32)
    if mel.shape[1] < MEL_STEP:
        mel = np.pad(mel, ((0, 0), (0, MEL_STEP - mel.shape[1])), constant_values=-MAX_ABS)
    starts = mel_window_starts(mel.shape[1], fps, n_frames)
    idx = starts[:, None] + np.arange(MEL_STEP)[None, :]
    return np.ascontiguousarray(mel[:, idx].transpose(1, 0, 2))
