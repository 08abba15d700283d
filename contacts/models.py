"""The CRM: companies, contacts, their event timeline, notes and conversations."""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower, Upper

from accounts.models import WorkspaceOwned, new_public_id, validate_timezone


class LifecycleStage(models.TextChoices):
    LEAD = "lead"
    PROSPECT = "prospect"
    MQL = "mql"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    EVANGELIST = "evangelist"
    SUBSCRIBER = "subscriber"
    OTHER = "other"


class EnrichmentStatus(models.TextChoices):
    ENRICHED = "enriched"
    NOT_ENRICHED = "not_enriched"


class Company(WorkspaceOwned):
    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "co"))
    name = models.CharField(max_length=255)
    domain = models.CharField(max_length=255, blank=True)
    industry = models.CharField(max_length=120, blank=True)
    size = models.CharField(max_length=32, blank=True, help_text="Headcount band, e.g. 51-200.")
    country = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]
        indexes = [
            models.Index(fields=["workspace", "domain"], name="company_ws_domain_idx"),
            models.Index(fields=["workspace", "name"], name="company_ws_name_idx"),
        ]

    def __str__(self) -> str:
        return self.name


class Contact(WorkspaceOwned):
    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "ct"))
    email = models.CharField(max_length=320)
    firstname = models.CharField(max_length=120, blank=True)
    lastname = models.CharField(max_length=120, blank=True)
    jobtitle = models.CharField(max_length=200, blank=True)
    phone = models.CharField(max_length=32, blank=True, help_text="E.164")
    linkedin_url = models.CharField(max_length=300, blank=True)
    city = models.CharField(max_length=120, blank=True)
    state = models.CharField(max_length=120, blank=True)
    country = models.CharField(max_length=120, blank=True)
    industry = models.CharField(max_length=120, blank=True)
    company = models.ForeignKey(
        Company, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    lifecyclestage = models.CharField(max_length=16, choices=LifecycleStage.choices, blank=True)
    lead_status = models.CharField(max_length=64, blank=True)
    # Custom properties only; the well-known ones live in the columns above.
    properties = models.JSONField(default=dict, blank=True)
    enrichment_status = models.CharField(
        max_length=16, choices=EnrichmentStatus.choices, default=EnrichmentStatus.NOT_ENRICHED
    )
    timezone = models.CharField(max_length=64, blank=True, validators=[validate_timezone])
    # Suppression: any of these makes every send to the contact fail, not retry.
    unsubscribed = models.BooleanField(default=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_reason = models.CharField(max_length=255, blank=True)
    bounced = models.BooleanField(default=False)
    bounced_at = models.DateTimeField(null=True, blank=True)
    bounced_reason = models.CharField(max_length=255, blank=True)
    do_not_contact = models.BooleanField(default=False)
    do_not_contact_at = models.DateTimeField(null=True, blank=True)
    do_not_contact_reason = models.CharField(max_length=255, blank=True)
    # Lower-cased "first last email jobtitle company" kept by the services, so a
    # search is one LIKE that a trigram index serves on PostgreSQL.
    search_text = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint("workspace", Lower("email"), name="contact_unique_email_ci"),
        ]
        indexes = [
            models.Index(fields=["workspace", "created_at"], name="contact_ws_created_idx"),
            models.Index(fields=["workspace", "updated_at"], name="contact_ws_updated_idx"),
            models.Index(fields=["workspace", "lifecyclestage"], name="contact_ws_stage_idx"),
            models.Index(fields=["workspace", "enrichment_status"], name="contact_ws_enrich_idx"),
            models.Index(fields=["workspace", "company"], name="contact_ws_company_idx"),
            models.Index(fields=["workspace", "phone"], name="contact_ws_phone_idx"),
            models.Index(fields=["workspace", "lastname"], name="contact_ws_lastname_idx"),
            models.Index(fields=["workspace", "firstname"], name="contact_ws_firstname_idx"),
            # The list filters match case-insensitively (iexact is UPPER(x) = UPPER(y)).
            models.Index("workspace", Upper("country"), name="contact_ws_country_idx"),
            models.Index("workspace", Upper("industry"), name="contact_ws_industry_idx"),
            models.Index("workspace", Upper("city"), name="contact_ws_city_idx"),
            models.Index("workspace", Upper("state"), name="contact_ws_state_idx"),
            models.Index("workspace", Upper("lead_status"), name="contact_ws_lead_idx"),
            # has_linkedin=true: the partial index matches exclude(linkedin_url="").
            models.Index(
                fields=["workspace"],
                condition=~models.Q(linkedin_url=""),
                name="contact_ws_has_linkedin_idx",
            ),
            # Trigram indexes for search and job_title are PostgreSQL-only: see
            # migration 0002_trigram_indexes.
        ]

    def __str__(self) -> str:
        name = f"{self.firstname} {self.lastname}".strip()
        return f"{name} <{self.email}>" if name else self.email

    @property
    def is_suppressed(self) -> bool:
        return self.unsubscribed or self.bounced or self.do_not_contact

    @property
    def suppression_reason(self) -> str:
        for flag in ("do_not_contact", "unsubscribed", "bounced"):
            if getattr(self, flag):
                why = getattr(self, f"{flag}_reason")
                return f"{flag.replace('_', ' ')}" + (f": {why}" if why else "")
        return ""


class VisitorId(WorkspaceOwned):
    """Website visitor ids from the tracker, associated with a contact."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="visitor_ids")
    visitor_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "visitor_id"], name="visitor_unique_id")
        ]

    def __str__(self) -> str:
        return self.visitor_id


class ContactEvent(WorkspaceOwned):
    """The timeline. Outlives its contact: the FK is nulled on delete and the
    email and id are kept as a snapshot, so the audit log stays readable."""

    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "ev"))
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    contact_public_id = models.CharField(max_length=32)
    contact_email = models.CharField(max_length=320)
    type = models.CharField(max_length=64)
    data = models.JSONField(default=dict, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "occurred_at"], name="event_contact_time_idx"),
            models.Index(
                fields=["workspace", "contact_public_id", "occurred_at"], name="event_ws_ct_idx"
            ),
            models.Index(fields=["workspace", "type", "occurred_at"], name="event_ws_type_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.contact_email}"


class Note(WorkspaceOwned):
    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "note"))
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes")
    content = models.TextField(help_text="Markdown.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.content[:60]


class ConversationChannel(models.TextChoices):
    EMAIL = "email"
    INTERCOM = "intercom"
    SMS = "sms"
    PHONE = "phone"
    LINKEDIN = "linkedin"


class ConversationStatus(models.TextChoices):
    OPEN = "open"
    CLOSED = "closed"
    SPAM = "spam"


class EscalationStatus(models.TextChoices):
    """A hand-off to a human (automations.services.conversations): "" = never escalated."""

    NONE = "", "not escalated"
    PENDING = "pending"
    ESCALATED = "escalated"
    FAILED = "failed"


class Conversation(WorkspaceOwned):
    """A thread. `thread_id` is what `email_message` actions reply into."""

    public_id = models.CharField(max_length=32, unique=True, default=partial(new_public_id, "th"))
    contact = models.ForeignKey(
        Contact, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    channel = models.CharField(max_length=16, choices=ConversationChannel.choices)
    subject = models.CharField(max_length=998, blank=True)
    status = models.CharField(
        max_length=16, choices=ConversationStatus.choices, default=ConversationStatus.OPEN
    )
    topic = models.CharField(max_length=200, blank=True)
    escalation_status = models.CharField(
        max_length=16, choices=EscalationStatus.choices, blank=True, default=""
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    escalated_to = models.CharField(max_length=320, blank=True)
    escalation_reason = models.CharField(max_length=500, blank=True)
    external_thread_id = models.CharField(max_length=255, blank=True)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-last_message_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "last_message_at"], name="conv_contact_time_idx"),
            models.Index(fields=["workspace", "external_thread_id"], name="conv_ws_ext_idx"),
        ]
        constraints = [
            # A phone call is one conversation: a provider retrying its webhook
            # must not record the call (and fire its hooks) twice.
            models.UniqueConstraint(
                fields=["workspace", "external_thread_id"],
                condition=models.Q(channel="phone") & ~models.Q(external_thread_id=""),
                name="conv_unique_phone_call",
            )
        ]

    def __str__(self) -> str:
        return self.subject or self.public_id


class Direction(models.TextChoices):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class Message(WorkspaceOwned):
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    direction = models.CharField(max_length=16, choices=Direction.choices)
    from_address = models.CharField(max_length=320)
    to_address = models.CharField(max_length=1000)
    subject = models.CharField(max_length=998, blank=True)
    body = models.TextField(blank=True)
    sent_at = models.DateTimeField()
    provider_message_id = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["sent_at", "id"]
        indexes = [
            models.Index(fields=["conversation", "sent_at"], name="message_conv_time_idx"),
            models.Index(fields=["workspace", "provider_message_id"], name="message_ws_prov_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.subject or self.body[:40]}"
