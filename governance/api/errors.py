"""One error shape for every API response: {"code", "message", "details"}.

Domain errors carry their code and HTTP status; DRF's own (authentication, permission,
parsing, throttling, 404) are mapped to the same shape. Anything else is a bug: it is
logged with its traceback and the client gets a 500 in the same shape, never a page.
"""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost, RequestDataTooBig, TooManyFieldsSent
from django.http import Http404, HttpRequest, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler

from governance.api.throttles import refused_request_admit
from governance.errors import DomainError
from governance.margin import MarginError


def error_body(code: str, message: str, details: Any = None) -> dict:
    return {"code": code, "message": message, "details": details}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, (DomainError, MarginError)):  # the engine's errors carry their code and status too
        return Response(error_body(exc.code, exc.message, getattr(exc, "details", None)), status=exc.http_status)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", "not found"), status=404)
    if isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed, exceptions.PermissionDenied)):
        wait = refused_request_admit(context["request"])
        if wait is not None:
            exc = exceptions.Throttled(wait)
    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: Django's 500 handler (below) answers in the same shape
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid_request", "the request is invalid", exc.detail)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = exc.get_codes() if isinstance(exc, exceptions.APIException) else "error"
        body = error_body(code if isinstance(code, str) else "error", str(detail))
    response.data = body
    return response


def not_found(request: HttpRequest, exception: Exception | None = None):
    """The project's 404: JSON under /api/, Django's page elsewhere (the admin)."""
    if request.path.startswith("/api/"):
        message = f"no such resource: {request.path}"
        if not request.path.endswith("/") and _resolves(request.path_info + "/"):
            message += f" (did you mean {request.path}/? every API path ends with a slash)"
        return JsonResponse(error_body("not_found", message), status=404)
    return defaults.page_not_found(request, exception)


def _resolves(path: str) -> bool:
    try:
        resolve(path)
    except Resolver404:
        return False
    return True


def bad_request(request: HttpRequest, exception: Exception | None = None):
    """Django's own 400s (a body or query beyond its limits, a Host not allowed): JSON under /api/."""
    if not request.path.startswith("/api/"):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return JsonResponse(error_body("too_large", f"the request body is larger than "
                                                    f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"), status=413)
    if isinstance(exception, TooManyFieldsSent):
        return JsonResponse(error_body("invalid_request", f"more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} "
                                                          f"query or form parameters"), status=400)
    if isinstance(exception, DisallowedHost):
        return JsonResponse(error_body("invalid_request", "this host name is not served here (ALLOWED_HOSTS)"),
                            status=400)
    return JsonResponse(error_body("invalid_request", "bad request"), status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("permission_denied", "permission denied"), status=403)
    return defaults.permission_denied(request, exception)


def server_error(request: HttpRequest):
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("server_error", "internal error; it has been logged"), status=500)
    return defaults.server_error(request)
