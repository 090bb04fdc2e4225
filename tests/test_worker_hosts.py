"""The two-host harness itself (tests/hosts.py): a worker host is cut off from this machine but for the
addresses it is given, and never sees the web server's files."""

import sys

import pytest
from django.conf import settings

from tests.processes import database_url

pytestmark = pytest.mark.django_db


def test_a_host_reaches_the_services_only_by_address(worker_hosts, s3_server):
    host = worker_hosts[0]
    db = settings.DATABASES["default"]
    s3_port = s3_server.endpoint.rsplit(":", 1)[1]
    probe = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()"
    for port in (db["PORT"], settings.REDIS_URL.rsplit(":", 1)[1].split("/")[0], s3_port):
        assert host.run([sys.executable, "-c", probe, "127.0.0.1", str(port)]).returncode != 0, "its own loopback"
        assert host.run([sys.executable, "-c", probe, host.gateway, str(port)]).returncode == 0, host.gateway
    assert host.run(["hostname"]).stdout.strip() == host.hostname


def test_a_host_sees_none_of_the_web_servers_files(worker_hosts, tmp_path):
    stored = tmp_path / "stored-by-the-web-server.mp4"
    stored.write_bytes(b"web")
    marker = settings.VAR_DIR / "marker-for-hosts"
    marker.write_text("web")
    try:
        for host in worker_hosts:
            for path in (stored, marker):
                assert host.run(["test", "-e", str(path)]).returncode == 1, f"{host.hostname} sees {path}"
        assert stored.exists() and marker.exists(), "hiding them there leaves them here"
    finally:
        marker.unlink()


def test_the_database_answers_a_host_through_its_gateway(worker_hosts):
    host = worker_hosts[1]
    url = host.url(database_url())
    answer = host.run(["psql", url, "-XtAc", "SELECT current_database()"])
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.strip() == settings.DATABASES["default"]["NAME"]
