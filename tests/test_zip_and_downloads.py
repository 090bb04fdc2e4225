import io
import zipfile

import av
import pytest
from django.urls import reverse

from jobs.downloads import zip_entry_name
from jobs.tasks import run_lipsync
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def finished(personas, tmp_path):
    """A finished result whose source video has a Chinese name with path characters in it."""
    job = make_job(personas, tmp_path, videos=["video/woman_glasses_524sq_25fps.mp4"])
    result = job.results.get()
    result.video.original_name = "客服/小王:第一版.mp4"
    result.video.save()
    run_lipsync.fn(result.pk)
    result.refresh_from_db()
    assert result.state == "succeeded"
    return [result]


def body(response):
    return b"".join(response.streaming_content)


def test_a_zip_of_results_holds_playable_videos_with_safe_unique_names(api_for, personas, finished, tmp_path):
    response = api_for(personas.member).get(reverse("api-results-zip"), {"ids": f"{finished[0].pk},999999"})
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    data = body(response)
    assert int(response["Content-Length"]) == len(data)
    archive = zipfile.ZipFile(io.BytesIO(data))
    [info] = archive.infolist()
    assert info.filename == f"客服_小王_第一版-{finished[0].pk}.mp4"
    assert info.compress_type == zipfile.ZIP_STORED
    extracted = tmp_path / "from-zip.mp4"
    extracted.write_bytes(archive.read(info))
    assert extracted.read_bytes() == finished[0].output.open("rb").read()
    with av.open(str(extracted)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 100


def test_a_whole_job_downloads_as_one_zip(api_for, personas, finished):
    response = api_for(personas.member).get(reverse("api-results-zip"), {"job": finished[0].job_id})
    assert zipfile.ZipFile(io.BytesIO(body(response))).namelist() == [
        zip_entry_name(finished[0].video.original_name, finished[0].pk)]


def test_zip_names_never_carry_paths_and_stay_unique():
    names = {zip_entry_name(name, pk) for pk, name in enumerate(["../../etc/passwd", "a\\b.mp4", "a\\b.mp4", "", "   .mp4"])}
    assert len(names) == 5
    assert all("/" not in n and "\\" not in n and not n.startswith(".") for n in names)


def test_nobody_else_downloads_a_result_or_zips_it(api_for, personas, finished):
    outsider = api_for(personas.outsider)
    assert outsider.get(reverse("api-result-download", args=[finished[0].pk])).status_code == 404
    assert outsider.get(reverse("api-results-zip"), {"ids": str(finished[0].pk)}).status_code == 404


def test_a_video_download_answers_range_requests_for_seeking(api_for, personas, finished):
    client = api_for(personas.member)
    url = reverse("api-result-download", args=[finished[0].pk])
    whole = body(client.get(url))
    partial = client.get(url, HTTP_RANGE="bytes=100-199")
    assert partial.status_code == 206
    assert partial["Content-Range"] == f"bytes 100-199/{len(whole)}"
    assert body(partial) == whole[100:200]
    tail = client.get(url, HTTP_RANGE="bytes=-50")
    assert body(tail) == whole[-50:]
    assert client.get(url, HTTP_RANGE=f"bytes={len(whole) + 10}-").status_code == 416
    thumbnail = client.get(reverse("api-result-thumbnail", args=[finished[0].pk]))
    assert body(thumbnail)[:3] == b"\xff\xd8\xff"
