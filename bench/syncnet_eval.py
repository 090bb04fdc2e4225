"""Lip-sync scores of any video with Wav2Lip's SyncNet_color expert: LSE-D, LSE-C and the AV offset.

    .venv/bin/python bench/syncnet_eval.py --checkpoint /models/lipsync_expert.pth out1.mp4 out2.mp4 \
        [--audio speech.wav] [--max-seconds 20] [--device auto] [--out var/bench/syncnet.json]

The expert (``lipsync_expert.pth`` from the Wav2Lip README, or an operator's own) is never downloaded: without
``--checkpoint`` (or ``HEYGEM_SYNCNET_CHECKPOINT``) the script stops with a message saying so.

Faces are found with the engine's tracker, cropped with the Wav2Lip padding convention (``face_box``) and resized
to 96x96 BGR; frames where the face is lost reuse the last box. The audio is the video's own soundtrack unless
``--audio`` is given. Scores follow syncnet_python's procedure over +-15 frame offsets (see
``inference.backends.wav2lip.sync``): LSE-D lower is better, LSE-C higher is better, offset in frames (0 = in
sync). They use the expert's embedding scale, so compare them across our backends on the same clips, not with the
LSE numbers in papers (those use syncnet_python's own model).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inference import ModelUnavailable, media  # noqa: E402

ENV = "HEYGEM_SYNCNET_CHECKPOINT"
NO_CHECKPOINT = (
    "bench/syncnet_eval.py needs the SyncNet_color lip-sync expert (lipsync_expert.pth from the Wav2Lip "
    f"README, or your own). Pass --checkpoint /path/to/lipsync_expert.pth or set {ENV}. Nothing is downloaded."
)


def face_crops(path: str, max_seconds: float | None = None):
    """``(crops uint8 (N, 96, 96, 3) BGR, fps, frames_with_face)`` for the video's frames in order."""
    from inference.backends.wav2lip.generator import face_box, face_crop
    from inference.face import FaceTracker

    info = media.probe(path)
    width, height, fps = media.video_geometry(info)
    limit = int(max_seconds * float(fps)) if max_seconds else None
    tracker = FaceTracker(float(fps))
    crops, pending, box, found = [], 0, None, 0
    try:
        for i, frame in enumerate(media.iter_video_frames(info)):
            if limit is not None and i >= limit:
                break
            result = tracker.track(frame, width, height)
            if result is not None:
                box = face_box(result[1], width, height)
                found += 1
            if box is None:
                pending += 1  # frames before the first face: filled with the first face's crop below
                continue
            crop = face_crop(frame, width, height, box)
            crops.extend([crop] * (pending + 1))
            pending = 0
    finally:
        tracker.close()
    if not crops:
        raise SystemExit(f"{path}: no face found")
    return np.stack(crops), float(fps), found


def score_video(model, path: str, audio: str | None, device: str, max_seconds: float | None) -> dict:
    from inference.backends.wav2lip.sync import score_crops

    t = time.monotonic()
    crops, fps, found = face_crops(path, max_seconds)
    samples = media.load_audio(audio or path, 16000)
    # Score only the stretch where both exist: a longer soundtrack would otherwise be clamped onto the last window.
    n = min(len(crops), int(len(samples) / 16000 * fps))
    if n < 5:
        raise SystemExit(f"{path}: needs at least 5 frames with audio, has {n}")
    out = score_crops(model, crops[:n], samples[: int(np.ceil(n / fps * 16000))], fps, device)
    return {"video": path, "audio": audio or path, "frames": n, "face_coverage": round(found / len(crops), 4),
            "fps": round(fps, 3), "lse_d": round(out["lse_d"], 4), "lse_c": round(out["lse_c"], 4),
            "offset": out["offset"], "windows": out["windows"], "seconds": round(time.monotonic() - t, 2)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--checkpoint", default=os.environ.get(ENV))
    parser.add_argument("--audio", help="score against this audio instead of each video's own soundtrack")
    parser.add_argument("--max-seconds", type=float, default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--trusted", action="store_true", help="allow a full unpickle of the checkpoint")
    parser.add_argument("--out", help="write the scores as JSON here")
    args = parser.parse_args(argv)
    if not args.checkpoint:
        print(NO_CHECKPOINT, file=sys.stderr)
        return 2

    import torch

    from inference.backends.wav2lip.checkpoint import load_syncnet

    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        model = load_syncnet(args.checkpoint, device, trusted=args.trusted)
    except ModelUnavailable as exc:
        print(f"cannot use the SyncNet checkpoint: {exc.detail}", file=sys.stderr)
        return 2
    rows = [score_video(model, v, args.audio, device, args.max_seconds) for v in args.videos]
    for r in rows:
        print(f"{Path(r['video']).name:40s} LSE-D {r['lse_d']:.3f}  LSE-C {r['lse_c']:.3f}  offset {r['offset']:+d}"
              f"  ({r['frames']} frames, face {r['face_coverage']:.0%})")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"device": device, "checkpoint": args.checkpoint, "results": rows},
                                             indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
