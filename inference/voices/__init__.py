"""Offline text-to-speech: a script in, a WAV file and the phones it says (with their times) out.

One folder per kind of voice engine, one registry line each (``ENGINES``); the loop here never branches on a
kind's name. Nothing is downloaded: a voice is files on disk or inside an installed wheel.

    from inference.voices import list_voices, synthesize
    speech = synthesize("Hello there.", "en_US-joe-medium", "speech.wav")
    speech.phones  # [("HH", 0.05, 0.11), ...]: ARPAbet phones, seconds from the start of the WAV

Long scripts are spoken sentence by sentence: memory stays flat in the script's length, and progress and
cancellation are checked between sentences.
"""
from __future__ import annotations

import re
import time
import unicodedata
import wave
from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import Cancelled, InputTooLong, ScriptEmpty, ScriptLanguage, ScriptTooLong, UnknownVoice
from . import espeak, piper

# kind -> engine class. A new kind of voice is a module beside these and one line here.
ENGINES = {"piper": piper.PiperEngine, "espeak": espeak.EspeakEngine}

SPEAK = "speak"  # the progress stage of speaking, before the engine's own stages (``progress.Stage``)
SENTENCE_PAUSE_S = 0.25  # silence between sentences, as Piper's own runtime leaves
MAX_SENTENCE_CHARS = 300  # longer "sentences" (lists, run-ons) are cut at commas, then at spaces
# Speaking rates used to estimate a script's spoken length before it is spoken (at speed 1.0). On the side of
# slow speech: the estimate reserves quota minutes and refuses scripts over the minute limit.
CHARS_PER_SECOND = {"zh": 4.0, "other": 13.0}
_SENTENCE_END = re.compile(r"(?<=[.!?;。！？；…])[\"'”’）)\]]*\s+|(?<=[。！？；…])|\n\s*\n|\n(?=\s*[-*•\d])")


@dataclass
class Voice:
    """A voice the engine can speak with. ``language`` is a BCP-47-like code (``en_US``, ``zh_CN``);
    ``family`` its first part (``en``, ``zh``): what a script is checked against."""

    id: str
    name: str
    language: str
    engine: str
    model: str = ""  # the model file, where the kind has one
    config: str = ""  # its settings file
    espeak_voice: str = ""
    sample_rate: int = 22050
    source: str = ""  # "bundled" (an installed package), "folder" (an operator's folder) or "system"

    @property
    def family(self) -> str:
        return self.language.replace("-", "_").split("_")[0].lower()

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "language": self.language, "family": self.family,
                "engine": self.engine, "sample_rate": self.sample_rate, "source": self.source}


@dataclass
class Speech:
    """What ``synthesize`` wrote. ``phones``: ARPAbet ``(phone, start_s, end_s)`` covering the whole file, in the
    phone set of ``speech.decode_phones``; None when alignment was not asked for."""

    path: str
    duration_s: float
    sample_rate: int
    sentences: int
    voice: str
    phones: list | None = None
    aligned_sentences: int = 0  # sentences whose phones came from forced alignment (the rest: recognition)
    seconds: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["phones"] = len(self.phones) if self.phones is not None else None
        return out


def list_voices(folders=()) -> list[Voice]:
    """Every voice installed here: bundled ones first, then those in ``folders``, then system ones."""
    voices, seen = [], set()
    for engine in ENGINES.values():
        for voice in engine.discover([str(f) for f in folders if f]):
            if voice.id not in seen:
                seen.add(voice.id)
                voices.append(voice)
    return voices


def find_voice(voice_id: str, folders=()) -> Voice:
    for voice in list_voices(folders):
        if voice.id == voice_id:
            return voice
    raise UnknownVoice(voice_id)


def default_voice_id(folders=()) -> str | None:
    voices = list_voices(folders)
    return voices[0].id if voices else None


# --- The script ----------------------------------------------------------------------------------

def script_family(text: str) -> str:
    """``zh`` when most letters are Han characters, else ``other`` (any alphabet)."""
    han = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    letters = sum(1 for ch in text if ch.isalpha())
    return "zh" if letters and han / letters >= 0.3 else "other"


def has_words(text: str) -> bool:
    """True when the text holds something speakable: a letter or a digit (punctuation and emoji are not)."""
    return any(unicodedata.category(ch)[0] in "LN" for ch in text)


def estimate_seconds(text: str, speed: float = 1.0, family: str | None = None) -> float:
    """The spoken length a script is expected to have, before it is spoken."""
    family = family or script_family(text)
    spoken = sum(1 for ch in text if not ch.isspace())
    rate = CHARS_PER_SECOND["zh" if family == "zh" else "other"]
    sentences = max(1, len(split_sentences(text))) if len(text) < 20000 else len(text) / 80
    return spoken / (rate * max(speed, 0.1)) + sentences * SENTENCE_PAUSE_S


def split_sentences(text: str) -> list[str]:
    """The script as the sentences it is spoken in: non-empty, each at most ``MAX_SENTENCE_CHARS``."""
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n")
    out = []
    for part in _SENTENCE_END.split(text):
        part = " ".join(part.split())
        while len(part) > MAX_SENTENCE_CHARS:
            cut = max(part.rfind(mark, 0, MAX_SENTENCE_CHARS) for mark in (",", "，", "、", ";", ":"))
            if cut < MAX_SENTENCE_CHARS // 3:
                cut = part.rfind(" ", 0, MAX_SENTENCE_CHARS)
            if cut < MAX_SENTENCE_CHARS // 3:
                cut = MAX_SENTENCE_CHARS - 1
            out.append(part[: cut + 1].strip())
            part = part[cut + 1 :].strip()
        if part:
            out.append(part)
    return [s for s in out if has_words(s)]


def check_script(text: str, voice: Voice, speed: float = 1.0, max_seconds: float | None = None) -> list[str]:
    """The script's sentences, or the error a user can fix: nothing to say (``ScriptEmpty``), too long once
    spoken (``ScriptTooLong``), or in a language the voice cannot speak (``ScriptLanguage``)."""
    if not text or not has_words(text):
        raise ScriptEmpty()
    if max_seconds is not None and estimate_seconds(text, speed) > max_seconds:
        raise ScriptTooLong(f"{len(text)} characters")
    family = script_family(text)
    if (family == "zh") != (voice.family == "zh"):
        raise ScriptLanguage(f"script {family}, voice {voice.language}")
    sentences = split_sentences(text)
    if not sentences:
        raise ScriptEmpty()
    return sentences


# --- Speaking --------------------------------------------------------------------------------------

_ENGINES_LOADED: dict = {}


def load_engine(voice: Voice):
    """The voice's engine, loaded once per process (a Piper model takes about half a second to load)."""
    key = (voice.engine, voice.id, voice.model)
    if key not in _ENGINES_LOADED:
        if len(_ENGINES_LOADED) >= 4:  # operators may install many voices; keep a few in memory
            _ENGINES_LOADED.pop(next(iter(_ENGINES_LOADED)))
        _ENGINES_LOADED[key] = ENGINES[voice.engine](voice)
    return _ENGINES_LOADED[key]


def synthesize(text: str, voice: str | Voice, output: str, speed: float = 1.0, folders=(), align: bool = True,
               max_seconds: float | None = None, max_sentences: int | None = None, on_progress=None,
               should_cancel=None) -> Speech:
    """Speak ``text`` with ``voice`` into a mono 16-bit WAV at ``output``.

    ``speed`` 0.5..2.0 (1.0: the voice's own pace). ``align`` also returns the phones said and when (forced
    alignment of each sentence's phonemes on its audio; recognition for a sentence that does not align).
    ``max_sentences`` stops after that many (a preview). ``on_progress(stage, fraction, done, total, note)``
    after each sentence, as the engine reports (stage ``"speak"``, counters in sentences); ``should_cancel()``
    before each, raising ``Cancelled``. Raises ``ScriptEmpty``,
    ``ScriptTooLong``, ``ScriptLanguage``, ``UnknownVoice``, ``VoiceUnavailable``, ``InputTooLong``.
    """
    if not 0.5 <= float(speed) <= 2.0:
        raise ValueError("speed must be within 0.5..2.0")
    voice = voice if isinstance(voice, Voice) else find_voice(voice, folders)
    sentences = check_script(text, voice, speed, max_seconds)
    if max_sentences:
        sentences = sentences[:max_sentences]
    engine = load_engine(voice)
    rate = engine.sample_rate
    pause = np.zeros(int(SENTENCE_PAUSE_S * rate), dtype=np.int16)
    phones = [] if align else None
    aligned = 0
    clock = {"speak": 0.0, "align": 0.0}
    total = 0  # samples written
    if align:
        from . import align as aligner
    with wave.open(str(output), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        for index, sentence in enumerate(sentences):
            if should_cancel is not None and should_cancel():
                raise Cancelled()
            started = time.monotonic()
            samples, words = engine.speak(sentence, speed)
            clock["speak"] += time.monotonic() - started
            pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
            start_s = total / rate
            out.writeframes(pcm.tobytes())
            total += len(pcm)
            if max_seconds is not None and total / rate > max_seconds:
                raise InputTooLong(f"spoken script over {max_seconds} s")
            if align:
                started = time.monotonic()
                said, exact = aligner.sentence_phones(samples, rate, words)
                aligned += exact
                phones.extend((p, round(start_s + s, 3), round(start_s + e, 3)) for p, s, e in said)
                clock["align"] += time.monotonic() - started
            if index < len(sentences) - 1:
                if align:
                    phones.append(("SIL", round(total / rate, 3), round((total + len(pause)) / rate, 3)))
                out.writeframes(pause.tobytes())
                total += len(pause)
            if on_progress is not None:
                on_progress(SPEAK, (index + 1) / len(sentences), index + 1, len(sentences),
                            f"sentence {index + 1} of {len(sentences)}")
    return Speech(path=str(output), duration_s=total / rate, sample_rate=rate, sentences=len(sentences),
                  voice=voice.id, phones=phones, aligned_sentences=aligned,
                  seconds={k: round(v, 3) for k, v in clock.items()})
