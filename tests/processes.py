"""Real server processes for end-to-end and browser tests, on the test database and media folder."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def database_url(db=None):
    """The URL of the test database, for child processes that must see this test's rows."""
    db = db or connection.settings_dict
    return f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_database_env(media_root):
    return os.environ | {"DATABASE_URL": database_url(), "HEYGEM_MEDIA_ROOT": str(media_root), "PYTHONUNBUFFERED": "1"}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Process:
    """A child in its own process group whose output is kept; `ready_line` marks a finished start."""

    ready_line = None

    def __init__(self, argv, env):
        self.argv, self.env, self.proc, self.lines = argv, env, None, []

    def start(self, timeout=120):
        self.ready = threading.Event()
        self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, start_new_session=True)
        threading.Thread(target=self._read, args=(self.proc,), daemon=True).start()
        if not self.wait_ready(timeout):
            self.kill()
            raise AssertionError(f"{self.argv[2:4]} did not start:\n" + "".join(self.lines[-30:]))
        return self

    def wait_ready(self, timeout):
        return self.ready.wait(timeout)

    def _read(self, proc):
        for line in proc.stdout:
            self.lines.append(line)
            if self.ready_line and self.ready_line in line:
                self.ready.set()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(timeout=30)


class Worker(Process):
    """`dramatiq heygem_site.worker`, one process with two threads (or `threads`); `env` adds to its
    environment (HEYGEM_WORKER_GPU, say)."""

    ready_line = "Worker process is ready"

    def __init__(self, media_root, threads=2, env=None):
        super().__init__([sys.executable, "-m", "dramatiq", "heygem_site.worker", "--processes", "1",
                          "--threads", str(threads)], test_database_env(media_root) | (env or {}))


class WebServer(Process):
    """uvicorn serving heygem_site.asgi on a free port."""

    def __init__(self, media_root):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__([sys.executable, "-m", "uvicorn", "heygem_site.asgi:application", "--port", str(self.port),
                          "--lifespan", "off", "--ws", "websockets", "--no-access-log"], test_database_env(media_root))

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.1)
        return False
