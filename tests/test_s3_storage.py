"""Django's storage on a real S3 server (SeaweedFS): what the platform relies on S3 for."""

import os
import urllib.request

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

pytestmark = pytest.mark.django_db


def test_a_stored_file_is_an_object_in_the_bucket(s3_storage, s3_server):
    name = default_storage.save("teams/1/outputs/1/video.mp4", ContentFile(b"0123456789" * 100))
    assert s3_server.keys(s3_storage) == [name]
    assert default_storage.size(name) == 1000
    with default_storage.open(name, "rb") as fh:
        fh.seek(995)
        assert fh.read() == b"56789"
    default_storage.delete(name)
    assert s3_server.keys(s3_storage) == []


def test_a_large_file_goes_up_in_parts(s3_storage, s3_server, tmp_path):
    data = os.urandom(20 * 1024 * 1024 + 5)
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with open(path, "rb") as fh:
        name = default_storage.save("big.bin", fh)
    head = s3_server.client().head_object(Bucket=s3_storage, Key=name)
    assert head["ContentLength"] == len(data)
    assert head["ETag"].strip('"').endswith("-3"), "boto3 sent it as a multipart upload of three parts"


def test_a_presigned_link_serves_the_bytes_and_expires_soon(s3_storage, settings):
    name = default_storage.save("clip.mp4", ContentFile(b"video bytes"))
    url = default_storage.url(name)
    assert f"X-Amz-Expires={settings.S3_URL_SECONDS}" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"video bytes"
    tampered = url.replace("clip.mp4", "other.mp4")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tampered, timeout=10)
    assert refused.value.code == 403


def test_a_range_is_read_without_fetching_the_whole_object(s3_storage):
    from jobs import s3

    name = default_storage.save("range.bin", ContentFile(bytes(range(256)) * 40))
    assert b"".join(s3.read_range(name, 1000, 24)) == (bytes(range(256)) * 40)[1000:1024]
    assert b"".join(s3.read_range(name, 0, 0)) == b""


def test_a_presigned_link_names_the_download(s3_storage):
    from jobs import s3

    name = default_storage.save("teams/1/outputs/x-video.mp4", ContentFile(b"mp4"))
    with urllib.request.urlopen(s3.presigned_url(name, "视频 1.mp4", "video/mp4", inline=False), timeout=10) as got:
        assert got.headers["Content-Type"] == "video/mp4"
        assert got.headers["Content-Disposition"].startswith("attachment;")
        assert "%E8%A7%86%E9%A2%91" in got.headers["Content-Disposition"]
        assert got.read() == b"mp4"


def test_a_multipart_upload_is_joined_only_when_its_parts_add_up(s3_storage, s3_server, tmp_path):
    from jobs import s3

    first, last = os.urandom(s3.MIN_PART_BYTES), b"tail"
    upload_id = s3.start_multipart("teams/1/uploads/new.mp4")
    for number, data in ((1, first), (2, last)):
        path = tmp_path / f"part{number}"
        path.write_bytes(data)
        with open(path, "rb") as fh:
            s3.upload_part("teams/1/uploads/new.mp4", upload_id, number, fh, len(data))
    with pytest.raises(s3.PartsMismatch):
        s3.complete_multipart("teams/1/uploads/new.mp4", upload_id, 3, len(first) + len(last))
    assert [name for name, _ in s3.stale_multiparts("teams/1/uploads/", idle_seconds=-60)] == ["teams/1/uploads/new.mp4"]
    s3.complete_multipart("teams/1/uploads/new.mp4", upload_id, 2, len(first) + len(last))
    assert b"".join(s3.read_range("teams/1/uploads/new.mp4", len(first) - 2, 6)) == first[-2:] + last
    assert s3_server.open_multipart_uploads(s3_storage) == []


def test_an_abandoned_multipart_upload_leaves_nothing(s3_storage, s3_server):
    from jobs import s3

    upload_id = s3.start_multipart("teams/1/uploads/gone.mp4")
    assert s3.stale_multiparts("teams/1/uploads/", idle_seconds=3600) == [], "a fresh one is not stale"
    s3.abort_multipart("teams/1/uploads/gone.mp4", upload_id)
    s3.abort_multipart("teams/1/uploads/gone.mp4", upload_id)  # twice: housekeeping may race a DELETE
    assert s3_server.open_multipart_uploads(s3_storage) == []
    assert s3_server.keys(s3_storage) == []


def test_a_name_that_climbs_out_of_the_bucket_root_is_refused(s3_storage):
    from django.core.exceptions import SuspiciousOperation

    with pytest.raises(SuspiciousOperation):
        default_storage.save("../../etc/passwd", ContentFile(b"x"))
