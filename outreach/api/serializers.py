"""Serializers of the v1 actions and identities facade (seed 000)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.api.serializers import UserRefSerializer
from config.fields import AwareDateTimeField
from config.pagination import LimitSkipPaginationSerializer
from config.schema import Envelope
from outreach.models import Action, ActionStatus, ActionType, Decision, FailureCode, IdentityChannel
from outreach.params import summary_of
from outreach.validation import check_action_fields


# --- Identities -----------------------------------------------------------------
@extend_schema_field(
    {
        "type": "string",
        "pattern": r"^\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?$",
        "example": "09:00:00",
    }
)
class WallClockTimeField(serializers.TimeField):
    """A time of day in the identity's timezone, "HH:MM:SS" with no UTC offset:
    not OpenAPI's `format: time` (RFC 3339's full-time, which requires one)."""


class IdentitySerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    channel = serializers.ChoiceField(choices=IdentityChannel.choices)
    address = serializers.CharField()
    display_name = serializers.CharField()
    owner = UserRefSerializer(allow_null=True)
    is_active = serializers.BooleanField()
    daily_limit = serializers.IntegerField(allow_null=True)
    window_days = serializers.ListField(child=serializers.IntegerField())
    window_start = WallClockTimeField(allow_null=True)
    window_end = WallClockTimeField(allow_null=True)
    timezone = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


# The column's range (a PositiveIntegerField): a larger number is a 400, not a 500.
MAX_DAILY_LIMIT = 2**31 - 1


class IdentityWriteSerializer(serializers.Serializer):
    channel = serializers.ChoiceField(choices=IdentityChannel.choices)
    address = serializers.CharField(max_length=320)
    display_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    daily_limit = serializers.IntegerField(
        min_value=1, max_value=MAX_DAILY_LIMIT, required=False, allow_null=True
    )
    window_days = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        help_text="Weekdays the identity may send on, 0 = Monday … 6 = Sunday.",
    )
    window_start = WallClockTimeField(required=False, allow_null=True)
    window_end = WallClockTimeField(required=False, allow_null=True)
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)

    def validate_timezone(self, value: str) -> str:
        if value and value not in zoneinfo.available_timezones():
            raise serializers.ValidationError(f"{value!r} is not an IANA time zone.")
        return value

    def validate(self, data: dict) -> dict:
        start = data.get("window_start", getattr(self.instance, "window_start", None))
        end = data.get("window_end", getattr(self.instance, "window_end", None))
        if (start is None) != (end is None):
            raise serializers.ValidationError(
                {"window_end": ["Give both window_start and window_end, or neither."]}
            )
        return data


class IdentityUpdateSerializer(IdentityWriteSerializer):
    channel = None  # fixed for an identity's life

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("partial", True)
        super().__init__(*args, **kwargs)


class IdentityEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    identity = IdentitySerializer()


class IdentityListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    identities = IdentitySerializer(many=True)
    pagination = LimitSkipPaginationSerializer()


class IdentityListParams(serializers.Serializer):
    channel = serializers.ChoiceField(choices=IdentityChannel.choices, required=False)
    is_active = serializers.BooleanField(required=False, allow_null=True, default=None)


# --- Actions ------------------------------------------------------------------
class DecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(choices=Decision.choices)
    reviewer = serializers.CharField(source="reviewer_label")
    comment = serializers.CharField()
    params_before = serializers.DictField()
    params_after = serializers.DictField()
    scheduled_time_before = serializers.DateTimeField(allow_null=True)
    scheduled_time_after = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ActionSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    type = serializers.ChoiceField(choices=ActionType.choices)
    status = serializers.ChoiceField(choices=ActionStatus.choices)
    summary = serializers.SerializerMethodField()
    params = serializers.DictField()
    identity_id = serializers.CharField(source="identity.public_id")
    contact_id = serializers.CharField(source="contact.public_id", allow_null=True, default=None)
    owner = UserRefSerializer(allow_null=True)
    list_id = serializers.CharField(allow_null=True)
    item_id = serializers.CharField(allow_null=True)
    description = serializers.CharField()
    require_approval = serializers.BooleanField()
    direct = serializers.BooleanField()
    scheduled_time = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    executed_at = serializers.DateTimeField(allow_null=True)
    retry_count = serializers.IntegerField()
    error_message = serializers.CharField(allow_null=True)
    failure_code = serializers.ChoiceField(
        choices=FailureCode.choices,
        allow_null=True,
        read_only=True,
        help_text="Why the action failed (see the README's failure codes); null unless failed.",
    )
    provider_message_id = serializers.CharField(allow_null=True)

    def get_summary(self, action: Action) -> str:
        return summary_of(action.type, action.params)

    def to_representation(self, action: Action) -> dict:
        data = super().to_representation(action)
        for key in ("list_id", "item_id", "error_message", "failure_code", "provider_message_id"):
            data[key] = data[key] or None  # blank is "none" to an integrator
        return data


class AttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    outcome = serializers.CharField()
    error_message = serializers.CharField()
    provider_message_id = serializers.CharField()
    started_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class ActionDetailSerializer(ActionSerializer):
    decisions = DecisionSerializer(many=True, read_only=True)
    attempts = AttemptSerializer(many=True, read_only=True)


class ActionCreateSerializer(serializers.Serializer):
    """Shape checks here, domain checks (type, params per type, identity) in
    outreach.validation; both run on every request so a 400 names every bad
    field at once."""

    type = serializers.CharField()
    params = serializers.DictField()
    identity_id = serializers.CharField()
    contact_id = serializers.CharField(required=False, allow_null=True, default=None)
    direct = serializers.BooleanField(default=False)
    scheduled_time = AwareDateTimeField(required=False, allow_null=True, default=None)
    list_id = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    item_id = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")
    require_approval = serializers.BooleanField(default=False)

    def to_internal_value(self, data: Any) -> dict:
        try:
            value = super().to_internal_value(data)
            errors: dict = {}
        except serializers.ValidationError as exc:
            errors = (
                dict(exc.detail)
                if isinstance(exc.detail, dict)
                else {"non_field_errors": exc.detail}
            )
            if not isinstance(data, dict):
                raise
            keys = ("type", "params", "identity_id", "contact_id")
            value = {k: data.get(k) for k in keys if k not in errors}
        cleaned, domain_errors = check_action_fields(
            workspace=self.context["workspace"],
            type=value.get("type"),
            params=value.get("params"),
            identity_id=value.get("identity_id"),
            contact_id=value.get("contact_id"),
        )
        for path, messages in domain_errors.items():
            errors.setdefault(path, messages)
        if errors:
            raise serializers.ValidationError(errors)
        value["params"] = cleaned["params"]
        value["identity"] = cleaned["identity"]
        value["contact"] = cleaned.get("contact")
        return value


class ActionCreatedEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    action_id = serializers.CharField()
    action_summary = serializers.CharField()
    action = ActionSerializer()


class ActionEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    action = ActionDetailSerializer()


class ActionListEnvelope(Envelope):
    status = serializers.CharField(default="success")
    actions = ActionSerializer(many=True)
    pagination = LimitSkipPaginationSerializer()


SORTABLE = ["created_at", "updated_at", "scheduled_time", "executed_at", "status", "type"]


class ActionListParams(serializers.Serializer):
    status = serializers.ChoiceField(choices=ActionStatus.choices, required=False)
    type = serializers.ChoiceField(choices=ActionType.choices, required=False)
    list_id = serializers.CharField(required=False)
    item_id = serializers.CharField(required=False)
    identity_id = serializers.CharField(required=False)
    sort_by = serializers.ChoiceField(choices=SORTABLE, default="created_at")
    sort_dir = serializers.ChoiceField(choices=["asc", "desc"], default="desc")


class DecideSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=Decision.choices)
    comment = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")
    params = serializers.DictField(required=False)
    scheduled_time = AwareDateTimeField(required=False)


class BulkEditItemSerializer(serializers.Serializer):
    action_id = serializers.CharField(max_length=32)
    params = serializers.DictField(
        required=False,
        help_text="A partial update of this action's params (a null removes a key), "
        "checked against its type.",
    )
    scheduled_time = AwareDateTimeField(required=False)

    def validate(self, data: dict) -> dict:
        if "params" not in data and "scheduled_time" not in data:
            raise serializers.ValidationError(
                {"params": ["Give params and/or scheduled_time to edit."]}
            )
        return data


class BulkDecideSerializer(DecideSerializer):
    """`action_ids` for approve and reject (and an edit sharing one change);
    `items` for an edit with each action's own changes."""

    action_ids = serializers.ListField(
        child=serializers.CharField(max_length=32),
        allow_empty=False,
        max_length=500,
        required=False,
        help_text="The actions to approve or reject (up to 500). With `edit`, the "
        "top-level params/scheduled_time are applied to each of them.",
    )
    # A ListField (not many=True) so the list's own errors sit on `items`.
    items = serializers.ListField(
        child=BulkEditItemSerializer(),
        required=False,
        allow_empty=False,
        max_length=500,
        help_text="`edit` only: up to 500 actions, each with its own params and/or "
        "scheduled_time. Any bad field (items[2].params.to) is a 400 and nothing is "
        "written.",
    )

    def validate(self, data: dict) -> dict:
        errors: dict[str, list[str]] = {}
        if "action_ids" not in data and "items" not in data:
            errors["action_ids"] = ["Give action_ids (or, for an edit, items)."]
        if "action_ids" in data and "items" in data:
            errors["items"] = ["Give either action_ids or items, not both."]
        if "items" in data:
            if data["action"] != Decision.EDIT:
                errors["items"] = [
                    "Only an edit takes items; give action_ids to approve or reject."
                ]
            for field in ("params", "scheduled_time"):
                if field in data:
                    errors[field] = [f"With items, give {field} in each item."]
        if errors:
            raise serializers.ValidationError(errors)
        return data


class BulkResultSerializer(serializers.Serializer):
    action_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["success", "error"])
    action_status = serializers.ChoiceField(choices=ActionStatus.choices, required=False)
    error = serializers.DictField(required=False)


class BulkEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    results = BulkResultSerializer(many=True)
    succeeded = serializers.IntegerField()
    failed = serializers.IntegerField()


class ExecuteSerializer(serializers.Serializer):
    comment = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=5000,
        default="",
        help_text="Recorded with the approval when executing an action pending approval "
        '(default "approved by execute"), otherwise with the execute.',
    )


class ExecuteEnvelope(ActionEnvelope):
    approved = serializers.BooleanField(
        help_text="True when this call approved the action (it was pending approval and "
        "the key has actions:approve) before executing it."
    )


class CompleteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, max_length=5000, default="")


class ProcessParams(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=100)


class ProcessResultSerializer(serializers.Serializer):
    action_id = serializers.CharField()
    result = serializers.ChoiceField(
        # cancelled: the action's enrollment was stopped while it waited
        choices=["completed", "retrying", "failed", "deferred", "stale", "cancelled"]
    )
    error = serializers.CharField(allow_null=True)


class ProcessEnvelope(serializers.Serializer):
    status = serializers.CharField(default="success")
    processed = serializers.IntegerField()
    results = ProcessResultSerializer(many=True)
