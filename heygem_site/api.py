"""The REST API's one error shape: {"error": {"code": ..., "message": ...}}, with "fields" for invalid input.

Every message is the specific one, in the request's language: a validation error says which field and
what is wrong with it, not a generic summary.
"""

import math

import redis
from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jobs.errors import Refused, http_status

RETRY_AFTER_SECONDS = 30


def exception_handler(exc, context):
    # DRF turns these two into API errors inside its own handler; do it first to read their code.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*[str(arg) for arg in exc.args[:1]])
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, Refused):
        return Response(error_body(exc.code, exc.message), status=http_status(exc.code))
    elif isinstance(exc, exceptions.Throttled):
        return throttled(exc.wait)
    elif isinstance(exc, redis.exceptions.ConnectionError):
        # Redis carries messages only: nothing was half-done on its account, so the client may simply retry.
        return Response(error_body("unavailable", _("The service is briefly unavailable. Try again in a moment.")),
                        status=status.HTTP_503_SERVICE_UNAVAILABLE, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # An unexpected error: Django logs it, and server_error() below answers.
    detail = getattr(exc, "detail", None)
    if isinstance(detail, (dict, list)):
        response.data = error_body("invalid", summary(detail), fields=detail)
    else:
        response.data = error_body(getattr(detail, "code", None) or getattr(exc, "default_code", "error"), str(detail))
    return response


def throttled(wait):
    """Too many requests: the one error shape, in the request's language, and when to come back."""
    seconds = max(1, math.ceil(wait or 1))
    message = ngettext("Too many requests. Try again in %(seconds)d second.",
                       "Too many requests. Try again in %(seconds)d seconds.", seconds) % {"seconds": seconds}
    return Response(error_body("throttled", message), status=status.HTTP_429_TOO_MANY_REQUESTS,
                    headers={"Retry-After": str(seconds)})


def error_body(code, message, **extra):
    return {"error": {"code": code, "message": str(message), **extra}}


def summary(detail, prefix=""):
    """One readable line from DRF's nested validation errors: `videos.0: A valid integer is required.`"""
    if isinstance(detail, dict):
        items = [(f"{prefix}{key}" if key != "non_field_errors" else prefix.rstrip("."), value)
                 for key, value in detail.items()]
        return " ".join(summary(value, f"{name}." if name else "") for name, value in items)
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            name = prefix.rstrip(".")
            text = " ".join(str(item) for item in detail)
            return f"{name}: {text}" if name else text
        return " ".join(summary(item, f"{prefix}{i}.") for i, item in enumerate(detail) if item)
    name = prefix.rstrip(".")
    return f"{name}: {detail}" if name else str(detail)


def _is_api(request):
    return request.path.startswith("/api/")


def page_not_found(request, exception=None):
    """A URL that matches nothing (or an id out of range): JSON under /api/, the usual page elsewhere."""
    if _is_api(request):
        return JsonResponse(error_body("not_found", _("Not found.")), status=404)
    from django.views.defaults import page_not_found as html_page_not_found

    return html_page_not_found(request, exception)


def bad_request(request, exception=None):
    """Refused before any view ran (e.g. too many form fields): JSON under /api/."""
    if _is_api(request):
        return JsonResponse(error_body("invalid", _("The request could not be read.")), status=400)
    from django.views.defaults import bad_request as html_bad_request

    return html_bad_request(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", _("You do not have permission to do this.")), status=403)
    from django.views.defaults import permission_denied as html_permission_denied

    return html_permission_denied(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("internal_error", _("Something went wrong on our side. Try again later.")),
                            status=500)
    from django.views.defaults import server_error as html_server_error

    return html_server_error(request)
