"""Dramatiq actors: thin and idempotent. They receive ids, claim through the services, call the
engine, and finish or fail the result. Importing jobs.queue first binds them to Redis. Nothing in the
app imports this module: work is sent by actor name (jobs/queue.py); only the worker loads it."""

import errno
import itertools
import logging
import tempfile
import time
from pathlib import Path

import dramatiq
from django.conf import settings
from dramatiq.middleware import CurrentMessage, Middleware

import inference
from inference import voices
from jobs import queue, recovery, services, storage, webhooks
from jobs.errors import Refused
from jobs.media import make_thumbnail
from jobs.models import Result

log = logging.getLogger(__name__)


# The engine reports each stage's own 0..1 fraction; the user sees one bar. Shares of the whole run
# measured on CPU (tracking and rendering dominate); an unknown stage keeps the bar where it is.
STAGE_SHARES = {"probe": 0.02, "audio": 0.08, "track": 0.30, "select": 0.05, "render": 0.55, "finish": 0.0}
STAGE_STARTS = dict(zip(STAGE_SHARES, itertools.accumulate(STAGE_SHARES.values(), initial=0.0)))
assert set(STAGE_SHARES) == set(inference.STAGES), "every engine stage needs its share of the bar"


class Reporter:
    """The engine's progress and cancel callbacks, throttled to one database write a second. `start`: the share
    of the bar already done before the engine runs (a script job's speaking)."""

    def __init__(self, result, interval=None, start=0.0):
        self.result = result
        self.start = start
        self.interval = settings.PROGRESS_INTERVAL_SECONDS if interval is None else interval
        self.last_write = 0.0
        self.last_check = 0.0
        self.stage = None
        self.overall = 0.0
        self.cancelled = False

    def on_progress(self, stage, fraction, done=0, total=0, note=""):
        if stage in STAGE_SHARES:
            engine = STAGE_STARTS[stage] + STAGE_SHARES[stage] * fraction
            self.overall = max(self.overall, self.start + (1 - self.start) * engine)
        now = time.monotonic()
        if stage != self.stage:
            self.stage = stage
            services.log_line(self.result, note or stage, stage)
        elif now - self.last_write < self.interval:
            return
        self.last_write = now
        if not services.report_progress(self.result, stage, min(max(self.overall, self.start), 0.99), done, total,
                                        note):
            self.cancelled = True

    def should_cancel(self):
        if recovery.stopping.is_set():
            return True  # The worker is stopping: run_lipsync hands the video back.
        now = time.monotonic()
        if not self.cancelled and now - self.last_check >= self.interval:
            self.last_check = now
            self.cancelled = not services.is_still_mine(self.result)
        return self.cancelled


# The queues this worker process consumes (WorkerLifecycle): a single-video job on any of them goes first.
serving = set()


class WorkerLifecycle(Middleware):
    """How a worker process starts and stops (jobs/recovery.py). Added to the broker by
    heygem_site.worker, so it acts in worker processes only."""

    def before_worker_boot(self, broker, worker):
        worker.queue_prefetch = worker.worker_threads
        # Messages are sent by name to queues their actor does not declare: declare the ones this worker
        # takes, and only those (unless `dramatiq --queues` chose already).
        if not worker.consumer_whitelist:
            offer = queue.capability() if not settings.WORKER_QUEUES else None
            worker.consumer_whitelist = set(queue.worker_queues(offer))
            log.info("This worker takes the queues %s (%s)", ", ".join(sorted(worker.consumer_whitelist)),
                     f"GPU: {offer['gpu']}, backends: {', '.join(offer['backends'])}" if offer else
                     "HEYGEM_WORKER_QUEUES")
        serving.update(worker.consumer_whitelist)
        for name in worker.consumer_whitelist:
            broker.declare_queue(name)

    def after_worker_boot(self, broker, worker):
        try:
            requeued, failed = services.reap_stale_results()
            folders = recovery.purge_dead_work_dirs()
        except Exception:
            log.exception("Could not recover the videos of lost workers; the scheduler will")
            return
        if requeued or failed or folders:
            log.info("Recovered after lost workers: %s videos re-queued, %s failed, %s work folders removed",
                     requeued, failed, folders)

    def before_worker_shutdown(self, broker, worker):
        recovery.stopping.set()


@dramatiq.actor(actor_name=queue.RUN_LIPSYNC, queue_name=queue.ANYWHERE, max_retries=0, time_limit=6 * 3600 * 1000)
def run_lipsync(result_id):
    message = CurrentMessage.get_current_message()
    result = services.claim_result(result_id, message.queue_name if message else None, serving)
    if result is None:
        return  # Cancelled, deleted or claimed by another worker.
    result_id = result.pk  # The job's first queued video, which may not be the message's.
    job = result.job
    reporter = Reporter(result, start=services.SPEECH_SHARE if job.script else 0.0)
    with tempfile.TemporaryDirectory(prefix=recovery.work_dir_prefix()) as workdir:
        try:
            video = storage.local_copy(result.video.file, workdir)
            audio = storage.local_copy(job.audio.file, workdir)
            output = Path(workdir) / "output.mp4"
            # Phones known already (a spoken script's, or heard by an earlier video of this job) spare the engine
            # recognising them.
            known = {"phones": [tuple(p) for p in job.phones]} if job.phones is not None else {}
            report = inference.generate(str(video), str(audio), str(output), services.engine_config(job),
                                        on_progress=reporter.on_progress, should_cancel=reporter.should_cancel,
                                        **known)
            services.keep_heard_phones(job, report.heard_phones)
            thumbnail = make_thumbnail(output, Path(workdir) / "poster.jpg")
            services.finish_result(result, output, thumbnail, report)
        except inference.Cancelled:
            # A stopping worker hands its video back to the queue; otherwise whoever stopped it (a cancel,
            # the reaper) has already set the state.
            if recovery.stopping.is_set():
                services.hand_back_result(result)
        except inference.InferenceError as exc:
            log.info("Result %s failed: %s", result_id, exc, extra={"job": result.job_id, "result": result_id})
            services.fail_result(result_id, exc.code, attempt=result.attempts)
        except Exception as exc:
            if _disk_full(exc):
                log.warning("Result %s failed: the disk is full", result_id,
                            extra={"job": result.job_id, "result": result_id})
                services.fail_result(result_id, "low_disk", attempt=result.attempts)
                return
            log.exception("Result %s failed unexpectedly", result_id, extra={"job": result.job_id, "result": result_id})
            services.fail_result(result_id, "internal_error", attempt=result.attempts)
            raise


def _disk_full(exc):
    """Whether `exc`, or an error it was raised from, says the disk (temp folder or media) is full."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


@dramatiq.actor(actor_name=queue.SPEAK_SCRIPT, queue_name=queue.ANYWHERE, max_retries=0, time_limit=2 * 3600 * 1000)
def speak_script(job_id):
    """Speaks a script job's text into its audio asset, then queues its results (services.attach_speech)."""
    job = services.claim_speech(job_id)
    if job is None:
        return  # Spoken already, being spoken, or nothing waits for it any more.
    last = [0.0]

    def on_progress(stage, fraction, done, total, note):
        now = time.monotonic()
        if now - last[0] >= settings.PROGRESS_INTERVAL_SECONDS or done == total:
            last[0] = now
            if not services.report_speech_progress(job, fraction, done, total):
                raise inference.Cancelled()

    def should_cancel():
        # A stopping worker hands the script back (below), to be spoken from the start by the next one.
        return recovery.stopping.is_set() or not Result.objects.filter(job_id=job_id,
                                                                        state=Result.State.QUEUED).exists()

    with tempfile.TemporaryDirectory(prefix=recovery.work_dir_prefix()) as workdir:
        wav = Path(workdir) / "speech.wav"
        try:
            services.report_speech_progress(job, 0.0, 0, 0)
            speech = voices.synthesize(job.script, job.voice, str(wav), speed=job.speed, folders=settings.VOICES_DIRS,
                                       max_seconds=settings.MAX_INPUT_SECONDS, on_progress=on_progress,
                                       should_cancel=should_cancel)
            services.attach_speech(job, wav, speech.phones)
        except inference.Cancelled:
            if recovery.stopping.is_set():
                services.hand_back_speech(job)
            # Otherwise every result was cancelled meanwhile.
        except inference.InferenceError as exc:
            log.info("Job %s: the script could not be spoken: %s", job_id, exc, extra={"job": job_id})
            services.fail_speech(job, exc.code)
        except Refused as refused:
            services.fail_speech(job, refused.code)
        except Exception as exc:
            if _disk_full(exc):
                log.warning("Job %s: the script could not be spoken: the disk is full", job_id, extra={"job": job_id})
                services.fail_speech(job, "low_disk")
                return
            log.exception("Job %s: speaking failed unexpectedly", job_id, extra={"job": job_id})
            services.fail_speech(job, "internal_error")
            raise


@dramatiq.actor(actor_name=queue.DELIVER_WEBHOOK, queue_name=queue.WEBHOOKS, max_retries=6, min_backoff=5_000, max_backoff=600_000, time_limit=60_000)
def deliver_webhook(job_id):
    """POSTs the finished job to its webhook, signed with HMAC-SHA256; retried with backoff.

    Only to public addresses (or the operator's allow-list), checked on every connection (jobs/webhooks.py);
    a refused address is not retried, and the job's log says why.
    """
    webhooks.deliver(job_id)
