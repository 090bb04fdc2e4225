"""``generate``: probe, analyse the audio, track the template, choose mouths, render and encode.

Stages reported through ``on_progress(stage, fraction, message)``: ``probe``, ``audio``, ``track``, ``select``,
``render``, ``finish``. The template is decoded once; its frames go to an unlinked raw I420 file in a temporary
directory so the render pass can read any frame (ping-pong plays it backwards, retrieval takes mouths from
anywhere) without holding the video in memory.
"""
from __future__ import annotations

import os
import tempfile
import time

import numpy as np

from . import media, speech
from .config import Config, Report
from .errors import Cancelled, ModelUnavailable, NoAudioStream, NoFace
from .runtime import current_device, release_memory

MIN_FACE_COVERAGE = 0.1  # below this share of template frames with a face, the template has "no face"
FRAME_CACHE_BYTES = 24 * 1024**3  # raw template frames kept on disk for ping-pong, at most


class _Progress:
    def __init__(self, on_progress, should_cancel):
        self.on_progress = on_progress
        self.should_cancel = should_cancel
        self.last = 0.0

    def __call__(self, stage, fraction, message="", force=False):
        if self.should_cancel is not None and self.should_cancel():
            raise Cancelled()
        now = time.monotonic()
        # Throttle to ~4 calls a second; the web side stores each one.
        if self.on_progress is not None and (force or now - self.last >= 0.25):
            self.last = now
            self.on_progress(stage, float(min(max(fraction, 0.0), 1.0)), message)


class FrameCache:
    """Raw I420 frames in an unlinked temporary file, read back by index with ``pread``. Used only when the
    template must play backwards (ping-pong); otherwise it is decoded again in order, which is cheaper than
    writing every frame to disk. With ``store=False`` it only counts frames."""

    def __init__(self, frame_bytes: int, store: bool = True, directory=None):
        self.file = tempfile.TemporaryFile(dir=directory) if store else None
        self.frame_bytes = frame_bytes
        self.count = 0
        self.shape = None

    def append(self, frame: np.ndarray) -> None:
        self.shape = frame.shape
        if self.file is not None:
            self.file.write(frame.data)
        self.count += 1

    def get(self, index: int) -> np.ndarray:
        self.file.flush()
        data = os.pread(self.file.fileno(), self.frame_bytes, index * self.frame_bytes)
        return np.frombuffer(bytearray(data), dtype=np.uint8).reshape(self.shape)

    def close(self):
        if self.file is not None:
            self.file.close()


class MouthCache:
    """The lower-face region of each template frame (RGB uint8 crops with their frame position), in an unlinked
    temporary file: retrieval may take a mouth from any template frame, and these crops are a few percent of a
    frame's size."""

    def __init__(self, directory=None):
        self.file = tempfile.TemporaryFile(dir=directory)
        self.index: dict[int, tuple[int, tuple, tuple]] = {}
        self.pos = 0

    def put(self, i: int, rgb: np.ndarray, origin: tuple[int, int]) -> None:
        self.file.write(rgb.data)
        self.index[i] = (self.pos, rgb.shape, origin)
        self.pos += rgb.nbytes

    def get(self, i: int):
        """``(rgb (h, w, 3) uint8, (x0, y0))`` of template frame ``i``."""
        self.file.flush()
        offset, shape, origin = self.index[i]
        data = os.pread(self.file.fileno(), int(np.prod(shape)), offset)
        return np.frombuffer(data, dtype=np.uint8).reshape(shape), origin

    def close(self):
        self.file.close()


def base_schedule(n_out: int, n_template: int, policy: str) -> np.ndarray:
    """Template frame index shown as the base of each output frame, int64 ``(n_out,)``."""
    i = np.arange(n_out)
    if policy == "loop" or n_template < 2:
        return i % max(n_template, 1)
    if policy == "cut":
        return np.minimum(i, n_template - 1)
    period = 2 * n_template - 2
    k = i % period
    return np.where(k < n_template, k, period - k)


def choose_backend(config: Config, speech_s: float, has_template_audio: bool) -> tuple[str, str]:
    """Which backend to run and why (the reason goes into the report).

    A configured Wav2Lip checkpoint wins under ``auto``: it needs no speech of the template's own, which
    retrieval does, and looks better than the warp. Whether the file is usable is checked when it is loaded
    (``loaded.get_runner``), before any rendering.
    """
    if config.backend == "wav2lip":
        if not config.wav2lip_checkpoint:
            raise ModelUnavailable("backend wav2lip requested but no wav2lip checkpoint is configured")
        return "wav2lip", "requested"
    if config.backend in ("retrieval", "warp"):
        return config.backend, "requested"
    if config.wav2lip_checkpoint:
        return "wav2lip", "a wav2lip checkpoint is configured"
    if speech_s >= config.min_template_speech_s:
        return "retrieval", f"the template holds {speech_s:.1f} s of its own speech"
    if not has_template_audio:
        return "warp", "the template has no soundtrack to learn mouth shapes from"
    return "warp", (
        f"the template holds only {speech_s:.1f} s of speech (retrieval needs {config.min_template_speech_s:.0f} s)"
    )


def generate(video, audio, output, config: Config, on_progress=None, should_cancel=None) -> Report:
    seconds: dict[str, float] = {}
    progress = _Progress(on_progress, should_cancel)
    output = str(output)
    partial = output + ".partial"
    try:
        return _generate(str(video), str(audio), output, partial, config, progress, seconds)
    except BaseException:
        # A failed or cancelled run leaves nothing behind, not even a truncated file.
        for path in (partial,):
            if os.path.exists(path):
                os.remove(path)
        raise


def _generate(video, audio, output, partial, config, progress, seconds) -> Report:
    t = time.monotonic()
    progress("probe", 0.0, "Reading the files", force=True)
    # The neural backend is decided before any media work: it needs neither the template's speech nor the
    # phone recogniser, and a missing or broken checkpoint must fail before minutes of tracking.
    neural = config.backend == "wav2lip" or (config.backend == "auto" and bool(config.wav2lip_checkpoint))
    if neural:
        choose_backend(config, 0.0, False)  # raises ModelUnavailable when no checkpoint is configured
    vinfo = media.probe(video)
    media.check_limits(vinfo, config)
    width, height, fps = media.video_geometry(vinfo)
    ainfo = media.probe(audio)
    if not ainfo.has_audio:
        raise NoAudioStream(audio)
    media.check_limits(ainfo, config)
    frame_bytes = width * height * 3 // 2
    expected = int(round(vinfo.duration_s * float(fps))) + 1
    device = current_device(config.device, config.threads)
    seconds["probe"] = time.monotonic() - t
    runner = None
    if neural:
        from .backends.wav2lip import loaded

        t = time.monotonic()
        progress("probe", 0.5, "Loading the lip-sync model", force=True)
        # Loaded once per worker process and kept across jobs; a bad file raises ModelUnavailable here.
        runner = loaded.get_runner(config.wav2lip_checkpoint, device, config.wav2lip_fp16, config.batch_size,
                                   trusted=config.wav2lip_trusted)
        seconds["model"] = time.monotonic() - t

    features = None
    if config.wav2vec2_model and not neural and config.backend != "warp":
        from .backends import wav2vec2

        t = time.monotonic()
        progress("probe", 0.5, "Loading the audio feature model", force=True)
        # Loaded before any media work, like the checkpoint: a bad directory fails the job in seconds.
        features = wav2vec2.get_features(config.wav2vec2_model, device)
        seconds["model"] = time.monotonic() - t

    t = time.monotonic()
    progress("audio", 0.0, "Listening to the audio", force=True)
    samples = media.load_audio(audio)
    n_out = int(round(len(samples) / media.ANALYSIS_RATE * float(fps)))
    if n_out < 1:
        raise NoAudioStream(f"{audio}: shorter than one frame")
    fps_f = float(fps)
    template_samples = media.load_audio(video) if vinfo.has_audio and not neural else None
    wants_phones = config.backend != "warp"
    background = None
    if not neural and wants_phones:
        from .phones import BackgroundPhones

        # The phones of both recordings are decoded in a child process while the face is tracked.
        background = BackgroundPhones([samples] + ([template_samples] if template_samples is not None else []))
    seconds["audio"] = time.monotonic() - t

    t = time.monotonic()
    # Ping-pong plays the template backwards once the audio outlasts it: only then keep every frame on disk
    # (writing 3 MB a frame at 1080p costs as much as tracking the face). The container's frame count decides
    # here; should it have been too high, the frames are decoded once more into the cache after tracking.
    policy = config.length_policy
    declared = vinfo.frame_count or expected
    reverse = policy == "pingpong" and n_out > declared
    if reverse and declared * frame_bytes > FRAME_CACHE_BYTES:
        # A template too large to keep on disk cannot be played backwards; restarting it is the fallback.
        policy, reverse = "loop", False
    cache = FrameCache(frame_bytes, store=reverse)
    mouths = MouthCache()
    try:
        track = _track_template(vinfo, width, height, fps_f, cache, mouths, progress)
        n_tpl = cache.count
        valid = track["valid"]
        if n_tpl == 0 or valid.mean() < MIN_FACE_COVERAGE:
            raise NoFace(f"face in {int(valid.sum())} of {n_tpl} frames")
        if policy == "pingpong" and n_out > n_tpl and not reverse:
            cache.close()
            if n_tpl * frame_bytes > FRAME_CACHE_BYTES:
                policy = "loop"
            else:
                cache, reverse = FrameCache(frame_bytes), True
                for frame in media.iter_video_frames(vinfo):
                    cache.append(frame)
        seconds["track"] = time.monotonic() - t

        t = time.monotonic()
        progress("select", 0.0, "Choosing mouth shapes", force=True)
        decoded = None
        if background is not None:
            decoded = background.result(on_wait=lambda: progress("select", 0.0, "Recognising speech sounds"))
        drive = None
        if not neural:
            drive = speech.analyse(samples, n_out, fps_f, device, phones=decoded[0] if decoded is not None else False)
        release_memory()
        tpl = None
        speech_s = 0.0
        if template_samples is not None:
            tpl = speech.analyse(template_samples, n_tpl, fps_f, device,
                                 phones=decoded[1] if decoded is not None else False)
            speech_s = float(((tpl["vad"] >= 0.5) & valid).sum() / fps_f)
        backend, reason = choose_backend(config, speech_s, template_samples is not None)
        if backend == "retrieval" and tpl is None:
            backend, reason = "warp", "retrieval was requested but the template has no soundtrack"
        if policy == "cut":
            n_out = min(n_out, n_tpl)
        bases = base_schedule(n_out, n_tpl, policy)
        if backend == "wav2lip":
            from .backends.wav2lip import audio as w2l_audio

            # One (80, 16) mel window per output frame, from the 16 kHz mono samples (spec's front end). A "cut"
            # output shorter than the audio takes the first n_out windows.
            plan = {"mels": w2l_audio.mel_windows(w2l_audio.melspectrogram(samples), fps_f, n_out),
                    "runner": runner}
        else:
            if backend == "retrieval" and features is not None:
                from .backends.wav2vec2 import per_frame

                progress("select", 0.55, "Comparing voices with the audio feature model", force=True)
                drive["acoustic"] = per_frame(features, samples, n_out, fps_f)
                tpl["acoustic"] = per_frame(features, template_samples, n_tpl, fps_f)
            plan = _plan(backend, track, tpl, drive, bases, device, progress)
        release_memory()  # before the render's frame buffers and encoder arrive
        seconds["select"] = time.monotonic() - t

        t = time.monotonic()
        base_frames = (cache.get(int(b)) for b in bases) if reverse else _in_order(vinfo, bases)
        misfits = _render(backend, plan, bases, base_frames, track, mouths, partial, audio, width, height, fps, config,
                device, progress,
                audio_limit=n_out / fps_f if policy == "cut" else None)
        seconds["render"] = time.monotonic() - t
    finally:
        cache.close()
        if background is not None:
            background.close()  # a failed or cancelled run must not leave the child decoding
        mouths.close()

    t = time.monotonic()
    progress("finish", 0.0, "Saving", force=True)
    os.replace(partial, output)
    seconds["finish"] = time.monotonic() - t
    progress("finish", 1.0, "Done", force=True)
    with_face = int(valid.sum())
    report = Report(
        output=output,
        backend=backend,
        backend_reason=reason,
        frames_out=n_out,
        template_frames=n_tpl,
        frames_with_face=with_face,
        frames_without_face=n_tpl - with_face,
        face_coverage=round(with_face / n_tpl, 4),
        output_duration_s=round(n_out / fps_f, 3),
        audio_duration_s=round(len(samples) / media.ANALYSIS_RATE, 3),
        fps=round(fps_f, 3),
        width=width,
        height=height,
        template_speech_s=round(speech_s, 2),
        frames_kept_own_mouth=misfits,
        acoustic_features=("wav2vec2" if "acoustic" in drive else "log-mel") if backend == "retrieval" else "",
        length_policy=policy,
        device=device,
        gpu_memory=(runner.memory() or None) if runner is not None else None,
        seconds={k: round(v, 3) for k, v in seconds.items()},
    )
    if config.debug:
        report.debug = {"sources": plan.get("sources"), "targets": plan.get("targets"), "bases": bases,
                        "voice_match": plan.get("voice_match"), "familiarity": plan.get("familiarity"),
                        "aperture": track["aperture"], "valid": valid, "drive": drive, "template": tpl}
    return report


def _track_template(vinfo, width, height, fps, cache, mouths, progress) -> dict:
    """Decode the template once: cache frames, track the face. Arrays per template frame (N):
    ``raw``/``smooth`` float32 (N, 478, 2) landmarks (NaN when lost), ``valid`` bool, ``aperture``/``width``."""
    from .composite import mouth_crop_box
    from .face import FaceTracker, crop_rgb, head_pose, mouth_shape

    expected = max(vinfo.frame_count or int(vinfo.duration_s * fps) or 1, 1)
    tracker = FaceTracker(fps)
    raw, smooth, valid = [], [], []
    nan = np.full((478, 2), np.nan, dtype=np.float32)
    # Forced: the throttle must not swallow the stage's first report when the stage before ended < 0.25 s ago.
    progress("track", 0.0, "Tracking the face", force=True)
    try:
        for i, frame in enumerate(_prefetch(media.iter_video_frames(vinfo))):
            cache.append(frame)
            found = tracker.track(frame, width, height)
            if found:
                box = mouth_crop_box(found[1], width, height)
                mouths.put(i, crop_rgb(frame, width, height, box), box[:2])
            raw.append(found[0] if found else nan)
            smooth.append(found[1] if found else nan)
            valid.append(found is not None)
            if i % 8 == 0:
                progress("track", i / expected, f"Tracking the face: frame {i + 1} of about {expected}")
            # Give up early when so few frames can still have a face that the template cannot qualify.
            missing = len(valid) - sum(valid)
            if missing > (1 - MIN_FACE_COVERAGE) * expected + 25 and sum(valid) == 0:
                break
    finally:
        tracker.close()
    if not valid:
        return {"raw": np.zeros((0, 478, 2)), "smooth": np.zeros((0, 478, 2)), "valid": np.zeros(0, bool),
                "aperture": np.zeros(0), "width": np.zeros(0), "pose": np.zeros((0, 2))}
    raw_a = np.stack(raw)
    shapes = np.array([mouth_shape(r) if ok else (np.nan, np.nan) for r, ok in zip(raw_a, valid)], np.float32)
    smooth_a = np.stack(smooth)
    pose = np.array([head_pose(m) if ok else (0.0, 0.0) for m, ok in zip(smooth_a, valid)], np.float32)
    return {"raw": raw_a, "smooth": smooth_a, "valid": np.array(valid), "aperture": shapes[:, 0],
            "width": shapes[:, 1], "pose": pose}


def _prefetch(frames, depth: int = 6):
    """Decode on a helper thread while the caller tracks faces: FFmpeg and mediapipe both release the GIL, so
    on two cores the two overlap. Errors raised while decoding are re-raised in the caller."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def work():
        try:
            for frame in frames:
                if stop.is_set():
                    return
                q.put(frame)
            q.put(done)
        except BaseException as exc:  # handed to the consumer
            q.put(exc)

    thread = threading.Thread(target=work, name="decode", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except queue.Empty:
                thread.join(0.05)


def _plan(backend, track, tpl, drive, bases, device, progress) -> dict:
    """Per output frame: ``targets`` (n_out, 2) mouth shapes, and for retrieval ``sources`` (n_out,) frames."""
    from . import retrieval
    from .warp import audio_targets

    valid = track["valid"]
    ap = np.nan_to_num(track["aperture"])
    wd = np.nan_to_num(track["width"])
    if tpl is not None and tpl["shares"] is not None:
        model = retrieval.person_model(ap, wd, valid, tpl["vad"], tpl["shares"])
    else:
        closed = float(np.percentile(ap[valid], 10))
        opened = max(float(np.percentile(ap[valid], 95)), closed + 0.06)
        wmed = float(np.median(wd[valid]))
        model = retrieval.PersonModel(closed, opened, wmed, wmed, max(float(np.std(wd[valid])), 0.02),
                                      None, None, None)
    if backend == "warp":
        targets = audio_targets(drive["loud"], drive["centroid"], drive["vad"], model.closed_aperture,
                                model.open_aperture, model.width_median, model.width_spread)
        return {"targets": targets, "sources": None}
    match = retrieval.voice_match(drive["profile"], tpl["profile"])
    # wav2vec2 features when the operator configured a model (already context-aware), else the log-mels.
    d_ac, t_ac = (drive["acoustic"], tpl["acoustic"]) if "acoustic" in drive else (drive["mel"], tpl["mel"])
    familiar = retrieval.familiarity(drive["mel"], tpl["mel"], drive["vad"], tpl["vad"])
    blend = retrieval.acoustic_blend(match, familiar)
    acoustic = retrieval.acoustic_aperture(d_ac, t_ac, ap, valid, device) if blend > 0 else None
    targets = retrieval.predict_targets(model, drive["vad"], drive["shares"], acoustic, blend)
    progress("select", 0.6, "Choosing template frames", force=True)
    sources = retrieval.select_frames(model, targets, ap, wd, valid, d_ac, t_ac, track["pose"],
                                      track["pose"][bases], device,
                                      should_cancel=lambda: progress("select", 0.8, "Choosing template frames")
                                      or False)
    return {"targets": targets, "sources": sources, "voice_match": match, "familiarity": familiar}


def _in_order(vinfo, bases):
    """Base frames for a schedule that only moves forward (or restarts at 0), decoded again in order."""
    frames = None
    current = -1
    frame = None
    for b in bases:
        b = int(b)
        if frames is None or b < current:
            if frames is not None:
                frames.close()
            frames = _prefetch(media.iter_video_frames(vinfo))
            current = -1
        while current < b:
            nxt = next(frames, None)
            if nxt is None:  # a second decode came up short: hold the last frame
                break
            frame, current = nxt, current + 1
        # A copy: the decoder hands out one array for repeated (constant-rate) frames, and we paint on it.
        yield frame.copy()
    if frames is not None:
        frames.close()


def _render(backend, plan, bases, base_frames, track, mouths, partial, audio, width, height, fps, config, device,
            progress, audio_limit=None):
    from .composite import Compositor

    writer = media.VideoWriter(partial, audio, width, height, fps, config, audio_limit=audio_limit)
    compositor = Compositor(width, height, device)
    n_out = len(bases)
    ok = False
    misfits = 0
    progress("render", 0.0, f"Rendering {n_out} frames", force=True)
    try:
        if backend == "wav2lip":
            from .backends.wav2lip.generator import Wav2LipRenderer, render_stream

            renderer = Wav2LipRenderer(plan["runner"], width, height, config.wav2lip_pads, compositor)
            # progress() raises Cancelled, so a cancel lands between batches and the writer drops the file.
            render_stream(renderer, base_frames, bases, track["smooth"], track["valid"], plan["mels"], writer.write,
                          config.batch_size,
                          on_batch=lambda d: progress("render", d / n_out, f"Rendering frame {d} of {n_out}"))
        else:
            misfits = _render_classic(backend, plan, bases, base_frames, track, mouths, writer, compositor,
                                      width, height, device, config, progress)
        ok = True
    finally:
        writer.close(finish=ok)
    progress("render", 1.0, f"Rendered {n_out} frames", force=True)
    return misfits


def _render_classic(backend, plan, bases, base_frames, track, mouths, writer, compositor, width, height, device,
                    config, progress) -> int:
    """Warp or retrieval, frame by frame. Returns the retrieval frames that kept their own mouth."""
    from .warp import MouthWarper

    warper = MouthWarper(width, height, device) if backend == "warp" else None
    valid, smooth, raw = track["valid"], track["smooth"], track["raw"]
    n_out = len(bases)
    misfits = 0
    for i, frame in enumerate(base_frames):
        if i % max(1, config.batch_size) == 0:
            progress("render", i / n_out, f"Rendering frame {i + 1} of {n_out}")
        b = int(bases[i])
        if valid[b]:
            if warper is not None:
                warper.apply(frame, smooth[b], raw[b], plan["targets"][i])
            else:
                s = int(plan["sources"][i])
                if s != b:
                    src, origin = mouths.get(s)
                    if not compositor.transfer(frame, smooth[b], src, origin, smooth[s]):
                        misfits += 1
        writer.write(frame)
    return misfits
