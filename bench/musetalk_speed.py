"""Speed of the MuseTalk backend: frames per second of its stages at several batch sizes.

    .venv/bin/python bench/musetalk_speed.py [--models DIR] [--config reduced|real] [--device auto]
        [--batches 1,8,32] [--frames 32] [--out var/bench/musetalk_speed.json]

Without ``--models`` the networks get generated weights (``synthetic``) in the official layout, with the real
configs (``--config real``: 850 M UNet values, the full sd-vae) or the spec's reduced widths; speed does not
depend on the weights' values. Measured per batch size, fp32, and fp16 autocast on CUDA:
(1) ``generate``: UNet + VAE decode per output frame (what every output frame costs once the template is
    encoded), with peak GPU memory;
(2) ``encode``: the two VAE encodings per template frame (once per template frame, reused across the video);
On CPU the rows also give frames per CPU-second (``process_time``), which a machine shared with other work
changes far less than wall time; times the thread count it bounds what an idle machine reaches.
Then once: the jaw mask (parser) per template frame, the paste per frame, and Whisper features per audio second.
Tracking and encoding the video are the pipeline's and are measured by bench/speed.py.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _sync(torch, device):
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(torch, device, fn, cpu=None):
    """Wall seconds of ``fn()`` and its result; ``cpu`` (a list) also gets the process's CPU seconds, which a
    machine shared with other work inflates far less than the wall time."""
    _sync(torch, device)
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    _sync(torch, device)
    if cpu is not None:
        cpu.append(time.process_time() - c)
    return time.perf_counter() - t, out


def stage_speed(model, batches, n, device) -> list[dict]:
    import torch

    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (n, 256, 256, 3), dtype=np.uint8)
    feats = torch.from_numpy(rng.normal(0, 1, (n, 50, 384)).astype(np.float32))
    rows = []
    for fp16 in ([False, True] if device == "cuda" else [False]):
        model.fp16 = fp16
        for b in batches:
            model.batch_size = b
            k = n
            model.generate(crops[: min(b, 2)], feats[: min(b, 2)])  # warm-up (cuDNN autotune, allocator)
            if device == "cuda":
                torch.cuda.reset_peak_memory_stats()
            cpu: list = []
            dt_enc, latents = _timed(torch, device, lambda: model.latents(crops[:k]), cpu)
            dt_gen, _ = _timed(torch, device, lambda: model.decode_step(latents, feats[:k]), cpu)
            row = {"batch": b, "fp16": fp16, "frames": k, "generate_frames_per_s": round(k / dt_gen, 2),
                   "encode_frames_per_s": round(k / dt_enc, 2)}
            if device == "cpu":
                # Frames per second the same work would reach with every thread to itself.
                row["generate_frames_per_cpu_s"] = round(k / cpu[1], 3)
                row["encode_frames_per_cpu_s"] = round(k / cpu[0], 3)
            if device == "cuda":
                row["peak_gpu_mb"] = round(torch.cuda.max_memory_allocated() / 2**20)
            rows.append(row)
            print(row, flush=True)
    model.fp16 = False
    return rows


def once_per_frame(model, device) -> dict:
    """The parser's jaw mask and the paste on a 1080x1920-sized frame with a 400-pixel face; Whisper on 10 s."""
    import torch

    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, (1920, 1080, 3), dtype=np.uint8)
    bbox = (340, 700, 740, 1160)
    face = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    model.masks([frame], [bbox])  # warm-up
    dt_mask, (mask,) = _timed(torch, device, lambda: model.masks([frame], [bbox]))
    t = time.perf_counter()
    for _ in range(5):
        model.blend(frame, face, bbox, mask=mask)
    dt_paste = (time.perf_counter() - t) / 5
    samples = (0.1 * rng.normal(0, 1, 160000)).astype(np.float32)
    dt_audio, _ = _timed(torch, device, lambda: model.audio_features(samples, 25))
    out = {"mask_ms_per_template_frame": round(dt_mask * 1000, 1), "paste_ms_per_frame": round(dt_paste * 1000, 1),
           "whisper_s_per_10s_audio": round(dt_audio, 2)}
    print(out, flush=True)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", help="an official models/ folder; default: generated weights")
    parser.add_argument("--config", default="reduced", choices=("reduced", "real"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batches", default="1,8,32")
    parser.add_argument("--frames", type=int, default=32, help="frames per measurement (at least the batch)")
    parser.add_argument("--out")
    args = parser.parse_args(argv)

    import torch

    from inference.backends.musetalk import MuseTalk, synthetic
    from inference.runtime import init_runtime

    device = init_runtime(0, args.device)
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models or synthetic.write_models(Path(tmp) / "models", reduced=args.config == "reduced")
        t = time.perf_counter()
        model = MuseTalk.load(models, device)
        load_s = time.perf_counter() - t
    batches = [int(b) for b in args.batches.split(",")]
    result = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "models": "given" if args.models else f"generated, {args.config} config",
        "unet_values": sum(p.numel() for p in model.unet.parameters()),
        "vae_values": sum(p.numel() for p in model.vae.parameters()),
        "load_s": round(load_s, 2),
        "stages": stage_speed(model, batches, max(batches + [args.frames]), device),
        "per_frame": once_per_frame(model, device),
    }
    print(json.dumps(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
