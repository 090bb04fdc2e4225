"""Faults under `manage.py serve` (what `make run` starts), mid-render: the worker, the embedded Redis and the
supervisor are killed, and the platform is restarted twice during one render. Each time it serves again by
itself (or after the restart), every video finishes with output that decodes fully, nothing is left in the
temp folder, and no video fails because of the faults. Recovery times go to HEYGEM_VAR_DIR/fault-recovery.json
(docs/benchmarks.md, "Faults")."""

import http.cookiejar
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import av
import pytest
from django.conf import settings

from heygem_site.supervisor import group_members
from tests.conftest import shared
from tests.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow
PASSWORD = "first admin pass 1"
# A minute of speech: each fault must land while the video renders, and on a quiet machine the engine renders a
# 10 s voice on this template in a few seconds, so a stop sent "mid-render" could arrive after it finished.
AUDIO = "audio/speech_eng_16k_mono_60s.wav"
VIDEO = "video/woman_glasses_524sq_25fps.mp4"


class Platform:
    """`manage.py serve` on embedded services in its own folder, driven over HTTP as a client would."""

    def __init__(self, var_dir, tmp_dir):
        self.var_dir, self.port = var_dir, free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        self.env.update(HEYGEM_SECRET_KEY="fault-test", HEYGEM_VAR_DIR=str(var_dir), HEYGEM_PORT=str(self.port),
                        HEYGEM_ADMIN_PASSWORD=PASSWORD, PYTHONUNBUFFERED="1", TMPDIR=str(tmp_dir),
                        HEYGEM_QUEUE_NAMESPACE="heygem", HEYGEM_CHANNELS_PREFIX="heygem")
        self.proc, self.output, self.opener = None, [], None

    def start(self):
        self.proc = subprocess.Popen([sys.executable, "manage.py", "serve"], cwd=ROOT, env=self.env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line and self.proc.poll() is not None:
                break
            self.output.append(line)
            if "HeyGem is running at" in line:
                self._drain()
                self.sign_in()
                return time.monotonic()
        self.proc.kill()
        raise AssertionError("serve did not start:\n" + "".join(self.output[-40:]))

    def _drain(self):
        # Keep reading its output so the pipe never fills up and blocks it.
        import threading

        proc = self.proc
        threading.Thread(target=lambda: [self.output.append(line) for line in proc.stdout], daemon=True).start()

    def stop(self, sig=signal.SIGINT, timeout=60):
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def groups(self):
        return json.loads((self.var_dir / "run" / "heygem.pids").read_text())["groups"]

    # --- HTTP ---
    def sign_in(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        page = self.opener.open(self.base + "/accounts/login/").read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": token})
        self.opener.open(urllib.request.Request(self.base + "/accounts/login/", data=body.encode()))

    def api(self, method, path, body=None, headers=None, timeout=30):
        csrf = next(c.value for c in self.jar if c.name == "csrftoken")
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        request = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "X-CSRFToken": csrf, "Content-Type": "application/json" if isinstance(body, (dict, list)) else
            "application/octet-stream", **(headers or {})})
        with self.opener.open(request, timeout=timeout) as response:
            raw = response.read()
            return json.loads(raw) if response.headers.get("Content-Type", "").startswith("application/json") else raw

    def upload(self, path, kind):
        data = Path(path).read_bytes()
        upload = self.api("POST", "/api/v1/uploads/", {"name": Path(path).name, "size": len(data)})
        self.api("PUT", f"/api/v1/uploads/{upload['id']}/", data,
                 {"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"})
        return self.api("POST", f"/api/v1/uploads/{upload['id']}/complete/", {"kind": kind})

    def result(self, result_id):
        return self.api("GET", f"/api/v1/results/{result_id}/")

    def serves(self):
        try:
            with urllib.request.urlopen(self.base + "/readyz", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.HTTPError):
            return False


def wait_for(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return time.monotonic()
        except (OSError, urllib.error.HTTPError, ValueError):
            pass  # The platform is restarting: ask again.
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def rendering(platform, result_id, attempt=None):
    """True once the result is running, past the start, in the given attempt."""
    def check():
        result = platform.result(result_id)
        return (result["state"] == "running" and result["progress"] > 0.05 and result["frames_done"] > 0
                and (attempt is None or platform.attempts(result_id) == attempt))
    return check


def running(platform, result_id, attempt):
    """True once a worker has claimed the result again, as its `attempt`-th attempt."""
    return lambda: platform.result(result_id)["state"] == "running" and platform.attempts(result_id) == attempt


def new_worker(platform, old_pgid):
    """True once a restarted worker runs and reported in (/readyz)."""
    return lambda: platform.groups()["worker"]["pgid"] != old_pgid and platform.serves()


def decodes_fully(data, tmp_path, audio_seconds):
    path = tmp_path / f"out-{time.monotonic_ns()}.mp4"
    path.write_bytes(data)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        duration = container.duration / 1e6
    assert abs(duration - audio_seconds) < 0.1, duration
    assert abs(frames - audio_seconds * float(stream.average_rate)) <= 2, frames


def gone(pgids, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(group_members(p) for p in pgids):
        time.sleep(0.2)
    return [p for p in pgids if group_members(p)]


def test_no_fault_costs_a_video(tmp_path):
    var_dir, tmp_dir = tmp_path / "var", tmp_path / "tmp"
    tmp_dir.mkdir()
    platform = Platform(var_dir, tmp_dir)
    platform.attempts = lambda result_id: attempts_of(var_dir, result_id)
    recovery = {}
    platform.start()
    try:
        audio = platform.upload(shared(AUDIO), "audio")
        video = platform.upload(shared(VIDEO), "video")

        def submit():
            job = platform.api("POST", "/api/v1/jobs/", {"audio": audio["id"], "videos": [video["id"]]})
            return job["results"][0]["id"]

        # 1. The worker (Dramatiq's main process and its worker process) is killed mid-render.
        killed_worker = submit()
        wait_for(rendering(platform, killed_worker), 180, "the first render")
        worker_pgid = platform.groups()["worker"]["pgid"]
        os.killpg(worker_pgid, signal.SIGKILL)
        fault = time.monotonic()
        recovery["worker killed (SIGKILL)"] = {
            "video running again": round(wait_for(running(platform, killed_worker, 2), 60,
                                                  "the video to run again") - fault, 1),
            "new worker ready": round(wait_for(new_worker(platform, worker_pgid), 60, "a new worker") - fault, 1)}

        # 2. The embedded Redis is killed mid-render: the render goes on; Redis comes back with its queue.
        killed_redis = submit()
        wait_for(rendering(platform, killed_redis), 240, "the second render")
        os.killpg(platform.groups()["redis"]["pgid"], signal.SIGKILL)
        fault = time.monotonic()
        recovery["embedded Redis killed (SIGKILL)"] = {
            "Redis back, platform ready": round(wait_for(platform.serves, 30, "Redis to come back") - fault, 1)}

        # 3. The web server is killed: the supervisor starts another on the same listening socket.
        os.killpg(platform.groups()["web"]["pgid"], signal.SIGKILL)
        fault = time.monotonic()
        recovery["web server killed (SIGKILL)"] = {
            "serves": round(wait_for(platform.serves, 30, "the web server to come back") - fault, 1)}

        # 4. The supervisor is killed mid-render: every child ends with it; the next start picks the video up.
        killed_supervisor = submit()
        wait_for(rendering(platform, killed_supervisor, attempt=1), 240, "the third render")
        pgids = [group["pgid"] for group in platform.groups().values()]
        platform.proc.kill()
        fault = time.monotonic()
        platform.proc.wait()
        assert gone(pgids) == [], "children outlived the supervisor"
        children_gone = time.monotonic() - fault
        assert not list(tmp_dir.glob("heygem-job-*")), "the handed-back video's work folder is removed"
        starting = time.monotonic()
        started = platform.start()
        recovery["supervisor killed (SIGKILL), then started again"] = {
            "children gone": round(children_gone, 1), "start": round(started - starting, 1),
            "video running again after the start": round(wait_for(running(platform, killed_supervisor, 1), 90,
                                                                  "the video to run again") - started, 1)}

        # 5. Two restarts (Ctrl-C, then SIGTERM, as an operator or systemd does) during one render.
        restarted = submit()
        for number, sig in enumerate((signal.SIGINT, signal.SIGTERM), 1):
            wait_for(rendering(platform, restarted, attempt=1), 240, f"the render before restart {number}")
            stopping = time.monotonic()
            assert platform.stop(sig) == 0
            stopped = time.monotonic() - stopping
            assert attempts_of(var_dir, restarted) == 0, "a handed-back video does not count an attempt"
            assert not list(tmp_dir.glob("heygem-job-*")), "the handed-back video's work folder is removed"
            starting = time.monotonic()
            started = platform.start()
            recovery[f"restart {number} of one render ({signal.Signals(sig).name})"] = {
                "stop": round(stopped, 1), "start": round(started - starting, 1),
                "video running again after the start": round(wait_for(running(platform, restarted, 1), 90,
                                                                      "the video to run again") - started, 1)}

        # Every video finishes, decodes fully, and none failed.
        videos = [killed_worker, killed_redis, killed_supervisor, restarted]
        wait_for(lambda: all(platform.result(r)["state"] in ("succeeded", "failed", "cancelled") for r in videos),
                 600, "every video to finish")
        for result_id in videos:
            result = platform.result(result_id)
            assert result["state"] == "succeeded", result
            # Only the SIGKILLed worker cost an attempt; a stop or a lost Redis never does.
            assert attempts_of(var_dir, result_id) == (2 if result_id == killed_worker else 1)
            decodes_fully(platform.api("GET", result["download_url"]), tmp_path, audio["duration_s"])
        wait_for(lambda: not list(tmp_dir.glob("heygem-job-*")), 30, "the temp folder to be empty")
        assert not list(tmp_dir.rglob("*.partial"))
    finally:
        if platform.proc.poll() is None:
            platform.stop()
    assert not list(tmp_dir.glob("heygem-job-*"))
    report = Path(settings.VAR_DIR) / "fault-recovery.json"
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(json.dumps(recovery, indent=2) + "\n")
    print(json.dumps(recovery, indent=2))


def attempts_of(var_dir, result_id):
    """The result's attempt counter, read from the served instance's SQLite database."""
    import sqlite3

    with sqlite3.connect(var_dir / "heygem.sqlite3", timeout=20) as db:
        return db.execute("SELECT attempts FROM jobs_result WHERE id = ?", (result_id,)).fetchone()[0]
