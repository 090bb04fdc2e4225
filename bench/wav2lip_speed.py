"""Speed of the Wav2Lip backend core: generator throughput, then crop + generate + paste on real frames.

    .venv/bin/python bench/wav2lip_speed.py [--checkpoint wav2lip.pth] [--device auto] [--frames 64]
        [--batches 1,32,128] [--video ../shared/media/video/woman_outdoor_1080x1920_hevc_25fps.mp4]
        [--out var/bench/wav2lip_speed.json]

Without ``--checkpoint`` the generator has random weights: speed does not depend on the weights' values.
(1) generator: 96x96 crops per second at each batch size, fp32, and fp16 autocast on CUDA, with peak GPU memory.
(2) frames: the video's first ``--frames`` frames are decoded and tracked first (not timed), then timed per
    frame: crop, generate (batch 32), feathered paste. Tracking and encoding are the pipeline's and are measured
    by bench/speed.py.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from inference import media  # noqa: E402
from inference.runtime import gpu_memory  # noqa: E402

DEFAULT_VIDEO = REPO.parent / "shared" / "media" / "video" / "woman_outdoor_1080x1920_hevc_25fps.mp4"


def _sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


def generator_speed(runner, batches, n, device) -> list[dict]:
    import torch

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
    mels = rng.uniform(-4, 4, (n, 80, 16)).astype(np.float32)
    rows = []
    for fp16 in ([False, True] if device == "cuda" else [False]):
        runner.fp16 = fp16
        for b in batches:
            runner.max_batch = b
            runner.predict(faces[: min(b, n)], mels[: min(b, n)])  # warm-up (cuDNN autotune, allocator)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            _sync(torch, device)
            t = time.perf_counter()
            runner.predict(faces, mels)
            _sync(torch, device)
            dt = time.perf_counter() - t
            row = {"batch": b, "fp16": fp16, "crops_per_s": round(n / dt, 1)}
            if device == "cuda":
                row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
            rows.append(row)
            print(row)
    runner.fp16 = False
    return rows


def frame_speed(runner, video, frames, device) -> dict:
    from inference.backends.wav2lip.generator import Wav2LipRenderer
    from inference.face import FaceTracker

    info = media.probe(str(video))
    width, height, fps = media.video_geometry(info)
    tracker = FaceTracker(float(fps))
    decoded, marks = [], []
    try:
        for frame in media.iter_video_frames(info):
            found = tracker.track(frame, width, height)
            decoded.append(frame.copy())
            marks.append(found[1] if found else None)
            if len(decoded) == frames:
                break
    finally:
        tracker.close()
    runner.max_batch = 32
    renderer = Wav2LipRenderer(runner, width, height)
    mels = np.random.default_rng(1).uniform(-4, 4, (len(decoded), 80, 16)).astype(np.float32)
    renderer.apply(decoded[:2], marks[:2], mels[:2])  # warm-up
    t = time.perf_counter()
    changed = 0
    for i in range(0, len(decoded), 32):
        changed += renderer.apply(decoded[i : i + 32], marks[i : i + 32], mels[i : i + 32])
    dt = time.perf_counter() - t
    out = {"video": Path(video).name, "width": width, "height": height, "frames": len(decoded),
           "frames_with_face": changed, "frames_per_s": round(len(decoded) / dt, 2), **gpu_memory(runner.device)}
    print(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--batches", default="1,32,128")
    parser.add_argument("--video", default=str(DEFAULT_VIDEO))
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    import torch

    from inference.backends.wav2lip.generator import Wav2LipRunner
    from inference.backends.wav2lip.nets import Wav2Lip
    from inference.runtime import init_runtime

    device = init_runtime(0, args.device)
    if args.checkpoint:
        from inference.backends.wav2lip.checkpoint import load_wav2lip

        model = load_wav2lip(args.checkpoint, device)
    else:
        torch.manual_seed(0)
        model = Wav2Lip().eval()
    runner = Wav2LipRunner(model, device)
    batches = [int(b) for b in args.batches.split(",")]
    result = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "generator": generator_speed(runner, batches, max(batches + [args.frames]), device),
        "frames": frame_speed(runner, args.video, args.frames, device) if Path(args.video).exists() else None,
    }
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
