import pytest
from django.urls import reverse

from jobs import services
from jobs.errors import Refused
from jobs.models import Job, JobEvent, Result
from tests.concurrency import at_once
from tests.jobs_factories import AUDIO, VIDEOS, ingest, make_job

pytestmark = pytest.mark.django_db


def create_via_api(client, audio, videos, **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": extra.pop("key")} if "key" in extra else {}
    return client.post(reverse("api-jobs"), {"audio": audio.pk, "videos": [v.pk for v in videos], **extra},
                       format="json", **headers)


def test_a_batch_job_has_one_queued_result_per_video(api_for, personas, tmp_path):
    audio = ingest(personas, tmp_path, AUDIO, kind="audio")
    videos = [ingest(personas, tmp_path, v, kind="video") for v in VIDEOS]
    response = create_via_api(api_for(personas.member), audio, videos, length_policy="loop", quality="high")
    assert response.status_code == 201, response.content
    body = response.json()
    assert [r["state"] for r in body["results"]] == ["queued"] * 3
    assert [r["video"] for r in body["results"]] == [v.pk for v in videos]
    job = Job.objects.get(pk=body["id"])
    assert (job.length_policy, job.quality, job.team) == ("loop", "high", personas.team)
    assert list(JobEvent.objects.filter(job=job).values_list("seq", "kind")) == [(1, "job.created")]


def test_work_is_sent_to_the_queue_only_after_commit(personas, tmp_path, django_capture_on_commit_callbacks,
                                                     monkeypatch):
    sent = []
    monkeypatch.setattr(services, "enqueue_result", lambda result_id, seconds: sent.append(result_id))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        job = make_job(personas, tmp_path, videos=VIDEOS[:2])
        assert sent == []
    assert sorted(sent) == sorted(job.results.values_list("pk", flat=True))
    assert len(callbacks) >= 2


def test_a_retried_create_with_the_same_idempotency_key_returns_the_first_job(api_for, personas, tmp_path):
    client = api_for(personas.member)
    audio = ingest(personas, tmp_path, AUDIO)
    video = ingest(personas, tmp_path, VIDEOS[0])
    first = create_via_api(client, audio, [video], key="req-42")
    again = create_via_api(client, audio, [video], key="req-42")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert Job.objects.count() == 1


def test_an_audio_cannot_stand_in_for_a_video(api_for, personas, tmp_path):
    audio = ingest(personas, tmp_path, AUDIO)
    response = create_via_api(api_for(personas.member), audio, [audio])
    assert response.json()["error"]["code"] == "no_video_stream"
    assert Job.objects.count() == 0


def test_assets_of_another_team_cannot_be_used(api_for, personas, tmp_path):
    audio = ingest(personas, tmp_path, AUDIO)
    video = ingest(personas, tmp_path, VIDEOS[0])
    response = create_via_api(api_for(personas.outsider), audio, [video])
    assert response.status_code == 400 and Job.objects.count() == 0


def test_the_concurrent_jobs_quota_is_enforced_and_freed_by_cancel(api_for, personas, tmp_path):
    quota = personas.team.quota
    quota.concurrent_jobs = 1
    quota.save()
    client = api_for(personas.member)
    audio, video = ingest(personas, tmp_path, AUDIO), ingest(personas, tmp_path, VIDEOS[0])
    first = create_via_api(client, audio, [video]).json()
    refused = create_via_api(client, audio, [video])
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_jobs"
    client.post(reverse("api-job-cancel", args=[first["id"]]))
    assert create_via_api(client, audio, [video]).status_code == 201


def test_the_monthly_minutes_quota_counts_every_video_of_a_batch(personas, tmp_path):
    quota = personas.team.quota
    quota.monthly_minutes = 0
    quota.save()
    with pytest.raises(Refused) as refused:
        make_job(personas, tmp_path, videos=VIDEOS)
    assert refused.value.code == "quota_minutes"
    quota.monthly_minutes = 1  # 3 videos x 5 s = 0.25 min fit; 13 such batches would not.
    quota.save()
    make_job(personas, tmp_path, videos=VIDEOS)
    assert services.minutes_used_this_month(personas.team.pk) == pytest.approx(0.25, abs=0.01)


@pytest.mark.django_db(transaction=True)
def test_two_simultaneous_creates_cannot_both_take_the_last_slot(personas, tmp_path):
    quota = personas.team.quota
    quota.concurrent_jobs = 1
    quota.save()
    audio, video = ingest(personas, tmp_path, AUDIO), ingest(personas, tmp_path, VIDEOS[0])
    outcomes = at_once(lambda: services.create_job(personas.member, personas.team, audio, [video]))
    assert sorted(o.code if isinstance(o, Refused) else "created" for o in outcomes) == ["created", "quota_jobs"]
    assert Result.objects.count() == 1
