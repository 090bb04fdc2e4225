"""The supervisor behind `manage.py serve`: restarts a crashed child, gives up only on a crash loop, and
never signals a process that is not its own."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from heygem_site import supervisor as supervision
from heygem_site.supervisor import Supervisor, boot_id, group_is_ours, process_start_time

SLEEP = [sys.executable, "-c", "import time; time.sleep(60)"]


@pytest.fixture
def fast(monkeypatch):
    monkeypatch.setattr(supervision, "FIRST_BACKOFF_SECONDS", 0.05)
    monkeypatch.setattr(supervision, "STOP_GRACE_SECONDS", 5)


def run_in_background(boss):
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("status", boss.run(poll=0.05)), daemon=True)
    thread.start()
    return thread, outcome


def wait_for(condition, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_crashed_child_is_started_again_and_the_others_keep_running(tmp_path, fast):
    logs = []
    boss = Supervisor(tmp_path / "pids", log=logs.append)
    steady = boss.start("steady", SLEEP)
    flaky = boss.start("flaky", SLEEP)
    thread, outcome = run_in_background(boss)
    try:
        os.kill(flaky.pid, signal.SIGKILL)
        assert wait_for(lambda: boss.children["flaky"].proc.pid != flaky.pid and boss.children["flaky"].proc.poll() is None)
        assert steady.poll() is None, "one crash stops nothing else"
        assert any("flaky was killed by signal 9; restarting it in" in line for line in logs)
        assert json.loads((tmp_path / "pids").read_text())["groups"]["flaky"]["pgid"] == boss.children["flaky"].proc.pid
    finally:
        boss.signals.append(signal.SIGTERM)
        thread.join(10)
        boss.stop()
    assert outcome["status"] == 0
    assert steady.poll() is not None


def test_a_crash_loop_stops_everything(tmp_path, fast):
    logs = []
    boss = Supervisor(tmp_path / "pids", log=logs.append)
    steady = boss.start("steady", SLEEP)
    boss.start("broken", [sys.executable, "-c", "raise SystemExit(3)"])
    thread, outcome = run_in_background(boss)
    thread.join(30)
    boss.stop()
    assert outcome["status"] == 1
    assert any("broken exited with status 3; it stopped 5 times within 60 s, so HeyGem gives up" in line for line in logs)
    assert steady.poll() is not None
    assert not (tmp_path / "pids").exists()


def test_stopping_asks_the_group_leader_once_then_kills_what_is_left(tmp_path, fast):
    # A child that ignores SIGTERM still goes, after the grace period.
    boss = Supervisor(tmp_path / "pids", log=lambda line: None)
    stubborn = boss.start("stubborn", [sys.executable, "-c",
                                       "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"])
    time.sleep(0.5)
    started = time.monotonic()
    boss.stop()
    assert stubborn.poll() == -signal.SIGKILL
    assert time.monotonic() - started >= supervision.STOP_GRACE_SECONDS - 0.5


def record(path, supervisor_pid, supervisor_started, groups):
    path.write_text(json.dumps({"boot": boot_id(), "supervisor": {"pid": supervisor_pid, "started": supervisor_started},
                                "groups": groups, "draining": []}))


def test_a_stale_pid_file_never_signals_a_process_that_reused_a_recorded_pid(tmp_path):
    stranger = subprocess.Popen(SLEEP, start_new_session=True)  # not ours: it only happens to have a recorded id
    try:
        pids = tmp_path / "pids"
        # The recorded supervisor pid is alive but started at another time: a reused pid, not HeyGem.
        record(pids, stranger.pid, process_start_time(stranger.pid) + 1,
               {"worker": {"pgid": stranger.pid, "started": process_start_time(stranger.pid) - 5}})
        Supervisor(pids, log=lambda line: None).clean_stale()
        time.sleep(0.3)
        assert stranger.poll() is None
        assert not pids.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_stale_pid_file_ends_the_groups_a_crashed_run_left(tmp_path):
    leftover = subprocess.Popen(SLEEP, start_new_session=True)
    pids = tmp_path / "pids"
    record(pids, 999999, None, {"worker": {"pgid": leftover.pid, "started": process_start_time(leftover.pid)}})
    logs = []
    Supervisor(pids, log=logs.append).clean_stale()
    assert leftover.wait(timeout=10) == -signal.SIGKILL
    assert logs == [f"Stopping worker left over from a previous run (process group {leftover.pid})."]


def test_a_running_supervisor_is_not_started_twice(tmp_path):
    other = subprocess.Popen(SLEEP, start_new_session=True)
    try:
        pids = tmp_path / "pids"
        record(pids, other.pid, process_start_time(other.pid), {})
        with pytest.raises(SystemExit, match="HeyGem already runs"):
            Supervisor(pids).clean_stale()
    finally:
        other.kill()
        other.wait()


def test_a_group_whose_leader_is_gone_is_still_recognised_by_its_members(tmp_path):
    # A group leader that exits leaves its forks in the group; the kernel keeps the id reserved meanwhile.
    parent = subprocess.Popen([sys.executable, "-c", "import subprocess, sys, time; "
                               "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
                               "time.sleep(0.5)"], start_new_session=True)
    started = process_start_time(parent.pid)
    parent.wait()
    try:
        assert group_is_ours(parent.pid, started)
    finally:
        os.killpg(parent.pid, signal.SIGKILL)
    assert wait_for(lambda: not group_is_ours(parent.pid, started), 5)
