"""The retrieval planner's targets judged by ../shared/lipeval, without rendering: a fast tuning aid.

    .venv/bin/python bench/plan_quality.py [--repo /work/wt-11] [--tts-clips 8] [--out var/bench/plan.json]
        [--speech-language en|other] [--drive-phones auto|words|phones|none]

``bench/quality.py`` judges rendered videos (minutes per clip on two cores); this judges the target aperture the
planner asks the renderer for, as a perfect renderer would show it, so a planner change is measured on all five
shared people in a few minutes. It answers "is the plan right?", not "does the video look right": confirm every
change with ``bench/quality.py``: the plan reads higher than the renders (measured on main at 273a09d: open-vowel
reach and TTS sync within 0.02, self-reconstruction 0.05 and P/B/M closure 0.08 higher; after issue 11's round 3,
self-reconstruction 0.07 higher), so compare plans with plans and renders with renders.

Per shared person: self-reconstruction (template = first 60 %, driven by the last 40 %'s audio; Pearson with the
real held-out aperture), ``--tts-clips`` English TTS clips with true phones (lipeval's ``alignsync2`` measure,
best of +-3 frames; P/B/M closed and open-vowel reach as ``motion.py closure`` computes them, levels from the
template's own aperture), ``--cmn-clips`` Mandarin clips (``bench/pinyin_tts.py``: syllable-exact timings, judged like
the TTS clips), and the first 8 s of every real speech clip in ../shared/media/audio (``phonesync2``).

``--speech-language`` plans every driving clip as the engine's ``Config.speech_language`` says (``other``: the
first formant instead of English phones), so what a user gains and what choosing wrongly costs are both
measured: Mandarin clips and English ones alike. ``--drive-phones`` decodes the driving clips' phones as the
engine does for that language (``auto``), or with word recognition, all-phone decoding or not at all.

Two processes: the engine side (this interpreter, the engine's venv: face tracking and the planner of
``--repo``) writes the targets to a file; the judge side runs in lipeval's own venv and only reads that file
(lipeval stays out of the engine's process and out of ``inference/``). Tracking and phone decoding are cached
under ``--cache``, keyed by the source of the modules that produce them (``speech.py``, ``face.py``,
``template.py``), so a change there is never judged on stale tracks or phones.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
RECON_SPLIT = 0.6
SPEECH_S = 8.0
CACHED_FROM = ("speech.py", "face.py", "template.py")  # the cache is only as fresh as these modules

JUDGE = r'''
import json, pickle, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import lipeval as L
rows = pickle.load(open(sys.argv[2], "rb"))
model = L.load_open_model()
decoded = {}
out = []
for r in rows:
    ap, fps = r["ap"], r["fps"]
    t = np.arange(len(ap)) / fps
    res = dict(person=r["person"], kind=r["kind"], clip=r.get("clip", ""))
    if r["kind"] == "recon":
        n = min(len(ap), len(r["truth"]))
        res["recon_r"] = L.pearson(ap[:n], r["truth"][:n])
    elif r["kind"] == "cmn":
        ph, meta = L.load_aligned_phones(r["json"])
        res["cmn_sync"] = L.model_sync_metrics(L.predict_open(model, ph, t, float(meta["duration_s"])), ap)["pearson_best"]
    elif r["kind"] == "tts":
        ph, meta = L.load_aligned_phones(r["json"])
        res["tts_sync"] = L.model_sync_metrics(L.predict_open(model, ph, t, float(meta["duration_s"])), ap)["pearson_best"]
        # The same clip judged as phonesync2 judges real speech (phones from free all-phone decoding): where this
        # moves against tts_sync, the free-phone judge is rewarding shared recognition errors.
        wav = r["json"][:-5] + ".wav"
        if wav not in decoded:
            decoded[wav] = L.phones(L.load_audio(wav)[0])
        x_s = len(L.load_audio(wav)[0]) / L.SR
        res["tts_free"] = L.model_sync_metrics(L.predict_open(model, decoded[wav], t, x_s), ap)["pearson_best"]
        lo, hi = r["lo"], r["hi"]
        pbm, ov = [], []
        for p, a, b in ph:
            m = (t >= a - 0.04) & (t <= b + 0.04)
            if m.any() and p in ("P", "B", "M"):
                pbm.append((ap[m].min() - lo) / (hi - lo))
            if m.any() and p in ("AA", "AE", "AH", "AO", "AW", "AY"):
                ov.append((ap[m].max() - lo) / (hi - lo))
        res["pbm_closed"] = float(np.mean(np.array(pbm) < 0.15))
        res["vowel_reach"] = float(np.median(ov))
    else:
        x, _ = L.load_audio(r["audio"])
        x = x[: int(r["seconds"] * L.SR)]
        if r["audio"] not in decoded:
            decoded[r["audio"]] = L.phones(x)
        pred = L.predict_open(model, decoded[r["audio"]], t, len(x) / L.SR)
        res["speech_sync"] = L.model_sync_metrics(pred, ap)["pearson_best"]
    out.append(res)
json.dump(out, sys.stdout)
'''
FIGURES = ("recon_r", "tts_sync", "speech_sync", "pbm_closed", "vowel_reach", "cmn_sync", "tts_free")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default=str(REPO))
    ap.add_argument("--tts-clips", type=int, default=8, help="English TTS clips per person")
    ap.add_argument("--cmn-clips", type=int, default=2, help="Mandarin clips per person (bench/pinyin_tts.py)")
    ap.add_argument("--media", default=str(SHARED / "media"))
    ap.add_argument("--lipeval", default=str(SHARED / "lipeval"))
    ap.add_argument("--lipeval-python", default=os.path.join(os.environ.get("LIPEVAL_VENV", "/tmp/lipeval-venv"),
                                                             "bin", "python"))
    ap.add_argument("--tts-dir", default=str(REPO / "var" / "bench" / "cache" / "tts"),
                    help="ttsdrive.py clips (bench/quality.py makes them on its first run)")
    ap.add_argument("--cache", default=str(REPO / "var" / "bench" / "plan-cache"))
    ap.add_argument("--out", default=str(REPO / "var" / "bench" / "plan.json"))
    ap.add_argument("--speech-language", default="en", help="the engine's Config.speech_language for every clip")
    ap.add_argument("--drive-phones", default="auto", choices=("auto", "words", "phones", "none"),
                    help="how the driving clips' phones are decoded (auto: as the engine does for the language)")
    a = ap.parse_args()
    sys.path.insert(0, a.repo)
    if a.drive_phones == "auto":
        a.drive_phones = _engine_drive_phones(a.speech_language)
    rows = plan_rows(a)
    targets = Path(a.out).with_suffix(".targets.pkl")
    targets.parent.mkdir(parents=True, exist_ok=True)
    with open(targets, "wb") as fh:
        pickle.dump(rows, fh)
    judged = json.loads(subprocess.run([a.lipeval_python, "-c", JUDGE, a.lipeval, str(targets)], check=True,
                                       capture_output=True, text=True).stdout)
    summary = summarise(judged)
    Path(a.out).write_text(json.dumps(dict(repo=a.repo, tts_clips=a.tts_clips, speech_language=a.speech_language,
                                           drive_phones=a.drive_phones, rows=judged, summary=summary), indent=1))
    print(f"speech_language={a.speech_language} drive_phones={a.drive_phones}")
    print(f"{'':16s}" + "".join(f"{f:>13s}" for f in FIGURES))
    for person, figs in summary.items():
        print(f"{person:16s}" + "".join(f"{figs[f]:+13.3f}" for f in FIGURES))


def summarise(judged: list[dict]) -> dict:
    people = sorted({r["person"] for r in judged})
    out = {p: {f: float(np.mean([r[f] for r in judged if r["person"] == p and f in r] or [np.nan])) for f in FIGURES}
           for p in people}
    out["mean"] = {f: float(np.mean([out[p][f] for p in people])) for f in FIGURES}
    return out


def _engine_drive_phones(language: str) -> str:
    """How the engine of ``--repo`` decodes a driving voice's phones for ``language`` ("words" before the
    option existed)."""
    from inference.config import Config

    if language == "en" and "speech_language" not in Config.__dataclass_fields__:
        return "words"
    from inference.backends.retrieval import Retrieval

    return Retrieval(Config(speech_language=language), "cpu").drive_phones() or "none"


def plan_rows(a) -> list[dict]:
    from inference import media, speech

    def drive_phones(name, samples):
        """The driving clip's phones as ``--drive-phones`` says (False: none decoded)."""
        if a.drive_phones == "words":
            return memo(name, lambda: speech.decode_phones(samples))
        if a.drive_phones == "phones":
            return memo(f"{name}-allphone", lambda: speech.decode_phones(samples, words=False))
        return False

    sources = b"".join((Path(a.repo) / "inference" / name).read_bytes() for name in CACHED_FROM)
    key = hashlib.sha1(sources).hexdigest()[:10]
    cache = Path(a.cache) / key
    cache.mkdir(parents=True, exist_ok=True)

    def memo(name, fn):
        path = cache / f"{name}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())
        value = fn()
        path.write_bytes(pickle.dumps(value))
        return value

    tts = sorted(glob.glob(os.path.join(a.tts_dir, "en*.wav")))
    if not tts:
        raise SystemExit(f"no TTS clips in {a.tts_dir}: run bench/quality.py once (it makes them)")
    real = sorted(glob.glob(os.path.join(a.media, "audio", "*.wav")))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pinyin_tts

    cmn_names = list(pinyin_tts.UTTERANCES)
    cmn_dir = Path(a.tts_dir).parent / "cmn"
    cmn_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for vi, video in enumerate(sorted(glob.glob(os.path.join(a.media, "video", "*.mp4")))):
        person = Path(video).stem
        track, fps = memo(f"{person}-track", lambda: _track(video))
        samples = media.load_audio(video)
        # The template's phones as the pipeline decodes them: all-phone only, no word recognition.
        phones = memo(f"{person}-phones-nowords", lambda: speech.decode_phones(samples, words=False))
        lo, hi = np.nanpercentile(track.aperture, 5), np.nanpercentile(track.aperture, 95)
        split = int(round(len(track) * RECON_SPLIT))
        cut = int(round(split / fps * media.ANALYSIS_RATE))
        own, held = samples[:cut], samples[cut:]
        plan = _plan(_head(track, split), own, held, fps, memo(f"{person}-recon-own-nowords",
                                                       lambda: speech.decode_phones(own, words=False)),
                     drive_phones(f"{person}-recon-held", held), len(track) - split, a.speech_language)
        rows.append(dict(person=person, kind="recon", ap=plan, truth=track.aperture[split:], fps=fps))
        for k in range(a.tts_clips):
            wav = tts[(vi * a.tts_clips + k) % len(tts)]
            drive = media.load_audio(wav)
            n_out = int(round(len(drive) / media.ANALYSIS_RATE * fps))
            dph = drive_phones(f"{Path(wav).stem}-phones", drive)
            rows.append(dict(person=person, kind="tts", clip=Path(wav).stem, json=wav[:-4] + ".json", fps=fps, lo=lo,
                             hi=hi, ap=_plan(track, samples, drive, fps, phones, dph, n_out, a.speech_language)))
        for k in range(a.cmn_clips):
            name = cmn_names[(vi * a.cmn_clips + k) % len(cmn_names)]
            base = cmn_dir / name
            if not (Path(f"{base}.json").exists() and Path(f"{base}.wav").exists()):
                pinyin_tts.write_clip(base, name)
            drive = media.load_audio(f"{base}.wav")
            n_out = int(round(len(drive) / media.ANALYSIS_RATE * fps))
            dph = drive_phones(f"cmn-{name}-phones", drive)
            rows.append(dict(person=person, kind="cmn", clip=name, json=f"{base}.json", fps=fps,
                             ap=_plan(track, samples, drive, fps, phones, dph, n_out, a.speech_language)))
        for wav in real:
            drive = media.load_audio(wav)[: int(SPEECH_S * media.ANALYSIS_RATE)]
            n_out = int(round(len(drive) / media.ANALYSIS_RATE * fps))
            dph = drive_phones(f"{Path(wav).stem}-phones-{SPEECH_S:g}", drive)
            rows.append(dict(person=person, kind="speech", clip=Path(wav).stem, audio=wav, seconds=SPEECH_S, fps=fps,
                             ap=_plan(track, samples, drive, fps, phones, dph, n_out, a.speech_language)))
        print(f"planned {person}", file=sys.stderr, flush=True)
    return rows


def _track(video):
    from inference import media
    from inference.template import FrameCache, MouthCache, track_template

    vinfo = media.probe(video)
    width, height, fps = media.video_geometry(vinfo)
    mouths = MouthCache()
    try:
        track = track_template(vinfo, width, height, float(fps), FrameCache(width * height * 3 // 2, store=False),
                               mouths, lambda *args, **kwargs: None)
    finally:
        mouths.close()
    return track, float(fps)


def _head(track, n):
    from dataclasses import fields, replace

    return replace(track, **{f.name: getattr(track, f.name)[:n] for f in fields(track)
                             if getattr(track, f.name) is not None})


def _plan(track, template_samples, drive_samples, fps, template_phones, drive_phones, n_out,
          language="en") -> np.ndarray:
    """The planner's target aperture per output frame (n_out,), as ``inference.pipeline`` would plan it.
    ``drive_phones`` False: none decoded."""
    from inference import speech
    from inference.backends.base import Job
    from inference.backends.retrieval import model
    from inference.config import Config

    config = Config() if language == "en" else Config(speech_language=language)
    job = Job(config, "cpu", 0, 0, fps, n_out, np.arange(n_out) % len(track), track, None, drive_samples,
              template_samples)
    job.drive = speech.analyse(drive_samples, n_out, fps, phones=drive_phones)
    job.template = speech.analyse(template_samples, len(track), fps, phones=template_phones)
    return model.plan(job, lambda *args, **kwargs: None)["targets"][:, 0]


if __name__ == "__main__":
    main()
