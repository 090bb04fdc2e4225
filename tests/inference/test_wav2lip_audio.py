"""Wav2Lip's audio front end against the spec's closed form (§5), and the per-frame mel windows (§5.1).

The oracle here is written from the spec's definitions, column by column (explicit reflect indexing, a plain DFT
sum, triangles in Hz), so it shares no code with ``inference.backends.wav2lip.audio``.
"""
import math

import numpy as np
import pytest

from inference.backends.wav2lip.audio import mel_window_starts, mel_windows, melspectrogram

SR, N_FFT, HOP = 16000, 800, 200


def slaney_mel(f):
    return 3.0 * f / 200.0 if f < 1000 else 15.0 + 27.0 * math.log(f / 1000.0) / math.log(6.4)


def slaney_hz(m):
    return 200.0 * m / 3.0 if m < 15.0 else 1000.0 * 6.4 ** ((m - 15.0) / 27.0)


def oracle_filters():
    lo, hi = slaney_mel(55.0), slaney_mel(7600.0)
    edges = [slaney_hz(lo + (hi - lo) * k / 81) for k in range(82)]
    freqs = [k * SR / N_FFT for k in range(N_FFT // 2 + 1)]
    bank = np.zeros((80, len(freqs)))
    for m in range(80):
        left, centre, right = edges[m], edges[m + 1], edges[m + 2]
        for k, f in enumerate(freqs):
            if left < f < right:
                tri = (f - left) / (centre - left) if f <= centre else (right - f) / (right - centre)
                bank[m, k] = tri * 2.0 / (right - left)  # Slaney area normalisation
    return bank


def oracle_column(x, j, filters, pad="reflect"):
    y = np.array([x[0]] + [x[n] - 0.97 * x[n - 1] for n in range(1, len(x))])
    length = len(y)

    def sample(i):  # index into the signal centred-padded by n_fft // 2
        i -= N_FFT // 2
        if 0 <= i < length:
            return y[i]
        if pad == "constant":
            return 0.0
        return y[-i] if i < 0 else y[2 * (length - 1) - i]

    n = np.arange(N_FFT)
    frame = np.array([sample(HOP * j + k) for k in n]) * (0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT))
    k = np.arange(N_FFT // 2 + 1)[:, None]
    spectrum = np.abs((frame[None, :] * np.exp(-2j * np.pi * k * n[None, :] / N_FFT)).sum(axis=1))
    s = 20 * np.log10(np.maximum(1e-5, filters @ spectrum)) - 20
    return np.clip(8 * (s + 100) / 100 - 4, -4, 4)


@pytest.fixture(scope="module")
def signal():
    """1 s + 37 samples: a loud chirp, 0.2 s of digital silence, a quiet tone with a little noise."""
    rng = np.random.default_rng(7)
    t = np.arange(SR + 37) / SR
    x = 0.6 * np.sin(2 * np.pi * (150 * t + 2500 * t**2)) + 0.003 * rng.standard_normal(len(t))
    x[int(0.4 * SR) : int(0.6 * SR)] = 0.0
    x[int(0.6 * SR) :] = 0.02 * np.sin(2 * np.pi * 300 * t[int(0.6 * SR) :])
    return x


@pytest.fixture(scope="module")
def filters():
    return oracle_filters()


def test_the_mel_has_one_column_per_hop_plus_one_and_the_spec_range(signal):
    mel = melspectrogram(signal)
    assert mel.shape == (80, 1 + len(signal) // HOP) == (80, 81)
    assert mel.dtype == np.float32
    assert mel.min() == -4.0  # the silent stretch clips to the floor
    assert -4.0 <= mel.min() and mel.max() <= 4.0
    assert mel[:, 5].max() > 0  # the loud chirp is well above the floor


@pytest.mark.parametrize("column", [0, 1, 2, 40, 78, 79, 80])
def test_the_mel_matches_the_closed_form_including_first_and_last_columns(signal, filters, column):
    mel = melspectrogram(signal)
    expected = oracle_column(signal, column, filters)
    np.testing.assert_allclose(mel[:, column], expected, atol=1e-5)


def test_reflect_padding_matters_at_the_edges(signal, filters):
    # Guards the test itself: librosa >= 0.9's constant padding would change the first column visibly.
    mel = melspectrogram(signal)
    constant = oracle_column(signal, 0, filters, pad="constant")
    assert np.abs(mel[:, 0] - constant).max() > 0.05


def test_nan_audio_is_refused():
    with pytest.raises(ValueError):
        melspectrogram(np.array([0.0, np.nan, 0.1]))


def official_chunks(mel, fps):
    """``inference.py``'s loop, transcribed (spec §5.1)."""
    chunks, i, mult = [], 0, 80.0 / fps
    while True:
        start = int(i * mult)
        if start + 16 > len(mel[0]):
            chunks.append(mel[:, len(mel[0]) - 16 :])
            break
        chunks.append(mel[:, start : start + 16])
        i += 1
    return np.stack(chunks)


def test_the_spec_example_at_25_fps():
    starts = mel_window_starts(105, 25)
    assert len(starts) == 30
    assert list(starts[:6]) == [0, 3, 6, 9, 12, 16]
    assert list(starts[-3:]) == [86, 89, 89]  # the final chunk repeats


def test_30_fps_uses_the_official_float_arithmetic():
    assert list(mel_window_starts(1000, 30, 12)) == [0, 2, 5, 8, 10, 13, 16, 18, 21, 24, 26, 29]


@pytest.mark.parametrize("fps", [25, 30])
@pytest.mark.parametrize("n_cols", [16, 17, 105, 161, 1001])
def test_windows_match_the_official_chunks(fps, n_cols):
    mel = np.random.default_rng(n_cols).uniform(-4, 4, (80, n_cols)).astype(np.float32)
    expected = official_chunks(mel, fps)
    got = mel_windows(mel, fps)
    assert got.shape == (len(expected), 80, 16)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("fps", [25, 30])
def test_frames_past_the_official_count_keep_the_last_window(fps):
    mel = np.random.default_rng(1).uniform(-4, 4, (80, 161)).astype(np.float32)
    official = official_chunks(mel, fps)
    longer = mel_windows(mel, fps, len(official) + 5)
    np.testing.assert_array_equal(longer[: len(official)], official)
    assert all(np.array_equal(w, mel[:, -16:]) for w in longer[len(official) :])


def test_audio_shorter_than_one_window_is_padded_with_silence():
    mel = np.zeros((80, 3), dtype=np.float32)
    windows = mel_windows(mel, 25, 2)
    assert windows.shape == (2, 80, 16)
    assert (windows[:, :, :3] == 0).all() and (windows[:, :, 3:] == -4).all()


def test_the_engine_s_fractional_frame_rates_are_accepted():
    from fractions import Fraction

    # The engine passes fps as a Fraction (media.video_geometry); NTSC 29.97 must follow the float rule too.
    fps = Fraction(30000, 1001)
    assert list(mel_window_starts(1000, fps, 6)) == [int(i * (80.0 / (30000 / 1001))) for i in range(6)]
    assert mel_windows(np.zeros((80, 100), np.float32), fps).shape[1:] == (80, 16)
