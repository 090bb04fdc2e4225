"""A script instead of an uploaded voice, in a real headless Chromium against a live server and a real worker:
type, preview, generate a batch; and a script the server cannot speak, refused in place."""

import pytest

from jobs.models import Asset, Job
from tests.browser import wait_until
from tests.conftest import shared
from tests.test_browser import browser, collected_static, page, screenshot, sign_in, stack  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
VIDEO_A, VIDEO_B = "video/woman_glasses_524sq_25fps.mp4", "video/man_map_844sq_25fps.mp4"
PARAGRAPH = "Hello, and welcome. Today I will show you how to make a video from a script."


def test_a_person_types_a_script_previews_it_and_gets_a_batch_of_videos(page, personas):
    sign_in(page, "mei")
    page.select_option("#speech_language", "other")  # then the person types a script after all
    page.check("input[name=voice-source][value=script]")
    assert page.is_hidden('.slot[data-kind="audio"] .drop')
    assert page.is_hidden("#speech_language")  # a script's sounds are known: no language to say
    page.fill("#script-text", PARAGRAPH)
    counts = page.inner_text("#script-counts")
    assert counts.startswith(f"{len(PARAGRAPH)} characters · about ") and counts.endswith(" s spoken")
    assert page.locator("#script-voice option").first.get_attribute("value") == "en_US-joe-medium"

    page.click("#script-preview")
    wait_until(page, "document.getElementById('script-audio').src.startsWith('blob:')", timeout=30_000)
    duration = page.locator("#script-audio").evaluate(
        "audio => audio.readyState >= 1 ? audio.duration : new Promise(resolve => "
        "audio.addEventListener('loadedmetadata', () => resolve(audio.duration)))")
    assert 0.8 < duration < 3.0, "the first sentence only"
    assert Job.objects.count() == 0 and Asset.objects.count() == 0, "a preview makes nothing"

    page.click("#tab-batch")
    page.set_input_files('input[data-kind="video"]', [str(shared(VIDEO_A)), str(shared(VIDEO_B))])
    page.wait_for_selector("#generate:not([disabled])", timeout=60_000)
    page.click("#generate")
    page.wait_for_url("**/jobs/*/")
    wait_until(page, "document.querySelectorAll('.result[data-state=succeeded]').length === 2",
                     timeout=300_000)
    job = Job.objects.get()
    assert job.script == PARAGRAPH and job.audio.kind == "audio" and job.phones
    assert job.speech_language == "en"
    wait_until(page, "document.querySelectorAll('.result video').length === 2", timeout=30_000)
    assert "Speaking the script" in page.locator(".result .log").first.inner_text()


def test_a_script_the_server_cannot_speak_is_refused_in_place(page, personas):
    sign_in(page, "mei")
    page.check("input[name=voice-source][value=script]")
    page.set_input_files('input[data-kind="video"]', str(shared(VIDEO_A)))
    page.fill("#script-text", "🙂🎉 !!")
    assert page.inner_text("#script-error") == "The script has no words to speak. Type some text."
    page.fill("#script-text", "今天我们学习汉语。")
    assert "cannot speak the script's language" in page.inner_text("#script-error")
    page.select_option("#script-voice", "espeak-cmn")
    assert page.is_hidden("#script-error")
    screenshot(page, "workspace-script-en")
    page.wait_for_selector("#generate:not([disabled])", timeout=60_000)
    # The server has the last word: a voice removed since the page was loaded is refused in place.
    page.evaluate("document.querySelector('#script-voice option:checked').value = 'zh_CN-gone-medium'")
    page.click("#generate")
    error = page.locator("#generate-error")
    error.wait_for(state="visible", timeout=30_000)
    assert error.inner_text() == "There is no voice with this name. Choose one from the list."
    assert Job.objects.count() == 0 and Asset.objects.filter(kind="video").count() == 1
