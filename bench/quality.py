"""Lip-sync quality on the shared real clips: self-reconstruction and cross-speaker, against baselines.

    .venv/bin/python bench/quality.py [--media ../shared/media] [--out var/bench/quality.json] [--quick]

(1) Self-reconstruction: each real video is split 60/40; the first 60 % (with its own audio) is the template,
    driven by the audio of the held-out last 40 %. The generated mouth is compared with the real held-out
    mouth: Pearson correlation of the inner-lip aperture series, lip-shape error (lip landmarks centred on the
    mouth, eye line levelled, divided by interocular distance), mean aperture where the driving audio is silent,
    and PSNR outside the replaced lower-face region against the base frames.
(2) Cross-speaker: each video (whole) driven by each shared speech clip (first 12 s). Scored by how the
    generated aperture follows the driving audio's phones, next to real videos with their own audio and with
    mismatched audio. The judge's phones come from pocketsphinx word recognition followed by forced alignment of
    the recognised words, not from the engine's free all-phone decoding, so shared recognition errors are not
    rewarded as sync (engine-findings.md). Scores: Spearman correlation between a hand per-phone opening
    (blended over +-1 frame) and the aperture, and d' separating open-vowel from P B M frames.

Baselines in the same run: ``static`` (template frames untouched) and ``warp``.
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import inference  # noqa: E402
from inference import media  # noqa: E402
from speed import write_wav  # noqa: E402  (bench/ is on sys.path when a bench runs)
from inference.face import EYE_CORNERS, INNER_LIPS, OUTER_LIPS, FaceTracker, interocular, mouth_shape  # noqa: E402

# Judge table: expected opening per phone (0 closed .. 1 wide). Deliberately not the engine's own prior.
JUDGE_OPEN = {
    **dict.fromkeys(("AA", "AE", "AH", "AO", "AW", "AY"), 1.0),
    **dict.fromkeys(("EH", "EY", "ER"), 0.7),
    **dict.fromkeys(("IH", "IY", "Y"), 0.5),
    **dict.fromkeys(("OW", "UH", "UW", "OY", "W"), 0.4),
    **dict.fromkeys(("HH", "K", "G", "NG"), 0.5),
    **dict.fromkeys(("T", "D", "N", "L", "S", "Z", "TH", "DH"), 0.35),
    **dict.fromkeys(("SH", "ZH", "CH", "JH", "R"), 0.35),
    **dict.fromkeys(("F", "V"), 0.1),
    **dict.fromkeys(("P", "B", "M"), 0.0),
}
OPEN_VOWELS = {"AA", "AE", "AH", "AO", "AW", "AY"}
BILABIALS = {"P", "B", "M"}
LIPS = list(OUTER_LIPS) + list(INNER_LIPS)


def track(path):
    """Per frame of a video: aperture (NaN when lost), lip shape (K, 2) normalised, and landmarks."""
    info = inference.probe(path)
    w, h, fps = media.video_geometry(info)
    tracker = FaceTracker(float(fps))
    aps, shapes, lms = [], [], []
    for frame in media.iter_video_frames(info):
        found = tracker.track(frame, w, h)
        if found is None:
            aps.append(np.nan)
            shapes.append(np.full((len(LIPS), 2), np.nan))
            lms.append(None)
            continue
        raw, smooth = found
        aps.append(mouth_shape(raw)[0])
        shapes.append(lip_shape(raw))
        lms.append(smooth)
    tracker.close()
    return np.array(aps), np.array(shapes), lms


def lip_shape(lm):
    left, right = lm[EYE_CORNERS[0]], lm[EYE_CORNERS[1]]
    ang = np.arctan2(*(right - left)[::-1])
    rot = np.array([[np.cos(-ang), -np.sin(-ang)], [np.sin(-ang), np.cos(-ang)]])
    pts = lm[LIPS] - lm[LIPS].mean(0)
    return pts @ rot.T / interocular(lm)


def pearson(a, b):
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 5 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return float("nan")
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def spearman(a, b):
    n = min(len(a), len(b))
    a, b = np.asarray(a[:n], float), np.asarray(b[:n], float)
    ok = ~(np.isnan(a) | np.isnan(b))
    if ok.sum() < 5:
        return float("nan")
    ra = np.argsort(np.argsort(a[ok])).astype(float)
    rb = np.argsort(np.argsort(b[ok])).astype(float)
    return pearson(ra, rb)


def write_clip(path, frames, w, h, fps, samples, tmp):
    wav = os.path.join(tmp, "clip_audio.wav")
    write_wav(wav, samples)
    writer = media.VideoWriter(path, wav, w, h, fps, inference.Config(preset="ultrafast", crf=12))
    for f in frames:
        writer.write(f)
    writer.close()


def judge_phones(samples):
    """[(phone, start_s, end_s)] from word recognition + forced alignment (pocketsphinx, en-us)."""
    from pocketsphinx import Decoder

    noisy = samples + np.random.default_rng(0).normal(0, 1e-3, samples.shape).astype(np.float32)
    pcm = (np.clip(noisy, -1, 1) * 32767).astype(np.int16).tobytes()
    d = Decoder(samprate=16000, loglevel="FATAL", bestpath=False)
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    hyp = d.hyp()
    if hyp is None or not hyp.hypstr.strip():
        return []
    d.set_align_text(hyp.hypstr)
    for _ in range(2):
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        d.set_alignment()
    d.start_utt()
    d.process_raw(pcm, full_utt=True)
    d.end_utt()
    out = []
    for word in d.get_alignment() or []:
        for ph in word:
            out.append((ph.name, ph.start / 100.0, (ph.start + ph.duration) / 100.0))
    return out


def phone_frames(phones, n, fps):
    """Per video frame: the phone at the frame's centre ('SIL' where none)."""
    labels = ["SIL"] * n
    for name, s, e in phones:
        for i in range(int(np.ceil(s * fps - 0.5)), min(int(np.ceil(e * fps - 0.5)), n)):
            labels[max(i, 0)] = name
    return labels


def sync_scores(labels, aperture):
    n = min(len(labels), len(aperture))
    labels, aperture = labels[:n], np.asarray(aperture[:n], float)
    expected = np.array([JUDGE_OPEN.get(p, 0.0) for p in labels])
    if n >= 3:
        expected = np.convolve(np.pad(expected, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    rho = spearman(expected, aperture)
    ov = np.array([p in OPEN_VOWELS for p in labels]) & ~np.isnan(aperture)
    bl = np.array([p in BILABIALS for p in labels]) & ~np.isnan(aperture)
    dprime = float("nan")
    if ov.sum() >= 3 and bl.sum() >= 3:
        pooled = np.sqrt((aperture[ov].var() + aperture[bl].var()) / 2) + 1e-6
        dprime = float((aperture[ov].mean() - aperture[bl].mean()) / pooled)
    return rho, dprime


def psnr_outside(out_path, template_path, bases, template_lms):
    import cv2

    from inference.composite import lower_face_outline

    outs = decode_rgb(out_path)
    base_frames = decode_rgb(template_path)
    vals = []
    for i, o in enumerate(outs):
        b = int(bases[i])
        lm = template_lms[b]
        base = base_frames[b]
        mask = np.ones(base.shape[:2], bool)
        if lm is not None:
            m = np.zeros(base.shape[:2], np.uint8)
            cv2.fillConvexPoly(m, cv2.convexHull(lower_face_outline(lm).astype(np.int32)), 1)
            d = int(0.3 * interocular(lm)) | 1
            m = cv2.dilate(m, np.ones((d, d), np.uint8))
            mask = m == 0
        mse = ((o[mask].astype(float) - base[mask]) ** 2).mean()
        vals.append(10 * np.log10(255**2 / max(mse, 1e-10)))
    return float(np.mean(vals))


def decode_rgb(path):
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def self_reconstruction(video, tmp, backends):
    info = inference.probe(video)
    w, h, fps = media.video_geometry(info)
    frames = list(media.iter_video_frames(info))
    samples = media.load_audio(video)
    n = len(frames)
    split = int(0.6 * n)
    t_split = split / float(fps)
    template = os.path.join(tmp, "template.mp4")
    write_clip(template, frames[:split], w, h, fps, samples[: int(t_split * 16000)], tmp)
    drive = os.path.join(tmp, "drive.wav")
    held = samples[int(t_split * 16000) : int(n / float(fps) * 16000)]
    write_wav(drive, held)
    del frames
    real_ap, real_shape, _ = track(video)
    real_ap, real_shape = real_ap[split:], real_shape[split:]
    tpl_ap, tpl_shape, tpl_lms = track(template)
    from inference.speech import voice_activity

    vad = voice_activity(held, len(real_ap), float(fps))
    silent = vad < 0.3
    rows = {}
    for backend in backends:
        t0 = time.time()
        if backend == "static":
            from inference.template import base_schedule

            bases = base_schedule(len(real_ap), split, "pingpong")
            ap, shape = tpl_ap[bases], tpl_shape[bases]
            psnr = float("inf")
            used = "static"
        else:
            out = os.path.join(tmp, f"self_{backend}.mp4")
            rep = inference.generate(template, drive, out, inference.Config(backend=backend, preset="ultrafast",
                                                                           crf=12, debug=True))
            ap, shape, _ = track(out)
            bases = rep.debug["bases"]
            psnr = psnr_outside(out, template, bases, tpl_lms)
            used = rep.backend
        m = min(len(ap), len(real_ap))
        err = np.nanmean(np.linalg.norm(shape[:m] - real_shape[:m], axis=-1))
        rows[backend] = {
            "backend": used,
            "aperture_corr": pearson(ap, real_ap),
            "lip_shape_error": float(err),
            "silent_aperture": float(np.nanmean(ap[:m][silent[:m]])) if silent[:m].any() else float("nan"),
            "real_silent_aperture": float(np.nanmean(real_ap[:m][silent[:m]])) if silent[:m].any() else float("nan"),
            "psnr_outside_mouth": psnr,
            "seconds": round(time.time() - t0, 2),
        }
    return rows


def cross_speaker(videos, clips, tmp, backends, max_s=12.0):
    judged = {}
    for clip in clips:
        s = media.load_audio(clip)[: int(max_s * 16000)]
        path = os.path.join(tmp, Path(clip).stem + "_drive.wav")
        write_wav(path, s)
        judged[clip] = (path, judge_phones(s), len(s) / 16000)
    results = {"generated": [], "real_own": [], "real_mismatched": []}
    own = {}
    for video in videos:
        info = inference.probe(video)
        fps = float(info.fps)
        ap, _, _ = track(video)
        samples = media.load_audio(video)
        own[video] = (ap, phone_frames(judge_phones(samples), len(ap), fps), fps)
        rho, dp = sync_scores(own[video][1], ap)
        results["real_own"].append({"video": Path(video).name, "rho": rho, "dprime": dp})
    for v1, v2 in itertools.permutations(videos, 2):
        ap, _, fps = own[v1]
        rho, dp = sync_scores(own[v2][1], ap)
        results["real_mismatched"].append({"video": Path(v1).name, "audio": Path(v2).name, "rho": rho,
                                           "dprime": dp})
    for video in videos:
        fps = float(inference.probe(video).fps)
        tpl_ap, _, _ = track(video) if "static" in backends else (None, None, None)
        for clip in clips:
            path, phones, dur = judged[clip]
            n = int(round(dur * fps))
            labels = phone_frames(phones, n, fps)
            for backend in backends:
                if backend == "static":
                    from inference.template import base_schedule

                    ap = tpl_ap[base_schedule(n, len(tpl_ap), "pingpong")]
                else:
                    out = os.path.join(tmp, "cross.mp4")
                    inference.generate(video, path, out, inference.Config(backend=backend, preset="ultrafast"))
                    ap, _, _ = track(out)
                rho, dp = sync_scores(labels, ap)
                results["generated"].append({"video": Path(video).name, "audio": Path(clip).name,
                                             "backend": backend, "rho": rho, "dprime": dp})
                print(f"  cross {Path(video).name} <- {Path(clip).name} {backend}: rho {rho:+.3f} d' {dp:+.2f}",
                      flush=True)
    return results


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--media", default=str(REPO.parent / "shared" / "media"))
    parser.add_argument("--out", default=str(REPO / "var" / "bench" / "quality.json"))
    parser.add_argument("--quick", action="store_true", help="skip the 1080p clip and the 60 s speech clip")
    parser.add_argument("--skip-cross", action="store_true")
    parser.add_argument("--skip-self", action="store_true")
    parser.add_argument("--videos", default="", help="comma-separated substrings: only videos matching one")
    parser.add_argument("--backends", default="static,warp,retrieval")
    args = parser.parse_args()
    inference.init_runtime()
    videos = sorted(str(p) for p in Path(args.media, "video").glob("*.mp4"))
    clips = sorted(str(p) for p in Path(args.media, "audio").glob("*.wav"))
    if args.quick:
        videos = [v for v in videos if "1080" not in v]
    if args.videos:
        videos = [v for v in videos if any(k in v for k in args.videos.split(","))]
    backends = args.backends.split(",")
    report = {"self": {}, "cross": None}
    with tempfile.TemporaryDirectory() as tmp:
        for video in videos if not args.skip_self else []:
            rows = self_reconstruction(video, tmp, backends)
            report["self"][Path(video).name] = rows
            for b, r in rows.items():
                print(f"self {Path(video).name:45s} {b:9s} corr {r['aperture_corr']:+.3f} "
                      f"shape {r['lip_shape_error']:.4f} silent {r['silent_aperture']:.3f} "
                      f"(real {r['real_silent_aperture']:.3f}) psnr {r['psnr_outside_mouth']:.1f}", flush=True)
        if not args.skip_cross:
            report["cross"] = cross_speaker(videos, clips, tmp, backends)
    summary = {}
    for b in backends if report["self"] else []:
        rows = [v[b] for v in report["self"].values()]
        summary[f"self_{b}"] = {k: float(np.nanmean([r[k] for r in rows])) for k in
                                ("aperture_corr", "lip_shape_error", "silent_aperture", "psnr_outside_mouth")}
    if report["cross"]:
        for key in ("real_own", "real_mismatched"):
            rows = report["cross"][key]
            summary[f"cross_{key}"] = {"rho": float(np.nanmean([r["rho"] for r in rows])),
                                       "dprime": float(np.nanmean([r["dprime"] for r in rows]))}
        for b in backends:
            rows = [r for r in report["cross"]["generated"] if r["backend"] == b]
            summary[f"cross_{b}"] = {"rho": float(np.nanmean([r["rho"] for r in rows])),
                                     "dprime": float(np.nanmean([r["dprime"] for r in rows]))}
    report["summary"] = summary
    print(json.dumps(summary, indent=2))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1, default=float)


if __name__ == "__main__":
    main()
