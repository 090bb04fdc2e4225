"""Typed readers for settings that come from the environment.

Every reader takes the variable's name and a default, and raises ImproperlyConfigured with a
message naming the variable when its value cannot be used, so a bad deployment fails at start
instead of at the first request. A secret may come from `NAME_FILE` (a path, e.g. a Docker or
systemd credential) instead of `NAME`.
"""

import ipaddress
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
MISSING = object()


def _raw(name, environ):
    if name in environ:
        return environ[name]
    path = environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {path!r} ({exc.strerror}).") from exc
    return None


def env_str(name, default=MISSING, *, environ=os.environ):
    value = _raw(name, environ)
    if value is None:
        if default is MISSING:
            raise ImproperlyConfigured(f"{name} must be set.")
        return default
    return value


def env_bool(name, default, *, environ=os.environ):
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}: expected true or false, got {value!r}.")


def env_int(name, default, *, minimum=None, maximum=None, environ=os.environ):
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: must be at least {minimum}, got {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}: must be at most {maximum}, got {number}.")
    return number


def env_list(name, default, *, environ=os.environ):
    """A comma-separated list; blanks are dropped."""
    value = _raw(name, environ)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name, default, choices, *, environ=os.environ):
    value = env_str(name, default, environ=environ).strip().lower()
    if value not in choices:
        raise ImproperlyConfigured(f"{name}: expected one of {', '.join(choices)}, got {value!r}.")
    return value


def env_networks(name, default, *, environ=os.environ):
    """A comma-separated list of networks (`10.0.0.0/8`) or single addresses, each checked."""
    networks = env_list(name, default, environ=environ)
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError:
            raise ImproperlyConfigured(f"{name}: {network!r} is not an address or network (e.g. 10.0.0.0/8).") from None
    return networks
