"""The gallery's player in Chromium: keyboard shortcuts, no sound on arrival, the before/after view,
and deleting only after saying yes."""

import pytest

from jobs.models import Result
from tests.browser import browser, collected_static, sign_in, wait_until, watch, web_server  # noqa: F401 (fixtures)
from tests.jobs_factories import VIDEOS, finish, make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
H264_VIDEOS = [VIDEOS[0], "video/woman_blue_700sq_30fps.mp4", VIDEOS[1]]


@pytest.fixture
def three_videos(personas, tmp_path):
    job = make_job(personas, tmp_path, videos=H264_VIDEOS, audio="audio/speech_16k_mono_10s.wav")
    results = list(job.results.order_by("pk"))
    # Stand-in outputs: the first one is longer than its template, as with a long voice.
    for result, output in zip(results, [H264_VIDEOS[1], H264_VIDEOS[0], H264_VIDEOS[0]]):
        finish(result, tmp_path, video=output)
    return results  # The gallery shows the newest first: results[2], [1], [0].


def test_keys_move_play_and_delete_with_confirmation(browser, web_server, personas, three_videos):
    newest, middle, oldest = three_videos[2], three_videos[1], three_videos[0]
    context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 900})
    page = context.new_page()
    page.base = web_server.url
    errors = watch(page)
    answers = []
    page.on("dialog", lambda dialog: (answers.append(dialog.message), dialog.accept() if len(answers) > 1 else dialog.dismiss()))
    sign_in(page, "mei")
    page.goto(f"{page.base}/gallery/{middle.pk}/")
    assert page.evaluate("document.getElementById('player-video').paused")  # Nothing plays by itself.
    assert page.get_attribute("#player-video", "autoplay") is None

    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**/gallery/{oldest.pk}/")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**/gallery/{middle.pk}/")

    page.keyboard.press("Space")
    wait_until(page, "!document.getElementById('player-video').paused")
    page.keyboard.press("Space")
    wait_until(page, "document.getElementById('player-video').paused")

    page.keyboard.press("Delete")  # First answer: no.
    assert answers == ["Delete this video? This cannot be undone."]
    assert Result.objects.filter(pk=middle.pk).exists()
    page.keyboard.press("Delete")  # Second answer: yes.
    page.wait_for_url(f"**/gallery/{oldest.pk}/")
    assert not Result.objects.filter(pk=middle.pk).exists()
    context.close()
    assert errors == []


def test_the_before_after_view_plays_the_template_beside_the_result_in_step(browser, web_server, personas,
                                                                            three_videos):
    result = three_videos[0]
    context = browser.new_context(locale="en-US", viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.base = web_server.url
    errors = watch(page)
    sign_in(page, "mei")
    page.goto(f"{page.base}/gallery/{result.pk}/")
    assert not page.is_visible("#compare")
    page.click("#compare-toggle")
    assert page.is_visible("#original-video") and page.is_visible("#compare #player-video")
    assert page.get_attribute("#compare-toggle", "aria-pressed") == "true"
    wait_until(page, "document.getElementById('original-video').readyState >= 2")  # A picture to show.
    page.evaluate("document.getElementById('player-video').currentTime = 2.0")
    wait_until(page, "Math.abs(document.getElementById('original-video').currentTime - 2.0) < 0.2")
    # Past the template's end "pingpong" plays the template backwards: 1 s past it is 1 s before it.
    length = result.video.duration_s
    page.evaluate(f"document.getElementById('player-video').currentTime = {length + 1.0}")
    wait_until(page, f"Math.abs(document.getElementById('original-video').currentTime - {length - 1.0}) < 0.2")
    page.evaluate("document.getElementById('player-video').muted = true; document.getElementById('player-video').play()")
    wait_until(page, "!document.getElementById('original-video').paused")
    page.evaluate("document.getElementById('player-video').pause()")
    wait_until(page, "document.getElementById('original-video').paused")
    page.click("#compare-toggle")
    assert not page.is_visible("#compare") and page.is_visible("#player-video")
    context.close()
    assert errors == []
