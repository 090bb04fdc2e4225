"""What `dramatiq heygem_site.worker` loads: Django, the broker, then every actor module."""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heygem_site.settings")
django.setup()

import inference  # noqa: E402
import jobs.tasks  # noqa: E402,F401
from heygem_site.broker import broker  # noqa: E402,F401

# Threads and device are set once per worker process, not at import of the engine.
inference.init_runtime()
