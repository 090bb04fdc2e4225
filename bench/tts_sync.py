"""Typed scripts: what the lips gain from the speech's true phones, against the same audio run through recognition.

    .venv/bin/python bench/tts_sync.py [--clips 4] [--videos woman_glasses_524sq_25fps,man_map_844sq_25fps]
        [--lipeval ../shared/lipeval] [--python /tmp/lipeval-venv/bin/python] [--out var/bench/tts_sync.json]

Needs espeak-ng and the lipeval venv (``bash ../shared/lipeval/setup.sh``). For each of the judge's own English
sentences (``ttsdrive.SENTENCES``), the default voice speaks it (``voices.synthesize``, 16 kHz copy written for
the judge), and each template video is lip-synced twice with ``preset=ultrafast``: once with ``phones=`` the
speech's phones (forced alignment of the phonemes the voice was given: what a script job does), once without
(pocketsphinx all-phone recognition of the audio: what an uploaded voice gets). The judge is independent of the
product: its true phones come from lipeval's own ``ttsdrive.align`` (forced alignment of the sentence's words
with the CMU dictionary, in the lipeval venv), and it scores ``alignsync2`` (``pearson_best``, best of +-3
frames, against the mouth openings real people make for those phones) and ``motion.py closure``
(``bilabial_closed_share``: frames inside m/b/p whose lips are closed; ``open_vowel_reach_median``).
Both the product and the judge use pocketsphinx's aligner and US-English model, so read the gain as "known text
vs recognition", measured with a judge that shares the aligner but not the product's phonemes or code.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JUDGE_PHONES = r"""
import json, sys, wave
import numpy as np
sys.path.insert(0, sys.argv[1])
from ttsdrive import SENTENCES, align, normalise
k, wav, out = int(sys.argv[2]), sys.argv[3], sys.argv[4]
with wave.open(wav) as w:
    x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
words = normalise(SENTENCES[k])
phones, said = align(x, words)
json.dump({"text": SENTENCES[k], "duration_s": len(x) / 16000, "phones": phones, "words": said}, open(out, "w"))
"""


def sentences(lipeval: Path) -> list[str]:
    text = (lipeval / "ttsdrive.py").read_text()
    start = text.index("SENTENCES = [")
    scope: dict = {}
    exec(text[start : text.index("]", start) + 1], scope)
    return scope["SENTENCES"]


def write_16k(path: Path, samples: np.ndarray) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def judge(python: str, lipeval: Path, video: Path, audio: Path, template: Path) -> dict:
    sync = subprocess.run([python, str(lipeval / "lipeval.py"), "--no-cache", "alignsync2", str(video), "--audio",
                           str(audio)], capture_output=True, text=True, check=True)
    closure = subprocess.run([python, str(lipeval / "motion.py"), "closure", str(video), "--audio", str(audio),
                              "--template", str(template)], capture_output=True, text=True, check=True)
    s, c = json.loads(sync.stdout), json.loads(closure.stdout)
    return {"pearson_best": s.get("pearson_best"), "pearson_lag0": s.get("pearson_lag0"),
            "bilabial_closed_share": c.get("bilabial_closed_share"),
            "open_vowel_reach_median": c.get("open_vowel_reach_median")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--videos", default="woman_glasses_524sq_25fps,man_map_844sq_25fps")
    parser.add_argument("--media", default=str(ROOT.parent / "shared" / "media"))
    parser.add_argument("--lipeval", default=str(ROOT.parent / "shared" / "lipeval"))
    parser.add_argument("--python", default="/tmp/lipeval-venv/bin/python")
    parser.add_argument("--voice", default="en_US-joe-medium")
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "tts_sync.json"))
    args = parser.parse_args()

    import inference
    from inference import voices
    from inference.voices.align import to_16k

    lipeval = Path(args.lipeval)
    rows = []
    with tempfile.TemporaryDirectory(prefix="heygem-tts-sync-") as tmp:
        tmp = Path(tmp)
        for k, text in enumerate(sentences(lipeval)[: args.clips]):
            speech = voices.synthesize(text, args.voice, str(tmp / f"s{k}.wav"))
            with wave.open(speech.path) as w:
                x = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768
            audio = tmp / f"clip{k}.wav"
            write_16k(audio, to_16k(x, speech.sample_rate))
            subprocess.run([args.python, "-c", JUDGE_PHONES, str(lipeval), str(k), str(audio),
                            str(tmp / f"clip{k}.json")], check=True)
            for name in args.videos.split(","):
                template = Path(args.media) / "video" / f"{name}.mp4"
                for mode, phones in (("true_phones", speech.phones), ("recognised", None)):
                    out = tmp / f"{name}-{k}-{mode}.mp4"
                    started = time.monotonic()
                    report = inference.generate(str(template), str(audio), str(out),
                                                inference.Config(preset="ultrafast"), phones=phones)
                    row = {"clip": k, "video": name, "mode": mode, "backend": report.backend,
                           "speech_s": round(speech.duration_s, 2), "seconds": round(time.monotonic() - started, 1),
                           **judge(args.python, lipeval, out, audio, template)}
                    rows.append(row)
                    print(json.dumps(row), flush=True)
    summary = {}
    for mode in ("true_phones", "recognised"):
        mine = [r for r in rows if r["mode"] == mode]
        summary[mode] = {key: round(float(np.mean([r[key] for r in mine if r[key] is not None])), 3)
                         for key in ("pearson_best", "pearson_lag0", "bilabial_closed_share", "open_vowel_reach_median")}
    pairs = {(r["clip"], r["video"]): {} for r in rows}
    for r in rows:
        pairs[(r["clip"], r["video"])][r["mode"]] = r["pearson_best"]
    summary["pairs_true_better"] = sum(1 for p in pairs.values() if p["true_phones"] > p["recognised"])
    summary["pairs"] = len(pairs)
    print(json.dumps(summary))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"commit": commit.strip(), "summary": summary, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
