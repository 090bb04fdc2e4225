import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs.models import Job, Result
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db


def add_jobs(template, count, videos=3):
    for _ in range(count):
        job = Job.objects.create(team=template.team, created_by=template.created_by, audio=template.audio)
        for _ in range(videos):
            Result.objects.create(job=job, video=template.results.first().video, minutes=0.1)


def queries(client, url):
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize("url_name", ["api-jobs", "api-assets"])
def test_list_endpoints_use_the_same_number_of_queries_for_few_and_many_rows(api_for, personas, tmp_path, url_name):
    template = make_job(personas, tmp_path)
    client = api_for(personas.member)
    few = queries(client, reverse(url_name))
    add_jobs(template, 12)
    many = queries(client, reverse(url_name))
    assert many == few
