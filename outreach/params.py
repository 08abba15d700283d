"""Per-type validation of an action's `params`.

Each type has a serializer; unknown keys are refused (a typo such as
`recipient` for `to` must not silently drop a field). Values come out
normalised: emails as email-validator normalises them, phones in E.164
(contacts.normalise).
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.exceptions import ValidationFailed, flatten_errors
from contacts.models import LifecycleStage
from contacts.normalise import LINKEDIN_PROFILE, normalise_email, normalise_phone
from outreach.models import ActionType


class EmailAddressField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        try:
            return normalise_email(super().to_internal_value(data))
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.message) from None


class PhoneField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        try:
            return normalise_phone(super().to_internal_value(data))
        except ValidationFailed as exc:
            raise serializers.ValidationError(exc.message) from None


class EmailListField(serializers.ListField):
    """A list of addresses; a single string (comma-separated) is accepted too."""

    child = EmailAddressField()

    def to_internal_value(self, data: Any) -> list[str]:
        if isinstance(data, str):
            data = [part.strip() for part in data.split(",") if part.strip()]
        return super().to_internal_value(data)


class StrictParams(serializers.Serializer):
    def to_internal_value(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["Must be an object."]})
        errors = {
            key: [f"Unknown parameter; valid: {', '.join(self.fields)}."]
            for key in sorted(set(data) - set(self.fields))
        }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            errors.update(exc.detail)
        if errors:
            raise serializers.ValidationError(errors)
        return value

    def to_representation(self, instance):  # validated data is already plain JSON
        return instance


class SendEmailParams(StrictParams):
    to = EmailAddressField()
    subject = serializers.CharField(max_length=998)
    body = serializers.CharField()
    cc = EmailListField(required=False)
    bcc = EmailListField(required=False)
    reply_to = EmailAddressField(required=False)
    thread_id = serializers.CharField(required=False, max_length=255)


class EmailMessageParams(StrictParams):
    thread_id = serializers.CharField(max_length=255)
    body = serializers.CharField()
    subject = serializers.CharField(required=False, max_length=998)


class LinkedInMessageParams(StrictParams):
    profile_url = serializers.CharField(max_length=300)
    message = serializers.CharField(max_length=8000)

    def validate_profile_url(self, value: str) -> str:
        value = value.strip()
        if value.startswith("http://"):
            value = "https://" + value.removeprefix("http://")
        if not LINKEDIN_PROFILE.match(value):
            raise serializers.ValidationError(
                "Must be a LinkedIn profile URL such as https://www.linkedin.com/in/jane-doe."
            )
        return value


class SendSmsParams(StrictParams):
    recipient_phone = PhoneField()
    message = serializers.CharField(max_length=1600)  # Twilio's limit for one message
    recipient_name = serializers.CharField(required=False, max_length=200)


class CallContactParams(StrictParams):
    recipient_phone = PhoneField()
    recipient_name = serializers.CharField(required=False, max_length=200)
    script = serializers.CharField(required=False)


class UpdateLifecycleStageParams(StrictParams):
    contact_id = serializers.CharField(max_length=64)
    stage = serializers.ChoiceField(choices=LifecycleStage.choices)
    reason = serializers.CharField(max_length=1000)


class TaskParams(StrictParams):
    title = serializers.CharField(max_length=300)
    note = serializers.CharField(required=False, allow_blank=True)


PARAMS_SERIALIZERS: dict[str, type[StrictParams]] = {
    ActionType.SEND_EMAIL: SendEmailParams,
    ActionType.EMAIL_MESSAGE: EmailMessageParams,
    ActionType.LINKEDIN_MESSAGE: LinkedInMessageParams,
    ActionType.SEND_SMS: SendSmsParams,
    ActionType.CALL_CONTACT: CallContactParams,
    ActionType.UPDATE_LIFECYCLE_STAGE: UpdateLifecycleStageParams,
    ActionType.TASK: TaskParams,
}


def validate_params(action_type: str, params: Any) -> tuple[dict, dict[str, list[str]]]:
    """(normalised params, errors keyed `params.<field>`); errors empty when valid."""
    serializer = PARAMS_SERIALIZERS[action_type](data=params)
    if serializer.is_valid():
        return dict(serializer.validated_data), {}
    return {}, flatten_errors(serializer.errors, prefix="params")


def recipient_of(action_type: str, params: dict) -> str:
    """Who the action reaches, for summaries, search and contact matching."""
    return str(
        params.get("to")
        or params.get("recipient_phone")
        or params.get("profile_url")
        or params.get("thread_id")
        or params.get("contact_id")
        or ""
    )


def summary_of(action_type: str, params: dict) -> str:
    recipient = recipient_of(action_type, params)
    return {
        ActionType.SEND_EMAIL: f"Email to {recipient}",
        ActionType.EMAIL_MESSAGE: f"Email reply in thread {recipient}",
        ActionType.LINKEDIN_MESSAGE: f"LinkedIn message to {recipient}",
        ActionType.SEND_SMS: f"SMS to {recipient}",
        ActionType.CALL_CONTACT: f"Call to {recipient}",
        ActionType.UPDATE_LIFECYCLE_STAGE: (
            f"Lifecycle stage of {recipient} to {params.get('stage', '')}"
        ),
        ActionType.TASK: f"Task: {params.get('title', '')}",
    }[action_type]
