"""The Dramatiq broker, set up once from settings.REDIS_URL.

Actor modules import this before declaring actors, because Dramatiq binds an actor to the
global broker when it is declared.
"""

import os
import socket
import threading
import time

import dramatiq
from django.conf import settings
from django.db import close_old_connections
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import (AgeLimit, Callbacks, CurrentMessage, Middleware, Pipelines, Retries,
                                 ShutdownNotifications, TimeLimit)


class DjangoDbConnections(Middleware):
    """Closes stale database connections around each message, as Django does around requests.

    A worker thread lives for days; without this it keeps a connection the server has closed.
    """

    def before_process_message(self, broker, message):
        close_old_connections()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        close_old_connections()

    after_skip_message = after_process_message


class WorkerHeartbeat(Middleware):
    """Each worker process refreshes a Redis key while it runs, so /readyz can tell that someone is
    there to take jobs. The key expires by itself when the process dies."""

    def after_worker_boot(self, broker, worker):
        self.stopping = threading.Event()
        self.key = heartbeat_key(f"{socket.gethostname()}-{os.getpid()}")
        threading.Thread(target=self._beat, args=(broker,), daemon=True).start()

    def _beat(self, broker):
        while not self.stopping.is_set():
            try:
                broker.client.set(self.key, str(time.time()), ex=3 * settings.WORKER_HEARTBEAT_SECONDS)
            except Exception:  # Redis away: /readyz reports it; keep trying.
                pass
            self.stopping.wait(settings.WORKER_HEARTBEAT_SECONDS)

    def before_worker_shutdown(self, broker, worker):
        self.stopping.set()
        try:
            broker.client.delete(self.key)
        except Exception:
            pass


def heartbeat_key(name="*"):
    return f"{settings.DRAMATIQ_NAMESPACE}:worker-heartbeat:{name}"


def make_broker():
    # Explicit middleware: Dramatiq's defaults add a Prometheus exporter process on port 9191 and
    # retry a failed message 20 times over a month, both wrong here. Actors set their own
    # max_retries and time_limit.
    middleware = [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
                  Retries(max_retries=0), CurrentMessage(), DjangoDbConnections(), WorkerHeartbeat()]
    return RedisBroker(url=settings.REDIS_URL, namespace=settings.DRAMATIQ_NAMESPACE, middleware=middleware)


broker = make_broker()
dramatiq.set_broker(broker)
