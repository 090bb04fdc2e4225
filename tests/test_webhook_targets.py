"""Webhooks reach public addresses only: a job's owner cannot make the worker call inside the network."""

import socket

import pytest
from django.urls import reverse

from jobs import tasks
from jobs.models import Job, JobEvent
from tests.jobs_factories import AUDIO, VIDEOS, ingest, make_job
from tests.test_webhook import start_receiver

pytestmark = pytest.mark.django_db


def create(api_for, personas, tmp_path, url):
    audio, video = ingest(personas, tmp_path, AUDIO), ingest(personas, tmp_path, VIDEOS[0])
    return api_for(personas.member).post(reverse("api-jobs"), {"audio": audio.pk, "videos": [video.pk], "webhook_url": url},
                                         format="json")


@pytest.mark.parametrize("url, kind", [
    ("http://127.0.0.1:8000/hook", "a loopback address"),
    ("http://localhost/hook", "a loopback address"),
    ("http://[::1]/hook", "a loopback address"),
    ("http://[::ffff:127.0.0.1]/hook", "a loopback address"),
    ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
    ("http://10.1.2.3/hook", "a private address"),
    ("https://192.168.0.10/hook", "a private address"),
    ("http://172.16.5.4/hook", "a private address"),
    ("http://[fd00::1]/hook", "a private address"),
    ("http://224.0.0.251/hook", "a multicast address"),
    ("http://0.0.0.0/hook", "a reserved address"),
    ("http://240.0.0.1/hook", "a reserved address"),
    ("http://100.64.0.1/hook", "a reserved address"),
])
def test_a_webhook_to_an_internal_address_is_refused_with_the_reason(api_for, personas, tmp_path, url, kind):
    response = create(api_for, personas, tmp_path, url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "webhook_address"
    assert kind in error["message"] and "only calls public addresses" in error["message"]
    assert not Job.objects.exists()


def test_a_webhook_host_that_does_not_resolve_is_refused(api_for, personas, tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(socket, "getaddrinfo", fail)
    response = create(api_for, personas, tmp_path, "https://hooks.example.invalid/x")
    assert response.status_code == 400
    assert response.json()["error"] == {"code": "webhook_unresolved",
                                        "message": "The webhook host hooks.example.invalid could not be found."}


def test_the_refusal_is_translated(api_for, personas, tmp_path):
    client = api_for(personas.member)
    audio, video = ingest(personas, tmp_path, AUDIO), ingest(personas, tmp_path, VIDEOS[0])
    response = client.post(reverse("api-jobs"), {"audio": audio.pk, "videos": [video.pk],
                                                 "webhook_url": "http://127.0.0.1/"}, format="json",
                           HTTP_ACCEPT_LANGUAGE="zh-hans")
    message = response.json()["error"]["message"]
    assert "127.0.0.1" in message and "webhook" not in message.lower()


def test_an_operator_may_allow_a_network(api_for, personas, tmp_path, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert create(api_for, personas, tmp_path, "http://10.1.2.3/hook").status_code == 201
    assert create(api_for, personas, tmp_path, "http://192.168.0.1/hook").status_code == 400


def fake_dns(monkeypatch, answers):
    """getaddrinfo that answers `answers[host]` (a list of IPv4 addresses), in order of the calls."""
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host].pop(0), port))]
        return real(host, port, *args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_the_address_is_checked_again_on_delivery(personas, tmp_path, monkeypatch):
    # Public when the job was made; the name points inside by the time the job finishes (DNS rebinding).
    state = {"status": 204}
    server, calls = start_receiver(state)
    fake_dns(monkeypatch, {"hooks.example.com": ["93.184.215.14", "127.0.0.1"]})
    job = make_job(personas, tmp_path, webhook_url=f"http://hooks.example.com:{server.server_port}/hook")
    tasks.deliver_webhook.fn(job.pk)  # refused: no exception, so no retry
    server.shutdown()
    assert calls == []
    event = JobEvent.objects.get(job=job, kind="webhook.refused")
    assert "127.0.0.1" in event.message and "a loopback address" in event.message


def test_redirects_are_not_followed(personas, tmp_path, settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    inside = start_receiver({"status": 204})
    state = {"status": 302, "location": f"http://127.0.0.1:{inside[0].server_port}/secret"}
    outside = start_receiver(state)
    job = make_job(personas, tmp_path, webhook_url=f"http://127.0.0.1:{outside[0].server_port}/hook")
    with pytest.raises(RuntimeError):
        tasks.deliver_webhook.fn(job.pk)
    for server, _ in (inside, outside):
        server.shutdown()
    assert len(outside[1]) == 1 and inside[1] == []
    assert "redirects are not followed" in JobEvent.objects.get(job=job, kind="webhook.failed").message
