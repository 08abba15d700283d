"""The JSON parser of every API view (REST_FRAMEWORK's DEFAULT_PARSER_CLASSES).

DRF's JSONParser hands views whatever `json.load` returns. Three kinds of body
get past it and turn into 500s further down, so this parser refuses them with a
400 in the facade's envelope (the view's exception handler renders it):

- Nesting deeper than MAX_DEPTH levels. Python's decoder recurses, so a body of
  a thousand `[` raises RecursionError in the parser itself, and a shallower one
  that parses still recurses later (serializers, json.dumps of the idempotency
  fingerprint, JSONField). No legitimate body comes close: the deepest are action
  params and contact properties (three or four levels) and JSON Logic rules,
  which travel as strings and are capped at automations.json_logic.MAX_DEPTH (50).
- NUL (U+0000) or a lone surrogate (U+D800-U+DFFF) in any string or key: text
  and jsonb columns on PostgreSQL cannot store either, and a lone surrogate cannot
  even be encoded as UTF-8. Each offending value is named by its path
  (`properties.firstname`, `upsert[0].properties.city`, `[2].name`).
- A top-level value that is not an object (an array, string, number, boolean or
  null): views read fields off request.data. A view that checks the top-level
  type itself says so with `checks_json_body_type = True` (the link views, whose
  bulk endpoints take a bare array and name the error `items`).

The structure is walked once, without recursion, after parsing.
"""

from __future__ import annotations

import re
from typing import Any

from rest_framework.parsers import JSONParser

from config.exceptions import ValidationFailed

MAX_DEPTH = 64
# A body full of NULs is named by its first few paths, not echoed whole.
MAX_REPORTED_PATHS = 20

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
NUL_MESSAGE = "Null characters are not allowed."
SURROGATE_MESSAGE = "Lone surrogate characters (U+D800 to U+DFFF) are not allowed."
DEPTH_MESSAGE = f"The JSON body is nested deeper than {MAX_DEPTH} levels."
OBJECT_MESSAGE = "Expected a JSON object."


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _escaped(text: str) -> str:
    return _UNSTORABLE.sub(lambda match: f"\\u{ord(match.group()):04x}", text)


def _problem(text: str) -> str:
    return NUL_MESSAGE if "\x00" in text else SURROGATE_MESSAGE


def check_json_body(data: Any, *, max_depth: int = MAX_DEPTH) -> dict[str, list[str]]:
    """Every path whose string or key cannot be stored, or the depth error.

    The root is depth 1: `{"a": {"b": 1}}` is 2 levels deep. Only containers go
    on the stack and paths are built only for them and for bad strings, so a
    large flat body costs little more than the parse.
    """
    errors: dict[str, list[str]] = {}

    def bad(path: str, text: str) -> None:
        errors.setdefault(_escaped(path) or "non_field_errors", []).append(_problem(text))

    if not isinstance(data, dict | list):
        if isinstance(data, str) and _UNSTORABLE.search(data):
            bad("", data)
        return errors
    stack: list[tuple[Any, str, int]] = [(data, "", 1)]
    while stack and len(errors) < MAX_REPORTED_PATHS:
        node, path, depth = stack.pop()
        if depth > max_depth:
            return {"non_field_errors": [DEPTH_MESSAGE]}
        pairs = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in pairs:
            if len(errors) >= MAX_REPORTED_PATHS:
                break
            if isinstance(key, str) and _UNSTORABLE.search(key):
                bad(_child_path(path, key), key)  # and skip its value
            elif isinstance(value, str):
                if _UNSTORABLE.search(value):
                    bad(_child_path(path, key), value)
            elif isinstance(value, dict | list):
                stack.append((value, _child_path(path, key), depth + 1))
    return errors


class SafeJSONParser(JSONParser):
    """DRF's JSONParser (strict: no NaN or Infinity) plus the checks above."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ValidationFailed(
                DEPTH_MESSAGE,
                code="malformed_request",
                fields={"non_field_errors": [DEPTH_MESSAGE]},
            ) from None
        view = (parser_context or {}).get("view")
        if not isinstance(data, dict) and not getattr(view, "checks_json_body_type", False):
            raise ValidationFailed(OBJECT_MESSAGE, fields={"non_field_errors": [OBJECT_MESSAGE]})
        errors = check_json_body(data)
        if errors.get("non_field_errors") == [DEPTH_MESSAGE]:
            raise ValidationFailed(DEPTH_MESSAGE, code="malformed_request", fields=errors)
        ValidationFailed.raise_for(errors)
        return data
