"""Scale-out for real: workers on two other "hosts" (tests/hosts.py) with a real S3 server as the only storage.

The hosts have no shared disk with this machine (the web server here): each worker gets DATABASE_URL, REDIS_URL
and S3 credentials, all by address, and nothing else. The test process is the web server (the API, the
gallery's downloads and the ZIP, through Django's test client) and the scheduler (the reaper).
"""

import io
import signal
import time
import urllib.request
import zipfile

import av
import pytest
from django.conf import settings
from django.urls import reverse

from jobs import services
from jobs.downloads import zip_entry_name
from jobs.models import Result
from tests.hosts import HostWorker
from tests.jobs_factories import VIDEOS, ingest
from tests.processes import database_url
from tests.test_end_to_end import create_batch, follow, wait_for_render

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
AUDIO = "audio/speech_44k_stereo_5s.wav"
LONG_AUDIO = "audio/speech_radio_16k_stereo_8s.wav"


@pytest.fixture
def host_workers(worker_hosts, s3_server, s3_storage, settings):
    """A worker on each host, storing on this test's bucket. Heartbeats every second, so a killed host is
    noticed within seconds (the reaper also waits 3 heartbeat periods)."""
    settings.WORKER_HEARTBEAT_SECONDS = 1
    workers = {}
    for host in worker_hosts:
        env = host.env(DATABASE_URL=host.url(database_url()), REDIS_URL=host.url(settings.REDIS_URL),
                       HEYGEM_SECRET_KEY="scale-out-test", HEYGEM_QUEUE_NAMESPACE=settings.DRAMATIQ_NAMESPACE,
                       HEYGEM_CHANNELS_PREFIX=settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
                       HEYGEM_WORKER_HEARTBEAT_SECONDS="1",
                       **s3_server.storage_env(s3_storage, host.url(s3_server.endpoint)))
        workers[host.hostname] = HostWorker(host, env)
    try:
        for worker in workers.values():
            worker.start()
        yield workers
    finally:
        for worker in workers.values():
            worker.kill(signal.SIGTERM)


def rendered_on(result):
    return result.worker.split(":")[0]


def test_a_batch_renders_on_both_hosts_into_s3(host_workers, api_for, personas, tmp_path, s3_server, s3_storage):
    client = api_for(personas.member)
    audio = ingest(personas, tmp_path, AUDIO)
    videos = [ingest(personas, tmp_path, VIDEOS[i % 3], display=f"clip-{i}.mp4") for i in range(6)]
    job = create_batch(client, audio, videos)
    events = follow(personas.member, job["id"], timeout=600)
    assert events[-1]["data"]["succeeded"] == 6, events[-1]

    results = list(Result.objects.filter(job_id=job["id"]).order_by("pk"))
    assert {rendered_on(r) for r in results} == set(host_workers), "both hosts rendered"
    for result in results:
        progress = [e["data"]["progress"] for e in events if e["kind"] == "result.progress" and e["result"] == result.pk]
        assert len(progress) >= 2 and progress == sorted(progress), "progress reported as from a local worker"
    keys = set(s3_server.keys(s3_storage))
    for result in results:
        assert {result.output.name, result.thumbnail.name} <= keys, "every output lands in S3"
        for host in host_workers.values():
            assert not list((host.host.root / "tmp").glob("heygem-job-*")), "each host cleans its temp folder"

    # The gallery plays them: the app checks access and redirects to a short-lived link that serves the bytes.
    for result in results:
        response = client.get(reverse("api-result-download", args=[result.pk]))
        assert response.status_code == 302, response
        with urllib.request.urlopen(response["Location"], timeout=10) as served:
            data = served.read()
        assert data == s3_server.client().get_object(Bucket=s3_storage, Key=result.output.name)["Body"].read()
        with av.open(io.BytesIO(data)) as container:
            assert abs(container.duration / 1e6 - audio.duration_s) < 0.1

    # The ZIP streams them from S3.
    archive = zipfile.ZipFile(io.BytesIO(b"".join(
        client.get(reverse("api-results-zip"), {"job": job["id"]}).streaming_content)))
    # Three clips, each sent twice: the same bytes are one asset (named by its latest upload), six results.
    names = {zip_entry_name(r.video.original_name, r.pk): r for r in results}
    assert sorted(archive.namelist()) == sorted(names)
    for name, result in names.items():
        assert archive.read(name) == s3_server.client().get_object(
            Bucket=s3_storage, Key=result.output.name)["Body"].read()

    # Deleting removes the objects; the uploads stay until deleted themselves.
    response = client.post(reverse("api-results-bulk-delete"), {"ids": [r.pk for r in results]}, format="json")
    assert response.status_code == 200, response.content
    assert set(s3_server.keys(s3_storage)) == {audio.file.name} | {v.file.name for v in videos}


@pytest.mark.parametrize("how", ["the host dies (SIGKILL)", "the host is shut down (SIGTERM)"])
def test_a_lost_host_s_video_finishes_on_the_other(host_workers, api_for, personas, tmp_path, s3_server, s3_storage,
                                                    how):
    client = api_for(personas.member)
    audio = ingest(personas, tmp_path, LONG_AUDIO)
    video = ingest(personas, tmp_path, VIDEOS[1])
    job = create_batch(client, audio, [video])
    wait_for_render(job["id"], timeout=180, past=0.05)
    first = rendered_on(Result.objects.get(job_id=job["id"]))
    if "SIGKILL" in how:
        host_workers[first].kill(signal.SIGKILL)  # Nothing of it says goodbye.
        # The scheduler's reaper (manage.py serve runs it every 30 s) notices the host's heartbeat is gone.
        deadline = time.monotonic() + 60
        while services.reap_stale_results() == (0, 0):
            assert time.monotonic() < deadline, "the reaper never noticed the dead host"
            time.sleep(0.5)
    else:
        host_workers[first].stop()  # It hands its video back as it stops (issue 12).
    follow(personas.member, job["id"], timeout=300)
    result = Result.objects.get(job_id=job["id"])
    assert result.state == "succeeded"
    assert result.attempts == (2 if "SIGKILL" in how else 1), "a handed-back video costs no attempt"
    assert rendered_on(result) != first
    assert result.output.name in s3_server.keys(s3_storage)
