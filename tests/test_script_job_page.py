"""The job page of a typed script opens before the script is spoken (no audio asset yet)."""
import pytest

from jobs.models import Job
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db


def test_the_page_of_a_script_not_yet_spoken_opens_with_an_estimate(client, personas, tmp_path, media_root):
    job = make_job(personas, tmp_path)
    Job.objects.filter(pk=job.pk).update(script="Hello there.", voice="en_US-joe-medium", audio=None)
    client.force_login(job.created_by)
    response = client.get(f"/jobs/{job.pk}/")
    assert response.status_code == 200
    assert b"Hello there." in response.content or b"en_US-joe-medium" in response.content
