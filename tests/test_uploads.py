
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs import services
from jobs.errors import Refused
from jobs.models import Asset, Upload
from tests.conftest import shared, stored_files
from tests.media import write_audio, write_long_silence

pytestmark = pytest.mark.django_db
VIDEO = "video/woman_glasses_524sq_25fps.mp4"


def upload(client, path, name=None, kind=None, **headers):
    with open(path, "rb") as fh:
        data = {"file": SimpleUploadedFile(name or path.name, fh.read())}
    if kind:
        data["kind"] = kind
    return client.post(reverse("api-assets"), data, format="multipart", **headers)


def test_a_video_is_probed_and_stored_under_a_generated_name(api_for, personas, media_root):
    response = upload(api_for(personas.member), shared(VIDEO), name="老师 讲课 第1集.mp4", kind="video")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["kind"] == "video" and body["original_name"] == "老师 讲课 第1集.mp4"
    assert (body["width"], body["height"], body["fps"]) == (524, 524, 25.0)
    assert 4.5 < body["duration_s"] < 5.5 and body["has_audio"] is True
    asset = Asset.objects.get(pk=body["id"])
    assert asset.file.name.startswith(f"teams/{personas.team.pk}/uploads/") and "老师" not in asset.file.name
    assert [p.read_bytes() for p in stored_files(media_root)] == [shared(VIDEO).read_bytes()]


def test_uploading_the_same_file_twice_reuses_the_stored_one(api_for, personas, media_root):
    client = api_for(personas.member)
    first = upload(client, shared(VIDEO), name="a.mp4").json()
    second = upload(client, shared(VIDEO), name="b.mp4").json()
    assert first["id"] == second["id"]
    assert len(stored_files(media_root)) == 1


def test_an_audio_file_is_recognised_by_its_content(api_for, personas, tmp_path):
    path = write_audio(tmp_path / "voice.m4a", seconds=1.5)
    body = upload(api_for(personas.member), path, name="voice.mp3", kind="audio").json()
    assert body["kind"] == "audio" and body["audio_codec"] == "aac" and body["has_audio"]


def refused_cases(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 100)
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(shared(VIDEO).read_bytes()[:20_000])
    audio_as_video = write_audio(tmp_path / "speech.mp4", seconds=1.0, container="mp4")
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    return [
        (text, "video", "unsupported_media", "This file is not a video or audio format we can read."),
        (truncated, "video", "unsupported_media", "This file is not a video or audio format we can read."),
        (audio_as_video, "video", "no_video_stream", "This file has no video track."),
        (empty, "audio", "empty_file", "The file is empty."),
    ]


def test_bad_files_are_refused_with_a_clear_message_and_nothing_is_kept(api_for, personas, tmp_path, media_root):
    client = api_for(personas.member)
    for path, kind, code, message in refused_cases(tmp_path):
        response = upload(client, path, kind=kind)
        assert response.status_code == 400, (path.name, response.content)
        error = response.json()["error"]
        assert error["code"] == code and error["message"].startswith(message), path.name
    assert Asset.objects.count() == 0
    assert stored_files(media_root) == []


def test_refusals_are_translated(api_for, personas, tmp_path):
    text = tmp_path / "fake.mp4"
    text.write_text("hello")
    response = upload(api_for(personas.member), text, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json()["error"] == {"code": "unsupported_media", "message": "无法读取此文件的视频或音频格式。"}


def test_a_ten_hour_audio_is_refused_before_it_is_stored(personas, tmp_path, media_root):
    path = write_long_silence(tmp_path / "ten hours.wav", 10 * 3600)
    with pytest.raises(Refused) as refused:
        services.ingest_file(personas.team, personas.member, path, "ten hours.wav", "audio")
    assert refused.value.code == "input_too_long"
    assert refused.value.message == "The file is longer than this server allows (30 minutes)."
    assert path.exists() and stored_files(media_root) == []


def test_limits_on_length_and_picture_size_come_from_settings(api_for, personas, settings, tmp_path):
    client = api_for(personas.member)
    settings.MAX_INPUT_SECONDS = 3
    assert upload(client, shared(VIDEO)).json()["error"]["code"] == "input_too_long"
    settings.MAX_INPUT_SECONDS = 600
    settings.MAX_VIDEO_PIXELS = 500 * 500
    response = upload(client, shared(VIDEO))
    assert response.status_code == 413 and response.json()["error"]["code"] == "input_too_large"
    settings.MAX_UPLOAD_BYTES = 1000
    assert upload(client, shared(VIDEO)).json()["error"]["code"] == "file_too_large"


def test_a_full_team_storage_refuses_uploads(api_for, personas, tmp_path):
    personas.team.quota.storage_bytes = 1000
    personas.team.quota.save()
    response = upload(api_for(personas.member), shared(VIDEO))
    assert response.status_code == 403 and response.json()["error"]["code"] == "quota_storage"
    assert Asset.objects.count() == 0


def test_a_resumable_upload_continues_after_a_dropped_connection(api_for, personas):
    client = api_for(personas.member)
    data = shared(VIDEO).read_bytes()
    start = client.post(reverse("api-uploads"), {"name": "断点续传.mp4", "size": len(data)}, format="json")
    assert start.status_code == 201
    url = reverse("api-upload", args=[start.json()["id"]])
    half = len(data) // 2

    def put(offset, chunk):
        return client.put(url, chunk, content_type="application/octet-stream",
                          HTTP_CONTENT_RANGE=f"bytes {offset}-{offset + len(chunk) - 1}/{len(data)}")

    assert put(0, data[:half]).json()["received"] == half
    # The browser lost the connection and retries from a wrong place: told where to resume.
    wrong = put(1000, data[1000:half + 1000])
    assert wrong.status_code == 409 and wrong.json()["received"] == half
    assert client.get(url).json()["received"] == half
    complete_url = reverse("api-upload-complete", args=[start.json()["id"]])
    assert client.post(complete_url, {"kind": "video"}, format="json").json()["error"]["code"] == "upload_incomplete"
    assert put(half, data[half:]).json()["received"] == len(data)
    asset = client.post(complete_url, {"kind": "video"}, format="json")
    assert asset.status_code == 201 and asset.json()["original_name"] == "断点续传.mp4"
    assert Asset.objects.get().file.read() == data
    assert Upload.objects.count() == 0


def test_a_refused_resumable_upload_keeps_nothing(api_for, personas, settings, media_root):
    client = api_for(personas.member)
    body = b"not media at all" * 100
    start = client.post(reverse("api-uploads"), {"name": "x.mp4", "size": len(body)}, format="json").json()
    client.put(reverse("api-upload", args=[start["id"]]), body, content_type="application/octet-stream",
               HTTP_CONTENT_RANGE=f"bytes 0-{len(body) - 1}/{len(body)}")
    response = client.post(reverse("api-upload-complete", args=[start["id"]]), format="json")
    assert response.json()["error"]["code"] == "unsupported_media"
    assert Upload.objects.count() == 0 and Asset.objects.count() == 0
    assert stored_files(media_root) == [] and stored_files(settings.UPLOAD_PARTS_DIR) == []


def test_an_upload_announced_over_the_limit_is_refused_at_once(api_for, personas, settings):
    response = api_for(personas.member).post(reverse("api-uploads"), {"name": "huge.mp4", "size": 3 * 1024**3},
                                             format="json")
    assert response.status_code == 413 and response.json()["error"]["code"] == "file_too_large"


def test_someone_elses_upload_cannot_be_continued(api_for, personas):
    start = api_for(personas.member).post(reverse("api-uploads"), {"name": "x.mp4", "size": 10}, format="json").json()
    response = api_for(personas.owner).get(reverse("api-upload", args=[start["id"]]))
    assert response.status_code == 404


def test_a_second_writer_of_the_same_upload_is_told_to_retry(api_for, personas):
    import fcntl

    client = api_for(personas.member)
    start = client.post(reverse("api-uploads"), {"name": "x.mp4", "size": 100}, format="json").json()
    part = Upload.objects.get(pk=start["id"]).part_path()
    with open(part, "r+b") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # Another request is writing this upload right now.
        busy = client.put(reverse("api-upload", args=[start["id"]]), b"a" * 100,
                          content_type="application/octet-stream", HTTP_CONTENT_RANGE="bytes 0-99/100")
    assert busy.status_code == 409 and busy.json()["received"] == 0
    done = client.put(reverse("api-upload", args=[start["id"]]), b"a" * 100,
                      content_type="application/octet-stream", HTTP_CONTENT_RANGE="bytes 0-99/100")
    assert done.json()["received"] == 100


def test_a_teammate_uploading_the_same_file_gets_a_copy_they_can_use(api_for, personas):
    first = upload(api_for(personas.member), shared(VIDEO)).json()
    teammate = api_for(personas.admin)
    second = upload(teammate, shared(VIDEO)).json()
    assert second["id"] != first["id"]
    assert teammate.get(reverse("api-asset", args=[second["id"]])).status_code == 200
    assert upload(teammate, shared(VIDEO)).json()["id"] == second["id"]
