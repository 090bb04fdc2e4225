"""A script job over HTTP through a real Dramatiq worker, on the real PostgreSQL and Redis: spoken, then
lip-synced with the speech's own phones, with "speak" progress first."""

import signal

import av
import pytest
from django.urls import reverse

from jobs.models import Job
from tests.jobs_factories import VIDEOS, ingest
from tests.processes import Worker
from tests.test_end_to_end import follow

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(media_root):
    running = Worker(media_root).start()
    yield running
    running.kill(signal.SIGTERM)


def test_a_script_job_runs_through_a_real_worker(worker, api_for, personas, tmp_path):
    client = api_for(personas.member)
    video = ingest(personas, tmp_path, VIDEOS[0])
    response = client.post(reverse("api-jobs"), {"text": "Good morning. My name is Mei, and this is my voice.",
                                                 "voice": "en_US-joe-medium", "videos": [video.pk]}, format="json")
    assert response.status_code == 201, response.content
    events = follow(personas.member, response.json()["id"])

    kinds = [e["kind"] for e in events]
    assert kinds.index("job.speaking") < kinds.index("job.spoken") < kinds.index("result.running")
    progress = [(e["data"]["stage"], e["data"]["progress"]) for e in events if e["kind"] == "result.progress"]
    assert progress[0][0] == "speak" and progress[-1][0] != "speak"
    assert [p for _, p in progress] == sorted(p for _, p in progress), "one bar, only forwards"
    job = Job.objects.get()
    assert job.results.get().state == "succeeded", [e["message"] for e in events][-5:]
    with av.open(job.results.get().output.path) as container:
        assert abs(container.duration / 1e6 - job.audio.duration_s) < 0.1
    assert len(job.phones) > 20
