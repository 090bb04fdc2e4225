"""A lead for languages the recogniser does not know: how well the first formant (F1) alone follows mouth
opening, judged by ../shared/lipeval, beside the loudness the engine falls back to.

    /tmp/lipeval-venv/bin/python bench/formant_openness.py [--media ../shared/media] [--cache var/bench/cache]

Runs in lipeval's venv (it judges with lipeval; nothing here is imported by ``inference/``). F1 rises as the jaw
opens in any language, so an F1 track needs no phone set. Per 10 ms: pre-emphasis, a 25 ms Hamming window,
16th-order LPC (Levinson-Durbin), F1 = the lowest LPC root between 200 and 1100 Hz with a bandwidth under
500 Hz. Per video frame: the speaker-normalised F1 (z over the clip's voiced frames) scaled by loudness, zero in
silence. Judged three ways: English TTS clips and Mandarin pinyin clips against their true phones (lipeval's
``alignsync2`` expectation, best of +-3 frames), and the five shared real people's own audio against their own
tracked lips (Pearson, best of +-3 frames).
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SR = 16000


def _lpc(r: np.ndarray, order: int) -> np.ndarray:
    a = np.zeros(order + 1)
    a[0], err = 1.0, r[0]
    for i in range(1, order + 1):
        k = -(r[i] + np.dot(a[1:i], r[i - 1:0:-1])) / err
        a[1:i + 1] += k * np.concatenate([a[i - 1:0:-1], [1.0]])
        err *= 1 - k * k
        if err <= 0:
            break
    return a


def f1_track(x: np.ndarray, hop=0.01, win=0.025, order=16):
    """(F1 Hz or NaN, energy dB) per ``hop`` of 16 kHz mono ``x``."""
    x = np.append(x[0], x[1:] - 0.97 * x[:-1]).astype(np.float64)
    n, h = int(win * SR), int(hop * SR)
    w = np.hamming(n)
    f1s, energy = [], []
    for i in range(0, max(len(x) - n, 1), h):
        fr = x[i:i + n] * w
        energy.append(10 * np.log10(float(np.sum(fr ** 2)) / n + 1e-12))
        r = np.correlate(fr, fr, "full")[n - 1:n + order]
        if r[0] <= 1e-9:
            f1s.append(np.nan)
            continue
        r[0] *= 1.0001  # a little white noise: keeps the recursion stable on pure tones
        roots = np.roots(_lpc(r, order))
        roots = roots[np.imag(roots) > 0.01]
        f = np.angle(roots) * SR / (2 * np.pi)
        bw = -SR / np.pi * np.log(np.abs(roots))
        f = np.sort(f[(f > 200) & (f < 1100) & (bw < 500)])
        f1s.append(f[0] if len(f) else np.nan)
    return np.array(f1s), np.array(energy)


def openness(x: np.ndarray, times: np.ndarray):
    """(F1-based, loudness-only) openness at ``times`` (s)."""
    f1, en = f1_track(x)
    t = np.arange(len(f1)) * 0.01 + 0.0125
    floor = np.percentile(en, 95) - 35
    voiced = (en > floor) & np.isfinite(f1)
    z = np.where(voiced, (f1 - np.median(f1[voiced])) / (np.std(f1[voiced]) + 1e-6), np.nan)
    loud = np.clip((en - floor) / 35, 0, 1)
    by_f1, by_loud = [], []
    for tt in times:
        m = np.abs(t - tt) <= 0.02
        zz = z[m][np.isfinite(z[m])]
        lo = float(loud[m].mean()) if m.any() else 0.0
        by_loud.append(lo)
        by_f1.append((np.clip(zz.mean(), -2, 2) + 2.5) * lo if len(zz) else 0.0)
    return np.array(by_f1), np.array(by_loud)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--media", default=str(REPO.parent / "shared" / "media"))
    ap.add_argument("--lipeval", default=str(REPO.parent / "shared" / "lipeval"))
    ap.add_argument("--cache", default=str(REPO / "var" / "bench" / "cache"))
    a = ap.parse_args()
    sys.path.insert(0, a.lipeval)
    import lipeval as L

    model = L.load_open_model()
    for kind, pattern in [("English TTS", "tts/en-*.json"), ("Mandarin pinyin", "cmn/*.json")]:
        scores = []
        for j in sorted(glob.glob(os.path.join(a.cache, pattern))):
            ph, meta = L.load_aligned_phones(j)
            x, _ = L.load_audio(j[:-5] + ".wav")
            times = np.arange(int(float(meta["duration_s"]) * 25)) / 25
            expected = L.predict_open(model, ph, times, float(meta["duration_s"]))
            scores.append([L.model_sync_metrics(expected, p)["pearson_best"] for p in openness(x, times)])
        s = np.array(scores)
        print(f"{kind}: {len(s)} clips, F1 {s[:, 0].mean():+.3f}, loudness {s[:, 1].mean():+.3f}")
    own = []
    for v in sorted(glob.glob(os.path.join(a.media, "video", "*.mp4"))):
        tr = L.get_track(v)
        lips = L.aperture(tr)
        x, t0 = L.load_audio(v)
        ok = np.isfinite(lips)
        own.append([max(L.pearson(np.roll(p, k)[ok], lips[ok]) for k in range(-3, 4))
                    for p in openness(x, tr["t"] - t0)])
        print(f"  {os.path.basename(v)}: F1 {own[-1][0]:+.3f}, loudness {own[-1][1]:+.3f}")
    o = np.array(own)
    print(f"Real people, own audio against own lips: F1 {o[:, 0].mean():+.3f}, loudness {o[:, 1].mean():+.3f}")


if __name__ == "__main__":
    main()
