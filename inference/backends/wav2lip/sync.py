"""Lip-sync scores with the SyncNet_color expert: LSE-D, LSE-C and the audio-video offset.

The scoring follows syncnet_python's ``calc_pdist`` as used by Wav2Lip's evaluation scripts: for every 5-frame
video window i, the Euclidean distance between its face embedding and the audio embeddings of windows
i-15..i+15 (zero embeddings past either end); the distances are averaged over i for each shift, then
``LSE-D`` = the smallest mean distance, ``offset`` = 15 - its index (in frames), and ``LSE-C`` = median - smallest.

Caveat: published LSE numbers use syncnet_python's own model (syncnet_v2, MFCC input), not Wav2Lip's
``lipsync_expert.pth``. With the expert the procedure is the same but the scale is not: its embeddings are
L2-normalised and non-negative, so distances lie in [0, sqrt(2)]. Compare scores from this module with each other
(our backends, the same clip), not with numbers from papers.
"""
from __future__ import annotations

import numpy as np

from .audio import MEL_STEP, mel_windows

WINDOW = 5  # frames per SyncNet face input
VSHIFT = 15  # frames searched either side


def face_windows(faces_bgr: np.ndarray) -> np.ndarray:
    """SyncNet face input for every 5-frame window: uint8 (N, 96, 96, 3) BGR -> float32 (N - 4, 15, 48, 96) in
    [0, 1]: frames i..i+4, lower halves (rows 48..95), stacked on channels in time order (BGR per frame)."""
    faces = np.asarray(faces_bgr)
    if faces.ndim != 4 or faces.shape[1:] != (96, 96, 3):
        raise ValueError(f"faces must be (N, 96, 96, 3), got {faces.shape}")
    m = len(faces) - WINDOW + 1
    if m < 1:
        raise ValueError(f"need at least {WINDOW} frames, got {len(faces)}")
    lower = faces[:, 48:].astype(np.float32) / 255.0  # (N, 48, 96, 3)
    stacked = np.concatenate([lower[k : k + m] for k in range(WINDOW)], axis=3)  # (M, 48, 96, 15)
    return np.ascontiguousarray(stacked.transpose(0, 3, 1, 2))


def embeddings(model, faces_bgr: np.ndarray, mel: np.ndarray, fps: float, device: str = "cpu",
               batch: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Face and audio embeddings, each float32 (N - 4, 512), for windows starting at frames 0..N-5.

    ``mel`` is the (80, T) output of ``audio.melspectrogram`` for the same clip; window k takes mel columns
    ``[int(80 k / fps), +16)`` as in the expert's training (spec §3), clamped at the end of the audio.
    """
    import torch

    faces = face_windows(faces_bgr)
    mels = mel_windows(mel, fps, len(faces))
    assert mels.shape[1:] == (80, MEL_STEP)
    dev = torch.device(device)
    v_out, a_out = [], []
    with torch.inference_mode():
        for i in range(0, len(faces), batch):
            f = torch.from_numpy(faces[i : i + batch]).to(dev)
            a = torch.from_numpy(mels[i : i + batch][:, None]).to(dev)
            a_emb, f_emb = model(a, f)
            v_out.append(f_emb.float().cpu().numpy())
            a_out.append(a_emb.float().cpu().numpy())
    return np.concatenate(v_out), np.concatenate(a_out)


def shift_distances(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = VSHIFT) -> np.ndarray:
    """Mean distance per shift, float64 (2*vshift + 1,): entry j compares video window i with audio window
    i + j - vshift, averaged over i (audio past either end counts as a zero embedding)."""
    v = np.asarray(video_emb, dtype=np.float64)
    a = np.asarray(audio_emb, dtype=np.float64)
    padded = np.pad(a, ((vshift, vshift), (0, 0)))
    win = 2 * vshift + 1
    idx = np.arange(len(v))[:, None] + np.arange(win)[None, :]  # (N, win) rows of padded
    # torch.pairwise_distance adds eps=1e-6 to the difference; kept so scores match syncnet_python's.
    d = np.linalg.norm(v[:, None, :] - padded[idx] + 1e-6, axis=2)
    return d.mean(axis=0)


def sync_scores(video_emb: np.ndarray, audio_emb: np.ndarray, vshift: int = VSHIFT) -> dict:
    """``{"lse_d", "lse_c", "offset", "distances"}``: LSE-D (lower is better), LSE-C (higher is better), the
    offset in frames at the best shift (syncnet_python's sign convention), and the per-shift mean distances."""
    dist = shift_distances(video_emb, audio_emb, vshift)
    best = int(np.argmin(dist))
    # torch.median (used by syncnet_python) returns the lower middle value for an even count; odd here anyway.
    median = float(np.sort(dist)[(len(dist) - 1) // 2])
    return {"lse_d": float(dist[best]), "lse_c": median - float(dist[best]), "offset": vshift - best,
            "distances": dist}


def score_crops(model, faces_bgr: np.ndarray, samples: np.ndarray, fps: float, device: str = "cpu") -> dict:
    """Scores of a clip from its face crops uint8 (N, 96, 96, 3) BGR (one per video frame, N >= 5) and its mono
    float32 audio at 16 kHz. See ``sync_scores``; adds ``windows`` (N - 4)."""
    from .audio import melspectrogram

    v, a = embeddings(model, faces_bgr, melspectrogram(samples), fps, device)
    out = sync_scores(v, a)
    out["windows"] = len(v)
    return out
