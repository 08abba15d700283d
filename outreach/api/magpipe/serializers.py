"""Serializers of the Magpipe facade (seed 003): /functions/v1/scheduled-actions.

Magpipe speaks its own words: the action's `uuid` is its `id`, `type` is
`action_type`, `scheduled_time` is `scheduled_at`, `params` are `parameters`,
and our seven statuses fold into Magpipe's five (DESIGN.md):

    pending    = pending_approval or scheduled
    processing = processing
    completed  = completed
    failed     = failed
    cancelled  = cancelled or rejected

Enum fields get their own names in the schema (EnumField below).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any

from rest_framework import serializers
from rest_framework.fields import SkipField

from config.fields import AwareDateTimeField
from config.schema import Envelope
from outreach.models import (
    WAITING_STATUSES,
    Action,
    ActionStatus,
    ActionType,
    Identity,
    IdentityChannel,
)
from outreach.validation import check_action_fields

# Magpipe status word -> the statuses it stands for.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "pending": WAITING_STATUSES,
    "processing": (ActionStatus.PROCESSING,),
    "completed": (ActionStatus.COMPLETED,),
    "failed": (ActionStatus.FAILED,),
    "cancelled": (ActionStatus.CANCELLED, ActionStatus.REJECTED),
}
MAGPIPE_STATUS: dict[str, str] = {
    status: word for word, statuses in STATUS_FILTERS.items() for status in statuses
}
STATUS_WORDS = list(STATUS_FILTERS)

# Types a Magpipe client may schedule here, and the identity channel each needs.
CREATABLE_TYPES: dict[str, str] = {
    ActionType.SEND_SMS: IdentityChannel.SMS,
    ActionType.CALL_CONTACT: IdentityChannel.PHONE,
}
# The list shows every action of the workspace (one domain, several facades),
# so its `action_type` filter accepts every type, a superset of the seed's two.
LISTABLE_TYPES = list(ActionType.values)


class EnumField(serializers.ChoiceField):
    """A ChoiceField whose 400 lists the accepted values. Its schema enum is named
    in settings.SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] (`MagpipeStatusEnum`,
    `MagpipeCreatableActionTypeEnum`; every type is `OutreachActionTypeEnum`): the
    generic names are taken by other facades."""

    def __init__(self, *, values: list[str], **kwargs: Any) -> None:
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": f'"{{input}}" is not one of: {", ".join(values)}.'},
        )
        super().__init__(choices=values, **kwargs)


class MillisecondDateTimeField(serializers.DateTimeField):
    """UTC with milliseconds and a `Z`, as the seed shows: 2026-01-15T18:00:00.000Z.
    Sub-millisecond digits are truncated, never rounded up into the next millisecond."""

    def to_representation(self, value: dt.datetime | None) -> str | None:
        if value is None:
            return None
        utc = value.astimezone(dt.UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + f".{utc.microsecond // 1000:03d}Z"


class ScheduledActionSerializer(serializers.Serializer):
    """One scheduled action, exactly the seed's fields."""

    id = serializers.UUIDField(source="uuid", help_text="UUID of the scheduled action.")
    action_type = serializers.CharField(
        source="type", help_text="send_sms, call_contact, or another of the hub's action types."
    )
    scheduled_at = MillisecondDateTimeField(
        source="scheduled_time", help_text="When it runs (UTC, e.g. 2026-01-15T18:00:00.000Z)."
    )
    status = EnumField(
        values=STATUS_WORDS,
        help_text="pending (awaiting approval or scheduled), processing, completed, failed, "
        "cancelled (cancelled or rejected).",
    )
    parameters = serializers.DictField(source="params", help_text="The action's parameters.")
    created_at = MillisecondDateTimeField()
    executed_at = MillisecondDateTimeField(
        allow_null=True, help_text="When the action was executed; null until then."
    )
    error_message = serializers.CharField(
        allow_null=True, help_text="Why the action failed; null unless its status is failed."
    )
    retry_count = serializers.IntegerField(help_text="Number of retry attempts.")

    def to_representation(self, action: Action) -> dict:
        data = super().to_representation(action)
        data["status"] = MAGPIPE_STATUS[action.status]
        # A retrying (still pending) action keeps its last transient error in the
        # model; Magpipe shows error details only for a failed action.
        if action.status != ActionStatus.FAILED or not action.error_message:
            data["error_message"] = None
        return data


class ScheduledActionEnvelope(serializers.Serializer):
    data = ScheduledActionSerializer()


class ScheduledActionListEnvelope(Envelope):
    data = ScheduledActionSerializer(many=True)
    total = serializers.IntegerField(help_text="Actions matching the filters, ignoring paging.")


class ScheduledActionListParams(serializers.Serializer):
    """Query parameters. Bad values are a 400 naming the parameter, never clamped."""

    status = EnumField(
        values=STATUS_WORDS,
        required=False,
        help_text="pending (awaiting approval or scheduled), processing, completed, failed, "
        "cancelled (cancelled or rejected).",
    )
    action_type = EnumField(
        values=LISTABLE_TYPES,
        required=False,
        help_text="send_sms or call_contact; the hub's other action types are accepted too.",
    )
    limit = serializers.IntegerField(
        min_value=1, max_value=100, default=50, help_text="1 to 100, default 50."
    )
    offset = serializers.IntegerField(
        min_value=0, default=0, help_text="Records to skip, default 0."
    )


class ScheduledActionCreateSerializer(serializers.Serializer):
    """Schedule an SMS or a call. Shape checks and domain checks (parameters per
    type, the identity) all run, so a 400 names every bad field at once."""

    action_type = EnumField(
        values=list(CREATABLE_TYPES), help_text="What to schedule: an SMS or a phone call."
    )
    scheduled_at = AwareDateTimeField(
        help_text="ISO 8601 with an offset (Z or +02:00); a past time means due now."
    )
    parameters = serializers.DictField(
        help_text=(
            "send_sms: recipient_phone (E.164), message (<= 1600), recipient_name?; "
            "call_contact: recipient_phone, recipient_name?, script?"
        )
    )
    identity_id = serializers.CharField(
        required=False,
        allow_null=True,
        default=None,
        max_length=32,
        help_text=(
            "The sms (send_sms) or phone (call_contact) identity to act as; default: the "
            "workspace's first active identity of that channel."
        ),
    )
    require_approval = serializers.BooleanField(
        default=False, help_text="Wait for a reviewer before it can run."
    )

    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Expected a JSON object."]})
        errors: dict[str, list[str]] = {}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors = dict(exc.detail)
            value = {}
            for name in self.fields:  # re-run the fields that were fine
                if name not in errors:
                    field = self.fields[name]
                    with contextlib.suppress(SkipField):
                        value[name] = field.run_validation(field.get_value(data))

        workspace = self.context["workspace"]
        action_type = value.get("action_type")
        identity_id = value.get("identity_id")
        identity = None
        if action_type and identity_id is None and "identity_id" not in errors:
            channel = CREATABLE_TYPES[action_type]
            identity = (
                Identity.objects.filter(workspace=workspace, channel=channel, is_active=True)
                .order_by("created_at", "id")
                .first()
            )
            if identity is None:
                errors["identity_id"] = [
                    f"This workspace has no active {channel} identity for a {action_type} "
                    "action: create one (POST /v1/identities) or pass identity_id."
                ]
        cleaned, domain_errors = check_action_fields(
            workspace=workspace,
            type=action_type,
            params=value.get("parameters"),
            identity_id=identity_id,
            identity=identity,
            check_identity="identity_id" not in errors,
        )
        for path, messages in domain_errors.items():
            errors.setdefault(_magpipe_path(path), messages)
        if errors:
            raise serializers.ValidationError(errors)
        value["params"] = cleaned["params"]
        value["identity"] = cleaned["identity"]
        return value


def _magpipe_path(path: str) -> str:
    """The domain checks speak v1 (`type`, `params.to`); name fields as sent here."""
    if path == "type":
        return "action_type"
    if path == "params" or path.startswith(("params.", "params[")):
        return "parameters" + path.removeprefix("params")
    return path
