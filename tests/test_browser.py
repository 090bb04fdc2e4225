"""The web UI in a real headless Chromium (Debian's, driven by Playwright), against a live server
and a real worker. Set HEYGEM_SCREENSHOTS=1 to refresh the pictures in docs/screenshots/."""

import io
import re
import zipfile
from pathlib import Path

import pytest

from jobs.models import Asset, JobEvent, Result, Upload
from tests.browser import browser, collected_static, screenshot, sign_in, wait_until, watch  # noqa: F401 (fixtures)
from tests.conftest import shared
from tests.jobs_factories import AUDIO, make_job
from tests.processes import WebServer, Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
VIDEO_A, VIDEO_B = "video/woman_glasses_524sq_25fps.mp4", "video/woman_closeup_512sq_25fps_mpeg4.mp4"


@pytest.fixture
def stack(media_root, collected_static):
    server, worker = WebServer(media_root).start(), Worker(media_root).start()
    yield server
    worker.kill()
    server.kill()


@pytest.fixture
def page(browser, stack):
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    errors = watch(page)
    page.on("dialog", lambda dialog: dialog.accept())
    page.base = stack.url
    yield page
    context.close()
    assert errors == [], f"console errors: {errors}"


def test_a_person_makes_a_batch_and_manages_the_results(page, personas, tmp_path):
    sign_in(page, "mei")
    page.click("#tab-batch")
    page.set_input_files('input[data-kind="audio"]', str(shared(AUDIO)))
    page.set_input_files('input[data-kind="video"]', [str(shared(VIDEO_A)), str(shared(VIDEO_B))])
    page.wait_for_selector("#generate:not([disabled])", timeout=60_000)
    facts = page.locator('.slot[data-kind="video"] .file .status').all_inner_texts()
    assert any("524×524" in text and "25 fps" in text for text in facts), facts
    # Each video shows a preview, or a note where the browser cannot decode it (MPEG-4 Part 2).
    page.wait_for_selector('.slot[data-kind="video"] .preview .note', timeout=30_000)
    assert page.locator('.slot[data-kind="video"] .preview video').count() == 1
    screenshot(page, "workspace-en")

    # The voice is said to be in another language: the batch is planned that way, each video alike.
    page.select_option("#speech_language", "other")
    page.click("#generate")
    page.wait_for_url(re.compile(r".*/jobs/\d+/$"))
    job_url = page.url
    assert "Language: Another language" in page.inner_text(".job-head")
    wait_until(page, "document.querySelectorAll('.result[data-state=succeeded]').length === 2",
                     timeout=240_000)
    first = Result.objects.get(pk=int(page.locator(".result").first.get_attribute("data-result")))
    assert first.job.speech_language == "other"
    assert page.locator(".result .progress").evaluate_all(
        "bars => bars.map(bar => bar.getAttribute('aria-valuenow'))") == ["100", "100"]
    assert page.locator(".result .log li").count() >= 4
    screenshot(page, "job-en")

    # The result plays in the browser.
    playing = page.locator(".result video").first.evaluate(
        "video => new Promise(resolve => { video.muted = true; video.play(); "
        "video.addEventListener('timeupdate', () => video.currentTime > 0.5 && resolve(video.currentTime)); })")
    assert playing > 0.5

    page.goto(page.base + "/gallery/")
    assert page.locator(".tile").count() == 2
    screenshot(page, "gallery-en")
    page.check("#select-all")
    with page.expect_download() as download:
        page.click("#bulk-zip")
    names = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes())).namelist()
    ids = sorted(Result.objects.values_list("pk", flat=True))
    assert sorted(names) == sorted([f"woman_glasses_524sq_25fps-{ids[0]}.mp4",
                                    f"woman_closeup_512sq_25fps_mpeg4-{ids[1]}.mp4"])

    page.locator(".tile a").first.click()
    first = int(page.url.rstrip("/").split("/")[-1])
    page.click("#delete-current")
    page.wait_for_url(re.compile(r".*/gallery/\d+/$"))
    assert int(page.url.rstrip("/").split("/")[-1]) != first
    assert "The video was deleted." in page.inner_text(".messages")
    assert list(Result.objects.values_list("pk", flat=True)) == [int(page.url.rstrip("/").split("/")[-1])]

    with page.expect_navigation():
        page.select_option("#language", "zh-hans")  # The picker submits its form on change.
    assert "我的视频" in page.inner_text("nav")
    assert "删除此视频" in page.inner_text("#delete-current")
    page.goto(job_url)
    wait_until(page, "document.getElementById('connection').dataset.state === 'finished'")
    assert "全部视频已完成" in page.inner_text("#job")
    screenshot(page, "job-zh")
    page.goto(page.base + "/")
    screenshot(page, "workspace-zh")
    page.goto(page.base + "/gallery/")
    screenshot(page, "gallery-zh")


def test_a_refused_upload_shows_its_message_in_place_and_keeps_nothing(page, personas, tmp_path):
    sign_in(page, "mei")
    fake = tmp_path / "lecture.mp4"
    fake.write_text("just some text, not a video\n" * 50)
    page.set_input_files('input[data-kind="video"]', str(fake))
    error = page.locator('.slot[data-kind="video"] .file .error')
    error.wait_for(state="visible", timeout=30_000)
    assert error.inner_text() == "This file is not a video or audio format we can read."
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    page.set_input_files('input[data-kind="video"]', str(notes))
    assert page.locator('.slot[data-kind="video"] .file .error').inner_text() == "This does not look like a video file."
    assert page.is_disabled("#generate")
    assert Asset.objects.count() == 0 and Upload.objects.count() == 0


def test_the_job_page_survives_a_dropped_websocket_and_catches_up(page, personas, tmp_path):
    job = make_job(personas, tmp_path, videos=["video/man_map_844sq_25fps.mp4"],
                   audio="audio/speech_radio_16k_stereo_8s.wav")
    sign_in(page, "mei")
    page.goto(f"{page.base}/jobs/{job.pk}/")
    wait_until(page, "Number(document.querySelector('.result .progress').getAttribute('aria-valuenow')) > 0",
                     timeout=120_000)
    page.evaluate("window.heygemJob.drop()")
    wait_until(page, "document.getElementById('connection').dataset.state === 'reconnecting'")
    page.wait_for_selector(".result[data-state=succeeded]", timeout=240_000)
    last = JobEvent.objects.filter(job=job).order_by("-seq").values_list("seq", flat=True).first()
    wait_until(page, f"window.heygemJob.lastSeq() === {last}", timeout=30_000)
    assert page.locator(".result .progress").get_attribute("aria-valuenow") == "100"
    assert page.locator(".result video").count() == 1
