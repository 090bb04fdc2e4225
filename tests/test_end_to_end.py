"""Batches through a real Dramatiq worker process, on the real PostgreSQL and Redis."""

import io
import signal
import time
import zipfile
from datetime import timedelta

import av
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from heygem_site.asgi import application
from jobs import services
from jobs.models import Result
from tests.jobs_factories import AUDIO, VIDEOS, ingest
from tests.media import write_video
from tests.processes import Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(media_root):
    running = Worker(media_root).start()
    yield running
    running.kill(signal.SIGTERM)


def create_batch(client, audio, videos):
    response = client.post(reverse("api-jobs"), {"audio": audio.pk, "videos": [v.pk for v in videos]}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def follow(user, job_id, timeout=240):
    """Every event of the job over its WebSocket, until job.finished."""
    web = Client()
    web.force_login(user)
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"sessionid={web.cookies['sessionid'].value}".encode())]

    async def listen():
        communicator = WebsocketCommunicator(application, f"/ws/jobs/{job_id}/?after=0", headers=headers)
        assert (await communicator.connect())[0]
        events, deadline = [], time.monotonic() + timeout
        while not events or events[-1]["kind"] != "job.finished":
            assert time.monotonic() < deadline, [e["kind"] for e in events]
            events.append(await communicator.receive_json_from(timeout=timeout))
        await communicator.disconnect()
        return events
    return async_to_sync(listen)()


def wait_for_render(job_id, timeout, past=0.0):
    """Waits until a worker renders the job's video (its progress past `past`)."""
    deadline = time.monotonic() + timeout
    while not Result.objects.filter(job_id=job_id, state="running", progress__gt=past).exists():
        assert time.monotonic() < deadline, "no worker started the job"
        time.sleep(0.1)


def test_a_batch_of_three_videos_runs_through_a_real_worker(worker, api_for, personas, tmp_path):
    client = api_for(personas.member)
    audio = ingest(personas, tmp_path, AUDIO)
    videos = [ingest(personas, tmp_path, v, display=f"视频{i}.mp4") for i, v in enumerate(VIDEOS)]
    job = create_batch(client, audio, videos)
    events = follow(personas.member, job["id"])

    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs)), "events arrive once each and in order"
    for result in job["results"]:
        progress = [e["data"]["progress"] for e in events if e["kind"] == "result.progress" and e["result"] == result["id"]]
        assert len(progress) >= 2 and progress == sorted(progress), "progress only goes forwards"
        assert any(e["kind"] == "result.succeeded" and e["result"] == result["id"] for e in events)
    assert [r["state"] for r in client.get(reverse("api-job", args=[job["id"]])).json()["results"]] == ["succeeded"] * 3

    archive = zipfile.ZipFile(io.BytesIO(b"".join(
        client.get(reverse("api-results-zip"), {"job": job["id"]}).streaming_content)))
    names = archive.namelist()
    assert sorted(names) == sorted(f"视频{i}-{r['id']}.mp4" for i, r in enumerate(job["results"]))
    for name in names:
        with av.open(io.BytesIO(archive.read(name))) as container:
            assert abs(container.duration / 1e6 - audio.duration_s) < 0.1
            assert sum(1 for _ in container.decode(video=0)) > 100


def test_one_bad_video_fails_alone_in_its_batch(worker, api_for, personas, tmp_path):
    client = api_for(personas.member)
    audio = ingest(personas, tmp_path, AUDIO)
    good = ingest(personas, tmp_path, VIDEOS[0])
    bad = ingest(personas, tmp_path, write_video(tmp_path / "no-face.mp4", seconds=2, size=(320, 240)))
    job = create_batch(client, audio, [good, bad])
    follow(personas.member, job["id"])
    results = {r["video"]: r for r in client.get(reverse("api-job", args=[job["id"]])).json()["results"]}
    assert results[good.pk]["state"] == "succeeded"
    assert results[bad.pk]["state"] == "failed"
    assert results[bad.pk]["error"]["code"] == "no_face"


def test_a_job_survives_its_worker_being_killed(worker, api_for, personas, tmp_path, settings):
    client = api_for(personas.member)
    audio = ingest(personas, tmp_path, "audio/speech_radio_16k_stereo_8s.wav")
    video = ingest(personas, tmp_path, VIDEOS[1])
    job = create_batch(client, audio, [video])
    wait_for_render(job["id"], timeout=120)
    worker.kill(signal.SIGKILL)
    result = Result.objects.get(job_id=job["id"])
    assert result.state == "running"  # Nobody is left to say otherwise.

    settings.WORKER_LOST_AFTER_SECONDS = 10
    assert services.reap_stale_results(now=result.heartbeat_at + timedelta(seconds=11)) == (1, 0)
    assert services.active_jobs(personas.team.pk) == 1  # Re-queued: still counts until it ends.
    worker.start()
    follow(personas.member, job["id"])
    result.refresh_from_db()
    assert (result.state, result.attempts) == ("succeeded", 2)
    assert services.active_jobs(personas.team.pk) == 0
