"""Where P/B/M closures are lost: recognition (never planned) or the render (planned, not shown).

    .venv/bin/python bench/closure_misses.py [--people man_map,glasses] [--tts-clips 4] [--repo R]
        [--out var/bench/closure-misses.json]

A diagnostic beside ``bench/quality.py``. For each shared person and English TTS clip (``ttsdrive.py``, true
phones) the engine runs in-process with ``debug=True`` (the plan: targets, chosen sources, cross-fades), and the
output is tracked by ../shared/lipeval (in its own virtualenv, as a subprocess). Every true P/B/M is then judged
as ``motion.py closure`` judges it (the lowest aperture within 40 ms of the phone under 0.15 of the template's
5-95 % range), once on the rendered video (lipeval's tracker) and once on the plan (the engine's targets in the
engine's units, normalised by the template's own range in those units). A closure planned but not shown is
broken down by what the renderer did there: the source's own opening, a cross-fade, the base's own mouth.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
LIPEVAL_PY = os.environ.get("LIPEVAL_PYTHON", "/tmp/lipeval-venv/bin/python")
CLOSED, WINDOW = 0.15, 0.04

JUDGE = r"""
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import lipeval as L
out, template = sys.argv[2], sys.argv[3]
apt = L.aperture(L.get_track(template)); lo, hi = np.nanpercentile(apt, 5), np.nanpercentile(apt, 95)
tr = L.get_track(out); ap = L.aperture(tr); t = tr["t"] - tr["t"][0]
print(json.dumps({"t": t.tolist(), "norm": ((ap - lo) / (hi - lo)).tolist()}))
"""


def judge(out, template):
    proc = subprocess.run([LIPEVAL_PY, "-c", JUDGE, str(SHARED / "lipeval"), out, template], capture_output=True,
                          text=True, check=True, env={**os.environ, "LIPEVAL_CACHE": str(REPO / "var/bench/cache/lipeval")})
    d = json.loads(proc.stdout.strip().splitlines()[-1])
    return np.array(d["t"]), np.array(d["norm"], dtype=float)


def one(video, wav, outdir):
    from inference import Config, generate
    from inference.backends.retrieval.render import crossfades

    out = os.path.join(outdir, f"{Path(video).stem}__{Path(wav).stem}.mp4")
    rep = generate(video, wav, out, Config(debug=True, backend="retrieval"))
    dbg = rep.debug
    ap = np.nan_to_num(dbg["aperture"])
    valid = dbg["valid"]
    lo, hi = np.percentile(ap[valid], 5), np.percentile(ap[valid], 95)
    tgt = (dbg["targets"][:, 0] - lo) / (hi - lo)
    src = (ap[dbg["sources"]] - lo) / (hi - lo)
    other, _ = crossfades(dbg["sources"])
    t, rendered = judge(out, video)
    fps = rep.fps
    phones = json.load(open(os.path.splitext(wav)[0] + ".json"))["phones"]
    heard = [(p, s, e) for p, s, e in (dbg["drive"].phones or []) if p.upper() in ("P", "B", "M")]
    events = []
    for p, a, b in phones:
        if p not in ("P", "B", "M"):
            continue
        m = (t >= a - WINDOW) & (t <= b + WINDOW)
        if not m.any() or not np.isfinite(rendered[m]).any():
            continue
        frames = np.flatnonzero(m)
        frames = frames[frames < len(tgt)]
        i = frames[np.argmin(tgt[frames])]
        events.append(dict(phone=p, start=a, planned=float(tgt[frames].min()), rendered=float(np.nanmin(rendered[m])),
                           source=float(src[i]), fade=bool((other[frames] >= 0).any()), own=bool(dbg["own"][frames].any()),
                           frames=len(frames),
                           heard=any(s < b + WINDOW and e > a - WINDOW for _, s, e in heard)))
    return dict(video=Path(video).stem, audio=Path(wav).stem, fps=fps, events=events)


def summary(rows):
    ev = [e for r in rows for e in r["events"]]
    planned = np.array([e["planned"] < CLOSED for e in ev])
    shown = np.array([e["rendered"] < CLOSED for e in ev])
    lost = planned & ~shown
    print(f"{len(ev)} P/B/M: planned closed {planned.mean():.3f}, rendered closed {shown.mean():.3f}, "
          f"planned but not shown {lost.sum()} ({lost.mean():.3f}), shown but not planned {(shown & ~planned).sum()}")
    for name, sel in (("source closed (< 0.15)", np.array([e["source"] < CLOSED for e in ev])),
                      ("source open", np.array([e["source"] >= CLOSED for e in ev])),
                      ("cross-fade in window", np.array([e["fade"] for e in ev])),
                      ("base's own mouth", np.array([e["own"] for e in ev])),
                      ("one frame or less", np.array([e["frames"] <= 2 for e in ev]))):
        n = (planned & sel).sum()
        print(f"  planned closed, {name}: {n}, shown {((planned & sel) & shown).sum()} "
              f"({((planned & sel) & shown).sum() / max(n, 1):.2f})")
    heard = np.array([e["heard"] for e in ev])
    print(f"  recognised as P/B/M: {heard.mean():.3f}; of those planned closed {planned[heard].mean():.3f}; "
          f"not recognised but planned closed {planned[~heard].mean():.3f}")
    miss = heard & ~planned
    if miss.any():
        print("  recognised, not planned closed: planned minimum",
              np.round(np.sort(np.array([e["planned"] for e in ev])[miss]), 2).tolist())
    lost_rendered = np.array([e["rendered"] for e in ev])[lost]
    if len(lost_rendered):
        print(f"  rendered minimum where lost: median {np.median(lost_rendered):.3f}, "
              f"quartiles {np.percentile(lost_rendered, 25):.3f} {np.percentile(lost_rendered, 75):.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", default="")
    ap.add_argument("--tts-clips", type=int, default=4)
    ap.add_argument("--repo", default=str(REPO), help="the engine to run (a worktree)")
    ap.add_argument("--out", default=str(REPO / "var/bench/closure-misses.json"))
    ap.add_argument("--summary", help="only summarise an earlier --out")
    args = ap.parse_args()
    if args.summary:
        return summary(json.load(open(args.summary)))
    sys.path.insert(0, args.repo)
    import inference

    inference.init_runtime()
    videos = sorted((SHARED / "media/video").glob("*.mp4"))
    if args.people:
        videos = [v for v in videos if any(p in v.stem for p in args.people.split(","))]
    wavs = sorted((REPO / "var/bench/cache/tts").glob("en-*.wav"))
    outdir = str(Path(args.out).with_suffix("")) + "-videos"
    os.makedirs(outdir, exist_ok=True)
    rows = []
    for k, video in enumerate(videos):
        # Each person gets its own clips, spread over the voices.
        for wav in wavs[k * args.tts_clips:(k + 1) * args.tts_clips]:
            rows.append(one(str(video), str(wav), outdir))
            print(rows[-1]["video"], rows[-1]["audio"], len(rows[-1]["events"]), "P/B/M", flush=True)
    with open(args.out, "w") as fh:
        json.dump(rows, fh, indent=1)
    summary(rows)


if __name__ == "__main__":
    main()
