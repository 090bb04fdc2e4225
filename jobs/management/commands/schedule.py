import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from jobs import housekeeping, services

log = logging.getLogger("heygem.scheduler")


class Command(BaseCommand):
    help = ("Run periodic housekeeping until stopped: re-queue or fail results whose worker was lost, re-send "
            "queued results whose queue message vanished, and (hourly) apply the retention policy and remove "
            "abandoned uploads. `manage.py serve` starts it.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Run one round and exit (for cron or a timer).")

    def handle(self, *args, once, **options):
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        next_sweep = 0.0
        while not stopping:
            self.run_round()
            if time.monotonic() >= next_sweep:
                self.run_sweep()
                next_sweep = time.monotonic() + settings.RETENTION_INTERVAL_SECONDS
            if once:
                return
            deadline = time.monotonic() + settings.SCHEDULER_INTERVAL_SECONDS
            while not stopping and time.monotonic() < deadline:
                time.sleep(0.5)

    def run_round(self):
        close_old_connections()
        try:
            requeued, failed = services.reap_stale_results()
            resent = services.resend_orphaned_queued()
        except Exception:
            # A database or Redis outage must not end the loop; the next round tries again.
            log.exception("Housekeeping round failed")
            return
        if requeued or failed or resent:
            log.info("Reaper: %s re-queued, %s failed as worker lost, %s re-sent", requeued, failed, resent)

    def run_sweep(self):
        try:
            housekeeping.purge_expired()
            housekeeping.purge_stale_temporary_files()
        except Exception:
            log.exception("Retention sweep failed")
