"""Content checks shared with the API serializers, and the helpers every automation
settings service uses: Django's own field checks keyed by DTO name, enum values
bound case-insensitively, a unique name per workspace as a 409."""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, models, transaction
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from automations.topics import PatternError, compile_pattern
from config.exceptions import Conflict


# --- Content checks (shared with the API serializers) ---------------------------
# Each takes a non-empty value and raises Django's ValidationError, so DRF
# fields can use them as validators and the services can run them again.
def _parse_json(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise DjangoValidationError(f"Must be valid JSON ({exc}).", code="invalid_json") from None


def check_json(value: str) -> None:
    _parse_json(value)


def check_json_object(value: str) -> None:
    if not isinstance(_parse_json(value), dict):
        raise DjangoValidationError("Must be a JSON object.", code="not_an_object")


# apiHeaders is a secret: stored encrypted and read back with every value masked,
# because a header such as X-Api-Key is a credential. Writing the mask back as a
# header's value keeps that header's stored value, so what a client (or the admin)
# read can be sent back unchanged; the mask is therefore never a value of its own.
HEADER_MASK = "********"


def _headers_object(raw: str) -> dict[str, Any] | None:
    if not raw or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def masked_headers(raw: str) -> str:
    """apiHeaders as every read shows them: the names, each value masked ("" if none)."""
    headers = _headers_object(raw)
    if headers is None:
        return ""
    return json.dumps(
        dict.fromkeys(headers, HEADER_MASK), ensure_ascii=False, separators=(",", ":")
    )


def unmask_headers(new: str, stored: str) -> str:
    """`new` with each masked value replaced by the stored value of that header (the
    same name, else the same name in another case, as HTTP compares them). A mask
    with nothing stored behind it stays, for `check_api_headers` to refuse."""
    headers = _headers_object(new)
    if not headers or not any(value == HEADER_MASK for value in headers.values()):
        return new
    exact = _headers_object(stored) or {}
    folded = {name.lower(): value for name, value in exact.items()}
    merged = {
        name: exact.get(name, folded.get(name.lower(), value)) if value == HEADER_MASK else value
        for name, value in headers.items()
    }
    return json.dumps(merged, ensure_ascii=False, separators=(",", ":"))


def check_api_headers(value: str) -> None:
    check_json_object(value)
    unmatched = [name for name, item in json.loads(value).items() if item == HEADER_MASK]
    if unmatched:
        raise DjangoValidationError(
            f"{', '.join(repr(n) for n in unmatched)}: {HEADER_MASK!r} keeps a stored value, "
            "and none is stored for this header; send its value.",
            code="masked_without_value",
        )


def check_json_schema(value: str) -> None:
    schema = _parse_json(value)
    if not isinstance(schema, dict | bool):
        raise DjangoValidationError("Must be a JSON Schema (an object).", code="invalid_schema")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        raise DjangoValidationError(
            f"Not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else ""),
            code="invalid_schema",
        ) from None


_http_url = URLValidator(schemes=["http", "https"], message="Must be an http(s) URL.")


def check_http_url(value: str) -> None:
    _http_url(value)


@lru_cache(maxsize=1)
def _time_zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def normalise_time_zone(value: str) -> str:
    """The IANA spelling of a zone given in any case ("europe/amsterdam")."""
    canonical = _time_zones().get(value.strip().lower())
    if canonical is None:
        raise DjangoValidationError(
            f"{value!r} is not an IANA time zone (e.g. Europe/Amsterdam).", code="invalid_timezone"
        )
    return canonical


def check_pattern(value: str) -> None:
    """A topic pattern must compile on RE2, the linear-time engine detection runs it
    on (automations.topics): lookaround and backreferences are refused here."""
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise DjangoValidationError(str(exc), code="invalid_pattern") from None


def canonical_choice(value: str, choices: Sequence[str]) -> str:
    """Enum values bind case-insensitively, as ASP.NET binds them."""
    lowered = {choice.lower(): choice for choice in choices}
    return lowered.get(value.strip().lower(), value)


def check_choice(value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DjangoValidationError(f"{value!r} is not one of: {', '.join(choices)}.")


def check_range(low: int | None, high: int | None) -> Callable[[int], None]:
    def check(value: int) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise DjangoValidationError(f"Must be {bounds}.")

    return check


def model_problems(
    instance: models.Model, names: Mapping[str, str], *, exclude: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Django's own field checks (lengths, choices, validators), keyed by DTO name.
    Foreign keys are excluded: the callers check them without a query each."""
    try:
        instance.full_clean(
            exclude=["workspace", *exclude], validate_unique=False, validate_constraints=False
        )
    except DjangoValidationError as exc:
        return {
            names.get(field, field): list(messages) for field, messages in exc.message_dict.items()
        }
    return {}


def save_named(instance: models.Model, what: str) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise Conflict(
            f"A {what} named {instance.name!r} already exists in this workspace.",
            code=f"duplicate_{what}",
            fields={"name": [f"A {what} with this name already exists."]},
        ) from None
