"""A worker that stops hands its video back; one that dies is noticed at once on its host, and later
elsewhere; a queued video whose message is gone is sent again whatever else the queue holds."""

import errno
import os
import socket
import subprocess
import sys
import tempfile
from datetime import timedelta

import pytest
from django.utils import timezone
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis

import inference
from jobs import recovery, services, tasks
from jobs.queue import ANYWHERE, broker, heartbeat_key
from jobs.models import JobEvent, Result
from tests.jobs_factories import VIDEOS, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def queue():
    broker.flush(ANYWHERE)
    yield broker
    broker.flush(ANYWHERE)


@pytest.fixture
def stopping():
    recovery.stopping.clear()
    yield recovery.stopping
    recovery.stopping.clear()


@pytest.fixture
def temp_dir(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def queued_result_ids():
    ids = broker.client.lrange(f"{broker.namespace}:{ANYWHERE}", 0, -1)
    messages = broker.client.hmget(f"{broker.namespace}:{ANYWHERE}.msgs", ids) if ids else []
    import json

    return sorted(json.loads(m)["args"][0] for m in messages if m)


def dead_pid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_stopping_worker_hands_its_video_back_without_counting_an_attempt(personas, tmp_path, stopping, temp_dir,
                                                                            monkeypatch, queue):
    job = make_job(personas, tmp_path)
    result = job.results.get()
    seen = {}

    def generate(video, audio, output, config, on_progress, should_cancel):
        seen["folder"] = os.path.dirname(output)
        open(output + ".partial", "wb").write(b"half a video")
        on_progress("render", 0.5, 10, 20, "frame 10 of 20")
        stopping.set()  # Ctrl-C: Dramatiq's before_worker_shutdown
        if should_cancel():
            raise inference.Cancelled()
    monkeypatch.setattr(inference, "generate", generate)
    tasks.run_lipsync.fn(result.pk)

    result.refresh_from_db()
    assert (result.state, result.attempts, result.progress, result.worker) == ("queued", 0, 0.0, "")
    event = JobEvent.objects.filter(job=job, kind="result.requeued").get()
    assert event.data == {"reason": "worker_stopped"}
    assert not os.path.exists(seen["folder"]) and list(temp_dir.iterdir()) == []
    assert queued_result_ids() == []  # sent after commit: this test's transaction never commits
    assert services.claim_result(result.pk).attempts == 1


def test_a_full_disk_mid_render_is_low_disk_not_an_internal_error(personas, tmp_path, monkeypatch, temp_dir):
    job = make_job(personas, tmp_path)

    def generate(*args, **kwargs):
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("the encoder failed") from exc
    monkeypatch.setattr(inference, "generate", generate)
    tasks.run_lipsync.fn(job.results.get().pk)
    result = job.results.get()
    assert (result.state, result.error_code) == ("failed", "low_disk")


def test_a_dead_worker_on_this_host_is_noticed_without_waiting_for_the_timeout(personas, tmp_path, monkeypatch):
    monkeypatch.setattr(services, "enqueue_result", lambda pk, seconds: None)
    job = make_job(personas, tmp_path)
    result = services.claim_result(job.results.get().pk)
    assert services.reap_stale_results() == (0, 0)  # its worker (this process) is alive
    Result.objects.filter(pk=result.pk).update(worker=f"{socket.gethostname()}:{dead_pid()}")
    assert services.reap_stale_results() == (1, 0)
    result.refresh_from_db()
    assert (result.state, result.attempts, result.worker) == ("queued", 1, "")


def test_a_dead_worker_elsewhere_is_noticed_when_its_heartbeat_key_expired(personas, tmp_path, monkeypatch, settings):
    monkeypatch.setattr(services, "enqueue_result", lambda pk, seconds: None)
    job = make_job(personas, tmp_path)
    result = services.claim_result(job.results.get().pk)
    quiet = timezone.now() - timedelta(seconds=3 * settings.WORKER_HEARTBEAT_SECONDS + 5)
    Result.objects.filter(pk=result.pk).update(worker="gpu-host-7:4242", heartbeat_at=quiet)
    broker.client.set(heartbeat_key("gpu-host-7:4242"), "1", ex=60)
    try:
        assert services.reap_stale_results() == (0, 0)  # alive over there, just quiet
    finally:
        broker.client.delete(heartbeat_key("gpu-host-7:4242"))
    assert services.reap_stale_results() == (1, 0)


def test_the_work_folders_of_dead_workers_are_removed(temp_dir):
    dead = temp_dir / f"{recovery.WORK_DIR_PREFIX}{dead_pid()}-abc"
    mine = temp_dir / f"{recovery.WORK_DIR_PREFIX}{os.getpid()}-def"
    for folder in (dead, mine):
        (folder / "output.mp4.partial").parent.mkdir()
        (folder / "output.mp4.partial").write_bytes(b"x")
    assert recovery.purge_dead_work_dirs() == 1
    assert not dead.exists() and mine.exists()


def test_messages_a_killed_worker_had_fetched_go_back_to_the_queue(personas, tmp_path, queue, settings):
    job = make_job(personas, tmp_path, videos=VIDEOS[:2])
    first, second = job.results.order_by("pk")
    for result in (first, second):
        services.enqueue_result(result.pk, "auto")
    # Another worker process fetched (prefetched) both, then was killed: its heartbeat stops.
    dead = RedisBroker(client=broker.client, namespace=broker.namespace)
    assert len(dead.do_fetch(ANYWHERE, 2)) == 2
    assert queued_result_ids() == []
    broker.client.zadd(f"{broker.namespace}:__heartbeats__", {dead.broker_id: current_millis() - 60_000})
    Result.objects.update(queued_at=timezone.now() - timedelta(minutes=5))
    assert services.resend_orphaned_queued() == 0  # nothing was lost: both are back, not sent twice
    assert queued_result_ids() == [first.pk, second.pk]


def test_a_lost_message_is_sent_again_whatever_the_queue_holds(personas, tmp_path, queue):
    job = make_job(personas, tmp_path, videos=VIDEOS[:2])
    first, second = job.results.order_by("pk")
    services.enqueue_result(first.pk, "auto")  # the second one's message was lost (Redis flushed, down, ...)
    assert services.resend_orphaned_queued(grace_seconds=60) == 0  # still within its grace period
    Result.objects.update(queued_at=timezone.now() - timedelta(seconds=61))
    assert services.resend_orphaned_queued(grace_seconds=60) == 1
    assert queued_result_ids() == [first.pk, second.pk]


def test_a_message_held_by_a_worker_that_just_died_is_sent_again_at_once(personas, tmp_path, queue):
    job = make_job(personas, tmp_path)
    result = job.results.get()
    services.enqueue_result(result.pk, "auto")
    dead = RedisBroker(client=broker.client, namespace=broker.namespace)
    assert len(dead.do_fetch(ANYWHERE, 1)) == 1
    # Silent for 12 s: not yet past Dramatiq's heartbeat timeout, but far longer than a live consumer ever is.
    broker.client.zadd(f"{broker.namespace}:__heartbeats__", {dead.broker_id: current_millis() - 12_000})
    Result.objects.update(queued_at=timezone.now() - timedelta(minutes=5))
    assert services.resend_orphaned_queued() == 1
    assert queued_result_ids() == [result.pk]
    # A live consumer's fetched message counts as on its way.
    live = RedisBroker(client=broker.client, namespace=broker.namespace)
    live.do_fetch(ANYWHERE, 1)
    assert services.resend_orphaned_queued() == 0


def test_a_busy_worker_holds_no_more_messages_than_it_has_threads(monkeypatch):
    from dramatiq import Worker

    monkeypatch.setattr(tasks, "serving", set())  # what the boot below records stays in this test
    worker = Worker(broker, worker_threads=3)
    assert worker.queue_prefetch == 6  # Dramatiq's default: two per thread
    tasks.WorkerLifecycle().before_worker_boot(broker, worker)
    assert worker.queue_prefetch == 3
