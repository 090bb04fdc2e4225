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
