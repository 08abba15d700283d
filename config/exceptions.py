"""Domain exceptions and the one API exception handler.

Services raise DomainError subclasses; they know nothing of HTTP beyond a status
code. The handler turns those and DRF's own exceptions into one normalised error
(status, machine code, human message, per-field details) and renders it in the
envelope of the facade the request came through, chosen by URL prefix.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response


class DomainError(Exception):
    status_code = 400
    code = "invalid_request"
    default_message = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.code
        self.fields = fields or {}
        super().__init__(self.message)


def invalid_input_message(fields: Mapping[str, object]) -> str:
    """The message of a 400 with per-field problems: it names the fields."""
    return f"Invalid input in: {', '.join(sorted(fields))}."


class ValidationFailed(DomainError):
    status_code = 400
    code = "invalid_request"

    @classmethod
    def raise_for(cls, fields: dict[str, list[str]]) -> None:
        """Raise for per-field problems (field -> messages), if there are any."""
        if fields:
            raise cls(invalid_input_message(fields), fields=fields)


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_message = "Not found."


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_message = "The request conflicts with the current state."


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Unprocessable(DomainError):
    status_code = 422
    code = "unprocessable"


@dataclass
class ApiError:
    status: int
    code: str
    message: str
    fields: dict[str, list[str]] = field(default_factory=dict)


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as {"params.to": ["..."], "items[2].email": [...]}."""
    out: dict[str, list[str]] = {}

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if isinstance(key, int):  # ListField reports items by index
                    walk(value, f"{path}[{key}]")
                else:
                    walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list | tuple):
            if all(not isinstance(item, dict | list | tuple) for item in node):
                out.setdefault(path or "non_field_errors", []).extend(str(i) for i in node)
            else:
                for index, item in enumerate(node):
                    walk(item, f"{path}[{index}]")
        else:
            out.setdefault(path or "non_field_errors", []).append(str(node))

    walk(detail, prefix)
    return out


_DRF_CODES: list[tuple[type[drf.APIException], str]] = [
    (drf.ParseError, "malformed_request"),
    (drf.NotAuthenticated, "unauthenticated"),
    (drf.AuthenticationFailed, "unauthenticated"),
    (drf.PermissionDenied, "forbidden"),
    (drf.NotFound, "not_found"),
    (drf.MethodNotAllowed, "method_not_allowed"),
    (drf.NotAcceptable, "not_acceptable"),
    (drf.UnsupportedMediaType, "unsupported_media_type"),
    (drf.Throttled, "rate_limited"),
]


def normalise(exc: Exception, status: int | None = None) -> ApiError | None:
    if isinstance(exc, DomainError):
        return ApiError(exc.status_code, exc.code, exc.message, exc.fields)
    if isinstance(exc, Http404):
        return ApiError(404, "not_found", "Not found.")
    if isinstance(exc, DjangoPermissionDenied):
        return ApiError(403, "forbidden", "You do not have permission to perform this action.")
    if isinstance(exc, RequestDataTooBig):
        # Raised lazily, when a parser (or a non-DRF view) first reads request.body.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return ApiError(413, "payload_too_large", f"The request body is larger than {limit} bytes.")
    if isinstance(exc, drf.ValidationError):
        fields = flatten_errors(exc.detail)
        return ApiError(400, "invalid_request", invalid_input_message(fields), fields)
    if isinstance(exc, drf.APIException):
        code = next((c for cls, c in _DRF_CODES if isinstance(exc, cls)), None)
        detail_code = getattr(exc.detail, "code", None)
        if isinstance(exc, drf.PermissionDenied) and detail_code not in (None, "permission_denied"):
            code = str(detail_code)
        message = str(exc.detail) if not isinstance(exc.detail, dict | list) else "Error."
        return ApiError(exc.status_code, code or "error", message)
    return None


# --- Facade envelopes -------------------------------------------------------
def _v1(error: ApiError) -> dict:
    return {
        "status": "error",
        "error": {"code": error.code, "message": error.message, "fields": error.fields},
    }


def _salesloft(error: ApiError) -> dict:
    # Salesloft answers {"status": 422, "error": "...", "errors": {field: [...]}}.
    return {
        "status": error.status,
        "error": error.message,
        "code": error.code,
        "errors": error.fields,
    }


def _magpipe(error: ApiError) -> dict:
    return {"error": error.message, "code": error.code, "fields": error.fields}


def _answerpal(error: ApiError) -> dict:
    # ASP.NET Core's (Validation)ProblemDetails, plus our machine code.
    return {
        "type": f"https://httpstatuses.io/{error.status}",
        "title": error.message,
        "status": error.status,
        "code": error.code,
        "errors": error.fields,
    }


# Longest prefix first: /functions/v1/ must win over anything shorter.
FACADES: list[tuple[str, Callable[[ApiError], dict]]] = [
    ("/functions/v1/", _magpipe),
    ("/v1/", _v1),
    ("/v2/", _salesloft),
    ("/api/", _answerpal),
]


def render_error(path: str, error: ApiError) -> dict:
    for prefix, renderer in FACADES:
        if path.startswith(prefix):
            return renderer(error)
    return _v1(error)


# Machine-to-machine paths that are no facade (the ESPs' webhooks): their errors
# are JSON too, in the v1 envelope (render_error's fallback).
MACHINE_PREFIXES: tuple[str, ...] = ("/webhooks/",)


def is_api_path(path: str) -> bool:
    return path.startswith(MACHINE_PREFIXES) or any(
        path.startswith(prefix) for prefix, _ in FACADES
    )


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    # Imported here: rest_framework.views loads the authentication classes, which
    # import services, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler  # noqa: PLC0415

    response = drf_exception_handler(exc, context)  # keeps WWW-Authenticate, Retry-After
    error = normalise(exc)
    if error is None:
        return response  # unexpected: let Django's 500 handling take it
    request = context.get("request")
    path = request.path if request is not None else ""
    headers = dict(response.headers) if response is not None else {}
    headers.pop("Content-Type", None)
    return Response(render_error(path, error), status=error.status, headers=headers)


def json_error_response(path: str, error: ApiError) -> JsonResponse:
    return JsonResponse(render_error(path, error), status=error.status)
