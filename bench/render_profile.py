"""CPU cost and picture of the retrieval paste (``MouthRenderer.apply``), this checkout against a reference commit.

    .venv/bin/python bench/render_profile.py [--ref main] [--frames 200] [--threads 2] [--passes 2] [--profile]
        [--video ../shared/media/video/woman_outdoor_1080x1920_hevc_25fps.mp4] [--out var/bench/render_profile.json]

The clip's face is tracked once (cached under ``var/bench/render_profile/``); a fixed plan is drawn from a seeded
generator: runs of 2-14 template frames with cuts between them (so cross-fades blend two sources) and target
openings from closed to wide (so the reshape opens, closes, shades and seals). The reference renderer is this
repository's ``inference/`` at ``--ref`` (``git archive``), imported as a separate package, so both run in one
process on the same frames, in whole passes alternating between the sides (``--passes``), each with the
threading its own pipeline renders with (OpenCV on one thread where ``runtime.opencv_threads`` exists, else as
``init_runtime`` set it); CPU time (``time.process_time``, all threads) and wall time are summed per side.
Every output frame of the first pass is compared: PSNR (luma) over the box either side changed, and the max abs
difference over the whole I420 frame. ``--profile`` prints cProfile's top functions of this checkout's side.
"""
from __future__ import annotations

import argparse
import contextlib
import cProfile
import importlib
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load_reference(rev: str, into: str):
    """``inference`` of commit ``rev`` imported as the package ``inference_ref``."""
    tar = subprocess.run(["git", "-C", str(REPO), "archive", rev, "inference"], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=tar, check=True)
    os.rename(os.path.join(into, "inference"), os.path.join(into, "inference_ref"))
    sys.path.insert(0, into)
    return importlib.import_module("inference_ref.backends.retrieval.render")


class Crops:
    """A ``MouthCache`` stand-in over crops held in memory."""

    def __init__(self, crops, origins):
        self.crops, self.origins = crops, origins

    def get(self, i):
        return self.crops[i], tuple(int(v) for v in self.origins[i])


def track(video: str, cache_dir: Path):
    """(frames I420 list, raw (N, 478, 2), valid (N,), Crops), the tracking cached on disk."""
    from inference import probe
    from inference.media import iter_video_frames, video_geometry

    info = probe(video)
    width, height, fps = video_geometry(info)
    frames = list(iter_video_frames(info))
    path = cache_dir / (Path(video).stem + ".npz")
    if path.exists():
        data = np.load(path, allow_pickle=True)
        crops = list(data["crops"])
        return frames, width, height, data["raw"], data["valid"], Crops(crops, data["origins"])
    from inference.progress import Progress
    from inference.template import FrameCache, MouthCache, track_template

    mouths = MouthCache()
    t = track_template(info, width, height, float(fps), FrameCache(1, store=False), mouths, Progress(None, None))
    idx = [i for i in range(len(t)) if t.valid[i]]
    crops = np.empty(len(t), dtype=object)
    origins = np.zeros((len(t), 2), np.int64)
    for i in idx:
        c, o = mouths.get(i)
        crops[i], origins[i] = c.copy(), o
    mouths.close()
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.savez(path, raw=t.raw, valid=t.valid, crops=crops, origins=origins)
    return frames, width, height, t.raw, t.valid, Crops(list(crops), origins)


def plan(n_out: int, valid: np.ndarray, fits, seed: int = 7):
    """Sources (n_out,) int64 in runs with cuts, targets (n_out,) float in interocular distances. Each run starts
    on a template frame that ``fits(base, source)`` (as the planner's choices mostly do), so most frames paste."""
    rng = np.random.default_rng(seed)
    n = len(valid)
    sources = []
    while len(sources) < n_out:
        run = int(rng.integers(2, 15))
        for _ in range(20):
            start = int(rng.integers(0, n - 15))
            if fits(len(sources), start):
                break
        sources += list(range(start, start + run))
    sources = np.array(sources[:n_out], np.int64)
    # A smooth random opening: closed (m/b/p), mid, wide vowels.
    knots = rng.choice([0.0, 0.0, 0.05, 0.12, 0.2, 0.3, 0.4], size=n_out // 4 + 2)
    targets = np.interp(np.arange(n_out), np.arange(len(knots)) * 4, knots)
    return sources, targets


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ref", default="main")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--video", default=str(REPO.parent / "shared" / "media" / "video" /
                                               "woman_outdoor_1080x1920_hevc_25fps.mp4"))
    parser.add_argument("--cache", default=str(REPO / "var" / "bench" / "render_profile"))
    parser.add_argument("--out", default=str(REPO / "var" / "bench" / "render_profile.json"))
    parser.add_argument("--passes", type=int, default=2, help="timed passes over the frames per side")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--only", choices=["new", "ref"], help="time one side only (with --profile)")
    args = parser.parse_args()

    import inference
    from inference.backends.retrieval.render import MouthRenderer, crossfades

    inference.init_runtime(args.threads, "cpu")
    tmp = tempfile.mkdtemp()
    ref = load_reference(args.ref, tmp)
    frames, width, height, raw, valid, crops = track(args.video, Path(args.cache))
    n_out = min(args.frames, len(frames))
    sides = {"new": MouthRenderer(width, height, "cpu", crops, raw, valid),
             "ref": ref.MouthRenderer(width, height, "cpu", crops, raw, valid)}
    # Each side as its own pipeline runs it: one whose runtime has ``opencv_threads`` renders with OpenCV on
    # one thread (``pipeline._render``), an older one with the threads ``init_runtime`` set.
    scopes = {"new": getattr(importlib.import_module("inference.runtime"), "opencv_threads", None),
              "ref": getattr(importlib.import_module("inference_ref.runtime"), "opencv_threads", None)}
    align = sides["new"].compositor.align
    sources, targets = plan(n_out, valid, lambda b, s: valid[b] and align(raw[b], raw[s]) is not None)
    other, weight = crossfades(sources)
    if args.only:
        sides = {args.only: sides[args.only]}
    cpu = {k: 0.0 for k in sides}
    wall = {k: 0.0 for k in sides}
    prof = cProfile.Profile() if args.profile else None
    jobs = []
    for i in range(n_out):
        if valid[i]:  # the base frame plays forward: output frame i on template frame i
            blend = [(int(sources[i]), 1.0 - float(weight[i]))]
            if other[i] >= 0 and other[i] < len(valid):
                blend.append((int(other[i]), float(weight[i])))
            jobs.append((i, float(targets[i]), blend))
    outs: dict = {k: [] for k in sides}
    # Whole passes, alternating which side goes first: a side's OpenCV threading is set once per pass, as the
    # pipeline sets it once per render (switching it every frame cost more than the paste).
    for rep in range(args.passes):
        for k in (list(sides) if rep % 2 == 0 else list(sides)[::-1]):
            scope = scopes[k](1) if scopes[k] is not None else contextlib.nullcontext()
            with scope:
                for i, target, blend in jobs:
                    frame = frames[i].copy()
                    c0, w0 = time.process_time(), time.perf_counter()
                    if prof is not None and k == "new":
                        prof.enable()
                    ok = sides[k].apply(frame, raw[i], target, blend)
                    if prof is not None and k == "new":
                        prof.disable()
                    cpu[k] += time.process_time() - c0
                    wall[k] += time.perf_counter() - w0
                    if rep == 0:  # the picture is the same every pass
                        outs[k].append((ok, frame))
    stats = {"frames": len(jobs), "pasted": sum(ok for ok, _ in outs[list(sides)[0]]), "psnr_box": [],
             "max_abs": 0}
    if len(sides) == 2:
        for (i, _, _), (ok_n, f_n), (ok_r, f_r) in zip(jobs, outs["new"], outs["ref"]):
            assert ok_n == ok_r, f"frame {i}: fits differ"
            if not ok_n:
                continue
            stats["max_abs"] = max(stats["max_abs"], int(np.abs(f_n.astype(np.int16) - f_r.astype(np.int16)).max()))
            # PSNR over the box the paste may touch (the union of changed pixels of either side, Y plane).
            touched = (f_n[:height] != frames[i][:height]) | (f_r[:height] != frames[i][:height])
            if touched.any():
                ys, xs = np.nonzero(touched)
                y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
                stats["psnr_box"].append(psnr(f_n[y0:y1, x0:x1], f_r[y0:y1, x0:x1]))
    n = stats["frames"] * args.passes
    finite = [p for p in stats["psnr_box"] if np.isfinite(p)]
    result = {
        "frames": stats["frames"], "pasted": stats["pasted"], "passes": args.passes, "threads": args.threads,
        "ref": args.ref,
        "cpu_ms_per_frame": {k: round(1000 * v / max(n, 1), 2) for k, v in cpu.items()},
        "wall_ms_per_frame": {k: round(1000 * v / max(n, 1), 2) for k, v in wall.items()},
        "cpu_ms_per_pasted_frame": {k: round(1000 * v / max(stats["pasted"] * args.passes, 1), 2)
                                    for k, v in cpu.items()},
    }
    if len(sides) == 2:
        result.update({
            "psnr_box_min_db": round(min(finite), 2) if finite else float("inf"),
            "psnr_box_mean_db": round(float(np.mean(finite)), 2) if finite else float("inf"),
            "identical_frames": len(stats["psnr_box"]) - len(finite),
            "max_abs_diff": stats["max_abs"],
        })
    print(json.dumps(result))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1)
    if prof is not None and "new" in sides:
        s = io.StringIO()
        pstats.Stats(prof, stream=s).sort_stats("tottime").print_stats(30)
        print(s.getvalue())


if __name__ == "__main__":
    main()
