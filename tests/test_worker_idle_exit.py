"""HEYGEM_WORKER_EXIT_WHEN_IDLE_SECONDS: a worker run as a job (a KEDA ScaledJob) renders what is queued, then
ends by itself with exit status 0 once nothing is left; never in the middle of a video."""

import pytest

from jobs.models import Result
from tests.jobs_factories import make_job
from tests.processes import Worker

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_with_nothing_to_do_stops_cleanly(media_root):
    worker = Worker(media_root, threads=1, env={"HEYGEM_WORKER_EXIT_WHEN_IDLE_SECONDS": "2"}).start()
    assert worker.proc.wait(timeout=60) == 0, "".join(worker.lines[-20:])
    assert any("Nothing to do for 2 s" in line for line in worker.lines)


def test_a_worker_finishes_the_queue_before_it_stops(media_root, personas, tmp_path):
    job = make_job(personas, tmp_path)  # Queued before the worker starts: it has work at once.
    worker = Worker(media_root, threads=1, env={"HEYGEM_WORKER_EXIT_WHEN_IDLE_SECONDS": "3"}).start()
    assert worker.proc.wait(timeout=300) == 0, "".join(worker.lines[-20:])
    assert list(Result.objects.filter(job=job).values_list("state", "attempts")) == [("succeeded", 1)]
