"""A result's life through the actor, called directly: the engine runs for real on short clips."""

import threading
import time
from datetime import timedelta

import av
import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from jobs import services
from jobs.models import Job, JobEvent, Result
from jobs.tasks import run_lipsync
from tests.conftest import stored_files
from tests.jobs_factories import VIDEOS, make_job
from tests.media import write_video

pytestmark = pytest.mark.django_db


def run(result):
    run_lipsync.fn(result.pk)
    result.refresh_from_db()
    return result


def test_a_result_runs_to_a_playable_video_with_a_thumbnail(personas, tmp_path, media_root):
    job = make_job(personas, tmp_path)
    result = run(job.results.get())
    assert result.state == "succeeded", (result.error_code, result.error_message)
    assert result.progress == 1.0 and result.backend_used in ("retrieval", "warp")
    assert result.output_size == result.output.size > 10_000 and result.thumbnail_size > 1000
    with av.open(result.output.path) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert (video.width, video.height, video.codec_context.name, audio.codec_context.name) == (
            524, 524, "h264", "aac")
        assert abs(container.duration / 1e6 - job.audio.duration_s) < 0.1
    kinds = list(JobEvent.objects.filter(job=job).order_by("seq").values_list("kind", flat=True))
    assert kinds[:2] == ["job.created", "result.running"] and kinds[-2:] == ["result.succeeded", "job.finished"]
    assert "result.progress" in kinds and "result.log" in kinds
    seqs = list(JobEvent.objects.filter(job=job).order_by("pk").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))
    assert services.storage_used(personas.team.pk) == sum(p.stat().st_size for p in stored_files(media_root))


def test_a_video_without_a_face_fails_with_its_code_and_message(personas, tmp_path, api_for):
    bars = write_video(tmp_path / "bars.mp4", seconds=2, size=(320, 240))
    job = make_job(personas, tmp_path, videos=[bars])
    result = run(job.results.get())
    assert (result.state, result.error_code) == ("failed", "no_face")
    body = api_for(personas.member).get(reverse("api-result", args=[result.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").json()
    assert body["error"] == {"code": "no_face", "message": "视频中没有找到人脸。请使用人脸清晰可见的视频。"}
    assert not result.output


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_running_result_stops_it_within_seconds(personas, tmp_path, api_for, media_root):
    job = make_job(personas, tmp_path, videos=["video/man_map_844sq_25fps.mp4"],
                   audio="audio/speech_radio_16k_stereo_8s.wav")
    result = job.results.get()
    worker = threading.Thread(target=lambda: (run_lipsync.fn(result.pk), connection.close()))
    worker.start()
    deadline = time.monotonic() + 60
    while not Result.objects.filter(pk=result.pk, state="running", progress__gt=0).exists():
        assert time.monotonic() < deadline, "the result never started"
        time.sleep(0.05)
    cancelled_at = time.monotonic()
    api_for(personas.member).post(reverse("api-job-cancel", args=[job.pk]))
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert time.monotonic() - cancelled_at < 10
    result.refresh_from_db()
    assert result.state == "cancelled" and not result.output
    assert not any("outputs" in str(p) for p in stored_files(media_root))
    assert services.active_jobs(personas.team.pk) == 0
    assert JobEvent.objects.filter(job=job, kind="result.cancelled").exists()


def test_a_cancelled_queued_result_is_never_run(personas, tmp_path):
    job = make_job(personas, tmp_path)
    result = job.results.get()
    services.cancel_job(job)
    assert run(result).state == "cancelled"
    assert not JobEvent.objects.filter(job=job, kind="result.running").exists()


def test_the_reaper_requeues_a_lost_result_once_then_fails_it(personas, tmp_path, settings, monkeypatch):
    queued = []
    monkeypatch.setattr(services, "enqueue_result", lambda pk, seconds: queued.append(pk))
    job = make_job(personas, tmp_path)
    result = job.results.get()
    stale = timezone.now() - timedelta(seconds=settings.WORKER_LOST_AFTER_SECONDS + 5)

    services.claim_result(result.pk)
    Result.objects.filter(pk=result.pk).update(heartbeat_at=stale)
    assert services.reap_stale_results() == (1, 0)
    result.refresh_from_db()
    assert result.state == "queued" and result.attempts == 1

    services.claim_result(result.pk)
    Result.objects.filter(pk=result.pk).update(heartbeat_at=stale)
    assert services.reap_stale_results() == (0, 1)
    result.refresh_from_db()
    assert (result.state, result.error_code) == ("failed", "worker_lost")
    assert services.active_jobs(personas.team.pk) == 0
    assert services.minutes_used_this_month(personas.team.pk) == 0


def test_the_reaper_leaves_healthy_results_alone(personas, tmp_path):
    job = make_job(personas, tmp_path)
    services.claim_result(job.results.get().pk)
    assert services.reap_stale_results() == (0, 0)
    assert job.results.get().state == "running"


def test_deleting_the_current_video_removes_its_files_and_usage(personas, tmp_path, api_for, media_root):
    job = make_job(personas, tmp_path)
    result = run(job.results.get())
    before = services.storage_used(personas.team.pk)
    files = [result.output.path, result.thumbnail.path]
    response = api_for(personas.member).delete(reverse("api-result", args=[result.pk]))
    assert response.status_code == 204
    assert not Result.objects.filter(pk=result.pk).exists()
    assert not any(p.exists() for p in map(__import__("pathlib").Path, files))
    assert services.storage_used(personas.team.pk) == before - result.output_size - result.thumbnail_size


def test_deleting_a_queued_result_cancels_it_first(personas, tmp_path, api_for):
    job = make_job(personas, tmp_path, videos=["video/woman_glasses_524sq_25fps.mp4",
                                               "video/man_map_844sq_25fps.mp4"])
    first, second = job.results.order_by("pk")
    response = api_for(personas.member).post(reverse("api-results-bulk-delete"), {"ids": [first.pk]}, format="json")
    assert response.json() == {"deleted": [first.pk]}
    assert list(job.results.values_list("pk", flat=True)) == [second.pk]
    assert JobEvent.objects.filter(job=job, kind="result.cancelled").exists()


def test_a_slow_worker_the_reaper_gave_up_on_cannot_touch_the_new_attempt(personas, tmp_path, settings, monkeypatch):
    monkeypatch.setattr(services, "enqueue_result", lambda pk, seconds: None)
    job = make_job(personas, tmp_path)
    old_claim = services.claim_result(job.results.get().pk)
    stale = timezone.now() - timedelta(seconds=settings.WORKER_LOST_AFTER_SECONDS + 5)
    Result.objects.filter(pk=old_claim.pk).update(heartbeat_at=stale)
    assert services.reap_stale_results() == (1, 0)
    new_claim = services.claim_result(old_claim.pk)
    assert (new_claim.attempts, old_claim.attempts) == (2, 1)
    # The old worker wakes up: its progress, failure and cancel checks all see it no longer owns the result.
    assert services.report_progress(old_claim, "render", 0.9) is False
    assert services.fail_result(old_claim.pk, "internal_error", attempt=old_claim.attempts) is False
    assert services.is_still_mine(old_claim) is False and services.is_still_mine(new_claim) is True
    result = Result.objects.get(pk=old_claim.pk)
    assert (result.state, result.attempts, result.progress) == ("running", 2, 0.0)


def test_a_batch_recognises_its_audio_once(personas, tmp_path, media_root, monkeypatch):
    from jobs import tasks

    job = make_job(personas, tmp_path, videos=VIDEOS[:2])
    first, second = job.results.order_by("pk")
    assert run(first).state == "succeeded"
    job.refresh_from_db()
    heard = job.phones
    assert heard and any(p not in ("SIL", "+SPN+", "+NSN+") for p, _, _ in heard)
    passed = []
    generate = tasks.inference.generate

    def recorded(*args, phones=None, **kwargs):
        passed.append(phones)
        return generate(*args, phones=phones, **kwargs)
    monkeypatch.setattr(tasks.inference, "generate", recorded)
    assert run(second).state == "succeeded"
    assert passed == [[tuple(p) for p in heard]]
    job.refresh_from_db()
    assert job.phones == heard


def test_heard_phones_never_replace_a_scripts_own(personas, tmp_path):
    job = make_job(personas, tmp_path)
    Job.objects.filter(pk=job.pk).update(phones=[["M", 0.0, 0.1]])
    job.refresh_from_db()
    assert not services.keep_heard_phones(job, [("AA", 0.0, 0.1)])
    assert not services.keep_heard_phones(job, None)
    job.refresh_from_db()
    assert job.phones == [["M", 0.0, 0.1]]
