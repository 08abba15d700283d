"""Query parameters of `GET /v2/actions` (seed 001), parsed by hand because
Salesloft's wire format is not what a form library expects:

- Multi-valued filters (`ids`, `user_guid`, `person_id`, `cadence_id`,
  `multitouch_group_id`) take several values comma-separated (`ids=1,2,3`, the
  OpenAPI form style without explode that Salesloft's clients send), repeated
  (`ids=1&ids=2`) and Rails-style (`ids[]=1&ids[]=2`), in any mix; empty items are
  ignored. `step_id` and `type` are single values, as in Salesloft's definition;
  `type` is `email` (send_email, email_message), `phone` (call_contact) or `other`
  (everything else), in any case, echoed lower case.
- `metadata.filtering` echoes the filters applied: integer lists as integers,
  guids normalised, timestamps exactly as sent.
- `due_on[gt|gte|lt|lte]` and `updated_at[gt|gte|lt|lte]` take ISO 8601 and compare
  with microsecond precision. A time without an offset is taken as UTC (as
  Salesloft does); a bare date means midnight UTC. A `+hh:mm` offset whose `+` was
  not URL-encoded arrives as a space and is read as `+`. An offset beyond +-15:59
  is a 400 (config.fields.in_utc).
- `sort_by` is `created_at` or `updated_at` (default `updated_at`);
  `sort_direction` is `ASC` or `DESC` (default `DESC`) in any case, echoed upper
  case; ties are broken by id in the same direction.
- `per_page` 1-100 (default 25), `page` 1 to 2^31-1 (default 1); ids are 1 to
  2^63-1 (a bigint), anything else a 400. `include_paging_counts`
  and `limit_paging_counts` are `true`/`false` (or `1`/`0`, any case);
  `limit_paging_counts` defaults to false (exact counts).
- Every bad value is collected and the 400 names each parameter as sent (e.g.
  `due_on[gt]`). Unknown parameters are ignored, as Salesloft does.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from django.db.models import Q
from django.utils.dateparse import parse_date, parse_datetime

from accounts.models import Membership
from config.exceptions import ValidationFailed
from config.fields import TimestampError, in_utc
from config.pagination import MAX_PAGE
from outreach.models import ActionStatus, ActionType

MAX_BIGINT = 2**63 - 1
DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
# Counts stop here when limit_paging_counts=true (tests shrink it).
PAGING_COUNT_LIMIT = 10_000

# The words /v2/actions shows its statuses (UNFINISHED_STATUSES) as.
STATUS_WORDS = {
    ActionStatus.PENDING_APPROVAL: "in_progress",
    ActionStatus.SCHEDULED: "in_progress",
    ActionStatus.PROCESSING: "pending_activity",
}

# Salesloft's action types and ours.
EMAIL_TYPES = [ActionType.SEND_EMAIL, ActionType.EMAIL_MESSAGE]
PHONE_TYPES = [ActionType.CALL_CONTACT]
OTHER_TYPES = [t for t in ActionType.values if t not in (*EMAIL_TYPES, *PHONE_TYPES)]
TYPE_GROUPS = {"email": EMAIL_TYPES, "phone": PHONE_TYPES, "other": OTHER_TYPES}


def salesloft_type(action_type: str) -> str:
    if action_type in EMAIL_TYPES:
        return "email"
    if action_type in PHONE_TYPES:
        return "phone"
    return "other"


MULTI_INT = {
    "ids": "id__in",
    "person_id": "contact_id__in",
    "cadence_id": "cadence_id__in",
    "multitouch_group_id": "multitouch_group_id__in",
}
RANGES = {"due_on": "scheduled_time", "updated_at": "updated_at"}
OPERATORS = ("gt", "gte", "lt", "lte")
SORT_FIELDS = ("created_at", "updated_at")
SORT_DIRECTIONS = ("ASC", "DESC")
_INT = re.compile(r"[0-9]+")
_UNENCODED_PLUS = re.compile(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


@dataclass
class ActionListQuery:
    conditions: list[Q] = field(default_factory=list)
    filtering: dict = field(default_factory=dict)
    sort_by: str = "updated_at"
    sort_direction: str = "DESC"
    per_page: int = DEFAULT_PER_PAGE
    page: int = 1
    include_paging_counts: bool = False
    limit_paging_counts: bool = False

    @property
    def order_by(self) -> tuple[str, str]:
        sign = "-" if self.sort_direction == "DESC" else ""
        return f"{sign}{self.sort_by}", f"{sign}id"

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


def values_of(params, name: str) -> list[str]:
    """Every value of a multi-valued parameter, in all three spellings."""
    raw = [*params.getlist(name), *params.getlist(f"{name}[]")]
    return [item.strip() for value in raw for item in value.split(",") if item.strip()]


def parse_positive_int(text: str, *, maximum: int = MAX_BIGINT) -> int | None:
    text = text.strip()
    if not _INT.fullmatch(text) or len(text) > 20:
        return None
    number = int(text)
    return number if 1 <= number <= maximum else None


def parse_bool(text: str) -> bool | None:
    return {"true": True, "1": True, "false": False, "0": False}.get(text.strip().lower())


def parse_timestamp(text: str) -> datetime | None:
    """ISO 8601 with microsecond precision; naive is UTC, a date is midnight UTC."""
    text = text.strip()
    repaired = _UNENCODED_PLUS.sub(r"\1+\2", text)
    try:
        value = parse_datetime(repaired)
    except ValueError:
        return None
    if value is None:
        try:
            day = parse_date(text)
        except ValueError:
            return None
        if day is None or not isinstance(day, date):
            return None
        value = datetime.combine(day, time.min)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value


def _single(params, name: str) -> str | None:
    values = params.getlist(name)
    return values[-1] if values else None


def parse_action_list_query(params, *, workspace) -> ActionListQuery:
    """The list query, or ValidationFailed naming every bad parameter."""
    query = ActionListQuery()
    errors: dict[str, list[str]] = {}

    def bad(name: str, message: str) -> None:
        errors.setdefault(name, []).append(message)

    for name, lookup in MULTI_INT.items():
        raw = values_of(params, name)
        if not raw:
            continue
        numbers = [parse_positive_int(v) for v in raw]
        if any(n is None for n in numbers):
            bad(name, "Must be positive integers, comma-separated or repeated.")
            continue
        unique = list(dict.fromkeys(numbers))
        query.conditions.append(Q(**{lookup: unique}))
        query.filtering[name] = unique

    guids = values_of(params, "user_guid")
    if guids:
        try:
            parsed = list(dict.fromkeys(uuid.UUID(g) for g in guids))
        except ValueError:
            bad("user_guid", "Must be user guids (UUIDs), comma-separated or repeated.")
        else:
            owners = Membership.objects.filter(workspace=workspace, guid__in=parsed)
            query.conditions.append(Q(owner_id__in=owners.values("user_id")))
            query.filtering["user_guid"] = [str(g) for g in parsed]

    step = _single(params, "step_id")
    if step is not None and step.strip():
        step_id = parse_positive_int(step)
        if step_id is None or len(params.getlist("step_id")) > 1:
            bad("step_id", "Must be one positive integer.")
        else:
            query.conditions.append(Q(step_id=step_id))
            query.filtering["step_id"] = step_id

    kind = _single(params, "type")
    if kind is not None and kind.strip():
        word = kind.strip().lower()
        if word not in TYPE_GROUPS or len(params.getlist("type")) > 1:
            bad("type", "Must be one of: email, phone, other.")
        else:
            query.conditions.append(Q(type__in=TYPE_GROUPS[word]))
            query.filtering["type"] = word

    for name, column in RANGES.items():
        given: dict[str, str] = {}
        for key in params:
            if key == name or key == f"{name}[]":
                bad(key, f"Use {name}[gt], {name}[gte], {name}[lt] or {name}[lte].")
                continue
            if not key.startswith(f"{name}["):
                continue
            operator = key[len(name) + 1 : -1] if key.endswith("]") else None
            if operator not in OPERATORS:
                bad(key, f"Unknown operator; use {name}[gt], [gte], [lt] or [lte].")
                continue
            text = _single(params, key) or ""
            value = parse_timestamp(text)
            if value is None:
                bad(key, "Must be an ISO 8601 timestamp, e.g. 2024-01-01T00:00:00.000000+00:00.")
                continue
            try:
                value = in_utc(value)
            except TimestampError as exc:
                bad(key, str(exc))
                continue
            query.conditions.append(Q(**{f"{column}__{operator}": value}))
            given[operator] = text.strip()
        if given:
            query.filtering[name] = given

    sort_by = _single(params, "sort_by")
    if sort_by is not None:
        if sort_by.strip() in SORT_FIELDS:
            query.sort_by = sort_by.strip()
        else:
            bad("sort_by", "Must be one of: created_at, updated_at.")
    direction = _single(params, "sort_direction")
    if direction is not None:
        if direction.strip().upper() in SORT_DIRECTIONS:
            query.sort_direction = direction.strip().upper()
        else:
            bad("sort_direction", "Must be one of: ASC, DESC.")

    per_page = _single(params, "per_page")
    if per_page is not None:
        number = parse_positive_int(per_page, maximum=MAX_PER_PAGE)
        if number is None:
            bad("per_page", f"Must be an integer from 1 to {MAX_PER_PAGE}.")
        else:
            query.per_page = number
    page = _single(params, "page")
    if page is not None:
        number = parse_positive_int(page, maximum=MAX_PAGE)
        if number is None:
            bad("page", f"Must be an integer from 1 to {MAX_PAGE}.")
        else:
            query.page = number

    for name in ("include_paging_counts", "limit_paging_counts"):
        text = _single(params, name)
        if text is None:
            continue
        flag = parse_bool(text)
        if flag is None:
            bad(name, "Must be true or false.")
        else:
            setattr(query, name, flag)

    if errors:
        names = ", ".join(sorted(errors))
        raise ValidationFailed(f"Invalid query parameters: {names}.", fields=errors)
    return query
