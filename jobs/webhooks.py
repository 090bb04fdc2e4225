"""Webhooks: which addresses a finished job may be announced to, and the delivery itself.

A webhook is a request the worker makes on a user's behalf, from inside the operator's network, so it may
only reach the public internet: every address its host resolves to must be a global unicast address,
unless it lies in a network the operator allows (HEYGEM_WEBHOOK_ALLOWED_NETWORKS). The check runs when the
job is created, so the user is told at once, and again on every connection, against the very address
connected to (a name may resolve differently by then). Redirects are not followed.
"""

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import socket
from urllib.parse import urlsplit

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from jobs.errors import Refused

log = logging.getLogger(__name__)

KINDS = {
    "loopback": _("a loopback"), "private": _("a private"), "link_local": _("a link-local"),
    "multicast": _("a multicast"), "reserved": _("a reserved"),
}


def address_kind(address):
    """Why the worker must not connect to `address` (a key of KINDS), or None for a public address."""
    address = ipaddress.ip_address(address)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if any(address in ipaddress.ip_network(net, strict=False) for net in settings.WEBHOOK_ALLOWED_NETWORKS):
        return None
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified or address.is_reserved:
        return "reserved"
    if address.is_private:
        return "private"
    if not address.is_global:
        return "reserved"  # shared address space (100.64/10), documentation ranges, ...
    return None


def _target(url):
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("webhook_url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Refused("webhook_url") from None
    return parts, port


def resolve(host, port):
    """The addresses to connect to for `host`, all checked; raises Refused naming the first one refused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused("webhook_unresolved", host=host) from None
    for *_, sockaddr in infos:
        kind = address_kind(sockaddr[0])
        if kind is not None:
            raise Refused("webhook_address", host=host, address=sockaddr[0], kind=KINDS[kind])
    return infos


def check_url(url):
    """Raises Refused when `url` is not an http(s) address of a public host (or an allowed network)."""
    parts, port = _target(url)
    resolve(parts.hostname, port)


def _checked_connection(address, timeout=None, source_address=None):
    """socket.create_connection() that connects only to addresses resolve() allows."""
    host, port = address
    error = None
    for family, kind, proto, _, sockaddr in resolve(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"no address for {host}")


def post(url, body, headers, timeout):
    """POSTs `body` to `url` over a checked connection and returns the status; no redirect is followed."""
    parts, port = _target(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.hostname, port, timeout=timeout)
    # HTTPSConnection.connect() wraps what this returns in TLS for the host name, as usual.
    connection._create_connection = _checked_connection
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def payload(job):
    return {
        "event": "job.finished",
        "job": job.pk,
        "results": [{"id": r.pk, "state": r.state, "error_code": r.error_code, "video": r.video.original_name}
                    for r in job.results.select_related("video").order_by("pk")],
    }


def deliver(job_id):
    """Sends the job.finished webhook once. A refused address ends the delivery (recorded in the job's log);
    a failed one raises, so the actor retries with backoff."""
    from jobs import events
    from jobs.events import record_event
    from jobs.models import Job

    job = Job.objects.filter(pk=job_id).exclude(webhook_url="").first()
    if job is None:
        return
    body = json.dumps(payload(job), sort_keys=True).encode()
    signature = hmac.new(job.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-HeyGem-Event": events.JOB_FINISHED,
               "X-HeyGem-Signature": f"sha256={signature}", "User-Agent": "HeyGem-Webhook"}
    try:
        status = post(job.webhook_url, body, headers, settings.WEBHOOK_TIMEOUT_SECONDS)
    except Refused as refused:
        log.warning("Webhook of job %s refused: %s", job_id, refused.code, extra={"job": job_id})
        record_event(job_id, events.WEBHOOK_REFUSED, refused.message, data={"code": refused.code})
        return
    except OSError as exc:
        record_event(job_id, events.WEBHOOK_FAILED, f"The webhook could not be reached ({type(exc).__name__}); trying again later")
        raise
    if not 200 <= status < 300:
        note = " (redirects are not followed)" if 300 <= status < 400 else ""
        record_event(job_id, events.WEBHOOK_FAILED, f"The webhook answered HTTP {status}{note}; trying again later")
        raise RuntimeError(f"webhook answered {status}")
    record_event(job_id, events.WEBHOOK_DELIVERED, f"The webhook answered HTTP {status}")
