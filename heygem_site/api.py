"""The REST API's one error shape: {"error": {"code": ..., "message": ...}}."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    # DRF turns these two into API errors inside its own handler; do it first to read their code.
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # An unexpected error: Django logs it and answers 500.
    detail = getattr(exc, "detail", None)
    code = getattr(exc, "default_code", "error")
    if isinstance(detail, (dict, list)):
        # Validation errors keep their per-field details next to a summary message.
        response.data = {"error": {"code": code, "message": str(exc.default_detail), "fields": detail}}
    else:
        code = getattr(detail, "code", code)
        response.data = {"error": {"code": code, "message": str(detail)}}
    return response
