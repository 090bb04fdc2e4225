"""The script preview is spoken on the web server, so it is bounded: a rate per person, one at a time, and a
longest text. Each refusal is the API's one error shape, translated, and a limited one says when to come back."""

import pytest
from django.urls import reverse

from jobs.api import one_preview_at_a_time

pytestmark = pytest.mark.django_db
JOE = "en_US-joe-medium"


def preview(client, text="Hi.", voice=JOE, **headers):
    return client.post(reverse("api-voice-preview"), {"text": text, "voice": voice}, format="json", **headers)


def test_a_person_over_the_preview_rate_is_told_to_wait(api_for, personas, settings):
    settings.VOICE_PREVIEWS_PER_MINUTE = 2
    client = api_for(personas.member)
    # Refused previews count too: a refusal also costs the server a script check.
    assert [preview(client, voice="nobody").status_code for _ in range(2)] == [400, 400]
    response = preview(client, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 429
    assert response.json()["error"]["code"] == "throttled"
    assert response.json()["error"]["message"].startswith("请求过于频繁")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert str(int(response["Retry-After"])) in response.json()["error"]["message"]


def test_the_preview_rate_is_counted_per_person(api_for, personas, settings):
    settings.VOICE_PREVIEWS_PER_MINUTE = 1
    assert preview(api_for(personas.member), voice="nobody").status_code == 400
    assert preview(api_for(personas.member), voice="nobody").status_code == 429
    assert preview(api_for(personas.outsider)).status_code == 200


def test_a_second_preview_waits_while_the_first_is_spoken(api_for, personas):
    client = api_for(personas.member)
    with one_preview_at_a_time(personas.member):
        busy = preview(client)
        assert busy.status_code == 429 and busy.json()["error"]["code"] == "throttled"
        assert busy["Retry-After"] == "2"
        assert preview(api_for(personas.outsider)).status_code == 200, "another person is not held up"
    assert preview(client).status_code == 200, "the lock is released when the preview ends"


def test_a_preview_that_fails_releases_the_lock(api_for, personas, damaged_voice):
    client = api_for(personas.member)
    assert preview(client, voice=damaged_voice.stem).status_code == 503  # Refused while speaking, inside the lock.
    assert preview(client).status_code == 200


def test_a_script_longer_than_the_server_reads_is_refused_before_any_work(api_for, personas, settings):
    text = "a" * (settings.MAX_SCRIPT_CHARS + 1)
    response = preview(api_for(personas.member), text=text, HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid" and "text" in response.json()["error"]["fields"]
    assert str(settings.MAX_SCRIPT_CHARS) in response.json()["error"]["message"]
    job = api_for(personas.member).post(reverse("api-jobs"), {"videos": [1], "text": text}, format="json")
    assert job.status_code == 400 and "text" in job.json()["error"]["fields"]
