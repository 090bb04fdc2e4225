import json
import logging

import pytest
import redis
from django.urls import reverse

from jobs.queue import heartbeat_key
from heygem_site.logs import JsonFormatter, SizeCappedFile
from jobs import services
from jobs.errors import Refused
from tests.jobs_factories import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def worker_alive(settings):
    client = redis.Redis.from_url(settings.REDIS_URL)
    import time

    client.set(heartbeat_key("test-worker"), str(time.time()), ex=60)
    yield
    client.delete(heartbeat_key("test-worker"))


def test_healthz_answers_while_the_process_lives(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_is_ready_with_database_redis_storage_disk_and_a_worker(client, worker_alive):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "storage": "ok", "disk": "ok", "worker": "ok"}


def test_readyz_reports_a_stopped_redis(client, settings, worker_alive):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # Nothing listens there: as if Redis were stopped.
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["redis"].startswith("failed: ConnectionError") and checks["database"] == "ok"


def test_readyz_reports_no_worker(client):
    checks = client.get("/readyz").json()["checks"]
    assert checks["worker"] == "failed: RuntimeError: no worker has reported recently"


def test_a_nearly_full_disk_fails_readiness_and_refuses_new_jobs(client, settings, personas, tmp_path, worker_alive):
    settings.MIN_FREE_DISK_BYTES = 10**18  # More than any disk: the volume counts as nearly full.
    response = client.get("/readyz")
    assert response.status_code == 503 and "below the floor" in response.json()["checks"]["disk"]
    with pytest.raises(Refused) as refused:
        make_job(personas, tmp_path)
    assert refused.value.code == "low_disk"
    assert "almost out of disk space" in refused.value.message


def test_metrics_speak_prometheus_to_staff_and_the_internal_network(client, admin_user, personas, tmp_path, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]  # as behind `make https`'s nginx
    job = make_job(personas, tmp_path)
    services.fail_result(job.results.get().pk, "no_face")
    text = client.get("/metrics", REMOTE_ADDR="127.0.0.1").content.decode()
    assert 'heygem_results{state="failed"} 1' in text and 'heygem_errors{code="no_face"} 1' in text
    assert "# TYPE heygem_queue_depth gauge" in text and 'heygem_storage_bytes{kind="uploads"}' in text
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 404
    # Through the proxy, the address nginx saw is the last X-Forwarded-For entry, not a client's claim.
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9").status_code == 404
    client.force_login(admin_user)
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 200


def test_log_lines_are_json_with_job_and_result_ids():
    record = logging.LogRecord("jobs.tasks", logging.INFO, __file__, 1, "Result %s failed", (7,), None)
    record.job, record.result = 3, 7
    line = json.loads(JsonFormatter().format(record))
    assert (line["message"], line["job"], line["result"], line["level"]) == ("Result 7 failed", 3, 7, "INFO")


def test_the_log_file_rotates_and_stays_under_its_cap(tmp_path):
    handler = SizeCappedFile(tmp_path / "log", max_bytes=2000, backups=2)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("heygem.test-rotation")
    logger.addHandler(handler)
    logger.propagate = False
    for index in range(500):
        logger.warning("line %s %s", index, "x" * 50)
    handler.close()
    files = sorted((tmp_path / "log").iterdir())
    assert len(files) == 3  # the current file and two rotated ones, no more
    assert all(path.stat().st_size <= 2200 for path in files)
    assert json.loads(files[0].read_text().splitlines()[-1])["message"].startswith("line 499")
