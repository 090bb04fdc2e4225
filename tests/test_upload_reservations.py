"""Resumable uploads hold their declared size from the start: against the team's quota and the free disk,
bounded in number per person, and they expire."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Quota
from jobs import services
from jobs.models import Upload
from tests.conftest import shared

pytestmark = pytest.mark.django_db
VIDEO = "video/woman_glasses_524sq_25fps.mp4"
MB = 1024 * 1024


def start(client, size, name="big.mp4"):
    return client.post(reverse("api-uploads"), {"name": name, "size": size}, format="json")


def test_open_uploads_count_against_the_storage_quota(api_for, personas):
    Quota.objects.filter(team=personas.team).update(storage_bytes=10 * MB)
    client = api_for(personas.member)
    assert start(client, 6 * MB).status_code == 201
    refused = start(client, 6 * MB)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "quota_storage"
    # Teammates share the quota, and the usage figure shows the reservation.
    assert start(api_for(personas.admin), 5 * MB).status_code == 403
    assert client.get(reverse("api-usage")).json()["storage_bytes"] == 6 * MB


def test_a_completed_upload_does_not_count_twice(api_for, personas):
    data = shared(VIDEO).read_bytes()
    Quota.objects.filter(team=personas.team).update(storage_bytes=len(data) + 1000)
    client = api_for(personas.member)
    upload = start(client, len(data)).json()
    put = client.generic("PUT", reverse("api-upload", args=[upload["id"]]), data,
                         content_type="application/octet-stream", HTTP_CONTENT_RANGE=f"bytes 0-{len(data) - 1}/{len(data)}")
    assert put.status_code == 200
    done = client.post(reverse("api-upload-complete", args=[upload["id"]]), {"kind": "video"}, format="json")
    assert done.status_code == 201, done.content
    assert services.storage_used(personas.team.pk) == len(data)


def test_a_person_has_a_bounded_number_of_open_uploads(api_for, personas, settings):
    settings.MAX_OPEN_UPLOADS = 3
    client = api_for(personas.member)
    for _ in range(3):
        assert start(client, MB).status_code == 201
    refused = start(client, MB)
    assert refused.status_code == 429
    assert refused.json()["error"] == {"code": "too_many_uploads", "message":
                                       "You already have 3 uploads in progress. Finish or remove some first."}
    assert start(api_for(personas.admin), MB).status_code == 201  # per person


def test_open_uploads_reserve_free_disk_and_the_guard_answers_507(api_for, personas, settings, monkeypatch):
    from jobs import storage

    monkeypatch.setattr(storage, "free_space", lambda: (2048 * MB, 4096 * MB))
    settings.MIN_FREE_DISK_BYTES = 1024 * MB
    client = api_for(personas.member)
    assert start(client, 600 * MB).status_code == 201
    refused = start(client, 600 * MB, name="second.mp4")  # 2048 - 600 - 600 < 1024
    assert refused.status_code == 507
    assert refused.json()["error"]["message"].startswith("The server is almost out of disk space.")
    chinese = client.post(reverse("api-uploads"), {"name": "x.mp4", "size": 600 * MB}, format="json",
                          HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert chinese.status_code == 507 and "disk" not in chinese.json()["error"]["message"]


def test_chunks_are_refused_before_they_are_written_when_the_disk_is_low(api_for, personas, settings, monkeypatch):
    from jobs import storage

    client = api_for(personas.member)
    upload = start(client, 1000).json()
    monkeypatch.setattr(storage, "free_space", lambda: (10 * MB, 4096 * MB))
    settings.MIN_FREE_DISK_BYTES = 1024 * MB
    put = client.generic("PUT", reverse("api-upload", args=[upload["id"]]), b"x" * 1000,
                         content_type="application/octet-stream", HTTP_CONTENT_RANGE="bytes 0-999/1000")
    assert put.status_code == 507
    assert Upload.objects.get(pk=upload["id"]).received == 0
    assert Upload.objects.get(pk=upload["id"]).part_path().stat().st_size == 0


def test_an_idle_upload_expires_and_stops_counting(api_for, personas, settings):
    Quota.objects.filter(team=personas.team).update(storage_bytes=10 * MB)
    client = api_for(personas.member)
    upload = start(client, 8 * MB).json()
    Upload.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRY_SECONDS + 1))
    assert client.get(reverse("api-upload", args=[upload["id"]])).status_code == 404
    assert start(client, 8 * MB).status_code == 201
    from jobs.housekeeping import purge_stale_temporary_files

    assert purge_stale_temporary_files() == 1
    assert Upload.objects.count() == 1


def test_receiving_chunks_keeps_an_upload_alive(api_for, personas, settings):
    client = api_for(personas.member)
    upload = start(client, 10).json()
    Upload.objects.update(updated_at=timezone.now() - timedelta(seconds=settings.UPLOAD_EXPIRY_SECONDS - 5))
    client.generic("PUT", reverse("api-upload", args=[upload["id"]]), b"01234",
                   content_type="application/octet-stream", HTTP_CONTENT_RANGE="bytes 0-4/10")
    assert Upload.objects.get().updated_at > timezone.now() - timedelta(seconds=60)


def test_a_zero_byte_upload_is_refused_as_empty(api_for, personas):
    response = start(api_for(personas.member), 0, name="empty.mp4")
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "empty_file", "message": "The file is empty."}
