"""Serializers of the v1 contacts facade (seed 002)."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from config.fields import DateOrDateTimeField
from config.pagination import MAX_PAGE
from contacts.models import (
    Contact,
    Conversation,
    EnrichmentStatus,
    LifecycleStage,
    Message,
)
from contacts.properties import properties_of
from contacts.selectors import SORT_COLUMNS


class ContactListParams(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=MAX_PAGE, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)
    status = serializers.ChoiceField(choices=EnrichmentStatus.choices, required=False)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    lead_status = serializers.CharField(required=False, max_length=64)
    country = serializers.CharField(required=False, max_length=120)
    industry = serializers.CharField(required=False, max_length=120)
    city = serializers.CharField(required=False, max_length=120)
    state = serializers.CharField(required=False, max_length=120)
    job_title = serializers.CharField(required=False, max_length=200)
    has_linkedin = serializers.BooleanField(required=False, allow_null=True, default=None)
    company_id = serializers.CharField(required=False, max_length=32)
    created_after = DateOrDateTimeField(required=False)
    created_before = DateOrDateTimeField(required=False)
    search = serializers.CharField(required=False, max_length=200)
    sort_by = serializers.ChoiceField(choices=list(SORT_COLUMNS), default="createdate")
    sort_dir = serializers.ChoiceField(choices=["asc", "desc"], default="desc")
    count_only = serializers.BooleanField(default=False)
    fields = serializers.ChoiceField(choices=["summary"], required=False)


def suppression_of(contact: Contact) -> dict:
    return {
        "suppressed": contact.is_suppressed,
        "reason": contact.suppression_reason or None,
        "unsubscribed": contact.unsubscribed,
        "unsubscribed_at": contact.unsubscribed_at,
        "bounced": contact.bounced,
        "bounced_at": contact.bounced_at,
        "do_not_contact": contact.do_not_contact,
        "do_not_contact_at": contact.do_not_contact_at,
    }


class SuppressionSerializer(serializers.Serializer):
    suppressed = serializers.BooleanField()
    reason = serializers.CharField(allow_null=True)
    unsubscribed = serializers.BooleanField()
    unsubscribed_at = serializers.DateTimeField(allow_null=True)
    bounced = serializers.BooleanField()
    bounced_at = serializers.DateTimeField(allow_null=True)
    do_not_contact = serializers.BooleanField()
    do_not_contact_at = serializers.DateTimeField(allow_null=True)


class ContactSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    email = serializers.CharField()
    properties = serializers.SerializerMethodField()
    company_id = serializers.SerializerMethodField()
    suppression = serializers.SerializerMethodField()
    enrichment_status = serializers.ChoiceField(choices=EnrichmentStatus.choices)
    createdate = serializers.DateTimeField(source="created_at")
    lastmodifieddate = serializers.DateTimeField(source="updated_at")

    def get_properties(self, contact: Contact) -> dict[str, Any]:
        return properties_of(contact)

    def get_company_id(self, contact: Contact) -> str | None:
        return contact.company.public_id if contact.company_id else None

    def get_suppression(self, contact: Contact) -> SuppressionSerializer:
        return SuppressionSerializer(suppression_of(contact)).data


class ContactSummarySerializer(serializers.Serializer):
    """About 200 bytes a contact, for listing many."""

    id = serializers.CharField(source="public_id")
    email = serializers.CharField()
    name = serializers.SerializerMethodField()
    company = serializers.SerializerMethodField()
    lifecyclestage = serializers.CharField()
    suppressed = serializers.BooleanField(source="is_suppressed")

    def get_name(self, contact: Contact) -> str:
        return f"{contact.firstname} {contact.lastname}".strip()[:60]

    def get_company(self, contact: Contact) -> str:
        return contact.company.name[:60] if contact.company_id else ""


class ContactCreateSerializer(serializers.Serializer):
    email = serializers.JSONField(help_text="Contact email address (unique per workspace).")
    properties = serializers.JSONField(required=False, default=None)
    visitor_id = serializers.JSONField(required=False, default=None)


class ContactUpdateSerializer(serializers.Serializer):
    properties = serializers.JSONField(required=False, default=None)
    visitor_id = serializers.JSONField(required=False, default=None)


class EventSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    type = serializers.CharField()
    data = serializers.DictField()
    contact_id = serializers.CharField(source="contact_public_id")
    contact_email = serializers.CharField()
    actor = serializers.CharField(source="actor_label")
    occurred_at = serializers.DateTimeField()


class EventListParams(serializers.Serializer):
    event_type = serializers.CharField(required=False, max_length=64)
    sort_dir = serializers.ChoiceField(choices=["asc", "desc"], default="desc")
    limit = serializers.IntegerField(min_value=1, max_value=1000, default=1000)


class NoteSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    contact_id = serializers.CharField(source="contact.public_id")
    content = serializers.CharField()
    author = serializers.CharField(source="author_label")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NoteWriteSerializer(serializers.Serializer):
    content = serializers.CharField(max_length=100_000)


class MessageSerializer(serializers.Serializer):
    direction = serializers.CharField()
    # "from" is a keyword, so these two are renamed in to_representation.
    from_address = serializers.CharField()
    to_address = serializers.CharField()
    subject = serializers.CharField()
    body = serializers.CharField()
    sent_at = serializers.DateTimeField()
    provider_message_id = serializers.CharField()

    def to_representation(self, message: Message) -> dict:
        data = super().to_representation(message)
        data["from"] = data.pop("from_address")
        data["to"] = data.pop("to_address")
        return data


class ConversationSerializer(serializers.Serializer):
    id = serializers.CharField(source="public_id")
    thread_id = serializers.CharField(source="public_id")
    channel = serializers.CharField()
    subject = serializers.CharField()
    status = serializers.CharField()
    topic = serializers.CharField()
    external_thread_id = serializers.CharField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    message_count = serializers.IntegerField()

    def to_representation(self, conversation: Conversation) -> dict:
        data = super().to_representation(conversation)
        if self.context.get("include_messages"):
            data["messages"] = MessageSerializer(conversation.recent_messages, many=True).data
        return data


class ConversationListParams(serializers.Serializer):
    include_messages = serializers.BooleanField(default=False)
    messages_per_thread = serializers.IntegerField(min_value=1, max_value=100, default=5)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class EmailThreadSerializer(serializers.Serializer):
    thread_id = serializers.CharField(source="public_id")
    subject = serializers.CharField()
    status = serializers.CharField()
    last_message_at = serializers.DateTimeField(allow_null=True)
    message_count = serializers.IntegerField()


class BatchSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.CharField(max_length=32), required=False, max_length=100
    )
    emails = serializers.ListField(
        child=serializers.CharField(max_length=320), required=False, max_length=100
    )
    upsert = serializers.ListField(
        child=serializers.JSONField(),
        required=False,
        max_length=100,
        help_text='Up to 100 of {"email", "properties", "visitor_id"}, matched by email.',
    )

    def validate(self, data: dict) -> dict:
        if not any(data.get(k) for k in ("ids", "emails", "upsert")):
            raise serializers.ValidationError(
                {"non_field_errors": ["Give ids and/or emails to read, or upsert to write."]}
            )
        return data
