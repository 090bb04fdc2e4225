"""What `dramatiq heygem_site.worker` loads: Django, the broker, then every actor module."""

import multiprocessing
import os

import django

from heygem_site.supervisor import die_with_parent

# Dramatiq's worker processes outlive their parent when it is killed: end with it instead (handing the
# running video back, as for any SIGTERM; jobs/recovery.py).
if (parent := multiprocessing.parent_process()) is not None:
    die_with_parent(parent.pid)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heygem_site.settings")
django.setup()

import inference  # noqa: E402
from django.conf import settings  # noqa: E402
from jobs.queue import broker  # noqa: E402
from jobs.recovery import ExitWhenIdle  # noqa: E402
from jobs.tasks import WorkerLifecycle  # noqa: E402

broker.add_middleware(WorkerLifecycle())
if settings.WORKER_EXIT_WHEN_IDLE_SECONDS:
    broker.add_middleware(ExitWhenIdle(settings.WORKER_EXIT_WHEN_IDLE_SECONDS))

# Threads and device are set once per worker process, not at import of the engine.
inference.init_runtime()
