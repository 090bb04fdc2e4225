"""A result's whole life on a real S3 server: stored, played by presigned link, zipped, expired, deleted."""

import io
import urllib.request
import zipfile
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone

from jobs import housekeeping, services
from jobs.models import Result
from tests.jobs_factories import finish, make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def result(personas, tmp_path, s3_storage):
    return finish(make_job(personas, tmp_path).results.get(), tmp_path)


def fetch(url):
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers, response.read()


def test_the_player_gets_a_short_lived_link_to_the_object(api_for, personas, result, s3_server, s3_storage, settings):
    client = api_for(personas.member)
    response = client.get(reverse("api-result-download", args=[result.pk]))
    assert response.status_code == 302
    assert response["Location"].startswith(s3_server.endpoint)
    assert f"X-Amz-Expires={settings.S3_URL_SECONDS}" in response["Location"]
    headers, data = fetch(response["Location"])
    assert data == result.output.read() and headers["Content-Type"] == "video/mp4"
    headers, _ = fetch(client.get(reverse("api-result-download", args=[result.pk]), {"download": "1"})["Location"])
    assert headers["Content-Disposition"].startswith("attachment;")
    headers, poster = fetch(client.get(reverse("api-result-thumbnail", args=[result.pk]))["Location"])
    assert headers["Content-Type"] == "image/jpeg" and poster[:2] == b"\xff\xd8"


def test_nobody_else_gets_a_link(api_for, personas, result):
    assert api_for(personas.outsider).get(reverse("api-result-download", args=[result.pk])).status_code == 404


def test_pages_may_play_media_from_the_s3_endpoint(client_for, personas, result, s3_server):
    page = client_for(personas.member).get(reverse("player", args=[result.pk]))
    policy = page["Content-Security-Policy"]
    assert f"media-src 'self' blob: {s3_server.endpoint}" in policy
    assert f"img-src 'self' data: blob: {s3_server.endpoint}" in policy


def test_the_zip_streams_the_objects(api_for, personas, result):
    response = api_for(personas.member).get(reverse("api-results-zip"), {"ids": str(result.pk)})
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert [archive.read(name) for name in archive.namelist()] == [result.output.read()]


def test_deleting_a_result_removes_its_objects(api_for, personas, result, s3_server, s3_storage):
    names = {result.output.name, result.thumbnail.name}
    assert names <= set(s3_server.keys(s3_storage))
    api_for(personas.member).post(reverse("api-results-bulk-delete"), {"ids": [result.pk]}, format="json")
    assert not names & set(s3_server.keys(s3_storage))


def test_retention_removes_expired_objects(personas, result, s3_server, s3_storage):
    names = {result.output.name, result.thumbnail.name}
    Result.objects.filter(pk=result.pk).update(finished_at=timezone.now() - timedelta(days=400))
    assert housekeeping.purge_expired()["results"] == 1
    assert not names & set(s3_server.keys(s3_storage))


def test_drift_finds_and_removes_objects_no_row_knows(personas, result, s3_server, s3_storage):
    orphan = default_storage.save(f"teams/{personas.team.pk}/outputs/0/lost.mp4", ContentFile(b"x"))
    drift = housekeeping.find_drift()
    assert drift == {"orphans": [orphan], "missing": []}
    housekeeping.fix_drift(drift)
    assert orphan not in s3_server.keys(s3_storage)
    assert result.output.name in s3_server.keys(s3_storage)


def test_free_disk_is_not_asked_of_s3(personas, s3_storage, settings):
    settings.MIN_FREE_DISK_BYTES = 10**18  # Would refuse everything if S3 were measured as a local disk.
    services.refuse_when_low_on_disk()
