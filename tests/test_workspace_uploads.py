"""The workspace's uploads in Chromium: the progress line reads right, a file removed half-way is
abandoned on the server at once, and leaving with a file on its way asks first."""

import re

import pytest

from heygem_site.settings import VAR_DIR
from jobs.models import Upload
from tests.browser import browser, collected_static, sign_in, wait_until, watch, web_server  # noqa: F401 (fixtures)
from tests.conftest import shared

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
VIDEO = "video/woman_glasses_524sq_25fps.mp4"
# Keeps every text the upload's status line shows, however briefly.
RECORD_STATUS = """window.statusTexts = [];
new MutationObserver(records => records.forEach(record => {
  if (record.target.classList && record.target.classList.contains('status'))
    record.addedNodes.forEach(node => window.statusTexts.push(node.textContent));
})).observe(document, {subtree: true, childList: true});"""


@pytest.fixture
def page(browser, web_server):
    context = browser.new_context(locale="en-US", viewport={"width": 1024, "height": 900})
    context.add_init_script(RECORD_STATUS)
    page = context.new_page()
    page.base = web_server.url
    page.errors = watch(page)
    yield page
    context.close()


def test_the_upload_progress_line_has_one_percent_sign(page, personas):
    sign_in(page, "mei")
    page.set_input_files('input[data-kind="video"]', str(shared(VIDEO)))
    page.wait_for_selector('.file[data-state="ready"]')
    texts = page.evaluate("window.statusTexts")
    progress = [text for text in texts if " left" in text]
    assert progress and all(re.fullmatch(r"\d{1,3}% · [\d.,]+ [KMG]?B/s · .+ left", text) for text in progress), texts
    assert not any("%%" in text for text in texts)
    assert page.errors == []


def test_a_file_removed_mid_upload_is_abandoned_and_leaving_asks_first(page, personas):
    sign_in(page, "mei")
    # Every chunk fails to arrive, so the upload stays half-way, retrying.
    page.route(re.compile(r".*/api/v1/uploads/[0-9a-f-]+/$"),
               lambda route: route.abort() if route.request.method == "PUT" else route.continue_())
    page.click("#tab-single")  # Browsers ask before leaving only pages someone has used.
    page.set_input_files('input[data-kind="video"]', str(shared(VIDEO)))
    wait_until(page, "[...document.querySelectorAll('.file .status')].some(n => n.textContent.includes('Retrying'))")
    upload = Upload.objects.get()
    part = VAR_DIR / "uploads" / f"{upload.pk}.part"  # Where the live server keeps parts.
    assert part.exists()

    with page.expect_event("dialog") as leaving:
        page.close(run_before_unload=True)
    assert leaving.value.type == "beforeunload"
    leaving.value.dismiss()  # Stay on the page.

    with page.expect_response(lambda response: response.request.method == "DELETE") as deleted:
        page.click(".file .remove")
    assert deleted.value.status == 204
    assert not Upload.objects.exists() and not part.exists()
