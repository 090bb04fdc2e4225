import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.urls import reverse

from jobs import queue, tasks
from tests.jobs_factories import AUDIO, VIDEOS, ingest

pytestmark = pytest.mark.django_db


def start_receiver(state):
    """A webhook receiver on this machine that records what it gets and answers `status`."""
    calls = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            calls.append((self.headers, body))  # Header names are matched case-insensitively.
            self.send_response(state["status"])
            if state.get("location"):
                self.send_header("Location", state["location"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, calls


@pytest.fixture
def receiver(settings):
    """A receiver on the loopback interface, which the operator allowed (HEYGEM_WEBHOOK_ALLOWED_NETWORKS)."""
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    state = {"status": 204}
    server, calls = start_receiver(state)
    yield f"http://127.0.0.1:{server.server_port}/hook", calls, state
    server.shutdown()


def test_a_finished_job_posts_a_signed_body_to_its_webhook(api_for, personas, tmp_path, receiver, monkeypatch,
                                                           django_capture_on_commit_callbacks):
    url, calls, _ = receiver
    scheduled = []
    monkeypatch.setattr(queue, "send", lambda actor, *args, **options: scheduled.append((actor, *args)))
    client = api_for(personas.member)
    audio, video = ingest(personas, tmp_path, AUDIO), ingest(personas, tmp_path, VIDEOS[0])
    created = client.post(reverse("api-jobs"), {"audio": audio.pk, "videos": [video.pk], "webhook_url": url},
                          format="json").json()
    secret = created["webhook_secret"]
    assert "webhook_secret" not in client.get(reverse("api-job", args=[created["id"]])).json()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("api-job-cancel", args=[created["id"]]))
    assert scheduled == [(tasks.deliver_webhook.actor_name, created["id"])]

    tasks.deliver_webhook.fn(created["id"])
    [(headers, body)] = calls
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-HeyGem-Signature"] == f"sha256={expected}"
    payload = json.loads(body)
    assert payload["event"] == "job.finished" and payload["job"] == created["id"]
    assert [r["state"] for r in payload["results"]] == ["cancelled"]


def test_a_failing_receiver_makes_the_delivery_retry_with_backoff(personas, tmp_path, receiver):
    from tests.jobs_factories import make_job

    url, calls, state = receiver
    state["status"] = 500
    job = make_job(personas, tmp_path, webhook_url=url)
    with pytest.raises(Exception):
        tasks.deliver_webhook.fn(job.pk)
    assert len(calls) == 1
    assert tasks.deliver_webhook.options["max_retries"] >= 3 and tasks.deliver_webhook.options["min_backoff"] > 0
