"""Errors on API paths are always the facade's JSON, whatever produced them.

DRF views render their own errors (config.exceptions.api_exception_handler), and
with DEBUG off handler404/handler500 answer JSON on API paths. That leaves
errors produced outside DRF or by Django's debug machinery:

- an exception raised by a non-DRF view on an API path (the ESPs' webhooks read
  `request.body`, which raises RequestDataTooBig over DATA_UPLOAD_MAX_MEMORY_SIZE):
  `process_exception` renders the normalised error (413 for that one);
- an HTML error page from anywhere else: Django's technical 404 and 500 pages with
  DEBUG on, its 400 page for a SuspiciousOperation, a bare HttpResponseNotAllowed
  (405): `__call__` replaces it with the envelope for the same status, keeping
  headers such as `Allow` and `Retry-After`.

Non-API paths (the admin, the unsubscribe page, `/`) keep Django's behaviour.
"""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.http import HttpRequest, HttpResponse, HttpResponseBase

from config.exceptions import ApiError, is_api_path, json_error_response, normalise

JSON_TYPES = ("application/json", "application/problem+json")
# Machine codes for statuses an HTML page may carry; others use "error".
STATUS_CODES = {
    400: ("invalid_request", "The request is invalid."),
    403: ("forbidden", "You do not have permission to perform this action."),
    404: ("not_found", "No such endpoint."),
    405: ("method_not_allowed", "Method not allowed."),
    413: ("payload_too_large", "The request body is too large."),
    500: ("server_error", "Internal error; it has been logged."),
}
# Headers of the page that are about its body, not about the answer.
BODY_HEADERS = {"content-type", "content-length", "content-encoding", "content-language"}


def _is_json(response: HttpResponseBase) -> bool:
    content_type = response.get("Content-Type", "").split(";", 1)[0].strip().lower()
    return content_type in JSON_TYPES


def _error_for_status(status: int) -> ApiError:
    code, message = STATUS_CODES.get(status, ("error", ""))
    if not message:
        try:
            message = f"{HTTPStatus(status).phrase}."
        except ValueError:
            message = "Error."
    return ApiError(status, code, message)


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code < 400 or _is_json(response) or not is_api_path(request.path):
            return response
        replacement = json_error_response(request.path, _error_for_status(response.status_code))
        for name, value in response.items():
            if name.lower() not in BODY_HEADERS:
                replacement[name] = value
        replacement.cookies = response.cookies
        return replacement

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api_path(request.path):
            return None
        error = normalise(exception)
        if error is None:
            return None  # unexpected: Django's 500 handling logs it (and __call__ renders it)
        return json_error_response(request.path, error)
