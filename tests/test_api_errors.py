"""The API's one error shape: every error carries its own message, in the request's language, with the
right status; ids the database cannot hold are input errors, not server errors."""

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from heygem_site.api import exception_handler
from jobs.models import Job
from tests.jobs_factories import AUDIO, VIDEOS, ingest, make_job

pytestmark = pytest.mark.django_db
TOO_BIG = 2**63 + 1


@pytest.fixture
def assets(personas, tmp_path):
    return ingest(personas, tmp_path, AUDIO), ingest(personas, tmp_path, VIDEOS[0])


@pytest.mark.parametrize("body, field", [
    ({"audio": TOO_BIG, "videos": [1]}, "audio"),
    ({"audio": 1, "videos": [TOO_BIG]}, "videos.0"),
    ({"audio": 1, "videos": [1], "team": TOO_BIG}, "team"),
    ({"audio": -1, "videos": [1]}, "audio"),
])
def test_an_id_past_2_63_is_a_400_naming_the_field(api_for, personas, body, field):
    response = api_for(personas.member).post(reverse("api-jobs"), body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["message"].startswith(f"{field}: Ensure this value is")
    assert "server error" not in error["message"]


@pytest.mark.parametrize("name, params", [
    ("api-job-events", {"after": TOO_BIG}),
    ("api-results-zip", {"job": TOO_BIG}),
    ("api-usage", {"team": TOO_BIG}),
])
def test_a_query_id_past_2_63_is_a_400_with_a_message(api_for, personas, tmp_path, name, params):
    job = make_job(personas, tmp_path)
    url = reverse(name, args=[job.pk]) if name == "api-job-events" else reverse(name)
    response = api_for(personas.member).get(url, params)
    assert response.status_code == 400
    [key] = params
    assert response.json()["error"]["message"].startswith(f"{key}: A whole number between")


def test_other_ids_past_2_63_are_400s_too(api_for, personas):
    client = api_for(personas.member)
    bulk = client.post(reverse("api-results-bulk-delete"), {"ids": [TOO_BIG]}, format="json")
    upload = client.post(reverse("api-uploads"), {"name": "a.mp4", "size": 10, "team": TOO_BIG}, format="json")
    asset = client.post(reverse("api-assets"), {"file": SimpleUploadedFile("a.wav", b"x"), "team": str(TOO_BIG)},
                        format="multipart")
    for response in (bulk, upload, asset):
        assert response.status_code == 400 and "Ensure this value is less than or equal to" in \
            response.json()["error"]["message"]


@pytest.mark.parametrize("path", [f"/api/v1/jobs/{TOO_BIG}/", f"/api/v1/results/{TOO_BIG}/download/",
                                  f"/api/v1/assets/{TOO_BIG}/", "/api/v1/nothing-here/"])
def test_a_path_that_matches_nothing_is_a_json_404(api_for, personas, path):
    response = api_for(personas.member).get(path)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}


def test_pages_with_huge_ids_are_404_not_500(client_for, personas):
    client = client_for(personas.owner)
    for url in (f"/jobs/{TOO_BIG}/", f"/gallery/{TOO_BIG}/", f"/accounts/teams/{TOO_BIG}/members/",
                f"/gallery/?job={TOO_BIG}"):
        assert client.get(url).status_code in (200, 404), url


def test_validation_messages_are_specific_and_translated(api_for, personas):
    client = api_for(personas.member)
    response = client.post(reverse("api-jobs"), {"audio": 1, "videos": []}, format="json")
    assert response.json()["error"]["message"] == "videos: Ensure this field has at least 1 elements."
    assert response.json()["error"]["fields"] == {"videos": ["Ensure this field has at least 1 elements."]}
    chinese = client.post(reverse("api-jobs"), {"audio": 1, "videos": []}, format="json", HTTP_ACCEPT_LANGUAGE="zh-hans")
    message = chinese.json()["error"]["message"]
    assert message.startswith("videos: ") and "Ensure" not in message


def test_unknown_assets_are_named_in_the_message(api_for, personas, assets):
    audio, _ = assets
    response = api_for(personas.member).post(reverse("api-jobs"), {"audio": audio.pk, "videos": [987654]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "assets: No such asset in this team."


def test_a_redis_outage_is_a_json_503_with_retry_after():
    response = exception_handler(redis.exceptions.ConnectionError("down"), {})
    assert response.status_code == 503 and response["Retry-After"] == "30"
    assert response.data["error"]["code"] == "unavailable"


def test_creating_a_job_while_redis_is_down_answers_201_and_the_scheduler_sends_it_later(
        api_for, personas, assets, monkeypatch, settings, django_capture_on_commit_callbacks):
    from dramatiq.brokers.redis import _scripts

    from jobs import services
    from jobs.queue import ANYWHERE, broker
    from tests.processes import free_port

    dead = redis.Redis(port=free_port(), socket_connect_timeout=1)
    live_scripts = broker.scripts
    monkeypatch.setattr(broker, "scripts", {name: dead.register_script(src) for name, src in _scripts.items()})
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                                           "CONFIG": {"hosts": [f"redis://127.0.0.1:{dead.connection_pool.connection_kwargs['port']}"]}}}
    audio, video = assets
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(personas.member).post(reverse("api-jobs"), {"audio": audio.pk, "videos": [video.pk]},
                                                 format="json")
    assert response.status_code == 201, response.content
    job = Job.objects.get()
    assert job.results.get().state == "queued"

    monkeypatch.setattr(broker, "scripts", live_scripts)  # Redis is back
    broker.flush(ANYWHERE)
    assert services.resend_orphaned_queued(grace_seconds=0) == 1
    assert services.resend_orphaned_queued(grace_seconds=0) == 0  # now it has its message
    broker.flush(ANYWHERE)


def test_every_response_has_a_content_security_policy(client, client_for, personas):
    for response in (client.get(reverse("accounts:login")), client_for(personas.member).get(reverse("home")),
                     client.get(reverse("api-docs"))):
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in \
            policy.split("script-src")[1].split(";")[0]


def test_no_page_has_inline_scripts_or_handlers(client_for, personas):
    import re

    client = client_for(personas.owner)
    for url in (reverse("home"), reverse("gallery"), reverse("accounts:tokens"),
                reverse("accounts:members", args=[personas.team.pk]), reverse("api-docs")):
        page = client.get(url).content.decode()
        # Data blocks (<script type="application/json">, json_script) hold data, not code: the browser never runs them.
        assert not re.search(r'<script(?![^>]*\b(?:src=|type="application/json"))[^>]*>', page), url
        assert not re.search(r"\son[a-z]+=", page), url


def test_a_download_name_cannot_carry_a_path(api_for, personas, tmp_path):
    asset = ingest(personas, tmp_path, VIDEOS[0], display="../../etc/passwd.mp4")
    response = api_for(personas.member).get(reverse("api-asset-file", args=[asset.pk]))
    assert response["Content-Disposition"] == 'inline; filename="passwd.mp4"'


def test_the_same_bytes_under_a_new_name_take_the_new_name(personas, tmp_path):
    first = ingest(personas, tmp_path, VIDEOS[0], display="intro.mp4")
    second = ingest(personas, tmp_path, VIDEOS[0], display="intro-final.mp4")
    assert first.pk == second.pk and second.original_name == "intro-final.mp4"


def test_the_api_root_says_where_the_documentation_is(client):
    for url in ("/api/", "/api/v1/"):
        assert client.get(url).json() == {"version": "1", "base": "/api/v1/", "docs": "/api/docs/",
                                          "schema": "/api/schema/"}
