"""Which forwarded headers to believe: only those sent by a proxy the operator named (HEYGEM_TRUSTED_PROXIES).

One rule for everything that depends on them: the HTTPS redirect and secure cookies (X-Forwarded-Proto,
through SECURE_PROXY_SSL_HEADER), /metrics' address check and the sign-in rate limit (X-Forwarded-For).
A client that reaches the app port directly sends what it likes; its forwarded headers are dropped
before any of those read them.
"""

import ipaddress

from django.conf import settings

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                     "HTTP_X_FORWARDED_PORT", "HTTP_X_REAL_IP", "HTTP_FORWARDED")


def is_trusted_proxy(address):
    try:
        address = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return any(address in ipaddress.ip_network(net, strict=False) for net in settings.TRUSTED_PROXIES)


class TrustedProxyMiddleware:
    """First in MIDDLEWARE: removes forwarded headers that did not come from a trusted proxy."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_trusted_proxy(request.META.get("REMOTE_ADDR")):
            for header in FORWARDED_HEADERS:
                request.META.pop(header, None)
        return self.get_response(request)


def client_address(request):
    """The client's address: the peer, or behind trusted proxies the last address they did not add
    themselves (entries further left come from the client and prove nothing)."""
    peer = request.META.get("REMOTE_ADDR") or ""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if forwarded and is_trusted_proxy(peer):
        for entry in reversed(forwarded.split(",")):
            if entry.strip() and not is_trusted_proxy(entry):
                return entry.strip()
    return peer or "0.0.0.0"
