"""Command line: ``python -m inference generate --video V --audio A --out O`` and ``python -m inference probe F``.

A script instead of an audio file: ``generate --video V --text "..." --voice ID --out O`` (or ``--text-file``);
``python -m inference voices`` lists the voices, ``python -m inference speak --text ... --out speech.wav`` only
speaks. ``--voices-dir`` (or ``HEYGEM_VOICES_DIRS``, folders separated by commas) adds an operator's Piper voices.

Exit status 0 on success, 2 with the error code on stderr for a user-fixable error, 1 for anything else.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

from . import Config, InferenceError, UnknownVoice, generate, init_runtime, probe
from .backends import names as backend_names
from .config import LENGTH_POLICIES, SPEECH_LANGUAGES


class _Bar:
    """A one-line text progress bar on stderr, redrawn on every callback."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.stage = None

    def __call__(self, stage, fraction, done, total, note):
        if self.stage is not None and stage != self.stage:
            self.stream.write("\n")
        self.stage = stage
        filled = int(fraction * 30)
        self.stream.write(f"\r{stage:>7} [{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}% {_counter(stage, done, total):<15} {note[:45]:<45}")
        self.stream.flush()

    def close(self):
        if self.stage is not None:
            self.stream.write("\n")


def _counter(stage, done, total):
    return f"{done}/{total} {'sentences' if stage == 'speak' else 'frames'}" if total else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference", description="HeyGem lip-sync engine")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="lip-sync a template video to an audio file")
    gen.add_argument("--video", required=True, help="template video of the person")
    drive = gen.add_mutually_exclusive_group(required=True)
    drive.add_argument("--audio", help="driving speech (any audio or video file)")
    drive.add_argument("--text", help="a script to speak instead of an audio file")
    drive.add_argument("--text-file", help="a UTF-8 text file holding the script")
    _voice_args(gen)
    gen.add_argument("--out", required=True, help="output .mp4")
    gen.add_argument("--backend", default="auto", choices=("auto",) + backend_names())
    gen.add_argument("--length-policy", default="pingpong", choices=LENGTH_POLICIES)
    gen.add_argument("--preset", default="veryfast")
    gen.add_argument("--crf", type=int, default=18)
    gen.add_argument("--device", default="auto")
    gen.add_argument("--threads", type=int, default=0)
    gen.add_argument("--wav2lip-checkpoint", default=None, help="a Wav2Lip checkpoint file on this disk")
    gen.add_argument("--musetalk-dir", default=None,
                     help="the official MuseTalk models/ folder on this disk (musetalkV15/, sd-vae/, whisper/, ...)")
    gen.add_argument("--musetalk-batch", type=int, default=8, help="MuseTalk frames per UNet/VAE call")
    gen.add_argument("--fp16", action="store_true", help="half-precision Wav2Lip and MuseTalk on a CUDA device")
    gen.add_argument("--batch-size", type=int, default=32, help="frames per render batch (Wav2Lip: the upper bound)")
    gen.add_argument("--wav2vec2-model", default=None,
                     help="local wav2vec2 model directory: its features drive retrieval's acoustic matching")
    gen.add_argument("--speech-language", default="en", choices=SPEECH_LANGUAGES,
                     help="the language spoken in --audio: en (English: the words are recognised and the lips "
                          "follow their sounds) or other (any other language: the lips open with the voice, no "
                          "recognition). Ignored with --text and --text-file, whose sounds are known exactly")
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    pr = sub.add_parser("probe", help="print a media file's properties as JSON")
    pr.add_argument("file")
    vo = sub.add_parser("voices", help="list the voices a script can be spoken with, as JSON")
    vo.add_argument("--voices-dir", action="append", default=[], help="a folder of Piper voices (repeatable)")
    sp = sub.add_parser("speak", help="speak a script into a WAV file")
    text = sp.add_mutually_exclusive_group(required=True)
    text.add_argument("--text")
    text.add_argument("--text-file")
    sp.add_argument("--out", required=True, help="output .wav")
    sp.add_argument("--quiet", action="store_true", help="no progress bar")
    _voice_args(sp)
    args = parser.parse_args(argv)

    try:
        if args.command == "probe":
            print(json.dumps(probe(args.file).to_dict(), indent=2))
            return 0
        if args.command == "voices":
            from .voices import list_voices

            print(json.dumps([v.to_dict() for v in list_voices(_voice_dirs(args))], indent=2, ensure_ascii=False))
            return 0
        if args.command == "speak":
            speech = _speak(args, args.out)
            print(json.dumps(speech.to_dict(), indent=2))
            return 0
        config = Config(
            backend=args.backend,
            length_policy=args.length_policy,
            preset=args.preset,
            crf=args.crf,
            device=args.device,
            threads=args.threads,
            batch_size=args.batch_size,
            wav2lip_checkpoint=args.wav2lip_checkpoint,
            wav2lip_fp16=args.fp16,
            musetalk_dir=args.musetalk_dir,
            musetalk_fp16=args.fp16,
            musetalk_batch=args.musetalk_batch,
            wav2vec2_model=args.wav2vec2_model,
            # A script's phones come from its own text, exact in any language: nothing is recognised.
            speech_language=args.speech_language if args.audio is not None else "en",
        )
        init_runtime(config.threads, config.device)
        with tempfile.TemporaryDirectory(prefix="heygem-speak-") as workdir:
            audio, speech = args.audio, None
            if audio is None:
                audio = os.path.join(workdir, "speech.wav")
                speech = _speak(args, audio)
            bar = None if args.quiet else _Bar()
            try:
                if speech is None:
                    report = generate(args.video, audio, args.out, config, on_progress=bar)
                else:
                    report = generate(args.video, audio, args.out, config, on_progress=bar, phones=speech.phones)
            finally:
                if bar is not None:
                    bar.close()
        out = report.to_dict()
        if speech is not None:
            out["speech"] = speech.to_dict()
        print(json.dumps(out, indent=2))
        return 0
    except InferenceError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2


def _voice_args(parser):
    parser.add_argument("--voice", default=None, help="voice id (`python -m inference voices`); default: the first")
    parser.add_argument("--speed", type=float, default=1.0, help="speaking speed, 0.5 to 2.0")
    parser.add_argument("--voices-dir", action="append", default=[], help="a folder of Piper voices (repeatable)")


def _voice_dirs(args):
    return [*args.voices_dir, *filter(None, os.environ.get("HEYGEM_VOICES_DIRS", "").split(","))]


def _speak(args, path):
    from .voices import default_voice_id, synthesize

    if args.text_file is not None:
        try:
            with open(args.text_file, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"error: cannot read {args.text_file}: {exc}") from exc
    else:
        text = args.text
    folders = _voice_dirs(args)
    voice = args.voice or default_voice_id(folders)
    if voice is None:
        raise UnknownVoice("no voice installed")
    if not 0.5 <= args.speed <= 2.0:
        raise SystemExit("error: --speed must be within 0.5 and 2.0")
    bar = None if args.quiet else _Bar()
    try:
        return synthesize(text, voice, path, speed=args.speed, folders=folders, on_progress=bar)
    finally:
        if bar is not None:
            bar.close()


if __name__ == "__main__":
    sys.exit(main())
