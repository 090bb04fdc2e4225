"""What the audio says about the mouth: voice activity, phone classes (visemes) and acoustic features.

All inputs are mono float32 samples in [-1, 1] at 16 kHz (``media.load_audio``). Outputs are per video frame:
frame ``i`` covers ``[i / fps, (i + 1) / fps)`` seconds.

Phones come from pocketsphinx's bundled US-English model: recognised words force-aligned, or all-phone decoding
where no words come out (``decode_phones``). Recognition is imperfect, but the coarse mouth-shape classes
survive many of its errors, and they are coarse enough to carry other languages too (engine-findings.md).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

RATE = 16000

VISEMES = ("sil", "closed", "lip_teeth", "rounded", "open", "spread", "alveolar", "postalveolar", "velar", "r")
_PHONE_CLASS = {
    "SIL": 0,
    **dict.fromkeys(("P", "B", "M"), 1),
    **dict.fromkeys(("F", "V"), 2),
    **dict.fromkeys(("UW", "UH", "OW", "W", "OY"), 3),
    **dict.fromkeys(("AA", "AE", "AH", "AO", "AW", "AY"), 4),
    **dict.fromkeys(("IY", "IH", "EY", "EH", "Y"), 5),
    **dict.fromkeys(("T", "D", "N", "L", "S", "Z", "TH", "DH"), 6),
    **dict.fromkeys(("SH", "ZH", "CH", "JH"), 7),
    **dict.fromkeys(("K", "G", "NG", "HH"), 8),
    **dict.fromkeys(("R", "ER"), 9),
}
# Generic opening per class, 0 = the person's closed mouth, 1 = their wide-open speech mouth. Where the usual
# hand tables and the openings learned from real mouths disagree (engine-findings.md: K G NG HH and SH CH JH
# fairly open, rounded vowels nearly closed) this follows the learned ones.
OPEN_PRIOR = np.array([0.0, 0.0, 0.12, 0.3, 1.0, 0.6, 0.42, 0.5, 0.55, 0.45], dtype=np.float32)
# Generic mouth width per class in units of the person's width spread (negative: narrower, rounded).
WIDTH_PRIOR = np.array([0.0, 0.0, 0.2, -1.2, 0.2, 0.8, 0.3, -0.6, 0.1, -0.6], dtype=np.float32)
N_CLASSES = len(VISEMES)
SIL, CLOSED = 0, 1


def phone_class(phone: str) -> int:
    """Viseme class index of an ARPAbet phone; fillers and noise count as silence."""
    return _PHONE_CLASS.get(phone.upper(), 0)


def decode_phones(samples: np.ndarray, on_progress=None, words: bool = True,
                  part: tuple[int, int] = (0, 1)) -> list[tuple[str, float, float]]:
    """The phones said: ``[(phone, start_s, end_s), ...]`` in time order.

    Each utterance is first recognised as English words (pocketsphinx's US-English language model and
    dictionary), whose phones are then force-aligned on it; where no words come out or they do not align, the
    utterance falls back to all-phone decoding. Words carry what all-phone decoding lacks, which phones can
    follow which. Measured on the 40 English TTS clips with true phones: 75 % of P B M found, 82 % of those
    found real (all-phone: 65 % and 59 %), and planned mouths followed the true phones at +0.457 instead of
    +0.372 (``bench/plan_quality.py``). Other languages lose nothing by it: the words are wrong, but their phones
    place openings and closures no worse (synthetic Mandarin +0.02 -> +0.05). It costs about four times the CPU
    of all-phone decoding (0.12 s per second of speech), in the child process beside face tracking.

    ``words=False``: all-phone decoding only. ``part=(k, n)``: only the k-th of n consecutive runs of
    utterances (times stay the whole clip's), so n processes can share one clip: their parts joined in order
    are the whole clip's phones.
    """
    from .aligner import pcm16

    pcm = pcm16(samples)
    phones = []
    decoders: dict = {}  # built once per call (the language model takes 0.5 s to load); a decoder is not reentrant
    cuts = utterance_cuts(samples)
    k, n = part
    count = len(cuts) - 1
    for start, stop in list(zip(cuts[:-1], cuts[1:]))[k * count // n : (k + 1) * count // n]:
        offset = start / RATE
        said = _spoken_phones(decoders, samples[start:stop], pcm[start:stop].tobytes()) if words else None
        if said is None:
            said = _decode(decoders, "phones", pcm[start:stop].tobytes())
        phones.extend((p, offset + a, offset + b) for p, a, b in said)
        if on_progress:
            on_progress(min(1.0, stop / max(len(pcm), 1)))
    return phones


def _decoder(made: dict, kind: str):
    if kind not in made:
        from pocketsphinx import Decoder, get_model_path

        model = os.path.join(get_model_path(), "en-us")
        if kind == "words":
            # One search pass (no flat-lexicon rescoring, no lattice best path) with at most 3000 active HMMs a
            # frame: 37 % less CPU than pocketsphinx's defaults, and P B M recall on the 20 even-numbered TTS
            # clips 0.71 -> 0.75 (narrower beams instead lost a fifth of it).
            made[kind] = Decoder(hmm=os.path.join(model, "en-us"), lm=os.path.join(model, "en-us.lm.bin"),
                                 dict=os.path.join(model, "cmudict-en-us.dict"), fwdflat=False, bestpath=False,
                                 maxhmmpf=3000, loglevel="FATAL")
        else:
            made[kind] = Decoder(
                hmm=os.path.join(model, "en-us"),
                allphone=os.path.join(model, "en-us-phone.lm.bin"),
                lm=None,
                dict=None,
                # Narrower beams than pocketsphinx's all-phone defaults: 28 % faster, and the viseme class of 97 %
                # of video frames unchanged (measured on 30 s of the shared speech clips).
                beam=1e-10,
                pbeam=1e-10,
                # A lighter phone language model weight than the usual 2.0: P B M found 65 % instead of 61 % of
                # the true bilabials of 40 TTS clips (forced-aligned), precision unchanged (58 %).
                lw=1.0,
                bestpath=False,
                loglevel="FATAL",
            )
    return made[kind]


def _decode(made: dict, kind: str, pcm: bytes):
    decoder = _decoder(made, kind)
    decoder.start_utt()
    decoder.process_raw(pcm, no_search=False, full_utt=True)
    decoder.end_utt()
    frame_rate = 100.0  # pocketsphinx's 10 ms frames
    return [(seg.word, seg.start_frame / frame_rate, (seg.end_frame + 1) / frame_rate) for seg in decoder.seg()]


def _spoken_phones(made: dict, samples: np.ndarray, pcm: bytes):
    """Phones of the English words recognised in one utterance, force-aligned on it; None when there are none."""
    from .aligner import align

    # Fillers (<s>, <sil>, [NOISE]) are not words; "the(2)" names the dictionary's second pronunciation.
    words = [w for w, _, _ in _decode(made, "words", pcm) if not w.startswith(("<", "["))]
    aligned = align(samples, words) if words else None
    return None if aligned is None else aligned[1]


PIECE_S, SEARCH_S = 6.0, 2.0


def utterance_cuts(samples: np.ndarray) -> list[int]:
    """Sample indices where the audio is cut into utterances for the decoder: about every ``PIECE_S`` seconds, at
    the quietest 100 ms within ``SEARCH_S`` of that point. Decoding long continuous speech in one piece can fail
    as a whole (measured: a 27 s Mandarin reading came back as one 25 s segment, a frozen mouth); short pieces
    bound what one failure costs, and cutting where it is quiet keeps words whole. Memory stays flat too."""
    n, piece, search, hop = len(samples), int(PIECE_S * RATE), int(SEARCH_S * RATE), RATE // 10
    cuts = [0]
    while n - cuts[-1] > piece + search:
        lo, hi = cuts[-1] + piece - search, cuts[-1] + piece + search
        energy = np.square(samples[lo:hi]).reshape(-1, hop).sum(1)  # 2 * search is a whole number of hops
        cuts.append(lo + int(np.argmin(energy)) * hop + hop // 2)
    return cuts + [n]


def class_shares(phones, n_frames: int, fps: float) -> np.ndarray:
    """Share of each viseme class within each video frame: float32 ``(n_frames, N_CLASSES)``, rows sum to 1."""
    res = 100  # 10 ms grid
    grid = np.zeros(int(np.ceil(n_frames / fps * res)) + 1, dtype=np.int64)
    for phone, start, end in phones:
        grid[int(round(start * res)) : int(round(end * res))] = phone_class(phone)
    shares = np.zeros((n_frames, N_CLASSES), dtype=np.float32)
    edges = np.round(np.arange(n_frames + 1) / fps * res).astype(np.int64)
    for i in range(n_frames):
        cells = grid[edges[i] : max(edges[i + 1], edges[i] + 1)]
        shares[i] = np.bincount(cells, minlength=N_CLASSES)[:N_CLASSES] / max(len(cells), 1)
    return shares


_VAD_SESSION = {}


def voice_activity(samples: np.ndarray, n_frames: int, fps: float, on_progress=None) -> np.ndarray:
    """Speech probability per video frame, float32 ``(n_frames,)`` in [0, 1], from silero VAD's ONNX model."""
    import onnxruntime as ort
    import silero_vad

    if "session" not in _VAD_SESSION:
        path = os.path.join(os.path.dirname(silero_vad.__file__), "data", "silero_vad.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        _VAD_SESSION["session"] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    session = _VAD_SESSION["session"]
    window, context = 512, 64  # the 16 kHz model's chunk and the context it expects before each chunk
    n_chunks = int(np.ceil(len(samples) / window))
    padded = np.zeros(n_chunks * window + context, dtype=np.float32)
    padded[context : context + len(samples)] = samples
    state = np.zeros((2, 1, 128), dtype=np.float32)
    sr = np.array(RATE, dtype=np.int64)
    probs = np.zeros(n_chunks, dtype=np.float32)
    for k in range(n_chunks):
        chunk = padded[k * window : k * window + window + context][None, :]
        out, state = session.run(None, {"input": chunk, "state": state, "sr": sr})
        probs[k] = out[0, 0]
        if on_progress is not None and k % 2000 == 0:  # about every 64 s of audio, well under a second
            on_progress(k / n_chunks)
    # Chunk k covers samples [k*512, (k+1)*512); a frame takes the most confident chunk overlapping it.
    per_frame = np.zeros(n_frames, dtype=np.float32)
    for i in range(n_frames):
        first = min(int(i / fps * RATE) // window, n_chunks - 1)
        last = min(max(int((i + 1) / fps * RATE) // window, first + 1), n_chunks)
        per_frame[i] = probs[first:last].max() if n_chunks else 0.0
    return per_frame


def acoustic_features(samples: np.ndarray, n_frames: int, fps: float, device: str = "cpu"):
    """Per-frame log-mel features and loudness.

    Returns ``(mel, loud, centroid, profile)``: ``mel`` float32 ``(n_frames, 26)`` log-mel energies normalised
    per utterance (zero mean, unit variance per band), ``loud`` float32 ``(n_frames,)`` RMS level in dBFS,
    ``centroid`` float32 ``(n_frames,)`` spectral centroid in Hz, ``profile`` float32 ``(26,)`` the utterance's
    mean log-mel shape (level removed): a rough voice-and-channel print. Computed with torch on ``device``.
    """
    import torch

    x = torch.from_numpy(np.ascontiguousarray(samples)).to(device)
    n_fft, n_mels = 512, 26
    hop = max(1, int(round(RATE / fps)))
    need = n_frames * hop + n_fft
    if x.numel() < need:
        x = torch.nn.functional.pad(x, (0, need - x.numel()))
    spec = torch.stft(
        x, n_fft, hop_length=hop, win_length=n_fft, window=torch.hann_window(n_fft, device=device), center=True,
        return_complex=True,
    ).abs().pow(2)[:, :n_frames]  # (freq, frames)
    freqs = torch.linspace(0, RATE / 2, n_fft // 2 + 1, device=device)
    mel_pts = torch.linspace(_hz_to_mel(60.0), _hz_to_mel(7600.0), n_mels + 2, device=device)
    hz_pts = 700.0 * (10 ** (mel_pts / 2595.0) - 1)
    lower, centre, upper = hz_pts[:-2, None], hz_pts[1:-1, None], hz_pts[2:, None]
    fb = torch.clamp(torch.minimum((freqs - lower) / (centre - lower), (upper - freqs) / (upper - centre)), min=0)
    mel = torch.log(fb @ spec + 1e-8).T  # (frames, mels)
    power = spec.sum(0) / (n_fft * n_fft / 4)
    loud = 10 * torch.log10(power + 1e-10)
    voiced = loud >= loud.median()  # the louder half: speech, not the room's noise floor
    raw_mean = mel[voiced].mean(0) if bool(voiced.any()) else mel.mean(0)
    mel = (mel - mel.mean(0)) / (mel.std(0) + 1e-5)
    centroid = (spec * freqs[:, None]).sum(0) / (spec.sum(0) + 1e-10)
    profile = (raw_mean - raw_mean.mean()).float().cpu().numpy()
    return mel.float().cpu().numpy(), loud.float().cpu().numpy(), centroid.float().cpu().numpy(), profile


F1_ORDER, F1_WIN_S, F1_HOP_S = 16, 0.025, 0.01
F1_CHUNK = 1000  # windows analysed at once (10 s of audio)


def formant_openness(samples: np.ndarray, n_frames: int, fps: float) -> np.ndarray:
    """A phone-free openness per video frame, float32 ``(n_frames,)`` in [0, 1]: the first formant (F1, which
    rises as the jaw opens, in any language), normalised over the clip's voiced frames, times loudness; 0 in
    silence. Judged against true phones (``bench/formant_openness.py``), it follows mouths better than loudness
    alone: Mandarin +0.20 against +0.01, English +0.15 against +0.08, real people's own speech against their own
    lips +0.23 against +0.15.

    F1 per 10 ms: a 25 ms window of the pre-emphasised signal, 16th-order LPC (Levinson-Durbin), the lowest
    root between 200 and 1100 Hz narrower than 500 Hz; all windows at once (about 5 ms of CPU per second of
    audio)."""
    x = np.asarray(samples, np.float32)
    win, hop = int(F1_WIN_S * RATE), int(F1_HOP_S * RATE)
    if len(x) < win or n_frames < 1:
        return np.zeros(max(n_frames, 0), np.float32)
    x = np.append(x[:1], x[1:] - np.float32(0.97) * x[:-1])  # float32 here, float64 a chunk at a time
    starts = np.arange(0, len(x) - win + 1, hop)
    windows = np.lib.stride_tricks.sliding_window_view(x, win)  # a view: nothing copied yet
    taper = np.hamming(win)
    chunks = [starts[i : i + F1_CHUNK] for i in range(0, len(starts), F1_CHUNK)]  # memory flat in length
    energy = np.concatenate([10 * np.log10(((windows[c] * taper) ** 2).mean(1) + 1e-12) for c in chunks])
    floor = np.percentile(energy, 95) - 35  # 35 dB under the loud syllables: the quiet end of speech
    f1 = np.full(len(starts), np.nan)
    for i in range(0, len(starts), F1_CHUNK):
        loud = i + np.flatnonzero(energy[i : i + F1_CHUNK] > floor)
        if len(loud):
            spectrum = np.fft.rfft(windows[starts[loud]] * taper, 2 * win)
            f1[loud] = _first_formants(np.fft.irfft(np.abs(spectrum) ** 2)[:, : F1_ORDER + 1])
    voiced = np.isfinite(f1)
    if voiced.sum() < 5:
        return np.zeros(n_frames, np.float32)
    z = np.clip((f1 - np.median(f1[voiced])) / (np.std(f1[voiced]) + 1e-6), -2, 2)
    level = np.clip((energy - floor) / 35, 0, 1)
    # Each video frame: the mean of the 10 ms values within 20 ms of its time (z only where voiced), from
    # running sums over the windows in time order.
    t = starts / RATE + F1_WIN_S / 2
    at = np.arange(n_frames) / fps
    lo, hi = np.searchsorted(t, at - 0.02, "left"), np.searchsorted(t, at + 0.02, "right")

    def near(v):  # per video frame, the sum of v over windows lo..hi
        running = np.concatenate([[0.0], np.cumsum(v)])
        return running[hi] - running[lo]

    count = near(voiced)
    z_mean = near(np.where(voiced, z, 0)) / np.maximum(count, 1)
    level_mean = near(level) / np.maximum(hi - lo, 1)
    return np.where(count > 0, (z_mean + 2.5) / 4.5 * level_mean, 0).astype(np.float32)


def _first_formants(r: np.ndarray) -> np.ndarray:
    """F1 (Hz, NaN where no root qualifies) per row of autocorrelations ``r`` (M, F1_ORDER + 1)."""
    r = r.copy()
    r[:, 0] = r[:, 0] * 1.0001 + 1e-12  # a touch of white noise: keeps the recursion stable on near-pure tones
    m = len(r)
    a = np.zeros((m, F1_ORDER + 1))
    a[:, 0] = 1.0
    err = r[:, 0].copy()
    for i in range(1, F1_ORDER + 1):  # Levinson-Durbin, every window at once
        k = -(r[:, i] + (a[:, 1:i] * r[:, i - 1 : 0 : -1]).sum(1)) / err
        a[:, 1 : i + 1] += k[:, None] * np.concatenate([a[:, i - 1 : 0 : -1], np.ones((m, 1))], 1)
        err = np.maximum(err * (1 - k * k), 1e-12)
    # The roots of each predictor polynomial: the eigenvalues of its companion matrix.
    companion = np.zeros((m, F1_ORDER, F1_ORDER))
    companion[:, 0, :] = -a[:, 1:]
    companion[:, np.arange(1, F1_ORDER), np.arange(F1_ORDER - 1)] = 1.0
    roots = np.linalg.eigvals(companion)
    hz = np.angle(roots) * RATE / (2 * np.pi)
    bandwidth = -RATE / np.pi * np.log(np.maximum(np.abs(roots), 1e-12))
    ok = (roots.imag > 0.01) & (hz > 200) & (hz < 1100) & (bandwidth < 500)
    lowest = np.where(ok, hz, np.inf).min(1)
    return np.where(np.isfinite(lowest), lowest, np.nan)


def _hz_to_mel(hz: float) -> float:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


@dataclass
class SpeechAnalysis:
    """What one recording says about the mouth, per video frame (T frames).

    ``vad`` float32 (T,) speech probability; ``mel`` float32 (T, D) per-utterance normalised log-mels; ``loud``
    (T,) dBFS; ``centroid`` (T,) Hz; ``profile`` (D,) the utterance's mean spectrum (a voice fingerprint);
    ``phones`` ``[(phone, start_s, end_s)]`` or None when not decoded; ``shares`` float32 (T, N_CLASSES) viseme
    shares or None; ``acoustic`` optional (T, D') features that replace ``mel`` in acoustic matching (wav2vec2).
    """

    vad: np.ndarray
    mel: np.ndarray
    loud: np.ndarray
    centroid: np.ndarray
    profile: np.ndarray
    phones: list | None = None
    shares: np.ndarray | None = None
    acoustic: np.ndarray | None = None

    @property
    def matching(self) -> np.ndarray:
        """The features acoustic matching compares: wav2vec2's when configured, else the log-mels."""
        return self.mel if self.acoustic is None else self.acoustic


def analyse(samples: np.ndarray, n_frames: int, fps: float, device: str = "cpu", phones: bool | list = True,
            on_progress=None) -> SpeechAnalysis:
    """Analyse mono 16 kHz ``samples`` for ``n_frames`` video frames at ``fps``. ``phones``: True decodes them
    here, False skips them, a list is phones already decoded (``phones.BackgroundPhones``, or known timings)."""
    vad = voice_activity(samples, n_frames, fps, on_progress=(lambda f: on_progress(0.0)) if on_progress else None)
    mel, loud, centroid, profile = acoustic_features(samples, n_frames, fps, device)
    if phones is True:
        phones = decode_phones(samples, on_progress)
    if phones is False:
        return SpeechAnalysis(vad, mel, loud, centroid, profile)
    return SpeechAnalysis(vad, mel, loud, centroid, profile, phones, class_shares(phones, n_frames, fps))
