"""The phones a voice said and when: pocketsphinx forced alignment of known phonemes on the spoken audio.

A synthetic voice says exactly the phonemes it was given, so each sentence's espeak-ng IPA words become
pronunciations (mapped to the ARPAbet phones of pocketsphinx's US-English model, the set
``speech.decode_phones`` returns) and are force-aligned on that sentence's audio. Mandarin phonemes map to the
nearest English phones: the mouth shapes they stand for are what matters. A sentence that does not align falls
back to all-phone recognition of its audio, so there are always phones.
"""
from __future__ import annotations

import os
import threading

import numpy as np

RATE = 16000

# espeak-ng IPA -> ARPAbet, longest match first. Stress, length and tone marks are dropped.
_IPA = {
    # Mandarin (cmn-latn-pinyin): retroflex and alveolo-palatal series, aspirated stops, apical vowels.
    "ts.h": ["CH"], "ts.": ["JH"], "s.": ["SH"], "z.": ["ZH"], "i.": ["IH"], "tɕh": ["CH"], "tɕ": ["JH"],
    "tsh": ["T", "S"], "ts": ["Z"], "ɕ": ["SH"], "ph": ["P"], "th": ["T"], "kh": ["K"], "ɤ": ["AH"], "y": ["UW"],
    "ɨ": ["IH"], "ʐ": ["ZH"], "ʂ": ["SH"], "tʂ": ["CH"], "ɻ": ["R"], "χ": ["HH"], "x": ["HH"], "ɯ": ["UW"],
    # English diphthongs and affricates.
    "eɪ": ["EY"], "aɪ": ["AY"], "aʊ": ["AW"], "ɔɪ": ["OY"], "oʊ": ["OW"], "əʊ": ["OW"], "tʃ": ["CH"],
    "dʒ": ["JH"], "ɪə": ["IH", "R"], "ɛə": ["EH", "R"], "ʊə": ["UH", "R"], "aɪə": ["AY", "ER"],
    # Vowels.
    "i": ["IY"], "ɪ": ["IH"], "ᵻ": ["IH"], "e": ["EH"], "ɛ": ["EH"], "æ": ["AE"], "a": ["AA"], "ɑ": ["AA"],
    "ɒ": ["AA"], "ɔ": ["AO"], "o": ["OW"], "ʊ": ["UH"], "u": ["UW"], "ʌ": ["AH"], "ə": ["AH"], "ɐ": ["AH"],
    "ɚ": ["ER"], "ɜ": ["ER"], "œ": ["EH"], "ø": ["UH"], "ɵ": ["UH"],
    # Consonants.
    "p": ["P"], "b": ["B"], "t": ["T"], "d": ["D"], "k": ["K"], "g": ["G"], "ɡ": ["G"], "m": ["M"], "n": ["N"],
    "ŋ": ["NG"], "ɲ": ["N", "Y"], "f": ["F"], "v": ["V"], "θ": ["TH"], "ð": ["DH"], "s": ["S"], "z": ["Z"],
    "ʃ": ["SH"], "ʒ": ["ZH"], "h": ["HH"], "l": ["L"], "ɫ": ["L"], "r": ["R"], "ɹ": ["R"], "ɾ": ["D"],
    "w": ["W"], "j": ["Y"], "ç": ["HH"], "ʁ": ["R"], "β": ["V"],
}
_LONGEST = max(len(k) for k in _IPA)
_DROP = set("ˈˌːˑ-_'‿̩̯̃.0123456789")

_LOCK = threading.Lock()
_DECODER = {}


def ipa_to_arpabet(word: str) -> list[str]:
    """ARPAbet phones of one IPA word; symbols with no English counterpart are skipped."""
    out, i = [], 0
    word = word.strip()
    while i < len(word):
        for size in range(min(_LONGEST, len(word) - i), 0, -1):
            chunk = word[i : i + size]
            if chunk in _IPA:
                out.extend(_IPA[chunk])
                i += size
                break
        else:
            i += 1  # a mark (stress, length, tone) or an unknown symbol
    return out


def to_16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mono float32 at 16 kHz (linear interpolation: alignment needs the phones, not hi-fi)."""
    if rate == RATE:
        return samples.astype(np.float32)
    n = int(round(len(samples) * RATE / rate))
    return np.interp(np.arange(n) * (rate / RATE), np.arange(len(samples)), samples).astype(np.float32)


def _pcm(samples16k: np.ndarray) -> bytes:
    # A -60 dBFS noise floor: pocketsphinx's feature normalisation fails on digital silence (engine-findings.md).
    rng = np.random.default_rng(0)
    noisy = samples16k + rng.normal(0, 10 ** (-60 / 20), size=samples16k.shape).astype(np.float32)
    return (np.clip(noisy, -1, 1) * 32767).astype(np.int16).tobytes()


def _decoder():
    if "d" not in _DECODER:
        from pocketsphinx import Decoder, get_model_path

        model = get_model_path()
        _DECODER["d"] = Decoder(hmm=os.path.join(model, "en-us", "en-us"),
                                dict=os.path.join(model, "en-us", "cmudict-en-us.dict"), lm=None, bestpath=False,
                                loglevel="FATAL")
    return _DECODER["d"]


def align(samples16k: np.ndarray, words: list[str], pronunciations: list[list[str]] | None = None):
    """Force-align ``words`` (dictionary words, or any names when ``pronunciations`` gives their ARPAbet
    phones) on 16 kHz audio. Returns ``(words, phones, score)``: ``[(word, start_s, end_s)]``,
    ``[(phone, start_s, end_s)]`` and the acoustic score per frame (higher is better), or None when the text
    cannot be aligned (or a word is unknown)."""
    if not words:
        return None
    with _LOCK:  # one decoder per process, and its search is not reentrant
        decoder = _decoder()
        names = []
        for index, word in enumerate(words):
            if pronunciations is not None:
                phones = pronunciations[index]
                name = "ph_" + "_".join(phones).lower()
                if decoder.lookup_word(name) is None:
                    decoder.add_word(name, " ".join(phones), True)
                word = name
            elif decoder.lookup_word(word) is None:
                return None
            names.append(word)
        pcm = _pcm(samples16k)
        try:
            decoder.set_align_text(" ".join(names))
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            if decoder.hyp() is None:
                return None
            decoder.set_alignment()
            decoder.start_utt()
            decoder.process_raw(pcm, full_utt=True)
            decoder.end_utt()
            alignment = decoder.get_alignment()
            if alignment is None:
                return None
            said_words = [(w.name, w.start / 100, (w.start + w.duration) / 100) for w in alignment.words()]
            said_phones = [(p.name, p.start / 100, (p.start + p.duration) / 100) for p in alignment.phones()]
            frames = max(1, sum(w.duration for w in alignment.words()))
            score = sum(w.score for w in alignment.words()) / frames
        except RuntimeError:
            return None
    if pronunciations is not None:
        lookup = dict(zip(names, words))
        said_words = [(lookup.get(w, w), s, e) for w, s, e in said_words]
    return said_words, said_phones, score


def sentence_phones(samples: np.ndarray, rate: int, ipa_words: list[str]):
    """``(phones, exact)``: the ARPAbet phones of one spoken sentence with times from its start, and whether
    they came from forced alignment (True) or, failing that, recognition (False)."""
    x = to_16k(samples, rate)
    duration = len(x) / RATE
    pairs = [(w, ipa_to_arpabet(w)) for w in ipa_words]
    pairs = [(w, p) for w, p in pairs if p]
    if not pairs:
        return [("SIL", 0.0, duration)], True
    aligned = align(x, [w for w, _ in pairs], [p for _, p in pairs])
    if aligned is not None:
        return [(p.split("(")[0], s, min(e, duration)) for p, s, e in aligned[1]], True
    from ..speech import decode_phones

    return decode_phones(x), False
