"""Endpoints for load balancers and monitoring: /healthz, /readyz and /metrics."""

import ipaddress
import time
import uuid

import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.db.models import Count, F, Sum
from django.http import Http404, HttpResponse, JsonResponse

from jobs.queue import heartbeat_key
from heygem_site.proxies import client_address


def healthz(request):
    """The process answers: nothing else is checked (a restart would not fix a database outage)."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready to take work: database, Redis and storage reachable, disk above its floor, a worker alive."""
    checks = {}
    checks["database"] = _check(lambda: connection.cursor().execute("SELECT 1"))
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    checks["redis"] = _check(client.ping)
    checks["storage"] = _check(_probe_storage)
    checks["disk"] = _check(_check_disk)
    checks["worker"] = _check(lambda: _check_worker(client)) if checks["redis"] == "ok" else "unknown: Redis is down"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ready" if ready else "not ready", "checks": checks}, status=200 if ready else 503)


def _check(probe):
    try:
        probe()
        return "ok"
    except Exception as exc:  # Any failure is the answer here, not an error of this view.
        return f"failed: {type(exc).__name__}: {exc}"[:300]


def _probe_storage():
    name = default_storage.save(f"readyz/{uuid.uuid4().hex}", ContentFile(b"ok"))
    default_storage.delete(name)


def _check_disk():
    from jobs.storage import free_space

    space = free_space()
    if space is not None and space[0] < settings.MIN_FREE_DISK_BYTES:
        raise RuntimeError(f"{space[0] // 1024**2} MB free, below the floor of {settings.MIN_FREE_DISK_BYTES // 1024**2} MB")


def _check_worker(client):
    newest = max((float(client.get(key) or 0) for key in client.scan_iter(heartbeat_key())), default=0)
    if time.time() - newest > 3 * settings.WORKER_HEARTBEAT_SECONDS:
        raise RuntimeError("no worker has reported recently")


def _allowed(request):
    if request.user.is_authenticated and request.user.is_staff:
        return True
    try:
        address = ipaddress.ip_address(client_address(request))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.METRICS_ALLOWED_NETWORKS)


def metrics(request):
    """Prometheus text format. Anyone else gets the same 404 as for a page that does not exist."""
    if not _allowed(request):
        raise Http404
    from jobs import queue
    from jobs.models import Asset, Result
    from jobs.storage import free_space

    lines = []

    def metric(name, kind, help_text, samples):
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            lines.append(f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}")

    by_state = dict(Result.objects.values_list("state").annotate(n=Count("pk")))
    metric("heygem_results", "gauge", "Videos by state.",
           [({"state": state}, by_state.get(state, 0)) for state in Result.State.values])
    try:
        depths = [({"queue": name}, queue.queue_length(name)) for name in queue.work_queues()]
    except Exception:
        depths = []  # Redis away: /readyz says so.
    metric("heygem_queue_depth", "gauge", "Messages waiting or in progress, by work queue (one per queued video).",
           depths)
    done = Result.objects.filter(state=Result.State.SUCCEEDED, started_at__isnull=False, finished_at__isnull=False)
    totals = done.aggregate(wall=Sum(F("finished_at") - F("started_at")), output=Sum("output_duration_s"),
                            frames=Sum(F("output_duration_s") * F("video__fps")))
    wall = totals["wall"].total_seconds() if totals["wall"] else 0.0
    metric("heygem_generation_seconds_total", "counter", "Wall seconds spent generating finished videos.",
           [({}, round(wall, 3))])
    metric("heygem_output_seconds_total", "counter", "Seconds of video generated.", [({}, round(totals["output"] or 0, 3))])
    metric("heygem_frames_per_second", "gauge", "Frames generated per wall second, over all finished videos.",
           [({}, round((totals["frames"] or 0) / wall, 3) if wall else 0)])
    errors = Result.objects.filter(state=Result.State.FAILED).values_list("error_code").annotate(n=Count("pk"))
    metric("heygem_errors", "gauge", "Failed videos by error code.", [({"code": code}, n) for code, n in errors])
    uploads = Asset.objects.aggregate(n=Sum("size"))["n"] or 0
    outputs = Result.objects.aggregate(o=Sum("output_size"), t=Sum("thumbnail_size"))
    metric("heygem_storage_bytes", "gauge", "Bytes stored, by kind.",
           [({"kind": "uploads"}, uploads), ({"kind": "outputs"}, outputs["o"] or 0),
            ({"kind": "thumbnails"}, outputs["t"] or 0)])
    space = free_space()
    if space:
        metric("heygem_disk_free_bytes", "gauge", "Free bytes on the media volume.", [({}, space[0])])
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4; charset=utf-8")
