"""Dramatiq actors: thin and idempotent. They receive ids, claim through the services, call the
engine, and finish or fail the result. Importing heygem_site.broker first binds them to Redis."""

import hashlib
import hmac
import itertools
import json
import logging
import re
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path

import dramatiq
from django.conf import settings

from heygem_site.broker import broker  # noqa: F401

import inference
from jobs import services
from jobs.housekeeping import WORK_DIR_PREFIX
from jobs.media import make_thumbnail
from jobs.models import Job

log = logging.getLogger(__name__)


# The engine reports each stage's own 0..1 fraction; the user sees one bar. Shares of the whole run
# measured on CPU (tracking and rendering dominate); an unknown stage keeps the bar where it is.
STAGE_SHARES = {"probe": 0.02, "audio": 0.08, "track": 0.30, "select": 0.05, "render": 0.55, "finish": 0.0}
STAGE_STARTS = dict(zip(STAGE_SHARES, itertools.accumulate(STAGE_SHARES.values(), initial=0.0)))
_FRAMES = re.compile(r"(\d+) of (?:about )?(\d+)")


class Reporter:
    """The engine's progress and cancel callbacks, throttled to one database write a second."""

    def __init__(self, result, interval=None):
        self.result = result
        self.interval = settings.PROGRESS_INTERVAL_SECONDS if interval is None else interval
        self.last_write = 0.0
        self.last_check = 0.0
        self.stage = None
        self.overall = 0.0
        self.cancelled = False

    def on_progress(self, stage, fraction, message=""):
        if stage in STAGE_SHARES:
            self.overall = max(self.overall, STAGE_STARTS[stage] + STAGE_SHARES[stage] * fraction)
        now = time.monotonic()
        if stage != self.stage:
            self.stage = stage
            services.log_line(self.result, message or stage, stage)
        elif now - self.last_write < self.interval:
            return
        self.last_write = now
        frames_done, frames_total = _frames(message)
        if not services.report_progress(self.result, stage, min(self.overall, 0.99), frames_done, frames_total,
                                        message):
            self.cancelled = True

    def should_cancel(self):
        now = time.monotonic()
        if not self.cancelled and now - self.last_check >= self.interval:
            self.last_check = now
            self.cancelled = not services.is_still_mine(self.result)
        return self.cancelled


def _frames(message):
    # The engine writes counters as "frame 12 of 300" (or "of about 300" while tracking).
    match = _FRAMES.search(message)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _local_path(field, directory):
    """A local path of a stored file: the file itself on local storage, else a downloaded copy."""
    try:
        return Path(field.path)
    except NotImplementedError:
        target = Path(directory) / Path(field.name).name
        with field.open("rb") as source, open(target, "wb") as sink:
            shutil.copyfileobj(source, sink, 1024 * 1024)
        return target


@dramatiq.actor(queue_name="gpu", max_retries=0, time_limit=6 * 3600 * 1000)
def run_lipsync(result_id):
    result = services.claim_result(result_id)
    if result is None:
        return  # Cancelled, deleted or claimed by another worker.
    result_id = result.pk  # The job's first queued video, which may not be the message's.
    reporter = Reporter(result)
    with tempfile.TemporaryDirectory(prefix=WORK_DIR_PREFIX) as workdir:
        try:
            video = _local_path(result.video.file, workdir)
            audio = _local_path(result.job.audio.file, workdir)
            output = Path(workdir) / "output.mp4"
            report = inference.generate(str(video), str(audio), str(output), services.engine_config(result.job),
                                        on_progress=reporter.on_progress, should_cancel=reporter.should_cancel)
            thumbnail = make_thumbnail(output, Path(workdir) / "poster.jpg")
            services.finish_result(result, output, thumbnail, report)
        except inference.Cancelled:
            pass  # Whoever stopped it (a cancel, the reaper) has already set the state.
        except inference.InferenceError as exc:
            log.info("Result %s failed: %s", result_id, exc, extra={"job": result.job_id, "result": result_id})
            services.fail_result(result_id, exc.code, attempt=result.attempts)
        except Exception:
            log.exception("Result %s failed unexpectedly", result_id, extra={"job": result.job_id, "result": result_id})
            services.fail_result(result_id, "internal_error", attempt=result.attempts)
            raise


@dramatiq.actor(queue_name="default", max_retries=6, min_backoff=5_000, max_backoff=600_000, time_limit=60_000)
def deliver_webhook(job_id):
    """POSTs the finished job to its webhook, signed with HMAC-SHA256; retried with backoff."""
    job = Job.objects.filter(pk=job_id).exclude(webhook_url="").first()
    if job is None:
        return
    body = json.dumps(webhook_payload(job), sort_keys=True).encode()
    signature = hmac.new(job.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(job.webhook_url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-HeyGem-Event": "job.finished",
        "X-HeyGem-Signature": f"sha256={signature}"})
    with urllib.request.urlopen(request, timeout=settings.WEBHOOK_TIMEOUT_SECONDS) as response:
        if not 200 <= response.status < 300:
            raise RuntimeError(f"webhook answered {response.status}")


def webhook_payload(job):
    return {
        "event": "job.finished",
        "job": job.pk,
        "results": [{"id": r.pk, "state": r.state, "error_code": r.error_code, "video": r.video.original_name}
                    for r in job.results.select_related("video").order_by("pk")],
    }
