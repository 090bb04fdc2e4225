"""Where the MuseTalk backend pastes its mouth: ghosting and placement on the shared people, judged by
../shared/lipeval (``motion.py ring`` and ``lipeval.py region``), next to a plain re-encode in the same run.

    .venv/bin/python bench/musetalk_placement.py [--people man_map,woman_glasses] [--seconds 4] [--batch 32]
        [--faces noise,template] [--models DIR] [--out var/bench/musetalk_placement.json]
        [--crops var/bench/musetalk_crops]

The networks get generated weights in the official layout (``synthetic``, the spec's reduced widths) unless
``--models`` names a real ``models/`` folder. What is measured is the geometry: the paste must sit on the lower
face and nowhere else, whatever the networks paint. Two kinds of face (``--faces``):

- ``noise``: the generated networks' output, noise. With random face-parser weights the official jaw mask may
  cover anything in the lower half of the box, so this shows whether the renderer's guard
  (``render.lower_face_guard``) keeps the paste off the background and hair beside the jaw (ring, outside PSNR).
  Its upper-lip offset is FaceMesh guessing a lip in noise, not a placement.
- ``template``: the same product run with the two network halves replaced by a perfect copier (each 256x256
  crop handed back as the generated face; ``--copier``, below): the box, the crop, the parser's mask, the guard,
  the resize back and the I420 paste are the product's. A paste off by a pixel, mirrored or scaled shows as a
  moved upper lip and as ghosting; a right one is the template again.

Per person (``../shared/media/video/*.mp4``): the template is the first ``--seconds`` of the clip (H.264 CRF 10,
its own audio); it is driven by as many seconds of another speaker (``speech_eng_16k_mono_60s.wav``, a different
stretch per person). The engine runs through its CLI (``python -m inference generate --backend musetalk
--device cpu``, the product's encoder settings). The reference frames (``base``) are the template's frames in
the engine's ping-pong order, encoded losslessly; ``reencode`` is the same frames encoded as the engine encodes
(libx264 veryfast CRF 18) with the driving audio: doing nothing, the floor any paste is compared with.

- ``motion.py ring OUT BASE`` -> ``ring_psnr_p1`` (a ring just outside the face oval, sides only; target >= 36
  dB) and ``upper_lip_offset_p99`` (the output's upper lip against the base's, inter-ocular distances; <= 0.05);
- ``lipeval.py region OUT BASE`` -> ``psnr_outside_mean`` (outside the lower face; >= 38 dB).

``--crops DIR`` writes, per person and face, a PNG of the middle frame at 1:1 around where it differs from the
base: base | output | re-encode | |output - base| x 4.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from quality import Judge, decode_video, encode, load_audio, pingpong, say, write_wav  # noqa: E402

DRIVER = "speech_eng_16k_mono_60s.wav"
TARGETS = {"ring_psnr_p1": ">= 36", "upper_lip_offset_p99": "<= 0.05", "psnr_outside_mean": ">= 38"}


def generated_models(cache: Path) -> str:
    """The official layout with generated weights (reduced widths), written once under ``cache``."""
    root = cache / "musetalk_models"
    if not (root / "musetalkV15" / "unet.pth").exists():
        code = ("import sys; from inference.backends.musetalk import synthetic; "
                "synthetic.write_models(sys.argv[1], reduced=True)")
        subprocess.run([sys.executable, "-c", code, str(root)], cwd=REPO, check=True)
    return str(root)


def prepare(video: str, index: int, seconds: float, media: Path, d: Path) -> dict:
    """Template, driving audio, base and re-encode of one person under ``d``."""
    d.mkdir(parents=True, exist_ok=True)
    tpl, drive, base, reenc = d / "template.mp4", d / "drive.wav", d / "base.mp4", d / "reencode.mp4"
    if not (tpl.exists() and drive.exists()):
        frames, _w, _h, fps = decode_video(video)
        n = min(len(frames), int(round(seconds * float(fps))))
        own = load_audio(video, 48000)
        head = d / "own.wav"
        write_wav(head, own[: int(round(n / float(fps) * 48000))], 48000)
        encode(tpl, frames[:n], fps, head, crf=10)
        os.remove(head)
        other = load_audio(media / "audio" / DRIVER)
        start = int((3 + 9 * index) * 16000) % max(len(other) - int(seconds * 16000), 1)
        write_wav(drive, other[start : start + int(round(seconds * 16000))])
    if not (base.exists() and reenc.exists()):
        frames, _w, _h, fps = decode_video(tpl)
        n_out = int(round(len(load_audio(drive)) / 16000 * float(fps)))
        order = pingpong(n_out, len(frames))
        encode(base, (frames[i] for i in order), fps, lossless=True)
        encode(reenc, (frames[i] for i in order), fps, audio=drive, crf=18, preset="veryfast")
    return dict(template=str(tpl), audio=str(drive), base=str(base), reencode=str(reenc))


def template_faces(argv) -> int:
    """The engine's CLI with MuseTalk's two network halves replaced by a perfect copier: ``latents`` files each
    256x256 crop under a number, ``decode_step`` hands the crop back. Everything else is the product's: the box,
    the crop, the parser's jaw mask and the guard, the resize back into the box and the I420 paste. A paste that
    sits off the face by a pixel, is mirrored or scaled shows as a moved upper lip and as ghosting."""
    import torch

    sys.path.insert(0, str(REPO))
    from inference.__main__ import main as cli
    from inference.backends.musetalk.model import MuseTalk

    crops: list = []

    def latents(self, batch):
        out = torch.zeros((len(batch), 8, 32, 32))
        for k, crop in enumerate(batch):
            crops.append(np.array(crop))
            out[k, 0, 0, 0] = len(crops)  # an exact integer in float32, kept by the template cache
        return out

    def decode_step(self, lat, feats):
        return np.stack([crops[int(v) - 1] for v in np.asarray(lat)[:, 0, 0, 0]])

    MuseTalk.latents, MuseTalk.decode_step = latents, decode_step
    return cli(argv)


def render(case: dict, out: Path, models: str, batch: int, python: str, face: str) -> dict:
    engine = ["-m", "inference"] if face == "noise" else [str(Path(__file__).resolve()), "--copier"]
    cmd = [python, *engine, "generate", "--video", case["template"], "--audio", case["audio"],
           "--out", str(out), "--backend", "musetalk", "--musetalk-dir", models, "--musetalk-batch", str(batch),
           "--device", "cpu", "--quiet"]
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"the engine failed on {case['template']}:\n{p.stderr[-2000:]}")
    report = json.loads(p.stdout[p.stdout.index("{"):])
    return {"render_s": round(time.monotonic() - t0, 1), "frames_out": report.get("frames_out"),
            "frames_kept_own_mouth": report.get("frames_kept_own_mouth")}


def measures(judge: Judge, video: str, base: str) -> dict:
    r = judge.run("motion.py", "ring", video, base)
    g = judge.run("lipeval.py", "region", video, base)
    return {"ring_psnr_p1": r["ring_psnr_p1"], "ring_psnr_mean": r["ring_psnr_mean"],
            "upper_lip_offset_p99": r["upper_lip_offset_p99"], "psnr_outside_mean": round(g["psnr_outside_mean"], 2),
            "psnr_outside_min_frame": round(g["psnr_outside_min"], 2),
            "psnr_mouth_mean": round(g["psnr_mouth_mean"], 2)}


def write_crop(case: dict, out: str, path: Path) -> None:
    """base | output | re-encode | |output - base| x 4, at 1:1 around where the output differs."""
    import cv2

    def middle(video):
        frames, w, h, _ = decode_video(video)
        return cv2.cvtColor(frames[len(frames) // 2], cv2.COLOR_YUV2RGB_I420)

    base, got, reenc = middle(case["base"]), middle(out), middle(case["reencode"])
    diff = np.abs(got.astype(int) - base.astype(int)).max(2)
    ys, xs = np.nonzero(diff > 8)
    h, w = diff.shape
    if len(ys):
        cy, cx, half = (ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2, max(np.ptp(ys), np.ptp(xs)) // 2 + 60
    else:
        cy, cx, half = h // 2, w // 2, min(h, w) // 4
    y0, y1, x0, x1 = max(cy - half, 0), min(cy + half, h), max(cx - half, 0), min(cx + half, w)
    amp = np.clip(np.abs(got.astype(int) - base.astype(int)) * 4, 0, 255).astype(np.uint8)
    row = np.concatenate([im[y0:y1, x0:x1] for im in (base, got, reenc, amp)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(row, cv2.COLOR_RGB2BGR))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--people", default="", help="comma-separated name prefixes; default: every shared video")
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--models", help="an official models/ folder; default: generated weights")
    ap.add_argument("--media", default=str(REPO.parent / "shared" / "media"))
    ap.add_argument("--lipeval", default=str(REPO.parent / "shared" / "lipeval"))
    ap.add_argument("--lipeval-python", default="/tmp/lipeval-venv/bin/python")
    ap.add_argument("--cache", default=str(REPO / "var" / "bench" / "cache" / "musetalk_placement"))
    ap.add_argument("--out", default=str(REPO / "var" / "bench" / "musetalk_placement.json"))
    ap.add_argument("--crops", help="a folder for 1:1 PNG crops of the middle frame")
    ap.add_argument("--faces", default="noise,template",
                    help="noise: the generated networks' faces; template: each crop handed back unchanged")
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--copier"]:
        return template_faces(argv[1:])
    args = ap.parse_args(argv)

    if not os.access(args.lipeval_python, os.X_OK):
        say(f"setting up the lipeval venv: bash {args.lipeval}/setup.sh")
        env = dict(os.environ, LIPEVAL_VENV=str(Path(args.lipeval_python).parents[1]))
        subprocess.run(["bash", str(Path(args.lipeval) / "setup.sh")], env=env, check=True)
    cache = Path(args.cache)
    models = args.models or generated_models(cache)
    judge = Judge(args.lipeval, args.lipeval_python, cache)
    people = sorted(glob.glob(str(Path(args.media) / "video" / "*.mp4")))
    if args.people:
        people = [p for p in people if any(Path(p).name.startswith(x) for x in args.people.split(","))]
    faces = args.faces.split(",")
    rows = []
    for index, video in enumerate(people):
        name = Path(video).stem
        case = prepare(video, index, args.seconds, Path(args.media), cache / name)
        row = {"person": name, "reencode": measures(judge, case["reencode"], case["base"])}
        for face in faces:
            out = cache / name / f"{name}_{face}.mp4"  # unique: judge.forget goes by file name
            row[face] = render(case, out, models, args.batch, sys.executable, face)
            judge.forget(str(out))
            row[face].update(measures(judge, str(out), case["base"]))
            if args.crops:
                write_crop(case, str(out), Path(args.crops) / f"{name}_{face}.png")
        rows.append(row)
        say(json.dumps(row))
    worst = lambda kind, k: (min if "psnr" in k else max)(r[kind][k] for r in rows)  # noqa: E731
    summary = {k: {**{kind: worst(kind, k) for kind in faces + ["reencode"]}, "target": t}
               for k, t in TARGETS.items()}
    result = {"models": "given" if args.models else "generated, reduced widths", "seconds": args.seconds,
              "batch": args.batch, "faces": faces, "people": rows, "worst": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    say(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
