"""ApiCall actions: one outbound HTTP request built from an ActionDefinition and a context.

    result = run_api_call(definition, {"endUser": {...}, "ticket": {...}})
    # {"status": 200, "mapped": {"ticket.externalId": "X-1"}, "body_excerpt": "...",
    #  "warnings": [...]}

The context is a JSON-like dict (the hook engine's run context); templates see a plain
copy of it (config.templating). Every template error, bad JSON setting or refused
destination is a PermanentError naming the field at fault.

Request
- URL: `api_endpoint` rendered in the templating "url" mode: every `{{ ... }}` value is
  percent-encoded as one path segment or query value (`/`, `?`, `#`, `&`, `..` included),
  so data can never change the path or add parameters; a missing or None value is an
  error rather than an empty segment. A rendered endpoint that starts with `http://` or
  `https://` is used as is; otherwise it is appended to `override_api_base_url` (or the
  caller's `default_base_url`) with exactly one `/` between them. No base URL and a
  relative endpoint → PermanentError.
- Method: `api_method` upper-cased, GET when blank; GET HEAD POST PUT PATCH DELETE OPTIONS.
- Headers: `api_headers`, a JSON object of name → value; values are rendered as text
  templates (missing values empty, see templating); CR/LF in a value is refused. The
  values are secrets (encrypted at rest, masked on every read): the real ones are sent,
  the preview shows each as "[redacted]", and a value written in the definition itself
  (no template markup) of at least SECRET_HEADER_MIN_CHARS characters is redacted like
  the password and token should a server echo it. Shorter or templated values are not
  searched for: they would blank out ordinary text and data taken from the context.
- Body: `api_body_template`.
  * If the template itself is valid JSON (`{"status": "{{ticket.status}}"}`, AnswerPal's
    style), each string in it (keys and values) is rendered on its own and the structure
    is kept: substituted data is JSON-escaped and cannot break out of its string.
  * Otherwise it is rendered as text (use `{{ value|tojson }}` for JSON values); if the
    result parses as JSON it is sent as JSON, else as text/plain; charset=utf-8.
  * A JSON body is sent with `Content-Type: application/json` unless `api_headers` sets
    a Content-Type.
- `field_mapping`: a JSON object {"externalField": "context.path"}. Each value is a
  dotted path into the context (`endUser.customerNumber`, `ticket.tags.0`; numeric
  segments index lists); each key is a dotted path in the outgoing JSON body, nested
  objects created as needed (`"customer.id"` → {"customer": {"id": ...}}). Mapped values
  are applied after the body template, so they win on conflicts. For GET and HEAD the
  mapped values become query parameters instead (key as written; objects and lists
  JSON-encoded, booleans true/false, null empty). A context path that does not exist is
  skipped with a warning. A body that is not a JSON object (text, array) cannot take
  mapped fields → PermanentError.
- Authentication (`override_api_authentication_type`): "Basic" sends
  `override_api_username` and the decrypted `override_api_password`; "Bearer" the
  decrypted `override_api_token`; blank or "None" nothing. It replaces any Authorization
  header from `api_headers`. Secrets are never logged, never returned, and are redacted
  from the response excerpt, mapped values and error messages should a server echo them.
  The outbound client drops them on a redirect to another origin.
- Timeout: `tool_call_timeout_seconds`, else settings.PROVIDER_TIMEOUT_SECONDS; it is the
  budget of the whole exchange (automations.outbound).

Response
- 2xx: when the body is JSON, `response_field_mapping` — a JSON object
  {"context.path": "response.json.path"} — is applied: each KEY is the context path to
  set, each VALUE a dotted path into the response JSON (numeric segments index lists;
  "" or "$" is the whole document; an optional "$." prefix is ignored). The result's
  "mapped" is flat, {context path: value}; `apply_mapped(context, mapped)` writes it
  into a copy of a context. Paths missing from the response are skipped with a warning.
- 408, 425, 429, 5xx, timeouts and network errors → TransientError (Retry-After honoured);
  other statuses (4xx, an unfollowed 3xx), refused destinations, TLS failures and
  oversized responses → PermanentError.
- Returns {"status": int, "mapped": dict, "body_excerpt": first 2 KB as text,
  "warnings": [str]} (warnings: placeholders that rendered empty, unmapped paths).

Previewing (the admin's Test button): `run_api_call(..., with_request=True)` adds
"request": {"method", "url", "headers", "body"} to the result, and sets the same dict as
`exc.request` on a TransientError/PermanentError raised once the request was built.
Authorization and every `api_headers` header are shown as "[redacted]", secrets anywhere
else are redacted and the body is cut at REQUEST_PREVIEW_BYTES. Without the flag nothing
changes.
"""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from automations.context import template_context
from automations.models import ActionDefinition, ActionDefinitionType, ApiAuthenticationType
from automations.outbound import BlockedDestination, OutboundError, safe_request
from config import templating
from config.queue import PermanentError, TransientError, parse_retry_after

logger = logging.getLogger(__name__)

ALLOWED_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
QUERY_METHODS = {"GET", "HEAD"}
RETRYABLE_STATUSES = {408, 425, 429}
BODY_EXCERPT_BYTES = 2048
REQUEST_PREVIEW_BYTES = 16_384
MAX_REQUEST_BODY_BYTES = 1_000_000
REDACTED = "[redacted]"
SECRET_HEADER_MIN_CHARS = 8

_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}$")
# An absolute endpoint or base URL (definition_run_warnings warns by it before a run).
ABSOLUTE_URL_RE = re.compile(r"^https?://", re.I)
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_TEMPLATE_MARKUP = ("{{", "{%", "{#")


# --- dotted paths ---------------------------------------------------------------------------
def _segments(path: str, what: str) -> list[str]:
    path = path.strip()
    if path.startswith("$."):
        path = path[2:]
    parts = path.split(".")
    if not path or any(not p or p.startswith("__") for p in parts):
        raise PermanentError(f"{what}: {path!r} is not a valid dotted path.")
    return parts


def get_path(data: Any, path: str, *, what: str = "path") -> tuple[bool, Any]:
    """(found, value) at dotted `path` in `data`; "" or "$" is `data` itself."""
    if path.strip() in ("", "$"):
        return True, data
    current = data
    for part in _segments(path, what):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and re.fullmatch(r"-?\d+", part):
            index = int(part)
            if not -len(current) <= index < len(current):
                return False, None
            current = current[index]
        else:
            return False, None
    return True, current


def set_path(data: dict, path: str, value: Any, *, what: str = "path") -> None:
    """Set dotted `path` in the dict `data`, creating intermediate objects."""
    parts = _segments(path, what)
    current = data
    for part in parts[:-1]:
        nxt = current.get(part)
        if nxt is None:
            nxt = current[part] = {}
        elif not isinstance(nxt, dict):
            raise PermanentError(f"{what}: cannot set {path!r}, {part!r} is not an object.")
        current = nxt
    current[parts[-1]] = value


def apply_mapped(context: dict, mapped: dict[str, Any]) -> dict:
    """A copy of `context` with each {context path: value} of `mapped` written into it."""
    result = copy.deepcopy(context)
    for path, value in mapped.items():
        set_path(result, path, value, what="response_field_mapping")
    return result


# --- definition fields ----------------------------------------------------------------------
def _json_object(raw: str, what: str) -> dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise PermanentError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise PermanentError(f"{what} must be a JSON object.")
    return value


def _string_mapping(raw: str, what: str) -> dict[str, str]:
    mapping = _json_object(raw, what)
    for key, value in mapping.items():
        if not isinstance(value, str):
            raise PermanentError(f"{what}: the value of {key!r} must be a string path.")
    return mapping


class _Renderer:
    """Renders the definition's templates, collecting warnings; errors name the field."""

    def __init__(self, context: dict[str, Any]) -> None:
        # With the vocabulary's aliases: `contact` = `endUser`, `conversation` = `ticket`.
        self.context = template_context(context)
        self.warnings: list[str] = []

    def __call__(self, template: str, what: str, *, mode: str = "text") -> str:
        try:
            rendered = templating.render_with_report(template, self.context, mode=mode)
        except templating.TemplateError as exc:
            raise PermanentError(f"{what}: {exc}") from None
        for name in rendered.missing:
            warning = f"{what}: {name!r} is missing and rendered empty"
            if warning not in self.warnings:
                self.warnings.append(warning)
        return rendered.text

    def json_structure(self, value: Any, what: str) -> Any:
        if isinstance(value, str):
            return self(value, what)
        if isinstance(value, list):
            return [self.json_structure(v, what) for v in value]
        if isinstance(value, dict):
            return {self(k, what): self.json_structure(v, what) for k, v in value.items()}
        return value


def _build_url(definition: ActionDefinition, render: _Renderer, default_base_url: str) -> str:
    endpoint = render(definition.api_endpoint.strip(), "api_endpoint", mode="url").strip()
    if ABSOLUTE_URL_RE.match(endpoint):
        return endpoint
    if _SCHEME_RE.match(endpoint):
        raise PermanentError("api_endpoint: only http and https URLs are allowed.")
    base = (definition.override_api_base_url or default_base_url or "").strip()
    if not base:
        raise PermanentError(
            "api_endpoint is relative and no API base URL is set (override_api_base_url)."
        )
    if not ABSOLUTE_URL_RE.match(base):
        raise PermanentError("override_api_base_url must be an http or https URL.")
    if not endpoint:
        return base
    return f"{base.rstrip('/')}/{endpoint.lstrip('/')}"


def _build_headers(definition: ActionDefinition, render: _Renderer) -> dict[str, str]:
    """The rendered `api_headers`. See `_header_secrets` for what of them is redacted."""
    headers: dict[str, str] = {}
    for name, value in _json_object(definition.api_headers, "api_headers").items():
        if not _HEADER_NAME_RE.match(name):
            raise PermanentError(f"api_headers: {name!r} is not a valid header name.")
        if isinstance(value, dict | list):
            raise PermanentError(f"api_headers: the value of {name!r} must be a string.")
        text = "" if value is None else str(value).lower() if isinstance(value, bool) else value
        rendered = render(str(text), f"api_headers[{name}]")
        if "\r" in rendered or "\n" in rendered or "\0" in rendered:
            raise PermanentError(f"api_headers: the value of {name!r} contains a line break.")
        headers[name] = rendered
    return headers


def _header_secrets(definition: ActionDefinition, headers: dict[str, str]) -> list[str]:
    """The header values written in the definition itself (no template markup), long
    enough to be searched for without blanking ordinary text: the stored credentials."""
    written = _json_object(definition.api_headers, "api_headers")
    return [
        headers[name]
        for name, value in written.items()
        if isinstance(value, str)
        and not any(mark in value for mark in _TEMPLATE_MARKUP)
        and len(headers.get(name, "")) >= SECRET_HEADER_MIN_CHARS
    ]


def _auth_header(definition: ActionDefinition) -> tuple[str | None, list[str]]:
    """(Authorization value, secrets to redact)."""
    kind = (definition.override_api_authentication_type or ApiAuthenticationType.NONE).strip()
    if kind.lower() == ApiAuthenticationType.BASIC.lower():
        username = definition.override_api_username or ""
        password = definition.override_api_password or ""
        if not username:
            raise PermanentError("Basic authentication needs override_api_username.")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        return f"Basic {token}", [s for s in (password, token) if s]
    if kind.lower() == ApiAuthenticationType.BEARER.lower():
        token = (definition.override_api_token or "").strip()
        if not token:
            raise PermanentError("Bearer authentication needs override_api_token.")
        if any(c in token for c in "\r\n\0"):
            raise PermanentError("override_api_token contains a line break.")
        return f"Bearer {token}", [token]
    if kind.lower() in ("", ApiAuthenticationType.NONE.lower()):
        return None, []
    raise PermanentError(f"Unknown override_api_authentication_type {kind!r}.")


def _query_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _build_body(
    definition: ActionDefinition, method: str, render: _Renderer, context: dict[str, Any]
) -> tuple[Any, str | None, dict[str, str]]:
    """(JSON value or None, text body or None, query parameters from field_mapping)."""
    template = definition.api_body_template or ""
    json_body: Any = None
    text_body: str | None = None
    if template.strip():
        try:
            structure = json.loads(template)
        except ValueError:
            structure = None
            rendered = render(template, "api_body_template")
            try:
                json_body = json.loads(rendered)
            except ValueError:
                text_body = rendered
        if structure is not None:
            json_body = render.json_structure(structure, "api_body_template")

    mapping = _string_mapping(definition.field_mapping, "field_mapping")
    query: dict[str, str] = {}
    if mapping:
        plain = templating.plain_context(context)
        if method not in QUERY_METHODS:
            if text_body is not None or (json_body is not None and not isinstance(json_body, dict)):
                raise PermanentError(
                    "field_mapping needs a JSON object body (api_body_template is not one)."
                )
            if json_body is None:
                json_body = {}
        for external, context_path in mapping.items():
            found, value = get_path(plain, context_path, what="field_mapping")
            if not found:
                render.warnings.append(f"field_mapping: {context_path!r} is not in the context")
                continue
            if method in QUERY_METHODS:
                query[external] = _query_value(value)
            else:
                set_path(json_body, external, value, what="field_mapping")
    return json_body, text_body, query


def _redact(value: Any, secrets: list[str]) -> Any:
    if not secrets:
        return value
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    return value


def _request_preview(
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes | None,
    secrets: list[str],
    hidden: set[str],
) -> dict[str, Any]:
    """What is about to be sent, safe to show: Authorization and the headers named in
    `hidden` (lower-case) shown as "[redacted]", secrets redacted."""
    body = ""
    if content:
        text = _redact(content.decode("utf-8", errors="replace"), secrets)
        body = text.encode()[:REQUEST_PREVIEW_BYTES].decode("utf-8", errors="ignore")
    return {
        "method": method,
        "url": _redact(url, secrets),
        "headers": {
            name: REDACTED
            if name.lower() == "authorization" or name.lower() in hidden
            else _redact(value, secrets)
            for name, value in headers.items()
        },
        "body": body,
    }


# --- the call -------------------------------------------------------------------------------
def run_api_call(
    definition: ActionDefinition,
    context: dict[str, Any],
    *,
    default_base_url: str = "",
    with_request: bool = False,
) -> dict[str, Any]:
    """Send the request `definition` describes with `context`; see the module docstring.
    Raises TransientError (retry later) or PermanentError (give up). `with_request`
    adds the (redacted) request to the result and to errors raised after it was built."""
    if definition.action_type != ActionDefinitionType.API_CALL:
        raise PermanentError(f"Action {definition.pk} is not an ApiCall action.")
    context = context or {}
    render = _Renderer(context)
    method = (definition.api_method or "GET").strip().upper()
    if method not in ALLOWED_METHODS:
        raise PermanentError(f"api_method {method!r} is not supported.")
    url = _build_url(definition, render, default_base_url)
    headers = _build_headers(definition, render)
    hidden = {name.lower() for name in headers}  # api_headers values are secrets
    authorization, secrets = _auth_header(definition)
    # Longest first, so a secret that contains another is redacted whole.
    secrets = sorted({*secrets, *_header_secrets(definition, headers)}, key=len, reverse=True)
    if authorization:
        headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        headers["Authorization"] = authorization
    response_mapping = _string_mapping(definition.response_field_mapping, "response_field_mapping")
    for context_path in response_mapping:
        _segments(context_path, "response_field_mapping")

    json_body, text_body, query = _build_body(definition, method, render, context)
    has_content_type = any(k.lower() == "content-type" for k in headers)
    content: bytes | None = None
    if json_body is not None:
        content = json.dumps(json_body, ensure_ascii=False).encode()
        if not has_content_type:
            headers["Content-Type"] = "application/json"
    elif text_body is not None:
        content = text_body.encode()
        if not has_content_type:
            headers["Content-Type"] = "text/plain; charset=utf-8"
    if content is not None and len(content) > MAX_REQUEST_BODY_BYTES:
        raise PermanentError(f"The request body is larger than {MAX_REQUEST_BODY_BYTES} bytes.")
    if query:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
    if not any(k.lower() == "accept" for k in headers):
        headers["Accept"] = "application/json, */*;q=0.5"

    timeout = definition.tool_call_timeout_seconds or settings.PROVIDER_TIMEOUT_SECONDS
    preview = (
        _request_preview(method, url, headers, content, secrets, hidden) if with_request else None
    )
    try:
        result = _exchange(
            definition,
            method=method,
            url=url,
            headers=headers,
            content=content,
            timeout=timeout,
            secrets=secrets,
            response_mapping=response_mapping,
            render=render,
        )
    except (TransientError, PermanentError) as exc:
        if preview is not None:
            exc.request = preview  # type: ignore[attr-defined]
        raise
    if preview is not None:
        result["request"] = preview
    return result


def _exchange(
    definition: ActionDefinition,
    *,
    method: str,
    url: str,
    headers: dict[str, str],
    content: bytes | None,
    timeout: float,
    secrets: list[str],
    response_mapping: dict[str, str],
    render: _Renderer,
) -> dict[str, Any]:
    """Send the built request and read the answer (status, mapping, excerpt)."""
    try:
        response = safe_request(method, url, headers=headers, content=content, timeout=timeout)
    except BlockedDestination as exc:
        logger.warning("ApiCall %s refused: %s (%s)", definition.pk, exc, exc.address)
        raise PermanentError(
            str(exc), detail={"error": "blocked_destination", "host": exc.host}
        ) from None
    except OutboundError as exc:
        message = _redact(str(exc), secrets)
        detail = {"error": "outbound", "outcome": exc.outcome}
        logger.info("ApiCall %s failed: %s", definition.pk, message)
        if exc.transient:
            raise TransientError(message, detail=detail) from None
        raise PermanentError(message, detail=detail) from None

    # Redact the whole text before cutting it, so no secret survives split at the edge.
    redacted = _redact(response.body.decode("utf-8", errors="replace"), secrets)
    excerpt = redacted.encode()[:BODY_EXCERPT_BYTES].decode("utf-8", errors="ignore")
    status = response.status_code
    logger.info("ApiCall %s %s → %s", definition.pk, method, status)
    if not 200 <= status < 300:
        detail = {"status": status, "body_excerpt": excerpt[:500]}
        message = f"The API answered {status}."
        if status in RETRYABLE_STATUSES or status >= 500:
            raise TransientError(
                message,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
                detail=detail,
            )
        raise PermanentError(message, detail=detail)

    mapped: dict[str, Any] = {}
    if response_mapping:
        try:
            document = json.loads(response.body) if response.body.strip() else None
        except ValueError:
            document = None
        if document is None:
            render.warnings.append("response_field_mapping: the response is not JSON")
        else:
            for context_path, response_path in response_mapping.items():
                found, value = get_path(document, response_path, what="response_field_mapping")
                if found:
                    mapped[context_path] = _redact(value, secrets)
                else:
                    render.warnings.append(
                        f"response_field_mapping: {response_path!r} is not in the response"
                    )
    return {
        "status": status,
        "mapped": mapped,
        "body_excerpt": excerpt,
        "warnings": render.warnings,
    }


def render_request(
    definition: ActionDefinition, context: dict[str, Any], *, default_base_url: str = ""
) -> dict[str, Any]:
    """What the call would send with `context`, built as run_api_call builds it but not
    sent (the admin's template preview): {"method", "url", "body", "warnings"}. Headers
    are left out: their values are secrets. Raises PermanentError where a run would."""
    context = context or {}
    render = _Renderer(context)
    method = (definition.api_method or "GET").strip().upper()
    url = _build_url(definition, render, default_base_url)
    json_body, text_body, query = _build_body(definition, method, render, context)
    if query:
        url = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
    if json_body is not None:
        body = json.dumps(json_body, indent=2, ensure_ascii=False)
    else:
        body = text_body or ""
    return {"method": method, "url": url, "body": body, "warnings": render.warnings}
