"""Forced alignment: when each of a known sequence of words was said, and its phones, with pocketsphinx's
US-English model. Used for typed scripts (``voices.align``: the words a voice was given) and for speech
recognition (``speech.decode_phones``: the words the recogniser heard). One decoder per process, behind a lock:
its search is not reentrant and it is slow to build."""
from __future__ import annotations

import os
import threading

import numpy as np

_LOCK = threading.Lock()
_DECODER = {}


def pcm16(samples16k: np.ndarray) -> np.ndarray:
    """int16 samples for pocketsphinx, with a -60 dBFS noise floor added (seeded): its feature normalisation
    fails on digital silence (engine-findings.md). Used by recognition and alignment alike."""
    rng = np.random.default_rng(0)
    noisy = samples16k + rng.normal(0, 10 ** (-60 / 20), size=samples16k.shape).astype(np.float32)
    return (np.clip(noisy, -1, 1) * 32767).astype(np.int16)


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
        pcm = pcm16(samples16k).tobytes()
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
