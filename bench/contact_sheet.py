"""Before/after contact sheet: 1:1 crops of the lower face in consecutive frames of an output and its base frames.

    .venv/bin/python bench/contact_sheet.py OUTPUT.mp4 BASE.mp4 --frames 120-127 --out docs/benchmarks/NAME.png
    .venv/bin/python bench/contact_sheet.py OUTPUT.mp4 BASE.mp4 --frames auto:8 --out ...   # where the head moves most

Top row: the output; bottom row: the base frames (the template's frames the output was pasted on, paired by
index: for ``bench/quality.py`` outputs, the ``*_base.mp4`` of the case under ``var/bench/cache/base/``). Pixels are
not scaled. The crop is one fixed box around the lower face (nose to chin, jaw to jaw, plus a margin) over the
chosen frames, so head motion shows as motion inside the box. Landmarks come from ``../shared/lipeval``'s
``track`` (FaceMesh) run on the base video as a subprocess. ``auto:N`` picks the N consecutive frames whose head
(eye corners and nose) moves most in the base video.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STABLE = [33, 133, 362, 263, 168, 6, 197, 195, 5, 4]  # FaceMesh eye corners + nose bridge/tip
EYES = (33, 263)
LOWER_FACE = [0, 13, 14, 17, 37, 39, 40, 61, 78, 80, 81, 82, 84, 87, 88, 91, 95, 146, 178, 181, 185, 191, 267, 269,
              270, 291, 308, 310, 311, 312, 314, 317, 318, 321, 324, 375, 402, 405, 409, 415, 2, 98, 327, 203, 423,
              205, 425, 207, 427, 57, 287, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 58, 288]


def track(video, lipeval, python):
    with tempfile.TemporaryDirectory() as tmp:
        npz = os.path.join(tmp, "track.npz")
        p = subprocess.run([python, os.path.join(lipeval, "lipeval.py"), "track", str(video), "--out", npz],
                           capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"lipeval track failed: {p.stderr.strip()[-500:]}")
        d = np.load(npz)
        return d["lm"].astype(np.float64), d["found"].astype(bool)


def head_motion(lm, found):
    """Per frame step i -> i+1: mean displacement of the eye and nose points, in inter-ocular distances."""
    iod = np.linalg.norm(lm[:, EYES[0], :2] - lm[:, EYES[1], :2], axis=1)
    step = np.linalg.norm(lm[1:, STABLE, :2] - lm[:-1, STABLE, :2], axis=2).mean(1) / iod[:-1]
    step[~(found[1:] & found[:-1])] = 0.0
    return step


def pick_frames(spec, lm, found, n_total):
    if spec.startswith("auto"):
        n = int(spec.split(":")[1]) if ":" in spec else 8
        step = head_motion(lm, found)
        window = np.convolve(step, np.ones(n - 1), mode="valid")  # motion over the n-1 steps inside the window
        start = int(np.argmax(window))
        return list(range(start, start + n)), float(window[start])
    frames = []
    for part in spec.split(","):
        if "-" in part:
            a, b = map(int, part.split("-"))
            frames += list(range(a, b + 1))
        else:
            frames.append(int(part))
    return [f for f in frames if 0 <= f < n_total], None


def read(video, wanted):
    import av

    out, wanted = {}, set(wanted)
    with av.open(str(video)) as c:
        for i, f in enumerate(c.decode(video=0)):
            if i in wanted:
                img = f.to_ndarray(format="rgb24")
                k = int(round((getattr(f, "rotation", 0) or 0) / 90)) % 4
                out[i] = np.ascontiguousarray(np.rot90(img, k)) if k else img
            if i >= max(wanted):
                break
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("output")
    ap.add_argument("base")
    ap.add_argument("--frames", default="auto:8", help="e.g. 120-127, 3,5,9 or auto:N")
    ap.add_argument("--out", required=True)
    ap.add_argument("--box", default="", help="x,y,w,h instead of the landmark box")
    ap.add_argument("--margin", type=float, default=0.15, help="of the box size, each side")
    ap.add_argument("--labels", default="output,base")
    ap.add_argument("--max-kb", type=int, default=400, help="quantise to 256 colours above this size")
    ap.add_argument("--lipeval", default=str(REPO.parent / "shared" / "lipeval"))
    ap.add_argument("--lipeval-python", default=os.path.join(os.environ.get("LIPEVAL_VENV", "/tmp/lipeval-venv"),
                                                              "bin", "python"))
    args = ap.parse_args(argv)
    import cv2
    from PIL import Image

    lm, found = track(args.base, args.lipeval, args.lipeval_python)
    frames, motion = pick_frames(args.frames, lm, found, len(lm))
    if not frames:
        sys.exit("no frames chosen")
    if args.box:
        x0, y0, w, h = map(int, args.box.split(","))
    else:
        pts = np.concatenate([lm[f, LOWER_FACE, :2] for f in frames if found[f]])
        lo, hi = pts.min(0), pts.max(0)
        pad = args.margin * (hi - lo)
        (x0, y0), (x1, y1) = np.floor(lo - pad).astype(int), np.ceil(hi + pad).astype(int)
        w, h = x1 - x0, y1 - y0
    outs, bases = read(args.output, frames), read(args.base, frames)
    H, W = bases[frames[0]].shape[:2]
    x0, y0 = max(0, x0), max(0, y0)
    w, h = min(w, W - x0), min(h, H - y0)
    label_h, gap = 18, 4
    rows = [("output", outs), ("base", bases)]
    names = args.labels.split(",")
    sheet = np.full((len(rows) * (h + label_h) + gap, len(frames) * (w + gap) - gap + 70, 3), 255, np.uint8)
    for r, (_, src) in enumerate(rows):
        y = r * (h + label_h + gap // 2)
        cv2.putText(sheet, names[r], (2, y + label_h + h // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for c, f in enumerate(frames):
            x = 70 + c * (w + gap)
            img = src.get(f)
            if img is None:
                continue
            if img.shape[:2] != (H, W):
                img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA)
            sheet[y + label_h: y + label_h + h, x: x + w] = img[y0: y0 + h, x0: x0 + w]
            if r == 0:
                cv2.putText(sheet, f"frame {f}", (x + 2, y + 13), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1,
                            cv2.LINE_AA)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)) or ".", exist_ok=True)
    im = Image.fromarray(sheet)
    im.save(args.out, optimize=True)
    if os.path.getsize(args.out) > args.max_kb * 1024:
        im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"{args.out}: frames {frames[0]}..{frames[-1]}, crop {w}x{h} at ({x0},{y0}) of {W}x{H}, "
          + (f"head motion over the window {motion:.3f} inter-ocular distances, " if motion is not None else "")
          + f"{os.path.getsize(args.out) // 1024} KB")


if __name__ == "__main__":
    main()
