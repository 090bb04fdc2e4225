"""A worker takes only the queues whose work it can run: a job that asks for a GPU backend by name never
reaches a worker without a GPU (capability flags from settings here, not a real GPU)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from jobs import queue, services
from jobs.models import Result
from tests.jobs_factories import VIDEOS, make_job

pytestmark = pytest.mark.django_db


def test_work_that_any_worker_can_run_shares_one_queue():
    assert queue.backend_queue("auto") == queue.backend_queue("retrieval") == queue.backend_queue("warp") \
        == queue.ANYWHERE
    assert queue.backend_queue("musetalk") == "work.musetalk"  # needs a GPU
    assert queue.backend_queue("wav2lip") == "work.wav2lip"  # needs its weights on the worker's disk
    assert sorted(queue.work_queues()) == sorted([queue.ANYWHERE, "work.musetalk", "work.wav2lip"])


def test_a_worker_without_a_gpu_leaves_musetalk_jobs_even_with_the_weights(settings):
    settings.WORKER_GPU, settings.MUSETALK_DIR, settings.WAV2LIP_CHECKPOINT = "no", "/models", ""
    offer = queue.capability()
    assert offer == {"gpu": False, "backends": ["retrieval", "warp"]}
    assert queue.worker_queues(offer) == [queue.ANYWHERE, queue.WEBHOOKS]


def test_a_gpu_worker_with_the_weights_takes_musetalk_jobs_too(settings):
    settings.WORKER_GPU, settings.MUSETALK_DIR, settings.WAV2LIP_CHECKPOINT = "yes", "/models", "/w/wav2lip.pth"
    offer = queue.capability()
    assert offer["gpu"] and set(offer["backends"]) == {"retrieval", "warp", "wav2lip", "musetalk"}
    assert queue.worker_queues(offer) == [queue.ANYWHERE, "work.musetalk", "work.wav2lip", queue.WEBHOOKS]


def test_a_gpu_without_musetalk_weights_is_not_offered_for_musetalk(settings):
    settings.WORKER_GPU, settings.MUSETALK_DIR = "yes", ""
    assert "work.musetalk" not in queue.worker_queues()


def test_the_operator_can_name_the_queues(settings):
    settings.WORKER_QUEUES = ["work.musetalk"]  # a GPU host kept for MuseTalk alone
    assert queue.worker_queues() == ["work.musetalk"]


def test_a_misspelt_queue_stops_the_worker_with_the_names_it_knows(settings):
    settings.WORKER_QUEUES = ["work.musetalk", "work.muse-talk"]
    with pytest.raises(ImproperlyConfigured, match="no queue is called work.muse-talk; the queues are work.any"):
        queue.worker_queues()


def test_a_cpu_workers_message_never_starts_a_gpu_only_video(personas, tmp_path, monkeypatch,
                                                             django_capture_on_commit_callbacks):
    sent = []
    monkeypatch.setattr(queue, "send", lambda actor, *args, queue_name, **kw: sent.append((queue_name, *args)))
    with django_capture_on_commit_callbacks(execute=True):
        gpu_job = make_job(personas, tmp_path, backend="musetalk")  # a single video: it would go first anywhere
        batch = make_job(personas, tmp_path, videos=VIDEOS[:2])
    assert {name for name, _ in sent} == {"work.musetalk", queue.ANYWHERE}
    cpu_worker = {queue.ANYWHERE, queue.WEBHOOKS}
    claimed = [services.claim_result(result_id, name, cpu_worker) for name, result_id in sent
               if name in cpu_worker]
    assert sorted(r.pk for r in claimed) == sorted(batch.results.values_list("pk", flat=True))
    assert services.claim_result(batch.results.first().pk, queue.ANYWHERE, cpu_worker) is None
    assert gpu_job.results.get().state == Result.State.QUEUED


def test_on_a_gpu_worker_a_single_musetalk_video_goes_before_a_batch_of_another_queue(personas, tmp_path):
    batch = make_job(personas, tmp_path, videos=VIDEOS[:2])
    single = make_job(personas, tmp_path, backend="musetalk")
    gpu_worker = {queue.ANYWHERE, "work.musetalk", queue.WEBHOOKS}
    # The thread took a message of the batch's queue first; the waiting person's video starts all the same.
    assert services.claim_result(batch.results.first().pk, queue.ANYWHERE, gpu_worker).job_id == single.pk


def test_a_worker_process_consumes_the_queues_it_offers_and_no_other(settings, monkeypatch):
    from dramatiq import Worker

    from jobs import tasks

    monkeypatch.setattr(tasks, "serving", set())
    settings.WORKER_GPU, settings.MUSETALK_DIR = "yes", "/models"
    worker = Worker(queue.broker, worker_threads=1)
    tasks.WorkerLifecycle().before_worker_boot(queue.broker, worker)
    assert worker.consumer_whitelist == tasks.serving == {queue.ANYWHERE, "work.musetalk", queue.WEBHOOKS}
    assert "work.musetalk" in queue.broker.get_declared_queues()
    settings.WORKER_GPU = "no"
    worker = Worker(queue.broker, worker_threads=1)
    tasks.WorkerLifecycle().before_worker_boot(queue.broker, worker)
    assert worker.consumer_whitelist == {queue.ANYWHERE, queue.WEBHOOKS}
