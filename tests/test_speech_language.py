"""A voice that is not English: asked for when the job is made, shown where people look, passed to the engine,
and kept apart from a script's exact phones."""

import shutil
from types import SimpleNamespace

import pytest
from django.urls import reverse

from jobs import services
from jobs.models import Job
from tests.conftest import shared
from tests.jobs_factories import AUDIO, VIDEOS, finish, ingest, make_job

pytestmark = pytest.mark.django_db

CHOOSE = 'Choose "en" (the voice speaks English) or "other" (any other language).'


def create_via_api(client, personas, tmp_path, **extra):
    language = extra.pop("language", "en")
    audio = ingest(personas, tmp_path, AUDIO, kind="audio")
    videos = [ingest(personas, tmp_path, v, kind="video") for v in VIDEOS[:2]]
    return client.post(reverse("api-jobs"), {"audio": audio.pk, "videos": [v.pk for v in videos], **extra},
                       format="json", HTTP_ACCEPT_LANGUAGE=language)


def test_a_job_records_the_language_its_voice_speaks(api_for, personas, tmp_path):
    response = create_via_api(api_for(personas.member), personas, tmp_path, speech_language="other")
    assert response.status_code == 201, response.content
    assert response.json()["speech_language"] == "other"
    assert Job.objects.get(pk=response.json()["id"]).speech_language == "other"


def test_a_voice_is_english_unless_the_job_says_otherwise(api_for, personas, tmp_path):
    response = create_via_api(api_for(personas.member), personas, tmp_path)
    assert response.status_code == 201, response.content
    assert response.json()["speech_language"] == "en"


@pytest.mark.parametrize("value", ["zh", "English", "", None])
def test_a_language_the_engine_does_not_know_is_refused_in_the_apis_one_error_shape(api_for, personas, tmp_path,
                                                                                     value):
    response = create_via_api(api_for(personas.member), personas, tmp_path, speech_language=value)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    if value is None:
        assert error["fields"] == {"speech_language": ["This field may not be null."]}
    else:
        assert error["fields"] == {"speech_language": [CHOOSE]}
        assert error["message"] == f"speech_language: {CHOOSE}"
    assert not Job.objects.exists()


def test_the_refusal_is_translated(api_for, personas, tmp_path):
    response = create_via_api(api_for(personas.member), personas, tmp_path, speech_language="zh", language="zh-hans")
    assert response.json()["error"]["fields"] == {"speech_language": ['请选择 "en"（声音说英语）或 "other"（其他任何语言）。']}


def test_the_workspace_asks_for_the_language_of_an_uploaded_voice(client_for, personas):
    page = client_for(personas.member).get(reverse("home")).content.decode()
    assert '<label for="speech_language">Language of the voice</label>' in page
    assert '<option value="en" selected>English</option><option value="other">Another language</option>' in page
    chinese = client_for(personas.member).get(reverse("home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<option value="other" selected>其他语言</option>' in chinese and "声音的语言" in chinese


def test_a_page_in_chinese_guesses_that_the_voice_is_not_english_and_an_english_page_that_it_is(client_for,
                                                                                                 personas):
    client = client_for(personas.member)
    english = client.get(reverse("home")).content.decode()
    chinese = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert '<option value="en" selected>' in english and '<option value="other" selected>' not in english
    assert '<option value="other" selected>' in chinese and '<option value="en" selected>' not in chinese


def test_the_job_the_player_and_the_gallery_show_a_voice_in_another_language(client_for, personas, tmp_path,
                                                                               media_root):
    job = make_job(personas, tmp_path, speech_language="other")
    result = finish(job.results.get(), tmp_path)
    client = client_for(personas.member)
    assert "Language: Another language" in client.get(reverse("job", args=[job.pk])).content.decode()
    assert '<dd id="speech-language">Another language</dd>' in client.get(
        reverse("player", args=[result.pk])).content.decode()
    assert '<span class="language">Another language</span>' in client.get(reverse("gallery")).content.decode()
    assert "语言：其他语言" in client.get(reverse("job", args=[job.pk]), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()


def test_the_gallery_does_not_label_every_english_voice(client_for, personas, tmp_path, media_root):
    job = make_job(personas, tmp_path)
    result = finish(job.results.get(), tmp_path)
    client = client_for(personas.member)
    assert 'class="language"' not in client.get(reverse("gallery")).content.decode()
    assert '<dd id="speech-language">English</dd>' in client.get(reverse("player", args=[result.pk])).content.decode()


def test_a_script_is_planned_from_its_own_phones_whatever_language_was_asked():
    job = Job(script="你好", voice="espeak-cmn", speech_language="other")
    assert services.engine_config(job).speech_language == "en"
    assert services.engine_config(Job(speech_language="other")).speech_language == "other"
    assert services.engine_config(Job()).speech_language == "en"


def test_the_worker_passes_the_language_and_a_batch_reuses_what_its_first_video_heard(personas, tmp_path,
                                                                                        media_root, monkeypatch):
    from jobs import tasks

    job = make_job(personas, tmp_path, videos=VIDEOS[:2], speech_language="other")
    calls = []
    heard = [("SIL", 0.0, 0.2), ("M", 0.2, 0.3), ("AA", 0.3, 0.5)]

    def engine(video, audio, output, config, on_progress=None, should_cancel=None, phones=None):
        calls.append((config.speech_language, phones))
        shutil.copy(shared(VIDEOS[0]), output)
        return SimpleNamespace(output_duration_s=5.0, backend="retrieval", backend_reason="test", face_coverage=1.0,
                               seconds={"render": 1.0}, heard_phones=heard if phones is None else None)

    monkeypatch.setattr(tasks.inference, "generate", engine)
    first, second = job.results.order_by("pk")
    for result in (first, second):
        tasks.run_lipsync.fn(result.pk)
        result.refresh_from_db()
        assert result.state == "succeeded", (result.error_code, result.error_message)
    # The second video is planned for the same language, from the phones the first heard for it.
    assert calls == [("other", None), ("other", heard)]
    job.refresh_from_db()
    assert job.phones == [list(p) for p in heard]
