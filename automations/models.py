"""Automations (seed 004, AnswerPal): reusable action definitions, and the
topic and hook links that say when they run and in which order."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce

from accounts.models import WorkspaceOwned, validate_timezone
from config.crypto import EncryptedTextField


class ActionDefinitionType(models.TextChoices):
    API_CALL = "ApiCall"
    REPLY = "Reply"
    REPLY_SEND = "ReplySend"
    SEND = "Send"
    FORWARD = "Forward"
    CLOSE = "Close"
    DELETE = "Delete"
    SPAM = "Spam"
    DETECT_TOPICS = "DetectTopics"
    WAIT = "Wait"


class HookName(models.TextChoices):
    PRE_SPAM = "PreSpam"
    POST_SPAM = "PostSpam"
    POST_TOPIC_DETECTION = "PostTopicDetection"
    ON_ESCALATE = "OnEscalate"
    ON_CLOSE = "OnClose"
    ON_END_USER_UPDATE = "OnEndUserUpdate"
    ON_END_USER_ADD = "OnEndUserAdd"
    ON_END_USER_DELETE = "OnEndUserDelete"
    USER_TRIGGERED = "UserTriggered"
    POST_ESCALATE = "PostEscalate"
    ON_ESCALATE_FAILED = "OnEscalateFailed"
    ON_PHONE_PICKUP = "OnPhonePickup"
    ON_PHONE_PICKUP_SAY = "OnPhonePickupSay"


class ChannelKind(models.TextChoices):
    EMAIL = "email"
    CHAT = "chat"
    PHONE = "phone"
    SMS = "sms"


class ApiAuthenticationType(models.TextChoices):
    NONE = "None"
    BASIC = "Basic"
    BEARER = "Bearer"


class Topic(WorkspaceOwned):
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True)
    # Detection rules: any keyword (case-insensitive, whole word) or any regex.
    keywords = models.JSONField(default=list, blank=True)
    patterns = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="topic_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Channel(WorkspaceOwned):
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ChannelKind.choices)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="channel_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class ActionDefinition(WorkspaceOwned):
    """What can run. Priority is not here: it lives on the topic and hook links."""

    # Core
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=100, blank=True)
    action_type = models.CharField(max_length=20, choices=ActionDefinitionType.choices)
    is_active = models.BooleanField(default=True)
    # Outbound API call
    api_endpoint = models.CharField(max_length=2000, blank=True)
    api_method = models.CharField(max_length=10, blank=True)
    # Header values are credentials as often as not (X-Api-Key), so the whole JSON
    # object is encrypted at rest; reads show the names with masked values.
    api_headers = EncryptedTextField(blank=True, help_text="JSON object.")
    api_body_template = models.TextField(blank=True)
    field_mapping = models.TextField(blank=True, help_text="JSON object.")
    response_field_mapping = models.TextField(blank=True, help_text="JSON object.")
    # Outbound authentication overrides (secrets encrypted at rest, write-only)
    override_api_base_url = models.CharField(max_length=2000, blank=True)
    override_api_username = models.CharField(max_length=255, blank=True)
    override_api_password = EncryptedTextField(blank=True)
    override_api_token = EncryptedTextField(blank=True)
    override_api_authentication_type = models.CharField(
        max_length=10, choices=ApiAuthenticationType.choices, blank=True
    )
    # Runtime controls
    conditional_rules = models.TextField(blank=True, help_text="JSON Logic rule.")
    forward_recipients = models.CharField(max_length=2000, blank=True)
    forward_phone_number = models.CharField(max_length=32, blank=True)
    wait_seconds = models.PositiveIntegerField(null=True, blank=True)
    action_schedule = models.CharField(max_length=500, blank=True)
    action_schedule_time_zone_id = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone]
    )
    # Function tool
    is_function_tool = models.BooleanField(default=False)
    function_parameters_schema = models.TextField(blank=True, help_text="JSON Schema.")
    tool_call_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["workspace", "name"], name="actiondef_ws_name_idx"),
            models.Index(fields=["workspace", "is_active"], name="actiondef_ws_active_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.action_type})"


class CustomFieldDefinition(WorkspaceOwned):
    action = models.ForeignKey(
        ActionDefinition, on_delete=models.CASCADE, related_name="custom_field_definitions"
    )
    name = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)
    field_type = models.CharField(max_length=20, default="string")
    is_required = models.BooleanField(default=False)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class TopicAction(WorkspaceOwned):
    """Runs `action` for a topic (or special topic) on a channel (or special
    channel), in priority order."""

    topic = models.ForeignKey(Topic, null=True, blank=True, on_delete=models.CASCADE)
    special_topic = models.CharField(max_length=100, blank=True, null=True)  # noqa: DJ001 (seed: null = none)
    document_id = models.BigIntegerField(default=0)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE)
    special_channel = models.CharField(max_length=100, blank=True, null=True)  # noqa: DJ001
    action = models.ForeignKey(ActionDefinition, on_delete=models.CASCADE, related_name="+")
    priority = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            # NULLs would be distinct in a plain unique constraint: coalesce them.
            models.UniqueConstraint(
                "workspace",
                Coalesce("topic", Value(0)),
                Coalesce("special_topic", Value("")),
                "document_id",
                Coalesce("channel", Value(0)),
                Coalesce("special_channel", Value("")),
                "action",
                name="topicaction_unique_link",
            )
        ]

    def __str__(self) -> str:
        return f"{self.topic or self.special_topic} → {self.action_id} ({self.priority})"


class HookAction(WorkspaceOwned):
    hook_name = models.CharField(max_length=32, choices=HookName.choices)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE)
    action = models.ForeignKey(ActionDefinition, on_delete=models.CASCADE, related_name="+")
    priority = models.IntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [
            models.UniqueConstraint(
                "workspace",
                "hook_name",
                Coalesce("channel", Value(0)),
                "action",
                name="hookaction_unique_link",
            )
        ]
        indexes = [models.Index(fields=["workspace", "hook_name"], name="hookaction_ws_hook_idx")]

    def __str__(self) -> str:
        return f"{self.hook_name} → {self.action_id} ({self.priority})"


class RunStatus(models.TextChoices):
    RUNNING = "running"
    COMPLETED = "completed"


class StepStatus(models.TextChoices):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    SKIPPED = "skipped"
    FAILED = "failed"


class HookRun(WorkspaceOwned):
    """One firing of a hook (or the topic actions of a detected topic). Its steps
    are rows, run one after another by the dispatcher's claim-and-lease."""

    hook_name = models.CharField(max_length=32)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    conversation = models.ForeignKey(
        "contacts.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    context = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    # The inbound pipeline's next stage once this run completes ("" = none).
    next_stage = models.CharField(max_length=32, blank=True)
    # Outreach the run creates waits for approval: a run started through the API by
    # a key without actions:approve (automations.step_executors reads it).
    requires_approval = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.RUNNING)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.hook_name} run {self.pk} ({self.status})"


class HookStep(WorkspaceOwned):
    run = models.ForeignKey(HookRun, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    definition = models.ForeignKey(
        ActionDefinition, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    definition_name = models.CharField(max_length=100)
    status = models.CharField(max_length=16, choices=StepStatus.choices, default=StepStatus.PENDING)
    due_at = models.DateTimeField()
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    error = models.TextField(blank=True)
    outreach_action = models.ForeignKey(
        "outreach.Action", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="hookstep_unique_position")
        ]
        indexes = [
            models.Index(
                fields=["due_at", "id"],
                condition=models.Q(status="pending"),
                name="hookstep_due_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"step {self.position} of run {self.run_id}: {self.definition_name} ({self.status})"
