"""``generate``: the order of the stages, nothing else. Each stage lives in its own module (``media`` probes,
reads audio and writes video; ``template`` tracks the face; ``speech`` analyses audio) and the backend chosen by
``backends.choose`` plans and renders. Stages are reported as ``progress.Stage`` values."""
from __future__ import annotations

import os
import tempfile
import time

from . import backends, media, speech
from .backends.base import Job
from .config import Config, Report
from .errors import NoAudioStream, NoFace
from .progress import Progress, Stage
from .runtime import current_device, opencv_threads, release_memory
from .template import MIN_FACE_COVERAGE, FrameCache, MouthCache, base_schedule, in_order, track_template

FRAME_CACHE_BYTES = 24 * 1024**3  # raw template frames kept on disk for ping-pong, at most
TEMP_SHARE = 0.5  # ...and never more than this share of the temporary folder's free space


def frame_cache_budget() -> int:
    """Bytes a run may spend on raw template frames: a full temporary folder mid-render would fail the job
    (measured: 858 MB for a 10 s 1080p template, hundreds of GB at the upload limits), so above this budget
    ping-pong degrades to looping the template, which needs no cache (``Report.length_policy`` says so)."""
    import shutil

    try:
        free = shutil.disk_usage(tempfile.gettempdir()).free
    except OSError:
        free = 0
    return int(min(FRAME_CACHE_BYTES, free * TEMP_SHARE))


def generate(video, audio, output, config: Config, on_progress=None, should_cancel=None, phones=None) -> Report:
    progress = Progress(on_progress, should_cancel)
    output = str(output)
    partial = output + ".partial"
    try:
        return _generate(str(video), str(audio), output, partial, config, progress, phones)
    except BaseException:
        # A failed or cancelled run leaves nothing behind, not even a truncated file.
        if os.path.exists(partial):
            os.remove(partial)
        raise


class _Clock:
    """Wall seconds per stage, for the report."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self.t = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.seconds[name] = round(self.seconds.get(name, 0.0) + now - self.t, 3)
        self.t = now


def _generate(video, audio, output, partial, config, progress, known_phones) -> Report:
    clock = _Clock()
    progress(Stage.PROBE, 0.0, note="Reading the files", force=True)
    # The backend is decided before any media work, and its models load first: a missing or broken model file
    # must fail in seconds, not after minutes of tracking.
    backend_cls, reason = backends.choose(config)
    vinfo, width, height, rate = _probe(video, audio, config)
    fps = float(rate)
    device = current_device(config.device, config.threads)
    backend = backend_cls(config, device)
    clock.lap("probe")
    backend.load(progress)
    clock.lap("model")

    progress(Stage.AUDIO, 0.0, note="Listening to the audio", force=True)
    samples = media.load_audio(audio)
    n_out = int(round(len(samples) / media.ANALYSIS_RATE * fps))
    if n_out < 1:
        raise NoAudioStream(f"{audio}: shorter than one frame")
    template_samples = media.load_audio(video) if vinfo.has_audio and backend.uses_speech else None
    background = None
    # How the driving audio's phones are found: known phones (a typed script's, or heard by an earlier run)
    # replace them, and a voice in another language gets no word recognition (Config.speech_language).
    drive_decoding = backend.drive_phones() if known_phones is None else None
    if backend.uses_phones:
        from .phones import BackgroundPhones

        # The phones of both recordings are decoded in a child process while the face is tracked. The template's
        # phones only average its mouth per sound class, which all-phone decoding does as well as word
        # recognition at a quarter of the CPU (measured on the shared clips: planned sync unchanged), so at most
        # the driving audio's words are recognised.
        clips = ([(samples, drive_decoding == "words")] if drive_decoding else []) + (
            [(template_samples, False)] if template_samples is not None else [])
        background = BackgroundPhones([c for c, _ in clips], [w for _, w in clips]) if clips else None
    clock.lap("audio")

    frame_bytes = width * height * 3 // 2
    policy = config.length_policy
    # Ping-pong plays the template backwards once the audio outlasts it: only then keep every frame on disk
    # (writing 3 MB a frame at 1080p costs as much as tracking the face). The container's frame count decides
    # here; should it have been too high, the frames are decoded once more into the cache after tracking.
    declared = vinfo.frame_count or int(round(vinfo.duration_s * fps)) + 1
    reverse = policy == "pingpong" and n_out > declared
    budget = frame_cache_budget()
    if reverse and declared * frame_bytes > budget:
        policy, reverse = "loop", False  # too large to keep on disk: restarting is the fallback
    cache = FrameCache(frame_bytes, store=reverse)
    mouths = MouthCache()
    try:
        track = track_template(vinfo, width, height, fps, cache, mouths, progress)
        n_tpl = cache.count
        if n_tpl == 0 or track.valid.mean() < MIN_FACE_COVERAGE:
            raise NoFace(f"face in {int(track.valid.sum())} of {n_tpl} frames")
        if policy == "pingpong" and n_out > n_tpl and not reverse:
            cache, policy, reverse = _recache(cache, vinfo, frame_bytes, n_tpl, budget)
        clock.lap("track")

        progress(Stage.SELECT, 0.0, note="Choosing mouth shapes", force=True)
        decoded = []
        if background is not None:
            decoded = background.result(on_wait=lambda: progress(Stage.SELECT, 0.0, note="Recognising speech"))
        # Only phones decoded here are "heard": the template's never are, nor phones that were given.
        heard = decoded.pop(0) if drive_decoding else None
        drive_phones = list(known_phones) if known_phones is not None else heard
        if policy == "cut":
            n_out = min(n_out, n_tpl)
        job = Job(config, device, width, height, fps, n_out, base_schedule(n_out, n_tpl, policy), track, mouths,
                  samples, template_samples)
        _analyse(job, backend, drive_phones, decoded[0] if decoded else None)
        release_memory()
        backend.plan(job, progress)
        release_memory()  # before the render's frame buffers and encoder arrive
        clock.lap("select")

        base_frames = (cache.get(int(b)) for b in job.bases) if reverse else in_order(vinfo, job.bases)
        writer = media.VideoWriter(partial, audio, width, height, rate, config,
                                   audio_limit=n_out / fps if policy == "cut" else None, background=True)
        rendered = _render(backend, job, base_frames, writer, progress)
        clock.lap("render")
    finally:
        cache.close()
        if background is not None:
            background.close()  # a failed or cancelled run must not leave the child decoding
        mouths.close()

    progress(Stage.FINISH, 0.0, note="Saving", force=True)
    os.replace(partial, output)
    clock.lap("finish")
    progress(Stage.FINISH, 1.0, note="Done", force=True)
    report = _report(output, backend, reason, job, rendered, policy, clock.seconds)
    report.heard_phones = heard
    return report


def _probe(video, audio, config):
    vinfo = media.probe(video)
    media.check_limits(vinfo, config)
    width, height, fps = media.video_geometry(vinfo)
    ainfo = media.probe(audio)
    if not ainfo.has_audio:
        raise NoAudioStream(audio)
    media.check_limits(ainfo, config)
    return vinfo, width, height, fps


def _recache(cache, vinfo, frame_bytes, n_tpl, budget):
    """The container overstated its frame count, so ping-pong needs the frames after all: decode them once more
    into a stored cache (or fall back to looping when they would not fit on disk)."""
    cache.close()
    if n_tpl * frame_bytes > budget:
        return FrameCache(frame_bytes, store=False), "loop", False
    cache = FrameCache(frame_bytes)
    for frame in media.iter_video_frames(vinfo):
        cache.append(frame)
    return cache, "pingpong", True


def _analyse(job: Job, backend, drive_phones: list | None, template_phones: list | None) -> None:
    """Speech analysis of the driving audio and the template's own soundtrack, as the backend asks. Phones that
    were not decoded (None) stay None in the analysis."""
    if not backend.uses_speech and not backend.uses_phones:
        return
    job.drive = speech.analyse(job.samples, job.n_out, job.fps, job.device,
                               phones=drive_phones if backend.uses_phones and drive_phones is not None else False)
    if job.template_samples is not None:
        tpl_phones = template_phones if backend.uses_phones and template_phones is not None else False
        job.template = speech.analyse(job.template_samples, len(job.track), job.fps, job.device, phones=tpl_phones)
        job.template_speech_s = float(((job.template.vad >= 0.5) & job.track.valid).sum() / job.fps)


def _render(backend, job, base_frames, writer, progress):
    ok = False
    progress(Stage.RENDER, 0.0, 0, job.n_out, note=f"Rendering {job.n_out} frames", force=True)
    try:
        with opencv_threads(1):
            rendered = backend.render(job, base_frames, writer.write, progress)
        ok = True
    finally:
        writer.close(finish=ok)
    progress(Stage.RENDER, 1.0, job.n_out, job.n_out, note=f"Rendered {job.n_out} frames", force=True)
    return rendered


def _report(output, backend, reason, job, rendered, policy, seconds) -> Report:
    n_tpl = len(job.track)
    with_face = int(job.track.valid.sum())
    report = Report(
        output=output,
        backend=backend.name,
        backend_reason=reason,
        frames_out=job.n_out,
        template_frames=n_tpl,
        frames_with_face=with_face,
        frames_without_face=n_tpl - with_face,
        face_coverage=round(with_face / n_tpl, 4),
        output_duration_s=round(job.n_out / job.fps, 3),
        audio_duration_s=round(len(job.samples) / media.ANALYSIS_RATE, 3),
        fps=round(job.fps, 3),
        width=job.width,
        height=job.height,
        template_speech_s=round(job.template_speech_s, 2),
        frames_kept_own_mouth=rendered.kept_own_mouth,
        acoustic_features=rendered.details.get("acoustic_features", ""),
        speech_language=job.config.speech_language if backend.uses_phones else "",
        length_policy=policy,
        device=job.device,
        gpu_memory=rendered.details.get("gpu_memory"),
        seconds=seconds,
    )
    if job.config.debug:
        report.debug = {**rendered.debug, "bases": job.bases, "aperture": job.track.aperture,
                        "valid": job.track.valid, "drive": job.drive, "template": job.template}
    return report
