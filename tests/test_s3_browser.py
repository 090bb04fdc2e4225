"""The gallery's player in Chromium, with storage on a real S3 server: the app redirects to a presigned link,
the page's Content-Security-Policy lets the video and its poster load from there, and the video plays."""

import pytest

from tests.browser import browser, collected_static, sign_in, wait_until, watch  # noqa: F401 (fixtures)
from tests.jobs_factories import finish, make_job
from tests.processes import WebServer

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def s3_web_server(media_root, collected_static, s3_server, s3_storage):
    server = WebServer(media_root)
    server.env.update(s3_server.storage_env(s3_storage))
    yield server.start()
    server.kill()


def test_the_player_plays_a_video_stored_in_s3(browser, s3_web_server, personas, tmp_path, s3_server):  # noqa: F811
    result = finish(make_job(personas, tmp_path).results.get(), tmp_path)
    context = browser.new_context(locale="en-US")
    page = context.new_page()
    errors = watch(page)
    page.base = s3_web_server.url
    sign_in(page, personas.member.username)
    served_from_s3 = []
    page.on("response", lambda response: response.url.startswith(s3_server.endpoint) and served_from_s3.append(
        (response.status, response.headers.get("content-type"))))
    page.goto(f"{s3_web_server.url}/gallery/{result.pk}/")
    wait_until(page, "document.querySelector('#player-video').readyState >= 1")
    assert abs(page.evaluate("document.querySelector('#player-video').duration") - 5.0) < 0.2
    page.evaluate("document.querySelector('#player-video').play()")
    wait_until(page, "document.querySelector('#player-video').currentTime > 0.2")
    assert any(content_type == "video/mp4" for _, content_type in served_from_s3), served_from_s3
    assert any(content_type == "image/jpeg" for _, content_type in served_from_s3), "the poster came from S3"
    context.close()
    assert errors == [], f"console errors (a refused redirect shows here): {errors}"
