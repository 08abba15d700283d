"""What the OpenAPI document (drf-spectacular, `/api/schema/`) says beyond the views'
own annotations, so every response validates against it (`make fuzz`).

- `Envelope`: the base of every response envelope. drf-spectacular documents a
  list view's response as an array of its serializer; a list view here answers
  one envelope (`{"status", "actions": [...], "pagination"}`, `{"items",
  "pageNumber", ...}`), so an envelope is never wrapped in an array.
- `document_error_responses`: a postprocessing hook that documents the error
  answers every operation can give, each in its facade's envelope (config.
  exceptions renders them): 400 (bad input), 401 (no or bad key), 403 (a key
  without the scope), 404 (an operation with path parameters: an unknown or
  other workspace's id), 409 (writes: a state conflict), 413 and 415 (a body
  too large or not JSON), 422 (an `Idempotency-Key` reused for another
  request) and 429 (the /v2 cost budget). A code a view documents itself keeps
  its description and gets the envelope's schema when it gave none.
- `LIMIT_SKIP_PARAMS`, `IDEMPOTENCY_HEADER`: the parameters of config.pagination's
  v1 lists and of accounts.idempotency's `idempotent` writes, for `extend_schema`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema_serializer
from rest_framework import serializers

from config.exceptions import FACADES

LIMIT_SKIP_PARAMS = [OpenApiParameter("limit", int), OpenApiParameter("skip", int)]
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Replays the first response for 24 hours; another body with the same key is 422.",
)


@extend_schema_serializer(many=False)
class Envelope(serializers.Serializer):
    """A response object; on a list view the documented 200 is this one object."""


_FIELDS = {
    "type": "object",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
    "description": 'Per-field messages: `{"params.to": ["..."], "items[2].email": [...]}`.',
}
_CODE = {"type": "string", "description": "A machine code, e.g. `invalid_request`, `not_found`."}

# One schema per facade, as config.exceptions renders it, keyed by the renderer.
ERROR_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "_v1": (
        "V1Error",
        {
            "type": "object",
            "properties": {
                "status": {"type": "string", "enum": ["error"]},
                "error": {
                    "type": "object",
                    "properties": {
                        "code": _CODE,
                        "message": {"type": "string"},
                        "fields": _FIELDS,
                    },
                    "required": ["code", "message", "fields"],
                },
            },
            "required": ["status", "error"],
        },
    ),
    "_salesloft": (
        "SalesloftError",
        {
            "type": "object",
            "properties": {
                "status": {"type": "integer", "description": "The HTTP status."},
                "error": {"type": "string"},
                "code": _CODE,
                "errors": _FIELDS,
            },
            "required": ["status", "error", "code", "errors"],
        },
    ),
    "_magpipe": (
        "MagpipeError",
        {
            "type": "object",
            "properties": {"error": {"type": "string"}, "code": _CODE, "fields": _FIELDS},
            "required": ["error", "code", "fields"],
        },
    ),
    "_answerpal": (
        "ProblemDetails",
        {
            "type": "object",
            "description": "ASP.NET Core's (Validation)ProblemDetails, plus a machine code.",
            "properties": {
                "type": {"type": "string"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "code": _CODE,
                "errors": _FIELDS,
            },
            "required": ["type", "title", "status", "code", "errors"],
        },
    ),
}

DESCRIPTIONS = {
    "400": "Bad input: every bad field is named.",
    "401": "No API key, or an unknown or revoked one.",
    "403": "The key lacks the operation's scope.",
    "404": "No such record in the key's workspace.",
    "409": "The request conflicts with the record's state.",
    "413": "The body is larger than the upload limit.",
    "415": "The body is not JSON.",
    "422": "The Idempotency-Key was used for another request.",
    "429": "The workspace's budget for the minute is spent; see `Retry-After`.",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def _facade(path: str) -> str | None:
    for prefix, renderer in FACADES:
        if path.startswith(prefix):
            return renderer.__name__
    return None


def error_codes(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    """The error statuses `operation` can answer (see the module docstring)."""
    parameters = operation.get("parameters", [])
    codes = ["400"]
    if operation.get("security"):
        codes += ["401", "403"]
    if any(p.get("in") == "path" for p in parameters):
        codes.append("404")
    if method in WRITE_METHODS:
        codes.append("409")
    if "requestBody" in operation:
        codes += ["413", "415"]
    if any(p.get("in") == "header" and p.get("name") == "Idempotency-Key" for p in parameters):
        codes.append("422")
    if path.startswith("/v2/"):
        codes.append("429")
    return codes


GENERIC_OBJECTS = ({"type": "object"}, {"type": "object", "additionalProperties": {}})


def _is_generic(schema: dict[str, Any] | None) -> bool:
    return schema is None or schema in GENERIC_OBJECTS


def document_error_responses(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for path, item in result.get("paths", {}).items():
        facade = _facade(path)
        if facade is None:
            continue
        name, schema = ERROR_SCHEMAS[facade]
        schemas.setdefault(name, schema)
        ref = {"$ref": f"#/components/schemas/{name}"}
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            responses = operation.setdefault("responses", {})
            codes = set(error_codes(path, method, operation))
            codes |= {c for c in responses if c.startswith("4")}
            for code in sorted(codes):
                response = responses.setdefault(code, {"description": DESCRIPTIONS.get(code, "")})
                content = response.setdefault("content", {}).setdefault("application/json", {})
                if _is_generic(content.get("schema")):
                    content["schema"] = ref
    return result
