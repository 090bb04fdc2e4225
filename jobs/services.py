"""The only code that changes assets, jobs and results.

Every state change is a conditional update (`filter(pk=..., state=...).update(...)`): zero rows
updated means someone else got there first (a cancel, the reaper, a second worker) and the caller
backs off. Every change writes a JobEvent (jobs/events.py), which the UI replays by `seq`, and is
pushed to the job's WebSocket group after the transaction commits. Work is sent to the workers by
name after commit (jobs/queue.py); files are stored and deleted through jobs/storage.py.
"""

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, ProtectedError, Q, Sum
from django.utils import timezone, translation

import inference
from accounts.models import Quota
from jobs import events, queue, run_order, storage
from jobs.errors import Refused, message_for
from jobs.events import record_event
from jobs.models import Asset, Job, Result, Upload, output_path
from jobs.recovery import local_worker_is_gone, worker_name

log = logging.getLogger(__name__)

# Encoder settings per quality choice: (x264 preset, CRF).
QUALITY = {"standard": ("veryfast", 18), "high": ("medium", 16), "small": ("veryfast", 24)}
# A result whose worker vanished is re-queued this many times in all before it fails.
MAX_ATTEMPTS = 2
# The share of a script job's progress bar that speaking the script takes (it is fast beside lip-syncing).
SPEECH_SHARE = 0.1


# --- Storage and quota -------------------------------------------------------------------------

def storage_used(team_id):
    """Bytes the team stores or has reserved: uploads, outputs and thumbnails, and the declared size of every
    resumable upload still open (its bytes arrive later, but count from the start)."""
    uploads = Asset.objects.filter(team_id=team_id).aggregate(n=Sum("size"))["n"] or 0
    outputs = Result.objects.filter(job__team_id=team_id).aggregate(
        n=Sum(F("output_size") + F("thumbnail_size")))["n"] or 0
    reserved = open_uploads().filter(team_id=team_id).aggregate(n=Sum("size"))["n"] or 0
    return uploads + outputs + reserved


def open_uploads():
    """Resumable uploads not yet completed and not expired (idle for less than UPLOAD_EXPIRY_SECONDS)."""
    return Upload.objects.filter(updated_at__gte=timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRY_SECONDS))


def minutes_used_this_month(team_id, now=None):
    start = (now or timezone.now()).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return Result.objects.filter(job__team_id=team_id, created_at__gte=start, state__in=Result.BILLABLE).aggregate(
        n=Sum("minutes"))["n"] or 0.0


def active_jobs(team_id):
    return Job.objects.filter(team_id=team_id, results__state__in=Result.ACTIVE).distinct().count()


def usage(team):
    quota = team.quota
    return {
        "storage_bytes": storage_used(team.pk), "storage_limit": quota.storage_bytes,
        "active_jobs": active_jobs(team.pk), "jobs_limit": quota.concurrent_jobs,
        "minutes": minutes_used_this_month(team.pk), "minutes_limit": quota.monthly_minutes,
    }


# --- Assets ------------------------------------------------------------------------------------

def sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(partial(fh.read, 1024 * 1024), b""):
            digest.update(block)
    return digest.hexdigest()


def safe_suffix(name):
    suffix = Path(name).suffix.lower()
    return suffix if 1 < len(suffix) <= 6 and suffix[1:].isalnum() else ""


def ingest_file(team, owner, path, original_name, expected_kind=None, *, reserved=0, stored_name=""):
    """Validates a file on local disk by its content and stores it as an Asset of `team`.

    The file at `path` is moved (local storage) or streamed (S3) into storage, or left in place when
    refused. The same person uploading the same bytes again gets the stored Asset back, under the new
    name. `reserved` is what the completed upload already holds against the quota. With `stored_name`, the
    bytes are in storage already (an upload sent to S3 in parts) and `path` is a local copy to check; the
    caller removes the stored file when it does not become the asset's. Raises Refused.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise Refused("empty_file")
    refuse_when_low_on_disk()
    if size > settings.MAX_UPLOAD_BYTES:
        raise Refused("file_too_large", limit_bytes=settings.MAX_UPLOAD_BYTES)
    try:
        info = inference.probe(str(path))
    except inference.InferenceError as exc:
        raise Refused(exc.code) from exc
    if info.has_video:
        kind = Asset.Kind.VIDEO
    elif info.has_audio:
        kind = Asset.Kind.AUDIO
    else:
        raise Refused("unsupported_media")
    if expected_kind == Asset.Kind.VIDEO and kind != Asset.Kind.VIDEO:
        raise Refused("no_video_stream")
    if expected_kind == Asset.Kind.AUDIO and not info.has_audio:
        raise Refused("no_audio_stream")
    if not info.duration_s or info.duration_s <= 0:
        raise Refused("unsupported_media")
    if info.duration_s > settings.MAX_INPUT_SECONDS:
        raise Refused("input_too_long", minutes=settings.MAX_INPUT_SECONDS // 60)
    if kind == Asset.Kind.VIDEO and (info.width or 0) * (info.height or 0) > settings.MAX_VIDEO_PIXELS:
        raise Refused("input_too_large")

    digest = sha256_file(path)
    existing = Asset.objects.filter(team=team, owner=owner, sha256=digest).first()
    if existing:
        if existing.original_name != original_name[:255]:
            existing.original_name = original_name[:255]
            existing.save(update_fields=["original_name"])
        return existing
    asset = Asset(team=team, owner=owner, kind=kind, original_name=original_name[:255], size=size, sha256=digest,
                  duration_s=info.duration_s, has_audio=info.has_audio, width=info.width, height=info.height,
                  fps=info.fps, rotation=info.rotation or 0, video_codec=info.video_codec or "",
                  audio_codec=info.audio_codec or "")
    # Store first, then insert under the quota lock: no transaction stays open during file I/O.
    if stored_name:
        asset.file.name = stored_name  # In storage already: `path` was a copy to check.
    else:
        storage.save_to_field(asset.file, "upload" + safe_suffix(original_name), path)
    try:
        with transaction.atomic():
            quota = Quota.objects.select_for_update().get(team=team)
            if storage_used(team.pk) - reserved + size > quota.storage_bytes:
                raise Refused("quota_storage")
            asset.save()
    except IntegrityError:
        # The same bytes arrived twice at once; keep the first copy.
        storage.delete(asset.file.name)
        return Asset.objects.get(team=team, owner=owner, sha256=digest)
    except Refused:
        storage.delete(asset.file.name)
        raise
    return asset


def delete_asset(asset):
    if Result.objects.filter(video=asset).exists() or Job.objects.filter(audio=asset).exists():
        raise Refused("asset_in_use")
    name = asset.file.name
    asset.delete()
    storage.delete(name)


# --- Jobs --------------------------------------------------------------------------------------

def create_job(user, team, audio, videos, *, script=None, backend="auto", length_policy="pingpong",
               quality="standard", speech_language="en", idempotency_key="", webhook_url=""):
    """Creates a job with one result per video and queues them after commit.

    `script` ({"text", "voice", "speed"}) stands in for `audio` (then None): a worker speaks it first
    (speak_script) and the results are queued once the speech is an audio asset. `speech_language` (a
    Job.SpeechLanguage) is the language spoken in `audio`; kept but not used for a script (engine_config). Checks and reserves the
    team's quota under a lock on its Quota row (a script by its estimated spoken length). Returns (job,
    created); a retried request with the same idempotency key returns the first job and created=False.
    """
    if idempotency_key:
        existing = Job.objects.filter(created_by=user, idempotency_key=idempotency_key).first()
        if existing:
            return existing, False
    if (audio is None) == (script is None):
        raise Refused("audio_or_script")
    if script is not None:
        script = {"text": script["text"], "voice": script["voice"], "speed": float(script.get("speed") or 1.0)}
        seconds = check_script(**script)
    elif not audio.has_audio:
        raise Refused("no_audio_stream")
    else:
        seconds = audio.duration_s
    if webhook_url:
        from jobs.webhooks import check_url

        check_url(webhook_url)  # Outside the transaction: it asks DNS.
    refuse_when_low_on_disk()
    if not videos or any(video.kind != Asset.Kind.VIDEO for video in videos):
        raise Refused("no_video_stream")
    minutes = seconds / 60
    try:
        with transaction.atomic():
            quota = Quota.objects.select_for_update().get(team=team)
            if active_jobs(team.pk) >= quota.concurrent_jobs:
                raise Refused("quota_jobs")
            if minutes_used_this_month(team.pk) + minutes * len(videos) > quota.monthly_minutes:
                raise Refused("quota_minutes")
            if storage_used(team.pk) >= quota.storage_bytes:
                raise Refused("quota_storage")
            job = Job.objects.create(
                team=team, created_by=user, audio=audio, backend=backend, length_policy=length_policy,
                quality=quality, speech_language=speech_language, idempotency_key=idempotency_key, webhook_url=webhook_url,
                webhook_secret=secrets.token_hex(32) if webhook_url else "",
                **({"script": script["text"], "voice": script["voice"], "speed": script["speed"]} if script else {}))
            results = [Result.objects.create(job=job, video=video, minutes=minutes, queued_at=timezone.now())
                       for video in videos]
            record_event(job.pk, events.JOB_CREATED, f"{len(results)} video(s) queued",
                         data={"results": [r.pk for r in results]})
            for result in results:
                events.result_changed(result.pk)
                if script is None:
                    _enqueue_after_commit(result.pk, backend)
            if script is not None:
                _enqueue_speech_after_commit(job.pk, seconds)
    except IntegrityError:
        if not idempotency_key:
            raise
        return Job.objects.get(created_by=user, idempotency_key=idempotency_key), False
    return job, True


def refuse_when_low_on_disk(also_needed=0):
    """Refuses up front rather than fail half-way through writing. Open uploads count with the bytes they
    still have to send, and `also_needed` with all of its own."""
    space = storage.free_space()
    if space is None:
        return
    pending = open_uploads().aggregate(n=Sum(F("size") - F("received")))["n"] or 0
    if space[0] - pending - also_needed < settings.MIN_FREE_DISK_BYTES:
        raise Refused("low_disk")


def _lipsync_time_limit_ms():
    # A message may start any queued video of its queue (claim_result), so its limit fits the longest input
    # allowed. Generous: slow CPUs run several times slower than real time on long inputs.
    return int(max(15 * 60, settings.MAX_INPUT_SECONDS * 30) * 1000)


def _speech_time_limit_ms(seconds):
    # Speaking runs at several times real time even on a busy CPU; the limit only stops a hung process.
    return int(max(10 * 60, seconds * 5) * 1000)


def enqueue_result(result_id, backend):
    """Sends a message for a queued result, of a job asking for `backend`, to the workers that can run it."""
    queue.send(queue.RUN_LIPSYNC, result_id, queue_name=queue.backend_queue(backend),
               time_limit_ms=_lipsync_time_limit_ms())


def enqueue_speech(job_id, seconds):
    """Sends a script job's speech to a worker now."""
    queue.send(queue.SPEAK_SCRIPT, job_id, queue_name=queue.ANYWHERE, time_limit_ms=_speech_time_limit_ms(seconds))


def _enqueue_after_commit(result_id, backend):
    """Queues a result once the transaction that made it queued commits."""
    queue.on_commit(enqueue_result, result_id, backend)


def _enqueue_speech_after_commit(job_id, seconds):
    queue.on_commit(enqueue_speech, job_id, seconds)


def _enqueue_work_after_commit(result):
    """Queues a result, or first its job's script to be spoken, once the transaction commits."""
    if result.job.needs_speech:
        _enqueue_speech_after_commit(result.job_id, check_seconds(result.job))
    else:
        _enqueue_after_commit(result.pk, result.job.backend)


def engine_config(job):
    preset, crf = QUALITY[job.quality]
    # A spoken script's phones are exact in any language (job.phones): nothing is recognised, so its mouth is
    # planned from them as for English.
    language = Job.SpeechLanguage.ENGLISH if job.script else job.speech_language
    return inference.Config(backend=job.backend, length_policy=job.length_policy, preset=preset, crf=crf,
                            speech_language=language,
                            max_duration_s=settings.MAX_INPUT_SECONDS, max_pixels=settings.MAX_VIDEO_PIXELS,
                            max_bytes=settings.MAX_UPLOAD_BYTES,
                            wav2lip_checkpoint=settings.WAV2LIP_CHECKPOINT or None,
                            wav2lip_fp16=settings.WAV2LIP_FP16,
                            musetalk_dir=settings.MUSETALK_DIR or None,
                            musetalk_fp16=settings.MUSETALK_FP16,
                            musetalk_batch=settings.MUSETALK_BATCH,
                            wav2vec2_model=settings.WAV2VEC2_MODEL or None)


# --- Result transitions ------------------------------------------------------------------------

def claim_result(result_id, queue_name=None, serves=()):
    """QUEUED -> RUNNING for one worker thread whose message, naming `result_id`, came from `queue_name`
    (by default the queue of that result's job): the video of that queue that should run next
    (jobs/run_order.py), which need not be the message's own. A single-video job of the worker's other
    queues (`serves`) comes first too. Each message claims one video at most (there is one message per
    queued video). Returns the claimed result, or None when nothing it may start is queued any more."""
    if queue_name is None:
        backend = Result.objects.filter(pk=result_id).values_list("job__backend", flat=True).first()
        if backend is None:
            return None
        queue_name = queue.backend_queue(backend)
    others = [name for other in serves if other != queue_name for name in queue.backends_of(other)]
    candidates = run_order.claimable(queue.backends_of(queue_name), others)
    now = timezone.now()
    with transaction.atomic():
        # Conditional: a thread that lost the race for the first in line (0 rows) asks again, and then sees
        # the winner's claim, so two threads at once still take turns between teams.
        for _ in range(20):
            candidate = candidates.values_list("pk", flat=True).first()
            if candidate is None:
                return None
            if Result.objects.filter(pk=candidate, state=Result.State.QUEUED).update(
                    state=Result.State.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1,
                    progress=0.0, stage="starting", frames_done=0, frames_total=0, worker=worker_name()[:100]):
                result_id = candidate
                break
        else:
            return None
        result = Result.objects.select_related("job", "job__audio", "video").get(pk=result_id)
        record_event(result.job_id, events.RESULT_RUNNING, f"Started {result.video.original_name}", result.pk,
                     data={"attempt": result.attempts})
        events.result_changed(result.pk)
    return result


def _still_mine(result):
    """The rows a worker may still change: its own claim (state RUNNING at the attempt it claimed).

    A worker the reaper gave up on may still be alive and slow; once its result is re-queued and
    claimed again, the old worker must not write progress, finish or fail the new attempt.
    """
    return Result.objects.filter(pk=result.pk, state=Result.State.RUNNING, attempts=result.attempts)


def report_progress(result, stage, fraction, frames_done=0, frames_total=0, message=""):
    """Records progress and a heartbeat. Returns False when the result is no longer this worker's."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    with transaction.atomic():
        updated = _still_mine(result).update(
            progress=fraction, stage=stage[:40], frames_done=frames_done, frames_total=frames_total,
            heartbeat_at=timezone.now())
        if updated:
            record_event(result.job_id, events.RESULT_PROGRESS, message, result.pk,
                         data={"stage": stage, "progress": round(fraction, 4), "frames_done": frames_done,
                               "frames_total": frames_total})
    return bool(updated)


def log_line(result, message, stage=""):
    record_event(result.job_id, events.RESULT_LOG, message, result.pk, data={"stage": stage} if stage else None)


def is_still_mine(result):
    return _still_mine(result).exists()


def finish_result(result, video_file, poster_file, report):
    """RUNNING -> SUCCEEDED. The files are stored before the state changes, so a succeeded result
    always has its output; if the result was cancelled meanwhile they are removed again."""
    output_name = storage.save(output_path(result, "video.mp4"), video_file)
    thumbnail_name = storage.save(output_path(result, "poster.jpg"), poster_file) if poster_file else ""
    with transaction.atomic():
        updated = _still_mine(result).update(
            state=Result.State.SUCCEEDED, progress=1.0, stage="done", finished_at=timezone.now(),
            heartbeat_at=timezone.now(), output=output_name, thumbnail=thumbnail_name,
            output_size=storage.size(output_name),
            thumbnail_size=storage.size(thumbnail_name) if thumbnail_name else 0,
            output_duration_s=report.output_duration_s, backend_used=report.backend,
            backend_reason=report.backend_reason[:200],
            timings={k: round(v, 3) for k, v in report.seconds.items()})
        if updated:
            record_event(result.job_id, events.RESULT_SUCCEEDED,
                         f"Finished with the {report.backend} engine ({report.backend_reason})", result.pk,
                         data={"duration_s": report.output_duration_s, "face_coverage": report.face_coverage,
                               "backend": report.backend, "reason": report.backend_reason})
            events.result_changed(result.pk)
            _job_maybe_finished(result.job_id)
    if not updated:
        storage.delete(output_name, thumbnail_name)
    return bool(updated)


def fail_result(result_id, code, *, attempt=None):
    """QUEUED/RUNNING -> FAILED with a user-safe code (translated when shown). A worker passes the
    `attempt` it claimed, so it can only fail its own claim (see _still_mine)."""
    with translation.override("en"):
        message = message_for(code, job=Result.objects.filter(pk=result_id).values_list("job_id", flat=True).first())
    rows = Result.objects.filter(pk=result_id, state__in=Result.ACTIVE)
    if attempt is not None:
        rows = rows.filter(state=Result.State.RUNNING, attempts=attempt)
    with transaction.atomic():
        updated = rows.update(
            state=Result.State.FAILED, finished_at=timezone.now(), error_code=code, error_message=message[:500])
        if updated:
            job_id = Result.objects.values_list("job_id", flat=True).get(pk=result_id)
            record_event(job_id, events.RESULT_FAILED, message, result_id, data={"code": code})
            events.result_changed(result_id)
            _job_maybe_finished(job_id)
    return bool(updated)


def cancel_result(result):
    """Stops a queued result at once and a running one within seconds (its worker polls the state)."""
    with transaction.atomic():
        updated = Result.objects.filter(pk=result.pk, state__in=Result.ACTIVE).update(
            state=Result.State.CANCELLED, finished_at=timezone.now(), error_code="cancelled")
        if updated:
            record_event(result.job_id, events.RESULT_CANCELLED, "Cancelled", result.pk)
            events.result_changed(result.pk)
            _job_maybe_finished(result.job_id)
    return bool(updated)


def retry_result(result, *, by_user=False):
    """FAILED/CANCELLED -> QUEUED again; the attempt counter starts over.

    An administrator's retry (the admin action) is free; a user's is checked against the team's quota
    under its lock, as a new job would be. Raises Refused when the quota or the disk says no."""
    if by_user:
        refuse_when_low_on_disk()
    with transaction.atomic():
        if by_user:
            quota = Quota.objects.select_for_update().get(team_id=result.job.team_id)
            job_active = Result.objects.filter(job_id=result.job_id, state__in=Result.ACTIVE).exists()
            if not job_active and active_jobs(result.job.team_id) >= quota.concurrent_jobs:
                raise Refused("quota_jobs")
            if minutes_used_this_month(result.job.team_id) + result.minutes > quota.monthly_minutes:
                raise Refused("quota_minutes")
        updated = Result.objects.filter(pk=result.pk, state__in=(Result.State.FAILED, Result.State.CANCELLED)).update(
            state=Result.State.QUEUED, progress=0.0, stage="", error_code="", error_message="", attempts=0,
            started_at=None, finished_at=None, heartbeat_at=None, worker="", queued_at=timezone.now())
        if updated:
            Job.objects.filter(pk=result.job_id).update(finished_at=None)
            record_event(result.job_id, events.RESULT_REQUEUED,
                         "Queued again" if by_user else "Queued again by an administrator", result.pk,
                         data={"reason": "retry"})
            events.result_changed(result.pk)
            _enqueue_work_after_commit(result)
    return bool(updated)


def cancel_job(job):
    return sum(cancel_result(result) for result in job.results.filter(state__in=Result.ACTIVE))


def delete_result(result):
    """Removes one result (output, thumbnail, row), cancelling it first if it is still active."""
    cancel_result(result)
    names = [name for name in (result.output.name, result.thumbnail.name) if name]
    job_id = result.job_id
    with transaction.atomic():
        record_event(job_id, events.RESULT_DELETED, f"Deleted the video for {result.video.original_name}")
        Result.objects.filter(pk=result.pk).delete()
    storage.delete(*names)


def expire_result(result, reason):
    """Retention removes a finished result (output, thumbnail, row). Returns False when it is not finished
    any more (retried meanwhile) or another sweep removed it first."""
    with transaction.atomic():
        deleted = Result.objects.filter(pk=result.pk, state__in=Result.FINISHED).delete()[0]
        if deleted:
            record_event(result.job_id, events.RESULT_EXPIRED, f"{reason}: removed {result.video.original_name}",
                         data={"result": result.pk, "bytes": result.output_size + result.thumbnail_size})
    if deleted:
        storage.delete(result.output.name, result.thumbnail.name)
    return bool(deleted)


def delete_emptied_job(job):
    """Removes a finished job whose every video is gone: its log has served. Returns whether it did."""
    return bool(Job.objects.filter(pk=job.pk, finished_at__isnull=False, results__isnull=True).delete()[0])


def delete_unused_asset(asset):
    """Removes an upload no job uses (retention). Returns False when a job started using it meanwhile."""
    try:
        deleted = Asset.objects.filter(pk=asset.pk).delete()[0]
    except ProtectedError:
        return False
    if deleted:
        storage.delete(asset.file.name)
    return bool(deleted)


def forget_missing_file(kind, pk, name):
    """A stored file vanished (drift): an output or thumbnail is forgotten, an unused asset deleted. A
    used asset stays, for a person to decide. Returns whether a row changed."""
    if kind == "output":
        return bool(Result.objects.filter(pk=pk, output=name).update(output="", output_size=0, thumbnail="",
                                                                     thumbnail_size=0))
    if kind == "thumbnail":
        return bool(Result.objects.filter(pk=pk, thumbnail=name).update(thumbnail="", thumbnail_size=0))
    try:
        return bool(Asset.objects.filter(pk=pk, file=name).delete()[0])
    except ProtectedError:
        return False


def _job_maybe_finished(job_id):
    """When the last active result of a job ends: mark the job finished once and send its webhook."""
    if Result.objects.filter(job_id=job_id, state__in=Result.ACTIVE).exists():
        return
    if not Job.objects.filter(pk=job_id, finished_at__isnull=True).update(finished_at=timezone.now()):
        return
    counts = {state: 0 for state in Result.State.values}
    for state in Result.objects.filter(job_id=job_id).values_list("state", flat=True):
        counts[state] += 1
    record_event(job_id, events.JOB_FINISHED, "All videos are done", data=counts)
    if Job.objects.filter(pk=job_id).exclude(webhook_url="").exists():
        queue.send_on_commit(queue.DELIVER_WEBHOOK, job_id, queue_name=queue.WEBHOOKS)


# --- Handing back and the reaper ---------------------------------------------------------------

def hand_back_result(result):
    """RUNNING -> QUEUED for a worker that is stopping (a restart, Ctrl-C): the video starts again from the
    beginning on the next worker, and the interrupted attempt does not count towards MAX_ATTEMPTS."""
    with transaction.atomic():
        updated = _still_mine(result).update(
            state=Result.State.QUEUED, attempts=F("attempts") - 1, progress=0.0, stage="", frames_done=0,
            frames_total=0, started_at=None, heartbeat_at=None, worker="", queued_at=timezone.now())
        if updated:
            record_event(result.job_id, events.RESULT_REQUEUED, "The worker was stopped; queued again", result.pk,
                         data={"reason": "worker_stopped"})
            events.result_changed(result.pk)
            _enqueue_after_commit(result.pk, result.job.backend)
    return bool(updated)


def _lost_worker(result, now, live_workers):
    """Why the worker of a running result is known to be gone, or None while it may still work on it."""
    if result.heartbeat_at and result.heartbeat_at < now - timedelta(seconds=settings.WORKER_LOST_AFTER_SECONDS):
        return "The worker stopped responding; queued again"
    if not result.worker:
        return None
    gone_here = local_worker_is_gone(result.worker)
    if gone_here is not None:
        # On this host the process table says it for sure (a killed worker process, a crashed machine's
        # supervisor restarting): no need to wait for the timeout.
        return "The worker processing this video stopped; queued again" if gone_here else None
    # Elsewhere: its heartbeat key expired, and the result has not moved for a few heartbeat periods (a
    # flushed Redis loses the keys until the next beat).
    quiet = now - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS)
    if live_workers is not None and result.worker not in live_workers and (result.heartbeat_at or now) < quiet:
        return "The worker processing this video stopped; queued again"
    return None


def reap_stale_results(now=None):
    """Results whose worker is gone are re-queued once, then failed with worker_lost.

    A worker is gone when it stopped reporting for WORKER_LOST_AFTER_SECONDS, or sooner when its process is
    known to be dead (jobs.recovery). Returns (requeued, failed) counts. Safe to run from several processes:
    each change is conditional on the result still being the same claim.
    """
    now = now or timezone.now()
    try:
        live_workers = queue.live_workers()
    except Exception:
        live_workers = None  # Redis away: only the local process table and the timeout decide.
    requeued = failed = 0
    for result in Result.objects.filter(state=Result.State.RUNNING).select_related("job__audio"):
        reason = _lost_worker(result, now, live_workers)
        if reason is None:
            continue
        claim = Result.objects.filter(pk=result.pk, state=Result.State.RUNNING, attempts=result.attempts,
                                      heartbeat_at=result.heartbeat_at)
        if result.attempts < MAX_ATTEMPTS:
            with transaction.atomic():
                moved = claim.update(state=Result.State.QUEUED, progress=0.0, stage="", heartbeat_at=None, worker="",
                                     queued_at=timezone.now())
                if moved:
                    record_event(result.job_id, events.RESULT_REQUEUED, reason, result.pk, data={"reason": "worker_lost"})
                    events.result_changed(result.pk)
                    _enqueue_work_after_commit(result)
                    requeued += 1
        elif fail_result(result.pk, "worker_lost", attempt=result.attempts):
            failed += 1
    return requeued, failed


def resend_orphaned_queued(grace_seconds=15):
    """Re-sends the messages of queued videos and scripts that no queue message will ever start, whatever
    else the queues hold. Returns how many it sent.

    A message can be lost with Redis (flushed, or down when the result was queued) or with a worker killed
    after it fetched it; queue.pending_messages() first hands a dead worker's fetched messages back. A
    message starts whichever video of its queue comes next (claim_result), so each queue needs as many
    messages as it has queued videos. Videos queued less than `grace_seconds` ago are left out: their
    messages may still be on their way. A duplicate would be harmless anyway, since claiming is conditional.
    """
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    waited = Q(queued_at__lt=cutoff) | Q(queued_at=None, created_at__lt=cutoff)
    queued = Result.objects.filter(waited, state=Result.State.QUEUED)
    pending = {name: queue.pending_messages(name) for name in queue.work_queues()}
    count = 0
    for queue_name, messages in pending.items():
        tokens = [m.args[0] for m in messages if m.actor_name == queue.RUN_LIPSYNC and m.args]
        waiting = list(queued.filter(job__audio__isnull=False, job__backend__in=queue.backends_of(queue_name))
                       .select_related("job").order_by("job_id", "pk"))
        lacking = [result for result in waiting if result.pk not in set(tokens)]
        for result in lacking[:max(0, len(waiting) - len(tokens))]:
            enqueue_result(result.pk, result.job.backend)
            count += 1
    # A script job waits for one speak_script message (by job id) before its videos get their own.
    speaking = {m.args[0] for m in pending[queue.ANYWHERE] if m.actor_name == queue.SPEAK_SCRIPT and m.args}
    for job in Job.objects.filter(pk__in=queued.filter(job__audio__isnull=True).exclude(job__script="")
                                  .values("job_id")).exclude(pk__in=speaking):
        enqueue_speech(job.pk, check_seconds(job))
        count += 1
    return count


# --- Scripts: speech synthesised by a worker before the lips are synced ---------------------------

def check_script(text, voice, speed=1.0):
    """The spoken length (seconds) a script is expected to have, or Refused: nothing to say, too long once
    spoken, an unknown voice, or a voice that cannot speak the script's language."""
    from inference import voices

    try:
        found = voices.find_voice(voice, settings.VOICES_DIRS)
        voices.check_script(text, found, speed, settings.MAX_INPUT_SECONDS)
    except inference.ScriptTooLong as exc:
        raise Refused("script_too_long", minutes=settings.MAX_INPUT_SECONDS // 60) from exc
    except inference.InferenceError as exc:
        raise Refused(exc.code) from exc
    return voices.estimate_seconds(text, speed)


def check_seconds(job):
    from inference import voices

    return voices.estimate_seconds(job.script, job.speed)


def claim_speech(job_id):
    """One worker's claim on speaking a job's script. None when it is spoken already, a live worker speaks it,
    or none of its results still waits (all cancelled)."""
    now = timezone.now()
    lost = now - timedelta(seconds=settings.WORKER_LOST_AFTER_SECONDS)
    with transaction.atomic():
        if not Result.objects.filter(job_id=job_id, state=Result.State.QUEUED).exists():
            return None
        claimed = Job.objects.filter(Q(speech_claimed_at__isnull=True) | Q(speech_claimed_at__lt=lost), pk=job_id,
                                     audio__isnull=True).exclude(script="").update(speech_claimed_at=now)
        if not claimed:
            return None
        job = Job.objects.select_related("team", "created_by").get(pk=job_id)
        record_event(job.pk, events.JOB_SPEAKING, "Speaking the script")
        for result_id in Result.objects.filter(job=job, state=Result.State.QUEUED).values_list("pk", flat=True):
            record_event(job.pk, events.RESULT_LOG, "Speaking the script", result_id, data={"stage": "speak"})
    return job


def report_speech_progress(job, fraction, done=0, total=0):
    """Progress of speaking, shown on each waiting result as the "speak" stage. Returns False when no result
    waits for the speech any more (all cancelled), so the worker can stop."""
    fraction = min(max(float(fraction), 0.0), 1.0)
    with transaction.atomic():
        Job.objects.filter(pk=job.pk, audio__isnull=True).update(speech_claimed_at=timezone.now())
        waiting = list(Result.objects.filter(job=job, state=Result.State.QUEUED).values_list("pk", flat=True))
        Result.objects.filter(pk__in=waiting, state=Result.State.QUEUED).update(
            stage="speak", progress=fraction * SPEECH_SHARE, frames_done=done, frames_total=total)
        for result_id in waiting:
            record_event(job.pk, events.RESULT_PROGRESS, f"Speaking sentence {done} of {total}", result_id,
                         data={"stage": "speak", "progress": round(fraction * SPEECH_SHARE, 4), "frames_done": done,
                               "frames_total": total})
    return bool(waiting)


def attach_speech(job, wav_path, phones):
    """The spoken script becomes the job's audio (an ordinary asset: listed, downloadable, counted in storage),
    each result's minutes become the real spoken length, and the waiting results are queued. Raises Refused
    (storage quota, too long)."""
    asset = ingest_file(job.team, job.created_by, wav_path, f"script-{job.pk}.wav", Asset.Kind.AUDIO)
    with transaction.atomic():
        if not Job.objects.filter(pk=job.pk, audio__isnull=True).update(
                audio=asset, phones=[[p, s, e] for p, s, e in phones] if phones is not None else None):
            return False
        Result.objects.filter(job=job).update(minutes=asset.duration_s / 60)
        Result.objects.filter(job=job, state=Result.State.QUEUED).update(queued_at=timezone.now())
        record_event(job.pk, events.JOB_SPOKEN, f"Spoke the script: {asset.duration_s:.1f} s of speech",
                     data={"audio": asset.pk, "duration_s": asset.duration_s})
        for result_id in Result.objects.filter(job=job, state=Result.State.QUEUED).values_list("pk", flat=True):
            _enqueue_after_commit(result_id, job.backend)
    return True


def keep_heard_phones(job, phones):
    """Keeps the phones the engine recognised in the job's audio, so the job's other videos (batch mode: one
    audio, many videos) skip recognising the same speech again (0.15 CPU seconds per second of audio, a tenth
    of a 1080p video's work). A script's exact phones, or ones kept already, stay. The engine heard them as the
    job's speech_language asks (for another language: all-phone decoding, which only closes the lips), and a
    job's language never changes, so the next videos use them the same way."""
    if phones is None:
        return False
    return bool(Job.objects.filter(pk=job.pk, phones__isnull=True).update(phones=[[p, s, e] for p, s, e in phones]))


def hand_back_speech(job):
    """A worker that is stopping gives up speaking a script: the claim is released and the speech is sent again,
    to be spoken from the start by the next worker. Returns False when it was spoken (or handed back) already."""
    with transaction.atomic():
        released = Job.objects.filter(pk=job.pk, audio__isnull=True).exclude(speech_claimed_at=None).update(
            speech_claimed_at=None)
        if released:
            Result.objects.filter(job=job, state=Result.State.QUEUED).update(queued_at=timezone.now())
            record_event(job.pk, events.JOB_LOG, "The worker was stopped; the script is queued again",
                         data={"reason": "worker_stopped"})
            _enqueue_speech_after_commit(job.pk, check_seconds(job))
    return bool(released)


def fail_speech(job, code):
    """The script could not be spoken: every result still waiting for it fails with `code`. The claim is
    released, so an admin's retry speaks it again at once."""
    Job.objects.filter(pk=job.pk).update(speech_claimed_at=None)
    return sum(fail_result(result_id, code) for result_id in
               Result.objects.filter(job=job, state__in=Result.ACTIVE).values_list("pk", flat=True))
