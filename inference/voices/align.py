"""The phones a voice said and when: pocketsphinx forced alignment of known phonemes on the spoken audio.

A synthetic voice says exactly the phonemes it was given, so each sentence's espeak-ng IPA words become
pronunciations (mapped to the ARPAbet phones of pocketsphinx's US-English model, the set
``speech.decode_phones`` returns) and are force-aligned on that sentence's audio. Mandarin phonemes map to the
nearest English phones: the mouth shapes they stand for are what matters. A sentence that does not align falls
back to all-phone recognition of its audio, so there are always phones.
"""
from __future__ import annotations

import numpy as np

from ..aligner import align

RATE = 16000
__all__ = ["align", "ipa_to_arpabet", "sentence_phones", "to_16k"]

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
