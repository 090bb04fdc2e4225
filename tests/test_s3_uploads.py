"""Resumable uploads on a real S3 server: each chunk is a part of an S3 multipart upload, so no web replica's
disk holds an upload in progress; bad ranges and part sizes get the API's one error shape, translated."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import housekeeping, s3, storage, uploads
from jobs.models import Asset, Upload
from tests.conftest import stored_files
from tests.media import write_audio

pytestmark = pytest.mark.django_db
MIB = 1024 * 1024


@pytest.fixture
def wav(tmp_path):
    """A real audio file of about 6.7 MB: two chunks, the first one part of S3's minimum size."""
    path = tmp_path / "voice.wav"
    write_audio(path, seconds=70, rate=48000)
    return path.read_bytes()


def start(client, size, name="voice.wav"):
    response = client.post(reverse("api-uploads"), {"name": name, "size": size}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["id"]


def put(client, upload_id, data, offset, total, **headers):
    return client.put(reverse("api-upload", args=[upload_id]), data, content_type="application/octet-stream",
                      HTTP_CONTENT_RANGE=f"bytes {offset}-{offset + len(data) - 1}/{total}", **headers)


def complete(client, upload_id, kind="audio"):
    return client.post(reverse("api-upload-complete", args=[upload_id]), {"kind": kind}, format="json")


def test_an_upload_goes_to_s3_in_parts_and_becomes_the_assets_file(api_for, personas, s3_storage, s3_server, wav,
                                                                   settings):
    client = api_for(personas.member)
    upload_id = start(client, len(wav), name="../../../etc/声音.wav")
    assert put(client, upload_id, wav[:5 * MIB], 0, len(wav)).json()["received"] == 5 * MIB
    # Between chunks the upload lives in the database and in S3 only: another web replica takes the next one.
    upload = Upload.objects.get(pk=upload_id)
    assert upload.parts == 1 and upload.stored_name.startswith(f"teams/{personas.team.pk}/uploads/")
    assert [u["Key"] for u in s3_server.open_multipart_uploads(s3_storage)] == [upload.stored_name]
    assert stored_files(settings.UPLOAD_PARTS_DIR) == []
    assert put(client, upload_id, wav[5 * MIB:], 5 * MIB, len(wav)).json()["received"] == len(wav)

    response = complete(client, upload_id)
    assert response.status_code == 201, response.content
    asset = Asset.objects.get()
    assert asset.original_name == "../../../etc/声音.wav", "the name is only displayed"
    assert asset.file.name == upload.stored_name and asset.file.name.endswith(".wav")
    assert s3_server.keys(s3_storage) == [asset.file.name], "stored once, under a name of the server's making"
    assert b"".join(s3.read_range(asset.file.name, 0, asset.size)) == wav
    assert s3_server.open_multipart_uploads(s3_storage) == [] and Upload.objects.count() == 0


def test_a_refused_upload_leaves_nothing_in_s3(api_for, personas, s3_storage, s3_server):
    client = api_for(personas.member)
    body = b"not media at all" * 100
    upload_id = start(client, len(body), name="x.mp4")
    put(client, upload_id, body, 0, len(body))
    assert complete(client, upload_id, "video").json()["error"]["code"] == "unsupported_media"
    assert s3_server.keys(s3_storage) == [] and s3_server.open_multipart_uploads(s3_storage) == []
    assert Upload.objects.count() == 0 and Asset.objects.count() == 0


def test_the_same_bytes_again_keep_one_object(api_for, personas, s3_storage, s3_server, wav):
    client = api_for(personas.member)
    for name in ("first.wav", "again.wav"):
        upload_id = start(client, len(wav), name=name)
        put(client, upload_id, wav[:5 * MIB], 0, len(wav))
        put(client, upload_id, wav[5 * MIB:], 5 * MIB, len(wav))
        assert complete(client, upload_id).status_code == 201
    assert Asset.objects.get().original_name == "again.wav"
    assert s3_server.keys(s3_storage) == [Asset.objects.get().file.name]


def test_a_chunk_that_breaks_off_keeps_nothing_and_the_client_resumes(personas, s3_storage, s3_server, wav):
    import io

    upload = uploads.start_upload(personas.team, personas.member, "voice.wav", len(wav))
    assert uploads.append_chunk(upload, 0, io.BytesIO(wav[:MIB]), 5 * MIB) == 0, "a part is sent whole or not at all"
    assert uploads.append_chunk(upload, 0, io.BytesIO(wav[:5 * MIB]), 5 * MIB) == 5 * MIB
    assert uploads.append_chunk(upload, 5 * MIB, io.BytesIO(wav[5 * MIB:]), None) == len(wav)
    assert uploads.complete_upload(upload, personas.member, "audio").size == len(wav)


def test_parts_that_do_not_add_up_are_refused_and_dropped(personas, s3_storage, s3_server, wav):
    import io

    upload = uploads.start_upload(personas.team, personas.member, "voice.wav", len(wav))
    uploads.append_chunk(upload, 0, io.BytesIO(wav[:5 * MIB]), 5 * MIB)
    # Another request sent part 1 again, shorter, after this one was counted (a client that lied about it).
    with open(__file__, "rb") as other:
        storage.put_part(upload.stored_name, upload.multipart_id, 1, other, len(open(__file__, "rb").read()))
    uploads.append_chunk(upload, 5 * MIB, io.BytesIO(wav[5 * MIB:]), None)
    with pytest.raises(uploads.Refused) as refused:
        uploads.complete_upload(upload, personas.member, "audio")
    assert refused.value.code == "upload_damaged"
    assert s3_server.keys(s3_storage) == [] and s3_server.open_multipart_uploads(s3_storage) == []


@pytest.mark.parametrize("content_range, code, status", [
    ("bytes 0-9223372036854775808/6720044", "upload_range", 400),  # past 2**63
    ("bytes 99999999999999999999999-0/6720044", "upload_range", 400),
    ("bytes 10-5/6720044", "upload_range", 400),  # ends before it starts
    ("bytes 0-1048575/6720044", "upload_part_small", 400),  # not the last part, under S3's 5 MiB
    ("bytes 0-99999999/6720044", "upload_range", 400),  # past the declared size
])
def test_bad_ranges_and_part_sizes_get_one_translated_error(api_for, personas, s3_storage, content_range, code,
                                                            status):
    client = api_for(personas.member)
    upload_id = start(client, 6720044)
    response = client.put(reverse("api-upload", args=[upload_id]), b"x" * 1024, content_type="application/octet-stream",
                          HTTP_CONTENT_RANGE=content_range, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"] and not error["message"].isascii(), error
    assert Upload.objects.get(pk=upload_id).received == 0


def test_a_part_past_the_limit_is_refused_before_its_bytes_are_read(api_for, personas, s3_storage, settings):
    settings.UPLOAD_PART_MAX_BYTES = 6 * MIB
    client = api_for(personas.member)
    upload_id = start(client, 100 * MIB)
    response = client.put(reverse("api-upload", args=[upload_id]), b"x", content_type="application/octet-stream",
                          HTTP_CONTENT_RANGE=f"bytes 0-{7 * MIB - 1}/{100 * MIB}")
    assert response.status_code == 413 and response.json()["error"]["code"] == "upload_part_large"
    assert "6.0" in response.json()["error"]["message"]


def test_an_abandoned_upload_is_aborted_in_s3(api_for, personas, s3_storage, s3_server, wav):
    client = api_for(personas.member)
    upload_id = start(client, len(wav))
    put(client, upload_id, wav[:5 * MIB], 0, len(wav))
    assert client.delete(reverse("api-upload", args=[upload_id])).status_code == 204
    assert s3_server.open_multipart_uploads(s3_storage) == [] and s3_server.keys(s3_storage) == []


def test_housekeeping_aborts_expired_and_orphaned_multipart_uploads(api_for, personas, s3_storage, s3_server, wav,
                                                                    settings):
    client = api_for(personas.member)
    expired = start(client, len(wav))
    put(client, expired, wav[:5 * MIB], 0, len(wav))
    Upload.objects.filter(pk=expired).update(updated_at=timezone.now() - timedelta(days=2))
    # A web replica died between opening a multipart upload and saving its row: no row knows of it.
    orphan = s3.start_multipart(f"teams/{personas.team.pk}/uploads/orphan.wav")
    live = start(client, len(wav))
    settings.UPLOAD_EXPIRY_SECONDS = 0  # Everything open in S3 now counts as old; the live row still protects its own.
    Upload.objects.filter(pk=live).update(updated_at=timezone.now() + timedelta(hours=1))
    housekeeping.purge_stale_temporary_files()
    remaining = {u["UploadId"] for u in s3_server.open_multipart_uploads(s3_storage)}
    assert remaining == {Upload.objects.get(pk=live).multipart_id}
    assert orphan not in remaining and not Upload.objects.filter(pk=expired).exists()


def test_a_size_past_2_63_is_refused_before_s3_is_asked(api_for, personas, s3_storage, s3_server):
    response = api_for(personas.member).post(reverse("api-uploads"), {"name": "x.mp4", "size": 2**63 + 1},
                                             format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert set(response.json()["error"]) >= {"code", "message"} and not response.json()["error"]["message"].isascii()
    assert s3_server.open_multipart_uploads(s3_storage) == [] and Upload.objects.count() == 0
