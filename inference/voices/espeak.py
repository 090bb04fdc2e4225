"""espeak-ng: the phonemes every voice here speaks from, and a robotic but intelligible voice of its own.

espeak-ng (GPL-3.0) runs as a separate program, never linked: the product calls the ``espeak-ng`` command.

Mandarin: Debian's espeak-ng 1.51 ``cmn`` voice turns Han characters into tone-numbered pinyin and then reads
that pinyin as English letters ("ni3" becomes "knee three"). So Han text is first turned into tone-numbered
pinyin here (pypinyin, MIT, its dictionary inside the wheel) and spoken or phonemized with espeak-ng's
``cmn-latn-pinyin`` voice, which reads pinyin as Mandarin.
"""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import wave

import numpy as np

from ..errors import VoiceUnavailable

_TAG = re.compile(r"\([a-z-]+\)")
_CLAUSE_MARK = re.compile(r"[,;:.!?，；：。！？、]")
_ASCII_MARK = {"，": ",", "；": ";", "：": ":", "。": ".", "！": "!", "？": "?", "、": ","}
TIMEOUT_S = 60


def binary() -> str | None:
    return shutil.which("espeak-ng")


def is_mandarin(espeak_voice: str) -> bool:
    return espeak_voice.lower().split("-")[0] in ("cmn", "zh")


def to_pinyin(text: str) -> str:
    """Han characters as tone-numbered pinyin syllables (``你好。`` -> ``ni3 hao3 .``); other text unchanged."""
    from pypinyin import Style, lazy_pinyin

    parts = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True)
    out = " ".join(parts)
    for wide, narrow in _ASCII_MARK.items():
        out = out.replace(wide, narrow)
    return " ".join(out.split())


def _run(args: list[str], text: str) -> bytes:
    program = binary()
    if program is None:
        raise VoiceUnavailable("espeak-ng is not installed")
    try:
        done = subprocess.run([program, *args], input=text.encode("utf-8"), capture_output=True, timeout=TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoiceUnavailable(f"espeak-ng failed: {exc}") from exc
    if done.returncode != 0:
        raise VoiceUnavailable(f"espeak-ng exit {done.returncode}: {done.stderr[-200:]!r}")
    return done.stdout


def phonemize(text: str, espeak_voice: str) -> list[str]:
    """IPA phonemes of ``text``, one string per clause, each clause ending with its punctuation mark when the
    text had one (as Piper's phonemizer gives them to its models)."""
    if is_mandarin(espeak_voice):
        text, espeak_voice = to_pinyin(text), "cmn-latn-pinyin"
    lines = [_TAG.sub("", line).strip() for line in _run(["-q", "--ipa", "-v", espeak_voice], text)
             .decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    marks = [_ASCII_MARK.get(m, m) for m in _CLAUSE_MARK.findall(text)]
    if len(marks) >= len(lines):
        # espeak ends a clause at each mark (except some it reads, like a decimal point): pair them from the end.
        marks = marks[len(marks) - len(lines):]
        lines = [line + mark for line, mark in zip(lines, marks)]
    return lines


def words_of(clauses: list[str], espeak_voice: str = "") -> list[str]:
    """The IPA words of phonemized clauses, clause marks removed (a "." inside a word is espeak-ng's retroflex
    notation, ``s.`` for "sh"). Mandarin's tone 3 is written "ɜ" after its vowel: dropped, it is no phone."""
    words = []
    for clause in clauses:
        if clause and clause[-1] in ",;:.!?":
            clause = clause[:-1]
        if is_mandarin(espeak_voice):
            clause = clause.replace("ɜ", "")
        words.extend(clause.split())
    return words


class EspeakEngine:
    """espeak-ng's own formant voices: small, fast, robotic. Mandarin's last resort, and English's."""

    kind = "espeak"
    VOICES = (("espeak-cmn", "eSpeak NG Mandarin (robotic)", "zh_CN", "cmn"),
              ("espeak-en-us", "eSpeak NG English (robotic)", "en_US", "en-us"))
    BASE_WPM = 165

    @classmethod
    def discover(cls, folders):
        from . import Voice

        if binary() is None:
            return []
        voices = []
        for voice_id, name, language, espeak_voice in cls.VOICES:
            if is_mandarin(espeak_voice):
                try:
                    import pypinyin  # noqa: F401
                except ImportError:
                    continue
            voices.append(Voice(id=voice_id, name=name, language=language, engine=cls.kind,
                                espeak_voice=espeak_voice, sample_rate=22050, source="system"))
        return voices

    def __init__(self, voice):
        if binary() is None:
            raise VoiceUnavailable("espeak-ng is not installed")
        self.voice = voice
        self.sample_rate = voice.sample_rate

    def speak(self, sentence: str, speed: float):
        """``(samples, words)``: float32 mono samples in [-1, 1] at ``sample_rate``, and the IPA words said."""
        espeak_voice, text = self.voice.espeak_voice, sentence
        if is_mandarin(espeak_voice):
            espeak_voice, text = "cmn-latn-pinyin", to_pinyin(sentence)
        data = _run(["-v", espeak_voice, "-s", str(int(self.BASE_WPM * speed)), "--stdout"], text)
        samples, rate = read_wav_bytes(data)
        if rate != self.sample_rate:
            raise VoiceUnavailable(f"espeak-ng answered at {rate} Hz")
        return samples, words_of(phonemize(sentence, self.voice.espeak_voice), self.voice.espeak_voice)


def read_wav_bytes(data: bytes) -> tuple[np.ndarray, int]:
    """16-bit PCM WAV bytes as float32 samples; tolerates the unknown lengths a WAV written to a pipe carries."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate, width = wav.getframerate(), wav.getsampwidth()
    except (wave.Error, EOFError) as exc:
        raise VoiceUnavailable("espeak-ng wrote no WAV") from exc
    start = data.find(b"data")
    if width != 2 or start < 0:
        raise VoiceUnavailable("unexpected WAV from espeak-ng")
    pcm = data[start + 8 :]
    pcm = pcm[: len(pcm) // 2 * 2]
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate
