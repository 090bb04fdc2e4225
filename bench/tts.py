"""Typed scripts: how fast the offline text-to-speech speaks, and how much memory a long script takes.

    .venv/bin/python bench/tts.py [--voice en_US-joe-medium] [--minutes 0.5 10] [--out var/bench/tts.json]

Each script length runs in a fresh child process (so its peak RSS is its own): an English script of ordinary
sentences, long enough to speak for about that many minutes at speed 1.0, spoken with ``voices.synthesize``
twice: speech only (``align=False``), then speech with the phones by forced alignment (what a job does). Reports
seconds of speech per wall second and the child's peak resident memory (``ru_maxrss``). Needs espeak-ng.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCES = [
    "Good morning, and welcome to today's lesson about the water cycle.",
    "Water evaporates from the oceans, rises into the sky, and cools into clouds.",
    "When the droplets grow heavy enough, they fall back to the ground as rain or snow.",
    "Rivers carry that water downhill, shaping valleys over thousands of years.",
    "Some of it soaks into the soil and feeds the plants that we depend on.",
    "Remember that every glass of water you drink has travelled this path many times.",
    "Before the next class, please read the chapter on weather maps and try the exercises.",
    "If you have questions, write them down, and we will go through them together on Monday.",
]


def script_for(minutes: float) -> str:
    # The default voice says about 17 characters a second at speed 1.0 (measured; the quota estimate,
    # inference.voices.CHARS_PER_SECOND, assumes a slower 13 to stay on the safe side).
    want = int(minutes * 60 * 17)
    out, i = [], 0
    while sum(len(s) + 1 for s in out) < want:
        out.append(SENTENCES[i % len(SENTENCES)])
        i += 1
    return " ".join(out)


def child(minutes: float, voice: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from inference import voices

    text = script_for(minutes)
    row = {"target_minutes": minutes, "characters": len(text), "voice": voice}
    with tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        speech = voices.synthesize(text, voice, os.path.join(tmp, "a.wav"), align=False)
        row["speak_only_s"] = round(time.monotonic() - started, 2)
        row["speech_s"] = round(speech.duration_s, 2)
        row["sentences"] = speech.sentences
        row["rss_after_speak_only_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        started = time.monotonic()
        speech = voices.synthesize(text, voice, os.path.join(tmp, "b.wav"), align=True)
        row["speak_and_align_s"] = round(time.monotonic() - started, 2)
        row["aligned_sentences"] = speech.aligned_sentences
        row["phones"] = len(speech.phones)
        row["wav_mb"] = round(os.path.getsize(os.path.join(tmp, "b.wav")) / 1e6, 1)
    row["speech_per_second_speak_only"] = round(row["speech_s"] / row["speak_only_s"], 2)
    row["speech_per_second_with_phones"] = round(row["speech_s"] / row["speak_and_align_s"], 2)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--voice", default="en_US-joe-medium")
    parser.add_argument("--minutes", type=float, nargs="+", default=[0.5, 10.0])
    parser.add_argument("--out", default=str(ROOT / "var" / "bench" / "tts.json"))
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(child(args.child, args.voice)))
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    rows = []
    for minutes in args.minutes:
        done = subprocess.run([sys.executable, __file__, "--child", str(minutes), "--voice", args.voice],
                              capture_output=True, text=True, check=True)
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"commit": commit.strip(), "cpus": os.cpu_count(), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
