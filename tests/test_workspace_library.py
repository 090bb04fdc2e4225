"""The workspace's library: start a job from files uploaded before, without uploading them again."""

import shutil
from pathlib import Path

import pytest
from django.urls import reverse

from jobs import services
from jobs.models import Asset, Job, Upload
from tests.browser import browser, collected_static, sign_in, watch, web_server  # noqa: F401 (fixtures)
from tests.conftest import shared
from tests.jobs_factories import ingest


@pytest.fixture
def uploads(personas, tmp_path):
    return {
        "voice": ingest(personas, tmp_path, "audio/speech_16k_mono_10s.wav", kind="audio"),
        "video": ingest(personas, tmp_path, "video/woman_glasses_524sq_25fps.mp4", kind="video"),
        "adams": ingest(personas, tmp_path, "video/man_map_844sq_25fps.mp4", user=personas.admin, kind="video"),
        "outsiders": services.ingest_file(personas.other_team, personas.outsider,
                                          copy_of(tmp_path, "video/woman_blue_700sq_30fps.mp4"), "theirs.mp4", "video"),
    }


def copy_of(tmp_path, name):
    target = tmp_path / f"copy-{Path(name).name}"
    shutil.copy(shared(name), target)
    return target


def listed(response, kind):
    return sorted(asset.pk for asset in response.context["library"][kind])


@pytest.mark.django_db
def test_each_person_reuses_what_they_may_put_in_a_job(client_for, personas, uploads):
    mine = client_for(personas.member).get(reverse("home"))
    assert listed(mine, "video") == [uploads["video"].pk] and listed(mine, "audio") == [uploads["voice"].pk]
    owners = client_for(personas.owner).get(reverse("home"))
    assert listed(owners, "video") == sorted([uploads["video"].pk, uploads["adams"].pk])
    assert "Or reuse a video you uploaded before (2)" in owners.content.decode()
    assert uploads["outsiders"].pk not in listed(owners, "video")


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_job_starts_from_the_library_without_uploading(browser, web_server, personas, uploads):
    context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 900})
    page = context.new_page()
    page.base = web_server.url
    errors = watch(page)
    sign_in(page, "mei")
    assets_before = Asset.objects.count()
    page.click('.library[data-kind="audio"] summary')
    page.click(f'.library[data-kind="audio"] .reuse[data-asset="{uploads["voice"].pk}"]')
    page.click('.library[data-kind="video"] summary')
    page.click(f'.library[data-kind="video"] .reuse[data-asset="{uploads["video"].pk}"]')
    assert "524×524" in page.inner_text('.slot[data-kind="video"] .file .status')
    page.wait_for_selector("#generate:not([disabled])")
    page.click("#generate")
    page.wait_for_url("**/jobs/*/")
    job = Job.objects.get()
    assert job.audio_id == uploads["voice"].pk and [r.video_id for r in job.results.all()] == [uploads["video"].pk]
    assert Asset.objects.count() == assets_before and not Upload.objects.exists()
    context.close()
    assert errors == []
