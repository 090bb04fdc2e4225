"""Command line: ``python -m inference generate --video V --audio A --out O`` and ``python -m inference probe F``.

Exit status 0 on success, 2 with the error code on stderr for a user-fixable error, 1 for anything else.
"""
from __future__ import annotations

import argparse
import json
import sys

from . import Config, InferenceError, generate, init_runtime, probe
from .backends import names as backend_names
from .config import LENGTH_POLICIES


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
        self.stream.write(f"\r{stage:>7} [{'#' * filled}{'.' * (30 - filled)}] {fraction * 100:5.1f}% {_counter(done, total):<15} {note[:45]:<45}")
        self.stream.flush()

    def close(self):
        if self.stage is not None:
            self.stream.write("\n")


def _counter(done, total):
    return f"{done}/{total} frames" if total else ""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference", description="HeyGem lip-sync engine")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="lip-sync a template video to an audio file")
    gen.add_argument("--video", required=True, help="template video of the person")
    gen.add_argument("--audio", required=True, help="driving speech (any audio or video file)")
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
    gen.add_argument("--quiet", action="store_true", help="no progress bar")
    pr = sub.add_parser("probe", help="print a media file's properties as JSON")
    pr.add_argument("file")
    args = parser.parse_args(argv)

    try:
        if args.command == "probe":
            print(json.dumps(probe(args.file).to_dict(), indent=2))
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
        )
        init_runtime(config.threads, config.device)
        bar = None if args.quiet else _Bar()
        try:
            report = generate(args.video, args.audio, args.out, config, on_progress=bar)
        finally:
            if bar is not None:
                bar.close()
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    except InferenceError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
