"""A job's log: recording events and pushing them to the browsers that watch.

The kinds below are the contract with the JavaScript: the job page reads them from the JSON the view
renders (`event_kinds`), never from string literals of its own, so a renamed kind breaks a test, not
the page.
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from jobs.models import Job, JobEvent, Result

log = logging.getLogger(__name__)

JOB_CREATED = "job.created"
JOB_SPEAKING = "job.speaking"
JOB_SPOKEN = "job.spoken"
JOB_LOG = "job.log"
JOB_FINISHED = "job.finished"
RESULT_RUNNING = "result.running"
RESULT_PROGRESS = "result.progress"
RESULT_LOG = "result.log"
RESULT_SUCCEEDED = "result.succeeded"
RESULT_FAILED = "result.failed"
RESULT_CANCELLED = "result.cancelled"
RESULT_REQUEUED = "result.requeued"
RESULT_DELETED = "result.deleted"
RESULT_EXPIRED = "result.expired"
RESULT_CHANGED = "result.changed"  # the gallery's socket: a result of the user's changed state
WEBHOOK_REFUSED = "webhook.refused"
WEBHOOK_FAILED = "webhook.failed"
WEBHOOK_DELIVERED = "webhook.delivered"
PONG = "pong"  # the job socket's answer to the page's ping

# Name -> kind, as the job page reads them (`event_kinds` in its template).
KINDS = {name: value for name, value in globals().items() if name.isupper() and isinstance(value, str)
         and name != "KINDS"}


def job_group(job_id):
    return f"job-{job_id}"


def user_group(user_id):
    return f"user-{user_id}"


def broadcast(group, message):
    # Redis only carries notifications: when it is down the facts are still in the database and
    # clients catch up by `seq`, so a failed push must not fail the change itself.
    try:
        async_to_sync(get_channel_layer().group_send)(group, message)
    except Exception:
        log.warning("Could not push to %s", group, exc_info=True)


def record_event(job_id, kind, message="", result_id=None, data=None):
    """Appends one event to the job's log with the next `seq`, and pushes it after commit."""
    with transaction.atomic():
        # The UPDATE locks the job row until commit, so concurrent writers get distinct seqs.
        Job.objects.filter(pk=job_id).update(next_seq=F("next_seq") + 1)
        seq = Job.objects.filter(pk=job_id).values_list("next_seq", flat=True).get()
        event = JobEvent.objects.create(job_id=job_id, result_id=result_id, seq=seq, kind=kind,
                                        message=str(message), data=data or {})
        transaction.on_commit(lambda: broadcast(job_group(job_id), {"type": "job.event", "event": event.as_message()}))
    return event


def result_changed(result_id):
    """Tells the owner's gallery, after commit, that a result changed state."""
    row = Result.objects.filter(pk=result_id).values("job_id", "job__created_by_id", "state", "progress").first()
    if row:
        message = {"type": "result.changed", "result": result_id, "job": row["job_id"], "state": row["state"],
                   "progress": row["progress"]}
        transaction.on_commit(lambda: broadcast(user_group(row["job__created_by_id"]), message))
