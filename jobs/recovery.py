"""How a worker process starts and stops without costing a video.

- Stopping (Ctrl-C, SIGTERM, a restart): `stopping` is set before Dramatiq waits for its threads; the
  engine's cancel check sees it within a frame batch, and the video goes back to the queue without
  counting as an attempt (jobs.tasks.run_lipsync, services.hand_back_result). Its work folder goes with
  the engine's temporary directory.
- Starting: the videos of workers on this host that died without handing back (SIGKILL, OOM) are
  re-queued at once instead of after the reaper's timeout, and their work folders are removed.
- Each Dramatiq thread holds one message at a time: a busy worker must not sit on a queued video that
  an idle worker could start (Dramatiq's default prefetches two per thread).

The middleware that does this in worker processes is jobs.tasks.WorkerLifecycle.
"""

import logging
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

from dramatiq.middleware import Middleware

log = logging.getLogger(__name__)
stopping = threading.Event()
WORK_DIR_PREFIX = "heygem-job-"  # then the worker's pid: heygem-job-1234-xxxxxxxx


def worker_name(pid=None):
    """Names a worker process in a Result's `worker` field and in its Redis heartbeat key."""
    return f"{socket.gethostname()}:{pid or os.getpid()}"


def work_dir_prefix():
    return f"{WORK_DIR_PREFIX}{os.getpid()}-"


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # Someone else's process now holds that pid: not ours to judge, treat as alive.
    return True


def local_worker_is_gone(worker):
    """True when `worker` ran on this host and its process no longer exists; None when it ran elsewhere."""
    host, _, pid = (worker or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    return not pid_alive(int(pid))


def purge_dead_work_dirs():
    """Removes the work folders of worker processes on this host that are gone. Returns how many."""
    removed = 0
    for folder in Path(tempfile.gettempdir()).glob(f"{WORK_DIR_PREFIX}*-*"):
        pid = folder.name[len(WORK_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


class ExitWhenIdle(Middleware):
    """Stops the worker once it has had no message to process for `seconds` (HEYGEM_WORKER_EXIT_WHEN_IDLE_SECONDS),
    so a worker run as a Kubernetes Job (a KEDA ScaledJob on its queue, docs/deploy.md) ends when the queue is
    empty. It stops as on SIGTERM, through Dramatiq's main process, which then exits with 0; a message fetched
    meanwhile goes back to the queue."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.running = set()
        self.last = time.monotonic()
        self.lock = threading.Lock()

    def after_worker_boot(self, broker, worker):
        threading.Thread(target=self._watch, daemon=True).start()

    def before_process_message(self, broker, message):
        with self.lock:
            self.running.add(message.message_id)

    def after_process_message(self, broker, message, *, result=None, exception=None):
        with self.lock:
            self.running.discard(message.message_id)
            self.last = time.monotonic()

    after_skip_message = after_process_message

    def _watch(self):
        while not stopping.wait(1):
            with self.lock:
                idle = not self.running and time.monotonic() - self.last >= self.seconds
            if idle:
                log.info("Nothing to do for %s s: stopping", self.seconds)
                os.kill(os.getppid(), signal.SIGTERM)  # Dramatiq's main process, which stops its workers.
                return
