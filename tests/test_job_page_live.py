"""The job page in Chromium: a connection that goes silent shows "Reconnecting…" and catches up,
and the job's buttons follow its videos (no Cancel once all ended, a ZIP only with a finished one)."""

import os
import signal

import pytest

from jobs import services
from tests.browser import browser, collected_static, sign_in, wait_until, watch, web_server  # noqa: F401 (fixtures)
from tests.jobs_factories import VIDEOS, finish, make_job

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(browser, web_server):
    context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 900})
    page = context.new_page()
    page.base = web_server.url
    page.errors = watch(page)
    page.on("dialog", lambda dialog: dialog.accept())
    yield page
    context.close()


def connection_state(page):
    return page.get_attribute("#connection", "data-state")


def test_a_silent_connection_shows_reconnecting_and_catches_up(page, web_server, personas, tmp_path):
    job = make_job(personas, tmp_path)
    result = services.claim_result(job.results.get().pk)
    sign_in(page, "mei")
    page.clock.install()
    page.goto(f"{page.base}/jobs/{job.pk}/")
    wait_until(page, "document.getElementById('connection').dataset.state === 'live'")

    # The server stops answering without closing the socket (a stalled proxy, a frozen host).
    os.kill(web_server.proc.pid, signal.SIGSTOP)
    try:
        page.clock.run_for(8_000)
        assert connection_state(page) == "live"  # A ping unanswered for a few seconds: not yet worrying.
        page.clock.run_for(7_000)
        assert connection_state(page) == "reconnecting"
        services.report_progress(result, "render", 0.4, 40, 100)  # Happens while the page is cut off.
    finally:
        os.kill(web_server.proc.pid, signal.SIGCONT)
    wait_until(page, "document.getElementById('connection').dataset.state === 'live'")
    wait_until(page, "document.querySelector('.result .progress').getAttribute('aria-valuenow') === '40'")
    assert "frame 40 of 100" in page.inner_text(".result .stats")
    assert page.errors == []


def test_the_job_buttons_follow_its_videos(page, personas, tmp_path):
    job = make_job(personas, tmp_path, videos=VIDEOS[:2])
    sign_in(page, "mei")
    page.goto(f"{page.base}/jobs/{job.pk}/")
    wait_until(page, "document.getElementById('connection').dataset.state === 'live'")
    assert page.is_visible("#cancel-all")
    assert not page.is_visible("#zip-job")  # No finished video: the ZIP would be empty.

    page.click("#cancel-all")
    wait_until(page, "document.querySelectorAll('.result[data-state=cancelled]').length === 2")
    wait_until(page, "document.getElementById('connection').dataset.state === 'finished'")
    assert not page.is_visible("#cancel-all")
    assert not page.is_visible("#zip-job")
    assert not page.is_visible(".result .cancel")

    done = make_job(personas, tmp_path, videos=VIDEOS[:1])
    finish(done.results.get(), tmp_path)
    page.goto(f"{page.base}/jobs/{done.pk}/")
    assert page.is_visible("#zip-job") and not page.is_visible("#cancel-all")
    assert page.errors == []
