"""X-Forwarded-* count only when a trusted proxy sent them (HEYGEM_TRUSTED_PROXIES): one rule for
/metrics, the HTTPS redirect and the sign-in rate limit."""

import pytest
from django.test import Client
from django.urls import reverse

from heygem_site.proxies import client_address

pytestmark = pytest.mark.django_db
SPOOF = {"HTTP_X_FORWARDED_FOR": "127.0.0.1", "HTTP_X_FORWARDED_PROTO": "https"}


def test_metrics_ignore_a_forwarded_address_from_an_untrusted_peer(client, settings):
    settings.TRUSTED_PROXIES = []
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9", **SPOOF).status_code == 404
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200


def test_metrics_believe_the_address_a_trusted_proxy_saw(client, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.2/32"]
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 200
    # The proxy appends what it saw: an entry the client wrote further left proves nothing.
    assert client.get("/metrics", REMOTE_ADDR="10.0.0.2",
                      HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9").status_code == 404


def behind_https_proxy(settings, trusted):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.TRUSTED_PROXIES = trusted
    return Client()  # Middleware reads these settings when the client's handler starts.


def test_a_direct_client_cannot_claim_https_to_skip_the_redirect(settings):
    client = behind_https_proxy(settings, ["127.0.0.1/32"])
    response = client.get(reverse("accounts:login"), REMOTE_ADDR="203.0.113.9", **SPOOF)
    assert response.status_code == 301 and response.url.startswith("https://")


def test_the_trusted_proxy_says_https(settings):
    client = behind_https_proxy(settings, ["127.0.0.1/32"])
    response = client.get(reverse("accounts:login"), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert response.wsgi_request.is_secure()


def test_the_sign_in_rate_limit_counts_the_real_client(personas, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32"]
    client = Client()
    # A client talking to the app port directly cannot pose as someone else to dodge its lockout...
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(reverse("accounts:login"), {"username": "mei", "password": "wrong"}, REMOTE_ADDR="203.0.113.9",
                    HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    locked = client.post(reverse("accounts:login"), {"username": "mei", "password": "wrong"},
                         REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.200")
    assert locked.status_code == 429
    # ...while behind the proxy each client is counted apart, not everyone as the proxy's address.
    other = client.post(reverse("accounts:login"), {"username": "mei", "password": "wrong"},
                        REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="192.0.2.7")
    assert other.status_code == 200


def test_the_client_address_rule(rf, settings):
    settings.TRUSTED_PROXIES = ["127.0.0.1/32", "10.0.0.0/8"]
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 192.0.2.1, 10.0.0.5")
    assert client_address(request) == "192.0.2.1"  # the last hop no trusted proxy added
    assert client_address(rf.get("/", REMOTE_ADDR="192.0.2.9", HTTP_X_FORWARDED_FOR="10.0.0.5")) == "192.0.2.9"
