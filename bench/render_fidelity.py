"""How closely the rendered mouth follows the planner's targets, frame by frame, and where it does not.

    .venv/bin/python bench/render_fidelity.py --video V.mp4 --audio A.wav [--audio B.wav ...]
        [--out var/bench/fidelity.json] [--keep DIR]

A diagnostic beside ``bench/quality.py`` (which judges with ../shared/lipeval): the planner's targets read well
above what the rendered video scores (``bench/plan_quality.py``), so this asks where the render loses them. Each
case runs ``inference.generate`` in-process (``debug=True``: the plan, the chosen sources and which frames kept
their own mouth), tracks the output with the engine's own FaceMesh tracker and compares the measured inner-lip
aperture with each frame's target, in the engine's units (interocular distances).

Frames are grouped by what the renderer had to do: ``fade`` (a cross-fade after a cut), ``open+`` (reshaped open beyond its source by more than 0.05),
``close+`` (squeezed shut from a source more than 0.05 open), ``own`` (no source lined up: the base frame's
own mouth reshaped), ``kept`` (no face: untouched), ``near`` (the rest). Per group: frames, mean
|measured - target|, mean signed error, and the share of frame steps whose measured aperture moves more than
0.05 while the target moves less than 0.03 (a "jump" the plan did not ask for). The engine's tracker is not the
judge's (lipeval removes head motion and measures on 3-D eye corners), so read these as where, not how much.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

JUMP, STILL = 0.05, 0.03


def measure(path):
    """Aperture (T,) of the main face in each frame of ``path`` (NaN where none is found)."""
    from inference import probe
    from inference.face import FaceTracker, mouth_shape
    from inference.media import iter_video_frames, video_geometry

    info = probe(path)
    w, h, fps = video_geometry(info)
    tracker = FaceTracker(float(fps))
    out = []
    try:
        for frame in iter_video_frames(info):
            found = tracker.track(frame, w, h)
            out.append(mouth_shape(found[0])[0] if found else np.nan)
    finally:
        tracker.close()
    return np.array(out, np.float32)


def groups(debug, n):
    from inference.backends.retrieval.render import crossfades

    src, tgt, kept = debug["sources"], debug["targets"][:, 0], debug["kept"]
    ap = np.nan_to_num(debug["aperture"])[src]
    other, _ = crossfades(src)
    label = np.full(n, "near", dtype=object)
    label[tgt - ap > 0.05] = "open+"
    label[(ap - tgt > 0.05)] = "close+"
    label[other >= 0] = "fade"
    label[debug["own"]] = "own"
    label[kept] = "kept"
    return label, ap


def one(video, audio, keep):
    from inference import Config, generate

    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(keep or tmp, f"{Path(video).stem}__{Path(audio).stem}.mp4")
        rep = generate(video, audio, out, Config(debug=True, backend="retrieval"))
        got = measure(out)
    dbg = rep.debug
    n = min(len(got), len(dbg["targets"]))
    tgt = dbg["targets"][:n, 0]
    got = got[:n]
    label, src_ap = groups(dbg, n)
    base_ap = np.nan_to_num(dbg["aperture"])[dbg["bases"][:n]]
    ok = ~np.isnan(got)
    err = got - tgt
    d_got, d_tgt = np.abs(np.diff(got)), np.abs(np.diff(tgt))
    jump = (d_got > JUMP) & (d_tgt < STILL) & ok[1:] & ok[:-1]
    row = dict(video=Path(video).stem, audio=Path(audio).stem, frames=int(n),
               corr_target=float(np.corrcoef(got[ok], tgt[ok])[0, 1]),
               corr_source=float(np.corrcoef(got[ok], src_ap[ok])[0, 1]),
               corr_base=float(np.corrcoef(got[ok], base_ap[ok])[0, 1]),
               mae=float(np.abs(err[ok]).mean()), bias=float(err[ok].mean()),
               steps_over=float(((d_got > JUMP) & ok[1:] & ok[:-1]).mean()), unasked_jumps=float(jump.mean()),
               by_group={})
    for g in ("near", "open+", "close+", "fade", "own", "kept"):
        sel = (label == g) & ok
        # A jump is charged to the group of the frame it lands on.
        row["by_group"][g] = dict(frames=int(sel.sum()), mae=float(np.abs(err[sel]).mean()) if sel.any() else None,
                                  bias=float(err[sel].mean()) if sel.any() else None,
                                  jumps=int((jump & sel[1:]).sum()))
    row["per_frame"] = dict(target=tgt.tolist(), measured=np.where(ok, got, -1).tolist(),
                            source=dbg["sources"][:n].tolist(), base=dbg["bases"][:n].tolist(), group=label.tolist())
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--video", required=True)
    ap.add_argument("--audio", action="append", required=True)
    ap.add_argument("--out", default=str(REPO / "var" / "bench" / "fidelity.json"))
    ap.add_argument("--keep", default="", help="keep the outputs in this folder")
    args = ap.parse_args(argv)
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    rows = []
    for audio in args.audio:
        r = one(args.video, audio, args.keep)
        rows.append(r)
        print(f"{r['video']} {r['audio']}: r(target) {r['corr_target']:+.3f} r(source) {r['corr_source']:+.3f} "
              f"r(base) {r['corr_base']:+.3f} mae {r['mae']:.3f} bias {r['bias']:+.3f} steps>0.05 "
              f"{r['steps_over']:.3f} unasked {r['unasked_jumps']:.3f}")
        for g, v in r["by_group"].items():
            if v["frames"]:
                print(f"    {g:7s} {v['frames']:4d} frames  mae {v['mae']:.3f}  bias {v['bias']:+.3f}  "
                      f"unasked jumps {v['jumps']}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(rows, fh, indent=1)


if __name__ == "__main__":
    main()
