"""`manage.py serve` (what `make run` starts) on embedded services, as a user runs it."""

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import redis

from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def serve_env(var_dir, port, **extra):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PYTHONUNBUFFERED")}
    env.update(HEYGEM_SECRET_KEY="serve-test", HEYGEM_VAR_DIR=str(var_dir), HEYGEM_PORT=str(port),
               HEYGEM_ADMIN_PASSWORD="first admin pass 1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return {k: v for k, v in env.items() if v is not None}


def start(var_dir, port, **extra):
    env = serve_env(var_dir, port, **extra)
    proc = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if "HeyGem is running at" in line:
            return proc, "".join(lines)
    proc.kill()
    raise AssertionError("serve did not start:\n" + "".join(lines))


def groups(var_dir):
    return {name: entry["pgid"] for name, entry in json.loads((var_dir / "run" / "heygem.pids").read_text())["groups"].items()}


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


def wait_until_gone(pgids, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(group_alive(p) for p in pgids):
        time.sleep(0.2)
    return [p for p in pgids if group_alive(p)]


def sign_in(base, username, password):
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    page = opener.open(base + "/accounts/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"username": username, "password": password, "csrfmiddlewaretoken": token})
    return opener.open(urllib.request.Request(base + "/accounts/login/", data=body.encode(),
                                              headers={"Referer": base + "/accounts/login/"})).read().decode()


def test_serve_runs_everything_on_embedded_services_and_stops_cleanly(tmp_path):
    port = free_port()
    proc, output = start(tmp_path, port)
    try:
        assert f"http://127.0.0.1:{port}/" in output
        assert "Created the admin account 'admin'" in output
        base = f"http://127.0.0.1:{port}"
        home = sign_in(base, "admin", "first admin pass 1")
        assert "Make a lip-synced video" in home and "Default team" in home
        assert (tmp_path / "heygem.sqlite3").exists()
        assert redis.Redis(unix_socket_path=str(tmp_path / "run" / "redis.sock")).ping()
        pgids = list(groups(tmp_path).values())
        assert len(pgids) == 4 and all(group_alive(p) for p in pgids)
    finally:
        proc.send_signal(signal.SIGINT)
        status = proc.wait(timeout=30)
    assert status == 0
    assert wait_until_gone(pgids) == []
    assert not (tmp_path / "run" / "heygem.pids").exists()


def test_a_killed_supervisor_leaves_no_process_behind(tmp_path):
    port = free_port()
    proc, _ = start(tmp_path, port)
    pgids = list(groups(tmp_path).values())
    proc.kill()
    proc.wait()
    assert wait_until_gone(pgids) == []
    # The next start cleans up after the crash and runs again; the admin is not created twice.
    proc, output = start(tmp_path, port)
    try:
        assert "Created the admin account" not in output
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_the_password_and_the_banner_show_at_once_when_the_output_is_not_a_terminal(tmp_path):
    # As under nohup, systemd or `| tee`: a pipe, and no PYTHONUNBUFFERED. start() waits for the banner
    # while serve runs, so a buffered banner would time out here.
    proc, output = start(tmp_path, free_port(), PYTHONUNBUFFERED=None, HEYGEM_ADMIN_PASSWORD=None)
    try:
        assert re.search(r"Sign in as 'admin' with the password '[^']{12,}'", output)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0


def test_a_taken_port_is_reported_before_anything_starts(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([sys.executable, "manage.py", "serve"], cwd=ROOT, env=serve_env(tmp_path, port),
                             capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert f"Cannot listen on 127.0.0.1:{port}" in run.stderr and "HEYGEM_PORT" in run.stderr
    assert "running at" not in run.stdout
    assert not (tmp_path / "run" / "heygem.pids").exists()
