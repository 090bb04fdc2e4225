"""End-to-end speed and memory of ``inference.generate`` against a bare transcode, measured in the same run.

    .venv/bin/python bench/speed.py [--media ../shared/media] [--out var/bench/speed.json]
        [--cases 1080p:30,720p:30,1080p:180] [--repeat 3]

Inputs are built from the shared clips inside the bench (nothing large is committed):
- ``1080p``: the 1080x1920 portrait HEVC clip played forwards then backwards to 30 s, re-encoded as H.264.
- ``720p``: the 844x844 close-up scaled into a 1280x720 landscape frame, likewise 30 s.
- driving audio: the shared speech clips concatenated to the output length (30 s or 180 s).
- ``KIND:SECONDS:batch``: the job's second video in batch mode (one audio, many videos), which gets the phones
  its first video heard (``Report.heard_phones``, kept on the job by the worker) instead of recognising them.
- ``KIND:SECONDS:other``: the voice marked as another language (``Config.speech_language="other"``), which is
  decoded into phones only, with no English word recognition. Both suffixes combine (``1080p:30:batch:other``).

Each measurement runs in a fresh subprocess so ``ru_maxrss`` is that job's own peak. The generate process
imports torch, mediapipe and the speech models before the clock starts, as a worker that has served one job
does; the cold import time is reported separately. The baseline decodes the same template (looping it to the
same number of frames) and encodes with the same settings (libx264 veryfast CRF 18 + AAC) through the same
writer: the cost of the job if lip sync were free.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_template(kind, media_dir, path, seconds=30.0):
    """Write a ``seconds`` long template with its own (looped) speech."""
    import cv2

    from inference import Config, probe
    from inference.media import VideoWriter, iter_video_frames, load_audio, video_geometry

    src = os.path.join(media_dir, "video", "woman_outdoor_1080x1920_hevc_25fps.mp4" if kind == "1080p"
                       else "man_map_844sq_25fps.mp4")
    info = probe(src)
    w, h, fps = video_geometry(info)
    frames = list(iter_video_frames(info))  # at most 10 s: the source clips are short
    if kind == "720p":
        out_w, out_h = 1280, 720
        converted = []
        for f in frames:
            rgb = cv2.cvtColor(f, cv2.COLOR_YUV2RGB_I420)
            canvas = np.full((720, 1280, 3), 40, np.uint8)
            canvas[:, 280:1000] = cv2.resize(rgb, (720, 720), interpolation=cv2.INTER_AREA)
            converted.append(cv2.cvtColor(canvas, cv2.COLOR_RGB2YUV_I420))
        frames, w, h = converted, out_w, out_h
    samples = load_audio(src)
    n = int(seconds * float(fps))
    order = list(range(len(frames))) + list(range(len(frames) - 2, 0, -1))
    idx = [order[i % len(order)] for i in range(n)]
    # Audio plays forwards only (reversed speech would be odd); looping it is enough for a template.
    reps = int(np.ceil(seconds * 16000 / len(samples)))
    wav = path + ".wav"
    write_wav(wav, np.tile(samples, reps)[: int(seconds * 16000)])
    writer = VideoWriter(path, wav, w, h, fps, Config())
    for i in idx:
        writer.write(frames[i])
    writer.close()
    os.remove(wav)
    return path


def build_audio(media_dir, path, seconds):
    from inference.media import load_audio

    clips = sorted(Path(media_dir, "audio").glob("*.wav"))
    parts = [load_audio(c) for c in clips]
    joined = np.concatenate(parts)
    reps = int(np.ceil(seconds * 16000 / len(joined)))
    write_wav(path, np.tile(joined, reps)[: int(seconds * 16000)])
    return path


def write_wav(path, samples, rate=16000):
    import av

    with av.open(path, "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray((np.clip(samples, -1, 1) * 32767).astype(np.int16)[None], format="s16",
                                           layout="mono")
        frame.sample_rate = rate
        for p in stream.encode(frame):
            out.mux(p)
        for p in stream.encode(None):
            out.mux(p)


def run_generate(video, audio, out, backend, heard=False, language="en"):
    t0 = time.time()
    import cv2  # noqa: F401
    import mediapipe  # noqa: F401
    import onnxruntime  # noqa: F401
    import pocketsphinx  # noqa: F401
    import torch  # noqa: F401

    import inference

    inference.init_runtime()
    cold = time.time() - t0
    phones = None
    if heard:  # what the batch's first video heard, before the clock starts (in child processes: the language
        # model would otherwise count in this job's peak memory)
        from inference import media
        from inference.phones import BackgroundPhones

        phones = BackgroundPhones([media.load_audio(audio)], [language == "en"]).result()[0]
    t = time.time()
    report = inference.generate(video, audio, out, inference.Config(backend=backend, speech_language=language),
                                phones=phones)
    wall = time.time() - t
    return {"wall_s": wall, "import_s": cold, "frames": report.frames_out, "backend": report.backend,
            "stages": report.seconds, "template_frames": report.template_frames}


def run_transcode(video, audio, out):
    import inference
    from inference.media import VideoWriter, iter_video_frames, load_audio, video_geometry

    t = time.time()
    info = inference.probe(video)
    w, h, fps = video_geometry(info)
    n = int(round(len(load_audio(audio)) / 16000 * float(fps)))
    writer = VideoWriter(out, audio, w, h, fps, inference.Config())
    done = 0
    while done < n:
        for frame in iter_video_frames(info):
            writer.write(frame)
            done += 1
            if done == n:
                break
    writer.close()
    return {"wall_s": time.time() - t, "frames": n}


def peak_rss_mb() -> float:
    """This process's own peak resident set (VmHWM). Not ru_maxrss: Linux carries that across fork and exec,
    so a child would report its parent's peak."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args):
    if args.run == "generate":
        result = run_generate(args.video, args.audio, args.output, args.backend, args.heard, args.speech_language)
    else:
        result = run_transcode(args.video, args.audio, args.output)
    result["peak_rss_mb"] = peak_rss_mb()
    print("RESULT " + json.dumps(result))


def measure(mode, video, audio, out, backend="auto", heard=False, language="en"):
    cmd = [sys.executable, __file__, "--run", mode, "--video", video, "--audio", audio, "--output", out,
           "--backend", backend, "--speech-language", language] + (["--heard"] if heard else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(proc.stderr[-3000:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", default=str(REPO.parent / "shared" / "media"))
    parser.add_argument("--out", default=str(REPO / "var" / "bench" / "speed.json"))
    parser.add_argument("--cases", default="1080p:30,720p:30,1080p:180")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--run", choices=["generate", "transcode"])
    parser.add_argument("--video")
    parser.add_argument("--audio")
    parser.add_argument("--output")
    parser.add_argument("--heard", action="store_true")
    parser.add_argument("--speech-language", default="en")
    parser.add_argument("--repeat", type=int, default=1, help="transcode/generate pairs per case (median reported)")
    args = parser.parse_args()
    if args.run:
        return child(args)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        templates = {}
        for case in args.cases.split(","):
            kind, seconds, *extra = case.split(":")
            if kind not in templates:
                templates[kind] = build_template(kind, args.media, os.path.join(tmp, f"template_{kind}.mp4"))
            audio = build_audio(args.media, os.path.join(tmp, f"audio_{seconds}.wav"), float(seconds))
            pairs = []
            for _ in range(args.repeat):
                base = measure("transcode", templates[kind], audio, os.path.join(tmp, "bare.mp4"))
                gen = measure("generate", templates[kind], audio, os.path.join(tmp, "gen.mp4"), args.backend,
                              heard="batch" in extra, language="other" if "other" in extra else "en")
                pairs.append((base, gen))
            # The pair whose ratio is the median: on a shared machine the transcode alone varies by a quarter
            # between runs, so one pair can say 1.5x or 1.9x of the same code.
            base, gen = sorted(pairs, key=lambda p: p[1]["wall_s"] / p[0]["wall_s"])[len(pairs) // 2]
            row = {
                "case": case,
                "ratios": [round(g["wall_s"] / b["wall_s"], 2) for b, g in pairs],
                "frames": gen["frames"],
                "transcode_s": round(base["wall_s"], 2),
                "transcode_fps": round(base["frames"] / base["wall_s"], 1),
                "generate_s": round(gen["wall_s"], 2),
                "generate_fps": round(gen["frames"] / gen["wall_s"], 1),
                "ratio": round(gen["wall_s"] / base["wall_s"], 2),
                "backend": gen["backend"],
                "stages": gen["stages"],
                "import_s": round(gen["import_s"], 2),
                "peak_rss_mb": round(gen["peak_rss_mb"]),
                "transcode_peak_rss_mb": round(base["peak_rss_mb"]),
            }
            results.append(row)
            print(json.dumps(row), flush=True)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"cpu_count": os.cpu_count(), "results": results}, f, indent=1)


if __name__ == "__main__":
    main()
