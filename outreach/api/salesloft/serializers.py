"""Salesloft-shaped records for the /v2 facade (seed 001).

Records are built as plain dicts from `.values()` rows (no model instances, no
joins): an action's embedded objects only need its foreign-key ids.

Decisions where Salesloft's definition is silent or strict:

- Salesloft's `Action` schema marks neither the embedded objects nor
  `multitouch_group_id` nullable. A relation an action does not have (no cadence
  or step for a one-off action, no contact, no owner, no task unless the action
  is a `task`, no multitouch group) is therefore OMITTED from the record rather
  than sent as null, so every record validates strictly against the schema.
  `action_details` is always present. (`task` is in seed 001's example record
  but missing from the reference copy of the `Action` schema; we send it, as
  the seed does, for `task` actions only.)
- `type`: `send_email`/`email_message` are `email`, `call_contact` is `phone`,
  everything else `other`; `action_details` links to
  `/v2/action_details/{email|call_instructions|other}/{id}`.
- `status`: `pending_approval` and `scheduled` are `in_progress`, `processing` is
  `pending_activity`; finished actions are never shown.
- `due` is `due_on <= now`; `due_on` is the action's scheduled time.
- Timestamps are UTC with microseconds and an explicit offset, like the seed:
  `2024-01-01T00:00:00.000000+00:00`.
- `_href`s are absolute URLs on this service (the request's scheme and host),
  without the `.json` suffix; every one of them answers.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rest_framework import serializers

from config.schema import Envelope
from outreach.api.salesloft.filters import STATUS_WORDS, salesloft_type
from outreach.models import ActionStatus, ActionType

# The columns a record needs.
ACTION_FIELDS = (
    "id",
    "type",
    "status",
    "scheduled_time",
    "created_at",
    "updated_at",
    "multitouch_group_id",
    "owner_id",
    "contact_id",
    "cadence_id",
    "step_id",
)
DETAIL_KINDS = {"email": "email", "phone": "call_instructions", "other": "other"}


def timestamp(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat(timespec="microseconds")


class Hrefs:
    """Absolute links under this request's /v2/ root."""

    def __init__(self, request) -> None:
        path = request.path
        root = path[: path.index("/v2/") + len("/v2/")] if "/v2/" in path else "/v2/"
        self.base = request.build_absolute_uri(root)

    def url(self, resource: str, pk: int) -> str:
        return f"{self.base}{resource}/{pk}"

    def embed(self, resource: str, pk: int) -> dict:
        return {"id": pk, "_href": self.url(resource, pk)}


def detail_kind(action_type: str) -> str:
    return DETAIL_KINDS[salesloft_type(action_type)]


def action_record(row: dict, *, hrefs: Hrefs, now: datetime) -> dict:
    pk = row["id"]
    record = {
        "id": pk,
        "due": row["scheduled_time"] <= now,
        "created_at": timestamp(row["created_at"]),
        "updated_at": timestamp(row["updated_at"]),
        "type": salesloft_type(row["type"]),
        "status": STATUS_WORDS[row["status"]],
        "due_on": timestamp(row["scheduled_time"]),
    }
    if row["multitouch_group_id"] is not None:
        record["multitouch_group_id"] = row["multitouch_group_id"]
    record["action_details"] = hrefs.embed(f"action_details/{detail_kind(row['type'])}", pk)
    for name, resource, column in (
        ("user", "users", "owner_id"),
        ("person", "people", "contact_id"),
        ("cadence", "cadences", "cadence_id"),
        ("step", "steps", "step_id"),
    ):
        if row[column] is not None:
            record[name] = hrefs.embed(resource, row[column])
    if row["type"] == ActionType.TASK:
        record["task"] = hrefs.embed("tasks", pk)
    return record


def task_state(status: str) -> str:
    if status == ActionStatus.COMPLETED:
        return "completed"
    if status in STATUS_WORDS:
        return "scheduled"
    return "cancelled"  # failed, cancelled, rejected: Salesloft has no other word


# --- OpenAPI documentation of the shapes (the views build plain dicts) ---------
def enum_field(values: list[str], **kwargs) -> serializers.CharField:
    """A string whose values are listed in its description, not as an enum: the
    schema's enum components are named by field name, and `type`, `status` and
    `kind` already name other facades' enums."""
    return serializers.CharField(help_text="One of: " + ", ".join(values) + ".", **kwargs)


class SalesloftEmbeddedResourceSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    _href = serializers.URLField()


class SalesloftActionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    due = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    type = enum_field(["email", "phone", "other"])
    status = enum_field(["in_progress", "pending_activity"])
    due_on = serializers.DateTimeField()
    multitouch_group_id = serializers.IntegerField(required=False)
    action_details = SalesloftEmbeddedResourceSerializer()
    user = SalesloftEmbeddedResourceSerializer(required=False)
    person = SalesloftEmbeddedResourceSerializer(required=False)
    cadence = SalesloftEmbeddedResourceSerializer(required=False)
    step = SalesloftEmbeddedResourceSerializer(required=False)
    task = SalesloftEmbeddedResourceSerializer(required=False)


class SalesloftPagingSerializer(serializers.Serializer):
    per_page = serializers.IntegerField()
    current_page = serializers.IntegerField()
    next_page = serializers.IntegerField(allow_null=True)
    prev_page = serializers.IntegerField(allow_null=True)
    total_pages = serializers.IntegerField(
        required=False, help_text="Only with include_paging_counts=true."
    )
    total_count = serializers.IntegerField(
        required=False, help_text="Only with include_paging_counts=true."
    )


class SalesloftSortingSerializer(serializers.Serializer):
    sort_by = enum_field(["created_at", "updated_at"])
    sort_direction = enum_field(["ASC", "DESC"])


class SalesloftMetadataSerializer(serializers.Serializer):
    filtering = serializers.DictField(help_text="The filters applied, as given.")
    paging = SalesloftPagingSerializer()
    sorting = SalesloftSortingSerializer()


class SalesloftActionListEnvelope(Envelope):
    data = SalesloftActionSerializer(many=True)
    metadata = SalesloftMetadataSerializer()


class SalesloftActionEnvelope(serializers.Serializer):
    data = SalesloftActionSerializer()


class SalesloftUserRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    guid = serializers.UUIDField()
    name = serializers.CharField()
    email = serializers.EmailField()


class SalesloftPersonRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email_address = serializers.CharField()
    phone = serializers.CharField()
    title = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SalesloftCadenceRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    team_cadence = serializers.BooleanField()
    shared = serializers.BooleanField()
    active = serializers.BooleanField()
    archived_at = serializers.DateTimeField(allow_null=True)
    owner = SalesloftEmbeddedResourceSerializer(required=False)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SalesloftStepRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    display_name = serializers.CharField()
    day = serializers.IntegerField()
    step_number = serializers.IntegerField()
    type = enum_field(["email", "phone", "other"])
    multitouch_enabled = serializers.BooleanField()
    cadence = SalesloftEmbeddedResourceSerializer()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SalesloftTaskRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    subject = serializers.CharField()
    description = serializers.CharField()
    task_type = serializers.CharField()
    current_state = enum_field(["scheduled", "completed", "cancelled"])
    due_date = serializers.DateField()
    due_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    user = SalesloftEmbeddedResourceSerializer(required=False)
    person = SalesloftEmbeddedResourceSerializer(required=False)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class SalesloftActionDetailsRecordSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = enum_field(list(DETAIL_KINDS.values()))
    action_type = serializers.CharField(help_text="This hub's action type, e.g. send_sms.")
    summary = serializers.CharField()
    subject = serializers.CharField(required=False, help_text="Email kinds.")
    instructions = serializers.CharField(required=False, help_text="call_instructions.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


def envelope(name: str, record: type[serializers.Serializer]) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), {"data": record()})


UserEnvelope = envelope("SalesloftUserEnvelope", SalesloftUserRecordSerializer)
PersonEnvelope = envelope("SalesloftPersonEnvelope", SalesloftPersonRecordSerializer)
CadenceEnvelope = envelope("SalesloftCadenceEnvelope", SalesloftCadenceRecordSerializer)
StepEnvelope = envelope("SalesloftStepEnvelope", SalesloftStepRecordSerializer)
TaskEnvelope = envelope("SalesloftTaskEnvelope", SalesloftTaskRecordSerializer)
ActionDetailsEnvelope = envelope(
    "SalesloftActionDetailsEnvelope", SalesloftActionDetailsRecordSerializer
)
