"""Runs the platform's processes together and stops them together.

Each child gets its own process group, so stopping it also stops whatever it forked (Dramatiq's
worker processes), and asks the kernel to send it SIGTERM if the supervisor dies without
cleaning up (SIGKILL, OOM). A pid file records the groups, so the next start also ends any
group that survived a crash of the machine's init or of the kernel's death signal.
"""

import ctypes
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG = 1
STOP_GRACE_SECONDS = 10


def die_with_parent():
    """Asks the kernel to send this process SIGTERM when its parent dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, pid_file, log=print):
        self.pid_file = Path(pid_file)
        self.children = {}  # name -> Popen
        self.signals = []  # caught by catch_signals()
        self.log = log

    def start(self, name, argv, env=None):
        proc = subprocess.Popen(argv, env=env, start_new_session=True, preexec_fn=die_with_parent)
        self.children[name] = proc
        self._write_pid_file()
        return proc

    def _write_pid_file(self):
        record = {"supervisor": os.getpid(), "groups": {n: p.pid for n, p in self.children.items()}}
        self.pid_file.write_text(json.dumps(record))

    def clean_stale(self):
        """Ends the process groups a previous, crashed supervisor left behind."""
        try:
            record = json.loads(self.pid_file.read_text())
        except (OSError, ValueError):
            return
        if _alive(record.get("supervisor")) and record.get("supervisor") != os.getpid():
            raise SystemExit(f"HeyGem already runs (supervisor pid {record['supervisor']}). Stop it first.")
        for name, pgid in record.get("groups", {}).items():
            if _group_alive(pgid):
                self.log(f"Stopping {name} left over from a previous run (process group {pgid}).")
                _signal_group(pgid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)

    def stop(self):
        for proc in self.children.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name, proc in self.children.items():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"{name} did not stop in {STOP_GRACE_SECONDS} s; killing it.")
            # The leader may be gone while its forks linger; end the whole group either way.
            _signal_group(proc.pid, signal.SIGKILL)
            proc.wait()
        self.children.clear()
        self.pid_file.unlink(missing_ok=True)

    def catch_signals(self):
        """Records SIGINT/SIGTERM/SIGHUP from now on instead of dying at once; `wait()` returns on the first."""
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, lambda signum, frame: self.signals.append(signum))

    def wait(self):
        """Blocks until a child exits or a caught signal arrives; returns the exit status to use."""
        while not self.signals:
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    self.log(f"{name} exited with status {proc.returncode}; stopping everything.")
                    return 1
            time.sleep(0.5)
        return 0


def wait_for_socket(connect, timeout, what, proc):
    """Polls `connect()` until it succeeds; fails early when `proc` exits."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connect()
            return
        except OSError:
            if proc.poll() is not None:
                raise SystemExit(f"{what} exited with status {proc.returncode} while starting.")
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} did not start within {timeout} s.")
            time.sleep(0.1)


def tcp_connect(host, port):
    def connect():
        socket.create_connection((host, port), timeout=1).close()
    return connect


def unix_connect(path):
    def connect():
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(1)
            sock.connect(str(path))
    return connect


def _alive(pid):
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _group_alive(pgid):
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # Not ours: the id was reused by another user's process.


def _signal_group(pgid, sig):
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def python_module(*args):
    return [sys.executable, "-m", *args]
