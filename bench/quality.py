"""Lip-sync quality of the engine as a user runs it, judged by ../shared/lipeval (an independent yardstick).

    .venv/bin/python bench/quality.py [--backends auto,retrieval,warp] [--people man_map,glasses] [--tts-clips 8]
        [--cmn-clips 2] [--speech-clips 4] [--quick] [--jobs 1] [--out var/bench/quality.json]
        [--repo /work/wt-11] [--engine-python PATH] [--keep DIR] [--kinds cmn] [--cmn-speech-language other]

The engine is run only through its CLI (``ENGINE_PYTHON -m inference generate ... --backend B`` with the
working directory ``--repo``), so this bench works unchanged against any version of the engine, and the judge
(``../shared/lipeval``: ``lipeval.py`` and ``motion.py``) runs only as subprocesses of its own virtualenv. Nothing
from ``inference/`` is imported here.

On every shared person (``../shared/media/video/*.mp4``), for each backend asked for and for "doing nothing"
(``nothing``: the template's frames untouched, in the engine's ping-pong order, re-encoded to the output's length
with the engine's encoder settings, libx264 veryfast CRF 18 + the driving audio):

- ``recon``: self-reconstruction. Template = first 60 % of the clip (with its own audio), driven by the audio of
  the last 40 %; ``lipeval.py recon`` -> ``aperture_pearson`` against the real held-out frames.
- ``tts``: English TTS with TRUE phones (``ttsdrive.py`` clips, a different set of ``--tts-clips`` per person);
  ``lipeval.py alignsync2`` -> ``pearson_best``; ``motion.py closure --template`` -> ``bilabial_closed_share``,
  ``open_vowel_reach_median``.
- ``cmn``: Mandarin, espeak-ng's pinyin voice synthesised syllable by syllable (``bench/pinyin_tts.py``: exact
  syllable timings, pinyin mapped to CMU phones by rule); the same two commands.
- ``speech``: other real speakers (``../shared/media/audio/*.wav``, first ``--speech-seconds``);
  ``lipeval.py phonesync2`` -> ``pearson_best``.
- every output: ``motion.py jitter`` -> ``jump_share``; on the first clip of each kind (``--placement-clips``)
  also ``motion.py ring`` -> ``ring_psnr_p1``, ``upper_lip_offset_p99`` and ``lipeval.py region`` ->
  ``psnr_outside_mean`` against the base frames (the same ping-pong frames encoded losslessly).
- ``real``: real people's own speech as the ceiling: ``phonesync2`` and ``jitter`` on the original videos.

Cached under ``var/bench/cache/`` (``--cache``): the TTS and Mandarin clips, the recon templates, truths and
base/doing-nothing videos, lipeval's tracking of those reference videos (``LIPEVAL_CACHE``) and their judgements,
so a second run only renders and judges the engine outputs. Missing tools are set up on first use (the lipeval
venv with ``../shared/lipeval/setup.sh``, the TTS clips with ``ttsdrive.py``); espeak-ng must be installed
(``apt-get install -y espeak-ng``).

A backend the CLI rejects (argparse's "invalid choice") is skipped with a note. ``--reuse-auto`` (off by default)
skips rendering a forced backend when ``auto`` already chose that backend for the same case and reuses auto's
output: valid only while ``auto`` renders exactly as forcing the backend it chose (check this when ``auto``
changes). ``--light-backends warp`` runs those backends only on ``--light-subset`` (default: recon, 2 TTS, 1
Mandarin, 1 speech clip per person). ``--resume RUN.json.partial.json`` keeps an interrupted run's rows.
``--kinds`` keeps only those kinds of clip (``--kinds cmn``: no self-reconstruction either), and
``--cmn-speech-language other`` renders the Mandarin clips as a user who says the voice is not English would
(the CLI's ``--speech-language``).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import fractions
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import pinyin_tts  # noqa: E402

KINDS = ("recon", "tts", "cmn", "speech")
# Summary figures: name -> (kind or None for all, measure key, how clips are combined, higher is better)
FIGURES = {
    "recon_r": ("recon", "aperture_pearson", "mean", True),
    "tts_sync": ("tts", "align_pearson_best", "mean", True),
    "cmn_sync": ("cmn", "align_pearson_best", "mean", True),
    "speech_sync": ("speech", "phone_pearson_best", "mean", True),
    "pbm_closed": ("tts", "bilabial_closed_share", "mean", True),
    "cmn_pbm_closed": ("cmn", "bilabial_closed_share", "mean", True),
    "vowel_reach": ("tts", "open_vowel_reach_median", "mean", True),
    "jump_share": (None, "jump_share", "mean", False),
    "jump_share_max": (None, "jump_share", "max", False),
    "ring_psnr_p1": (None, "ring_psnr_p1", "min", True),
    "lip_offset_p99": (None, "upper_lip_offset_p99", "max", False),
    "psnr_outside": (None, "psnr_outside_mean", "min", True),
}
TARGETS = {"recon_r": ">= 0.45", "tts_sync": ">= 0.35", "speech_sync": ">= real", "pbm_closed": ">= 0.80",
           "vowel_reach": ">= 0.9", "jump_share": "<= 0.05", "ring_psnr_p1": ">= 36", "lip_offset_p99": "<= 0.05",
           "psnr_outside": ">= 38"}
_print_lock = threading.Lock()


def say(*a):
    with _print_lock:
        print(*a, flush=True)


# ----------------------------------------------------------------------------- media helpers (PyAV only)
def decode_video(path):
    """(frames, width, height, fps): frames as I420 arrays ``(H * 3 // 2, W)``, the planes the engine itself decodes
    and re-encodes (no RGB round trip). A display rotation is applied, as the engine does."""
    import av

    frames = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        fps = fractions.Fraction(s.average_rate or s.guessed_rate or 25)
        for f in c.decode(s):
            k = int(round((getattr(f, "rotation", 0) or 0) / 90)) % 4
            if k:
                rgb = np.ascontiguousarray(np.rot90(f.to_ndarray(format="rgb24"), k))
                f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frames.append(f.to_ndarray(format="yuv420p"))
    h, w = frames[0].shape[0] * 2 // 3, frames[0].shape[1]
    return frames, w, h, fps


def load_audio(path, rate=16000):
    """First audio stream of any file as mono float32 at ``rate``."""
    import av

    with av.open(str(path)) as c:
        rs = av.AudioResampler(format="flt", layout="mono", rate=rate)
        out = []
        for fr in c.decode(c.streams.audio[0]):
            out += [o.to_ndarray().reshape(-1) for o in rs.resample(fr)]
        out += [o.to_ndarray().reshape(-1) for o in rs.resample(None)]
    return np.concatenate(out).astype(np.float32)


def write_wav(path, samples, rate=16000):
    tmp = str(path) + ".tmp.wav"
    with wave.open(tmp, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    os.replace(tmp, path)


def encode(path, frames, fps, audio=None, crf=18, preset="veryfast", lossless=False):
    """H.264 MP4 of I420 ``frames`` (any iterable) with ``audio`` (a file, muxed as AAC 48 kHz mono, cut to the
    video's length) when given: libx264 ``preset``/``crf`` as the engine's writer, or lossless (qp 0)."""
    import av

    tmp = str(path) + ".tmp.mp4"
    n = 0
    with av.open(tmp, "w", format="mp4") as c:
        v = c.add_stream("libx264", rate=fps)
        v.pix_fmt = "yuv420p"
        v.options = {"preset": "ultrafast", "qp": "0"} if lossless else {"preset": preset, "crf": str(crf)}
        a = c.add_stream("aac", rate=48000, layout="mono") if audio is not None else None
        for img in frames:
            if n == 0:
                v.width, v.height = img.shape[1], img.shape[0] * 2 // 3
            vf = av.VideoFrame.from_ndarray(img, format="yuv420p")
            vf.pts = n
            vf.time_base = fractions.Fraction(1) / fps
            for p in v.encode(vf):
                c.mux(p)
            n += 1
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            samples = load_audio(audio, 48000)[: int(round(n / float(fps) * 48000))]
            for k in range(0, len(samples), 1024):
                af = av.AudioFrame.from_ndarray(np.ascontiguousarray(samples[None, k:k + 1024]), format="flt",
                                                layout="mono")
                af.sample_rate = 48000
                af.pts = k
                af.time_base = fractions.Fraction(1, 48000)
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    os.replace(tmp, path)
    return n


def pingpong(n_out, n_template):
    """The engine's default length policy: forwards, then backwards, ... (template frame index per output frame)."""
    i = np.arange(n_out)
    if n_template < 2:
        return np.zeros(n_out, int)
    period = 2 * n_template - 2
    k = i % period
    return np.where(k < n_template, k, period - k)


def fingerprint(path):
    st = os.stat(path)
    return f"{os.path.realpath(path)}|{st.st_size}|{st.st_mtime_ns}"


# ----------------------------------------------------------------------------- the judge (subprocesses)
class Judge:
    def __init__(self, lipeval_dir, python, cache_dir):
        self.dir, self.python = Path(lipeval_dir), python
        self.env = dict(os.environ, LIPEVAL_CACHE=str(Path(cache_dir) / "lipeval"))
        self.memo_path = Path(cache_dir) / "judged.json"
        self.memo = json.loads(self.memo_path.read_text()) if self.memo_path.exists() else {}
        self.lock = threading.Lock()

    def run(self, script, *args, memo=False):
        """JSON result of ``script`` (lipeval.py or motion.py) with ``args``; reference videos' results memoised
        by the files' identity (path, size, mtime)."""
        key = None
        if memo:
            ids = [fingerprint(a) if os.path.isfile(a) else a for a in args]
            key = hashlib.sha1(json.dumps([script, ids]).encode()).hexdigest()
            with self.lock:
                if key in self.memo:
                    return self.memo[key]
        p = subprocess.run([self.python, str(self.dir / script), *map(str, args)], capture_output=True, text=True,
                           env=self.env)
        if p.returncode != 0:
            raise RuntimeError(f"{script} {' '.join(map(str, args))}: {p.stderr.strip().splitlines()[-1:]}")
        res = json.loads(p.stdout)
        if memo:
            with self.lock:
                self.memo[key] = res
                tmp = str(self.memo_path) + ".tmp"
                Path(tmp).write_text(json.dumps(self.memo))
                os.replace(tmp, self.memo_path)
        return res

    def forget(self, video):
        """Drop lipeval's cached tracks of an engine output (a new render gets a new cache key anyway)."""
        for f in glob.glob(os.path.join(self.env["LIPEVAL_CACHE"], os.path.basename(video) + ".*.npz")):
            os.remove(f)

    def measure(self, case, video, placement, memo=False):
        """All the case's measures of one output video (engine or doing nothing) as a flat dict."""
        out, a = {}, case
        if a["kind"] == "recon":
            r = self.run("lipeval.py", "recon", video, a["truth"], memo=memo)
            out.update(aperture_pearson=r["aperture_pearson"], aperture_pearson_best=r["aperture_pearson_best"],
                       lip_shape_error_iod=r["lip_shape_error_iod"])
        elif a["kind"] in ("tts", "cmn"):
            r = self.run("lipeval.py", "alignsync2", video, "--audio", a["audio"], memo=memo)
            out.update(align_pearson_best=r["pearson_best"], align_pearson_lag0=r["pearson_lag0"],
                       align_best_lag=r["best_lag_frames"])
            r = self.run("motion.py", "closure", video, "--audio", a["audio"], "--template", a["template"], memo=memo)
            out.update(bilabial_closed_share=r["bilabial_closed_share"], bilabial_min_median=r["bilabial_min_median"],
                       open_vowel_reach_median=r["open_vowel_reach_median"])
        elif a["kind"] == "speech":
            r = self.run("lipeval.py", "phonesync2", video, "--audio", a["audio"], memo=memo)
            out.update(phone_pearson_best=r["pearson_best"], phone_pearson_lag0=r["pearson_lag0"])
        r = self.run("motion.py", "jitter", video, memo=memo)
        out.update(jump_share=r.get("jump_share"), lip_step_p95=r.get("p95"))
        if placement:
            r = self.run("motion.py", "ring", video, a["base"], memo=memo)
            out.update(ring_psnr_p1=r["ring_psnr_p1"], ring_psnr_mean=r["ring_psnr_mean"],
                       upper_lip_offset_p99=r["upper_lip_offset_p99"])
            r = self.run("lipeval.py", "region", video, a["base"], memo=memo)
            out.update(psnr_outside_mean=r["psnr_outside_mean"], psnr_outside_min_frame=r["psnr_outside_min"],
                       psnr_mouth_mean=r["psnr_mouth_mean"])
        return out


# ----------------------------------------------------------------------------- setup and references
def ensure_tools(args):
    shared = Path(args.lipeval)
    if not (shared / "lipeval.py").exists():
        sys.exit(f"no lipeval at {shared} (--lipeval)")
    if not os.access(args.lipeval_python, os.X_OK):
        say(f"setting up the lipeval venv: bash {shared / 'setup.sh'}")
        env = dict(os.environ, LIPEVAL_VENV=str(Path(args.lipeval_python).parents[1]))
        if subprocess.run(["bash", str(shared / "setup.sh")], env=env).returncode != 0:
            sys.exit(f"lipeval setup failed; run: bash {shared / 'setup.sh'}")
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is missing (TTS driving speech); run: apt-get install -y espeak-ng "
                 "(apt-get update first if that fails)")
    tts = Path(args.cache) / "tts"
    if len(glob.glob(str(tts / "en*.json"))) < 40:
        say(f"making the English TTS clips: {args.lipeval_python} {shared / 'ttsdrive.py'} {tts}")
        if subprocess.run([args.lipeval_python, str(shared / "ttsdrive.py"), str(tts)],
                          stdout=subprocess.DEVNULL).returncode != 0:
            sys.exit(f"ttsdrive failed; run: {args.lipeval_python} {shared / 'ttsdrive.py'} {tts}")
    engine = subprocess.run([args.engine_python, "-m", "inference", "-h"], cwd=args.repo, capture_output=True,
                            text=True)
    if engine.returncode != 0:
        sys.exit(f"the engine CLI does not start ({args.engine_python} -m inference, cwd {args.repo}):\n"
                 f"{engine.stderr[-2000:]}")


def prepare_person(video, args, say_prefix=""):
    """Reference files of one person under the cache: recon template/truth/drive."""
    stem = Path(video).stem
    d = Path(args.cache) / "ref" / stem
    d.mkdir(parents=True, exist_ok=True)
    tpl, truth, drive = d / "recon_template.mp4", d / "recon_truth.mp4", d / "recon_drive.wav"
    stamp = d / "recon.stamp"
    if not (stamp.exists() and stamp.read_text() == fingerprint(video)):
        frames, w, h, fps = decode_video(video)
        n = len(frames)
        split = int(0.6 * n)
        t_split = split / float(fps)
        own = load_audio(video, 48000)
        tmpwav = d / "own_head.wav"
        write_wav(tmpwav, own[: int(round(t_split * 48000))], 48000)
        encode(tpl, frames[:split], fps, tmpwav, crf=10)
        write_wav(tmpwav, own[int(round(t_split * 48000)): int(round(n / float(fps) * 48000))], 48000)
        encode(truth, frames[split:], fps, tmpwav, crf=10)
        os.remove(tmpwav)
        s16 = load_audio(video)
        write_wav(drive, s16[int(round(t_split * 16000)): int(round(n / float(fps) * 16000))])
        stamp.write_text(fingerprint(video))
        say(f"{say_prefix}{stem}: recon template {split} frames, truth {n - split} frames")
    return dict(template=str(tpl), truth=str(truth), drive=str(drive))


def prepare_base(case, args):
    """Base frames (lossless) and the doing-nothing output of a case: the template's frames in ping-pong order,
    as many as the engine makes for this audio (round(audio seconds x fps))."""
    d = Path(args.cache) / "base"
    d.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha1(f"{fingerprint(case['template'])}|{fingerprint(case['audio'])}".encode()).hexdigest()[:10]
    name = f"{Path(case['template']).stem}__{case['id'].replace('/', '_')}_{key}"
    base, nothing = d / f"{name}_base.mp4", d / f"{name}_nothing.mp4"
    if not (base.exists() and nothing.exists()):
        frames, w, h, fps = decode_video(case["template"])
        n_out = int(round(len(load_audio(case["audio"])) / 16000 * float(fps)))
        order = pingpong(n_out, len(frames))
        encode(base, (frames[i] for i in order), fps, lossless=True)
        encode(nothing, (frames[i] for i in order), fps, audio=case["audio"], crf=18, preset="veryfast")
    case["base"], case["nothing"] = str(base), str(nothing)


def build_cases(people, args, quick):
    """Cases per person: dicts with id, person, kind, template, audio (+ truth for recon)."""
    cache = Path(args.cache)
    tts_all = sorted(glob.glob(str(cache / "tts" / "en*.wav")))
    cmn_dir = cache / "cmn"
    cmn_dir.mkdir(parents=True, exist_ok=True)
    cmn_names = list(pinyin_tts.UTTERANCES)
    speech_dir = cache / "speech"
    speech_dir.mkdir(parents=True, exist_ok=True)
    speech_all = sorted(glob.glob(str(Path(args.media) / "audio" / "*.wav")))
    cases = []
    n_tts = 2 if quick else args.tts_clips
    n_cmn = 1 if quick else args.cmn_clips
    n_speech = 1 if quick else args.speech_clips
    for pi, video in enumerate(people):
        stem = Path(video).stem
        ref = prepare_person(video, args)
        cases.append(dict(id=f"{stem}/recon", person=stem, kind="recon", template=ref["template"],
                          audio=ref["drive"], truth=ref["truth"]))
        # A different run of clips per person, so the means cover many sentences and voices.
        for j in range(n_tts):
            wav = tts_all[(pi * n_tts + j) % len(tts_all)]
            cases.append(dict(id=f"{stem}/tts/{Path(wav).stem}", person=stem, kind="tts", template=video, audio=wav))
        for j in range(n_cmn):
            name = cmn_names[(pi * n_cmn + j) % len(cmn_names)]
            base = cmn_dir / name
            if not (Path(str(base) + ".json").exists() and Path(str(base) + ".wav").exists()):
                pinyin_tts.write_clip(base, name)
            cases.append(dict(id=f"{stem}/cmn/{name}", person=stem, kind="cmn", template=video,
                              audio=str(base) + ".wav"))
        for j in range(n_speech):
            src = speech_all[(pi + j) % len(speech_all)]
            cut = speech_dir / f"{Path(src).stem}_{args.speech_seconds:g}s.wav"
            if not cut.exists():
                write_wav(cut, load_audio(src)[: int(args.speech_seconds * 16000)])
            cases.append(dict(id=f"{stem}/speech/{cut.stem}", person=stem, kind="speech", template=video,
                              audio=str(cut)))
    # Ghosting and placement on the first clip of each kind per person (they are slow: full-frame decodes).
    light = {k: int(n) for k, n in (x.split(":") for x in args.light_subset.split(",") if x)}
    seen = {}
    for c in cases:
        k = (c["person"], c["kind"])
        seen[k] = seen.get(k, 0) + 1
        c["placement"] = seen[k] <= args.placement_clips and c["kind"] in args.placement_kinds.split(",")
        c["quick"] = seen[k] <= light.get(c["kind"], 0)
    return cases


# ----------------------------------------------------------------------------- rendering
class Engine:
    def __init__(self, args):
        self.python, self.repo = args.engine_python, args.repo
        self.cmn_language = args.cmn_speech_language
        self.rejected = {}

    def render(self, case, backend, out):
        cmd = [self.python, "-m", "inference", "generate", "--video", case["template"], "--audio", case["audio"],
               "--out", out, "--backend", backend, "--quiet"]
        if case["kind"] == "cmn" and self.cmn_language != "en":
            cmd += ["--speech-language", self.cmn_language]
        t0 = time.monotonic()
        p = subprocess.run(cmd, cwd=self.repo, capture_output=True, text=True)
        wall = time.monotonic() - t0
        if p.returncode != 0:
            if "invalid choice" in p.stderr and "--backend" in p.stderr:
                self.rejected[backend] = p.stderr.strip().splitlines()[-1]
                return None, wall, "rejected"
            return None, wall, p.stderr.strip()[-600:]
        try:
            rep = json.loads(p.stdout[p.stdout.index("{"):])
        except ValueError:
            rep = {}
        return rep, wall, None


def run_task(task, engine, judge, args, outdir, results, auto_choice):
    row = _run_task(task, engine, judge, args, outdir, results, auto_choice)
    with _print_lock:  # rows so far, in case the run is stopped
        tmp = args.out + ".partial.tmp"
        with open(tmp, "w") as fh:
            json.dump(sorted(results, key=lambda r: (r["case"], r["backend"])), fh)
        os.replace(tmp, args.out + ".partial.json")
    return row


def _run_task(task, engine, judge, args, outdir, results, auto_choice):
    case, backend = task
    row = dict(case=case["id"], person=case["person"], kind=case["kind"], backend=backend)
    if backend == "nothing":
        t0 = time.monotonic()
        row.update(ran="nothing", **judge.measure(case, case["nothing"], case["placement"], memo=True))
        row["judge_s"] = round(time.monotonic() - t0, 1)
        results.append(row)
        say(f"  {case['id']:55s} nothing   judge {row['judge_s']:5.1f} s")
        return row
    if backend in engine.rejected:
        return None
    if args.reuse_auto and backend != "auto" and auto_choice.get(case["id"], {}).get("ran") == backend:
        src = auto_choice[case["id"]]
        row.update({k: v for k, v in src.items() if k not in ("backend", "reason")}, reused_auto=True,
                   reason="requested (auto's render reused)")
        results.append(row)
        return row
    out = os.path.join(outdir, f"{case['id'].replace('/', '__')}__{backend}.mp4")
    rep, wall, err = engine.render(case, backend, out)
    if err == "rejected":
        say(f"  backend {backend!r}: the CLI rejects it ({engine.rejected[backend]}); skipped")
        return None
    if err:
        row.update(error=err, render_s=round(wall, 1))
        say(f"  {case['id']:55s} {backend:9s} FAILED: {err.splitlines()[-1] if err else ''}")
        results.append(row)
        return row
    row.update(ran=rep.get("backend"), reason=rep.get("backend_reason"), render_s=round(wall, 1),
               frames_out=rep.get("frames_out"), engine_seconds=rep.get("seconds"))
    t0 = time.monotonic()
    try:
        row.update(judge.measure(case, out, case["placement"]))
    except RuntimeError as e:
        row["judge_error"] = str(e)
    row["judge_s"] = round(time.monotonic() - t0, 1)
    judge.forget(out)
    if args.keep and (not args.keep_people or any(k in case["person"] for k in args.keep_people.split(","))):
        os.makedirs(args.keep, exist_ok=True)
        shutil.copy(out, os.path.join(args.keep, os.path.basename(out)))
    os.remove(out)
    if backend == "auto":
        auto_choice[case["id"]] = row
    results.append(row)
    say(f"  {case['id']:55s} {backend:9s} ran {row['ran']:9s} render {wall:5.1f} s judge {row['judge_s']:5.1f} s "
        + " ".join(f"{k}={row[k]}" for k in ("aperture_pearson", "align_pearson_best", "phone_pearson_best",
                                             "bilabial_closed_share", "jump_share", "ring_psnr_p1") if k in row))
    return row


# ----------------------------------------------------------------------------- summary
def combine(values, how):
    v = [x for x in values if x is not None and np.isfinite(x)]
    if not v:
        return None
    return round(float({"mean": np.mean, "min": np.min, "max": np.max}[how](v)), 4)


def summarise(results, columns, people):
    per = {}
    for col in columns:
        per[col] = {}
        for person in people:
            rows = [r for r in results if r["backend"] == col and r["person"] == person and "error" not in r]
            per[col][person] = {name: combine([r.get(key) for r in rows if kind is None or r["kind"] == kind], how)
                                for name, (kind, key, how, _) in FIGURES.items()}
        per[col]["mean"] = {name: combine([per[col][p][name] for p in people], "mean") for name in FIGURES}
    return per


def print_tables(summary, real, columns, people):
    w = 16
    say("\nper person (columns: backends, 'nothing' = template frames untouched, 'real' = the person's own speech)")
    for person in people + ["mean"]:
        say(f"\n{person}")
        say(f"  {'figure':16s}" + "".join(f"{c:>{w}s}" for c in columns + ["real"]) + f"{'target':>{w}s}")
        for name in FIGURES:
            cells = []
            for c in columns:
                v = summary[c][person][name]
                cells.append("-" if v is None else f"{v:.3f}")
            rv = real.get(person, {}).get(name)
            cells.append("-" if rv is None else f"{rv:.3f}")
            say(f"  {name:16s}" + "".join(f"{x:>{w}s}" for x in cells) + f"{TARGETS.get(name, ''):>{w}s}")


def markdown_table(summary, real, columns, people):
    """Per-person rows for docs/benchmarks.md."""
    names = ["recon_r", "tts_sync", "cmn_sync", "speech_sync", "pbm_closed", "vowel_reach", "jump_share",
             "ring_psnr_p1", "lip_offset_p99", "psnr_outside"]
    lines = ["| person | column | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for person in people + ["mean"]:
        for c in columns + ["real"]:
            src = real.get(person, {}) if c == "real" else summary[c][person]
            cells = ["" if src.get(n) is None else f"{src[n]:.3f}" if n not in ("ring_psnr_p1", "psnr_outside")
                     else f"{src[n]:.1f}" for n in names]
            lines.append(f"| {person} | {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    shared = REPO.parent / "shared"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repo", default=str(REPO), help="the engine's repository (its CLI runs with this cwd)")
    ap.add_argument("--engine-python", default=None, help="default: REPO/.venv/bin/python")
    ap.add_argument("--backends", default="auto,retrieval,warp")
    ap.add_argument("--light-backends", default="", help="these backends run on the --light-subset of cases only")
    ap.add_argument("--light-subset", default="recon:1,tts:2,cmn:1,speech:1",
                    help="kind:N,... the first N clips of each kind per person that light backends run on")
    ap.add_argument("--resume", default="", help="keep the rows of an interrupted run (its .partial.json, run with "
                                                 "the same options) and do only the rest")
    ap.add_argument("--people", default="", help="comma-separated substrings of the shared video names")
    ap.add_argument("--tts-clips", type=int, default=8, help="English TTS clips per person")
    ap.add_argument("--cmn-clips", type=int, default=2, help="Mandarin clips per person")
    ap.add_argument("--speech-clips", type=int, default=4, help="other real speakers' clips per person")
    ap.add_argument("--speech-seconds", type=float, default=8.0)
    ap.add_argument("--placement-clips", type=int, default=1,
                    help="ring/region (slow) on the first N clips of each kind per person")
    ap.add_argument("--placement-kinds", default=",".join(KINDS), help="the kinds of clip ring/region run on")
    ap.add_argument("--kinds", default=",".join(KINDS), help="the kinds of clip to run (recon,tts,cmn,speech)")
    ap.add_argument("--cmn-speech-language", default="en",
                    help="the engine's --speech-language for the Mandarin clips (other: not English)")
    ap.add_argument("--quick", action="store_true", help="smoke run: recon, 2 TTS, 1 Mandarin, 1 speech per person")
    ap.add_argument("--jobs", type=int, default=1, help="renders in parallel")
    ap.add_argument("--reuse-auto", action="store_true",
                    help="reuse auto's output for a forced backend when auto chose that backend for the case")
    ap.add_argument("--media", default=str(shared / "media"))
    ap.add_argument("--lipeval", default=str(shared / "lipeval"))
    ap.add_argument("--lipeval-python", default=os.path.join(os.environ.get("LIPEVAL_VENV", "/tmp/lipeval-venv"),
                                                              "bin", "python"))
    ap.add_argument("--cache", default=str(REPO / "var" / "bench" / "cache"))
    ap.add_argument("--out", default=str(REPO / "var" / "bench" / "quality.json"))
    ap.add_argument("--keep", default="", help="copy the engine outputs into this folder")
    ap.add_argument("--keep-people", default="", help="with --keep: only these people's outputs")
    ap.add_argument("--rows-from", default="", help="no rendering: summarise the rows of an earlier run's JSON "
                                                    "(or its .partial.json, written as the run goes)")
    args = ap.parse_args(argv)
    args.repo = str(Path(args.repo).resolve())
    args.engine_python = args.engine_python or os.path.join(args.repo, ".venv", "bin", "python")
    t_start = time.time()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    ensure_tools(args)

    people = sorted(glob.glob(os.path.join(args.media, "video", "*.mp4")))
    if args.people:
        people = [v for v in people if any(k in Path(v).stem for k in args.people.split(","))]
    backends = [b for b in args.backends.split(",") if b]
    light = set(b for b in args.light_backends.split(",") if b)
    git = lambda *a: subprocess.run(["git", "-C", args.repo, *a], capture_output=True, text=True).stdout.strip()
    meta = dict(command=" ".join([sys.executable, *sys.argv]),
                started_utc=time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t_start)), repo=args.repo,
                engine_python=args.engine_python, engine_commit=git("rev-parse", "--short", "HEAD"),
                engine_dirty=bool(git("status", "--porcelain", "inference")), lipeval=args.lipeval,
                load_average_start=os.getloadavg(), cpus=os.cpu_count(), backends=backends,
                light_backends=sorted(light), reuse_auto=args.reuse_auto, jobs=args.jobs, kinds=args.kinds,
                cmn_speech_language=args.cmn_speech_language)
    say(f"engine {args.repo} at {meta['engine_commit']}{' (inference/ modified)' if meta['engine_dirty'] else ''}; "
        f"backends {backends}; people {[Path(p).stem for p in people]}")

    cases = [c for c in build_cases(people, args, args.quick) if c["kind"] in args.kinds.split(",")]
    for c in cases:
        prepare_base(c, args)
    say(f"{len(cases)} cases; references ready after {time.time() - t_start:.0f} s")

    judge = Judge(args.lipeval, args.lipeval_python, args.cache)
    engine = Engine(args)
    results, auto_choice = [], {}
    # Real people speaking their own words: the ceiling for speech sync and the level for jitter.
    real = {}
    for video in people:
        stem = Path(video).stem
        ps = judge.run("lipeval.py", "phonesync2", video, memo=True)
        jt = judge.run("motion.py", "jitter", video, memo=True)
        real[stem] = dict(speech_sync=ps["pearson_best"], jump_share=jt["jump_share"], jump_share_max=jt["jump_share"])
    real["mean"] = {k: combine([real[Path(p).stem][k] for p in people], "mean")
                    for k in ("speech_sync", "jump_share", "jump_share_max")}

    tasks = [(c, "nothing") for c in cases]
    tasks += [(c, b) for b in backends if b == "auto" for c in cases if b not in light or c["quick"]]
    later = [(c, b) for b in backends if b != "auto" for c in cases if b not in light or c["quick"]]
    if args.resume:
        done = json.load(open(args.resume))
        results.extend(done)
        have = {(r["case"], r["backend"]) for r in done if "error" not in r}
        auto_choice.update({r["case"]: r for r in done if r["backend"] == "auto" and r.get("ran")})
        tasks = [t for t in tasks if (t[0]["id"], t[1]) not in have]
        later = [t for t in later if (t[0]["id"], t[1]) not in have]
        meta["resumed_from"] = args.resume
        say(f"resuming: {len(done)} rows kept, {len(tasks) + len(later)} tasks left")
    if args.rows_from:
        loaded = json.load(open(args.rows_from))
        results.extend(loaded["rows"] if isinstance(loaded, dict) else loaded)
        tasks, later = [], []
        meta["rows_from"] = args.rows_from
        for r in results:
            if r["backend"] not in backends + ["nothing"] and r["backend"] not in engine.rejected:
                engine.rejected[r["backend"]] = "not in --backends"
    outdir = tempfile.mkdtemp(prefix="quality-", dir=os.path.join(args.cache, ".."))
    try:
        for batch in (tasks, later):
            with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
                futs = [pool.submit(run_task, t, engine, judge, args, outdir, results, auto_choice) for t in batch]
                for f in futs:
                    f.result()
    finally:
        shutil.rmtree(outdir, ignore_errors=True)

    columns = [b for b in backends if b not in engine.rejected] + ["nothing"]
    names = [Path(p).stem for p in people]
    summary = summarise(results, columns, names)
    print_tables(summary, real, columns, names)
    chose = {}
    for r in results:
        if r["backend"] == "auto" and r.get("ran"):
            chose.setdefault(r["person"], {}).setdefault(r["kind"], r["ran"])
    meta.update(seconds=round(time.time() - t_start, 1), load_average_end=os.getloadavg(),
                rejected_backends=engine.rejected, auto_chose=chose,
                failures=[r for r in results if "error" in r or "judge_error" in r])
    report = dict(meta=meta, figures={k: dict(kind=v[0], measure=v[1], combine=v[2], higher_is_better=v[3],
                                              target=TARGETS.get(k)) for k, v in FIGURES.items()},
                  cases=[{k: v for k, v in c.items()} for c in cases], summary=summary, real=real,
                  rows=sorted(results, key=lambda r: (r["case"], r["backend"])),
                  markdown=markdown_table(summary, real, columns, names))
    for b, why in engine.rejected.items():
        say(f"note: backend {b!r} skipped: the CLI rejects it ({why})")
    if meta["failures"]:
        say(f"note: {len(meta['failures'])} renders or judgements failed (see 'failures' in the JSON)")
    say(f"auto chose: {chose}")
    say(f"total {meta['seconds']:.0f} s")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        json.dump(report, fh, indent=1)
    say(f"wrote {args.out}")


if __name__ == "__main__":
    main()
