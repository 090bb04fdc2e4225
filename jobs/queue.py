"""Sending work to the workers, and everything about the queue that carries it.

Work is sent by actor name after commit (`send_on_commit`), so the code that changes state never
imports the actors (jobs/tasks.py) that do the work. The Dramatiq broker is set up here once from
settings.REDIS_URL; jobs/tasks.py imports this module before declaring its actors, because Dramatiq
binds an actor to the global broker when it is declared. Every Redis key name Dramatiq and the
workers use is spelled here and nowhere else.
"""

import logging
import threading
import time

import dramatiq
import redis
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, transaction
from dramatiq.brokers.redis import RedisBroker
from dramatiq.common import current_millis
from dramatiq.message import Message
from dramatiq.middleware import (AgeLimit, Callbacks, CurrentMessage, Middleware, Pipelines, Retries,
                                 ShutdownNotifications, TimeLimit)

import inference
from inference import backends

log = logging.getLogger(__name__)

# The actors of jobs/tasks.py, by name: senders use these, never the actor functions.
RUN_LIPSYNC = "run_lipsync"
SPEAK_SCRIPT = "speak_script"
DELIVER_WEBHOOK = "deliver_webhook"

# Queues by what the work needs. A job that asks for a backend by name that not every worker can run
# (a GPU, weights on its disk) waits on that backend's own queue, consumed only by workers that have
# what it needs; everything else (`auto`, the CPU engines, speaking a script) can run anywhere. Webhooks
# have their own queue, so a slow receiver never holds up a video. Which job of a queue a message starts
# is decided in PostgreSQL when a worker claims it (services.claim_result), not by the message order.
ANYWHERE = "work.any"
WEBHOOKS = "webhooks"


def backend_queue(backend):
    """The queue of the videos of a job that asks for `backend` ("auto" included)."""
    if backend == "auto" or not _needs_something(backend, backends.get(backend)):
        return ANYWHERE
    return f"work.{backend}"


def _needs_something(name, cls):
    return cls.needs_gpu or cls.unavailable(inference.Config(backend=name)) is not None


def work_queues():
    """Every queue videos and scripts may wait on."""
    return [ANYWHERE] + [backend_queue(name) for name in backends.names() if backend_queue(name) != ANYWHERE]


def backends_of(queue_name):
    """The job backends whose videos wait on `queue_name`."""
    return [name for name in ("auto",) + backends.names() if backend_queue(name) == queue_name]


def capability():
    """What this worker offers: {"gpu": bool, "backends": names it can run}, from settings.WORKER_GPU and the
    weights configured (HEYGEM_WAV2LIP_CHECKPOINT, HEYGEM_MUSETALK_DIR)."""
    gpu = settings.WORKER_GPU == "yes" or (settings.WORKER_GPU == "auto" and _cuda_available())
    runnable = []
    for name in backends.names():
        cls = backends.get(name)
        config = inference.Config(backend=name, device="cuda" if gpu else "cpu",
                                  wav2lip_checkpoint=settings.WAV2LIP_CHECKPOINT or None,
                                  musetalk_dir=settings.MUSETALK_DIR or None)
        if cls.unavailable(config) is None and (gpu or not cls.needs_gpu):
            runnable.append(name)
    return {"gpu": gpu, "backends": runnable}


def _cuda_available():
    import torch  # Only a worker asks; the web server never loads torch.

    return torch.cuda.is_available()


def worker_queues(offer=None):
    """The queues this worker consumes: settings.WORKER_QUEUES when set, else those its capability allows
    (`offer`, from capability()), webhooks included."""
    if settings.WORKER_QUEUES:
        unknown = set(settings.WORKER_QUEUES) - set(work_queues() + [WEBHOOKS])
        if unknown:
            # A misspelt queue would leave its jobs waiting for ever while the worker looks healthy.
            raise ImproperlyConfigured(f"HEYGEM_WORKER_QUEUES: no queue is called {', '.join(sorted(unknown))}; "
                                       f"the queues are {', '.join(work_queues() + [WEBHOOKS])}.")
        return list(settings.WORKER_QUEUES)
    offer = offer or capability()
    return [ANYWHERE] + sorted({backend_queue(name) for name in offer["backends"]} - {ANYWHERE}) + [WEBHOOKS]


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
        from jobs.recovery import worker_name

        self.stopping = threading.Event()
        self.key = heartbeat_key(worker_name())
        threading.Thread(target=self._beat, args=(broker,), daemon=True).start()

    def _beat(self, broker):
        while not self.stopping.is_set():
            try:
                broker.client.set(self.key, str(time.time()), ex=3 * settings.WORKER_HEARTBEAT_SECONDS)
            except Exception:  # Redis away: /readyz reports it; keep trying.
                pass
            self.stopping.wait(settings.WORKER_HEARTBEAT_SECONDS)

    # After, not before: a stopping worker is still there until it has handed its video back, and the
    # reaper must not take the video from it meanwhile.
    def after_worker_shutdown(self, broker, worker):
        self.stopping.set()
        try:
            broker.client.delete(self.key)
        except Exception:
            pass


def send(actor_name, *args, queue_name, time_limit_ms=None):
    """Puts one message for the actor called `actor_name` on `queue_name` now."""
    options = {"time_limit": time_limit_ms} if time_limit_ms else {}
    broker.enqueue(Message(queue_name=queue_name, actor_name=actor_name, args=args, kwargs={}, options=options))


def send_on_commit(actor_name, *args, queue_name, time_limit_ms=None):
    """Sends the message once the transaction that made the work commits (at once outside one)."""
    on_commit(send, actor_name, *args, queue_name=queue_name, time_limit_ms=time_limit_ms)


def on_commit(sender, *args, **kwargs):
    """Calls `sender(*args, **kwargs)`, which sends a message, once the transaction commits.

    The database is the truth: when Redis cannot take the message, the work stays queued there and
    the scheduler sends it again (services.resend_orphaned_queued), so the change that queued it
    still succeeds.
    """
    def run():
        try:
            sender(*args, **kwargs)
        except Exception:
            log.warning("Could not queue %s%r now; the scheduler will send it again", sender.__name__, args,
                        exc_info=True)
    transaction.on_commit(run)


def queue_length(queue_name):
    """Messages waiting on `queue_name` or fetched by a worker and not yet done."""
    return broker.client.hlen(f"{broker.namespace}:{queue_name}.msgs")


def heartbeat_key(name="*"):
    return f"{settings.DRAMATIQ_NAMESPACE}:worker-heartbeat:{name}"


def live_workers():
    """Names of the worker processes whose heartbeat key is in Redis (jobs.recovery.worker_name)."""
    prefix = heartbeat_key("")
    return {key.decode()[len(prefix):] for key in broker.client.scan_iter(heartbeat_key())}


def pending_messages(queue_name, alive_within_ms=10_000):
    """The messages of `queue_name` a worker will still get: waiting in the queue, or fetched by a consumer
    that sent a command within `alive_within_ms` (live consumers poll at least once a second).

    First hands back to the queue what consumers dead for the broker's heartbeat timeout had fetched
    (prefetched or running when they were killed). Dramatiq's Redis broker does that itself in its
    "maintenance", but only on a random one in a thousand commands; this runs it now, through the broker's
    own script (dramatiq 1.18's argument order: command, time, queue, broker id, heartbeat timeout,
    dead-letter ttl, maintenance flag, unpack size). A consumer that died more recently already counts as
    gone here, so its messages are sent again at once; the copy it held is skipped later (claims are
    conditional).
    """
    namespace, client, now = broker.namespace, broker.client, current_millis()
    broker.scripts["dispatch"](keys=[namespace], args=[
        "qsize", now, queue_name, broker.broker_id, broker.heartbeat_timeout, broker.dead_message_ttl, 1,
        broker._max_unpack_size()])
    ids = set(client.lrange(f"{namespace}:{queue_name}", 0, -1))
    for consumer in client.zrangebyscore(f"{namespace}:__heartbeats__", now - alive_within_ms, "+inf"):
        ids |= client.smembers(f"{namespace}:__acks__.{consumer.decode()}.{queue_name}")
    ids = sorted(ids)
    data = client.hmget(f"{namespace}:{queue_name}.msgs", ids) if ids else []
    return [Message.decode(item) for item in data if item]


def make_broker():
    # Explicit middleware: Dramatiq's defaults add a Prometheus exporter process on port 9191 and
    # retry a failed message 20 times over a month, both wrong here. Actors set their own
    # max_retries and time_limit.
    middleware = [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines(),
                  Retries(max_retries=0), CurrentMessage(), DjangoDbConnections(), WorkerHeartbeat()]
    # Timeouts: a request that queues a video must fail fast when Redis is away, not hang. Consumers
    # poll (no blocking reads), so a short read timeout is safe.
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=5, socket_timeout=30,
                                  health_check_interval=30)
    # A consumer that sent no command for this long is dead and its fetched messages go back to the
    # queue. Live consumers poll their queues at least once a second, busy or not.
    return RedisBroker(client=client, namespace=settings.DRAMATIQ_NAMESPACE, middleware=middleware,
                       heartbeat_timeout=20_000)


broker = make_broker()
dramatiq.set_broker(broker)
