"""DTOs of the AnswerPal automation settings facade (seed 004), camelCase as the
seed names them. JSON-valued settings (`apiHeaders`, `fieldMapping`, …) stay
strings, as in the seed, and are validated by parsing them. Secrets are
write-only: reads show `hasOverrideApiPassword`/`hasOverrideApiToken` instead,
and `apiHeaders` with every value masked."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

from automations import services
from automations.models import (
    ActionDefinitionType,
    ApiAuthenticationType,
    ChannelKind,
    HookName,
)
from config.schema import Envelope

MAX_ID = 2**63 - 1
TEXT_MAX = services.TEXT_MAX  # the services check it again, for the admin too


class LooseChoiceField(serializers.ChoiceField):
    """A choice matched case-insensitively and returned in its canonical spelling
    (ASP.NET binds enum values that way). The error lists the valid values."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        valid = ", ".join(str(choice) for choice in self.choices)
        self.error_messages["invalid_choice"] = f'"{{input}}" is not one of: {valid}.'

    def to_internal_value(self, data: Any) -> Any:
        if data == "" and self.allow_blank:
            return ""
        if isinstance(data, str):
            lowered = {str(choice).lower(): choice for choice in self.choices}
            if data.strip().lower() in lowered:
                return lowered[data.strip().lower()]
        self.fail("invalid_choice", input=data)


class TimeZoneField(serializers.CharField):
    """An IANA zone in any case, returned in its canonical spelling."""

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not value:
            return value
        try:
            return services.normalise_time_zone(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(list(exc.messages)) from None


class BlankAsNullField(serializers.CharField):
    """Reads an unset (blank) text setting as null, as the seed's DTOs do."""

    def to_representation(self, value: Any) -> str | None:
        return value or None


class MaskedHeadersField(BlankAsNullField):
    """apiHeaders as read: the header names, each value masked (services.HEADER_MASK)."""

    def to_representation(self, value: Any) -> str | None:
        return services.masked_headers(value) or None


def optional_text(max_length: int | None = TEXT_MAX, **kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        required=False, allow_null=True, allow_blank=True, max_length=max_length, **kwargs
    )


def identifier(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


# --- Paging and sorting ----------------------------------------------------------------
class PageParams(serializers.Serializer):
    pageNumber = serializers.IntegerField(min_value=1, max_value=2**31 - 1, default=1)
    pageSize = serializers.IntegerField(min_value=1, max_value=100, default=10)
    sortOrder = LooseChoiceField(choices=["asc", "desc"], default="asc")


class PageSerializer(Envelope):
    pageNumber = serializers.IntegerField(source="page_number")
    pageSize = serializers.IntegerField(source="page_size")
    totalCount = serializers.IntegerField(source="total_count")
    totalPages = serializers.IntegerField(source="total_pages")


# --- Action definitions ---------------------------------------------------------------
ACTION_SORTS = {
    "Name": "name",
    "ActionType": "action_type",
    "IsActive": "is_active",
    "ActionID": "id",
    "CreatedAt": "created_at",
}


class ActionListParams(PageParams):
    sortBy = LooseChoiceField(choices=list(ACTION_SORTS), default="Name")


@extend_schema_serializer(component_name="CustomFieldDefinitionDTO")
class CustomFieldDefinitionSerializer(serializers.Serializer):
    customFieldDefinitionID = serializers.IntegerField(source="id")
    name = serializers.CharField()
    label = serializers.CharField()
    fieldType = serializers.CharField(source="field_type")
    isRequired = serializers.BooleanField(source="is_required")


@extend_schema_serializer(component_name="ActionAvailableDTO")
class ActionAvailableSerializer(serializers.Serializer):
    actionID = serializers.IntegerField(source="id")
    customerID = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    description = BlankAsNullField(allow_null=True)
    actionType = serializers.ChoiceField(source="action_type", choices=ActionDefinitionType.values)
    isActive = serializers.BooleanField(source="is_active")


@extend_schema_serializer(component_name="ActionReadDTO")
class ActionReadSerializer(ActionAvailableSerializer):
    apiEndpoint = BlankAsNullField(source="api_endpoint", allow_null=True)
    apiMethod = BlankAsNullField(source="api_method", allow_null=True)
    apiHeaders = MaskedHeadersField(
        source="api_headers",
        allow_null=True,
        help_text='The header names, every value masked as "********" (values are secrets).',
    )
    apiBodyTemplate = BlankAsNullField(source="api_body_template", allow_null=True)
    fieldMapping = BlankAsNullField(source="field_mapping", allow_null=True)
    responseFieldMapping = BlankAsNullField(source="response_field_mapping", allow_null=True)
    overrideApiBaseUrl = BlankAsNullField(source="override_api_base_url", allow_null=True)
    overrideApiUsername = BlankAsNullField(source="override_api_username", allow_null=True)
    overrideApiAuthenticationType = BlankAsNullField(
        source="override_api_authentication_type", allow_null=True
    )
    hasOverrideApiPassword = serializers.SerializerMethodField()
    hasOverrideApiToken = serializers.SerializerMethodField()
    conditionalRules = BlankAsNullField(source="conditional_rules", allow_null=True)
    forwardRecipients = BlankAsNullField(source="forward_recipients", allow_null=True)
    forwardPhoneNumber = BlankAsNullField(source="forward_phone_number", allow_null=True)
    waitSeconds = serializers.IntegerField(source="wait_seconds", allow_null=True)
    actionSchedule = BlankAsNullField(source="action_schedule", allow_null=True)
    actionScheduleTimeZoneId = BlankAsNullField(
        source="action_schedule_time_zone_id", allow_null=True
    )
    isFunctionTool = serializers.BooleanField(source="is_function_tool")
    functionParametersSchema = BlankAsNullField(
        source="function_parameters_schema", allow_null=True
    )
    toolCallTimeoutSeconds = serializers.IntegerField(
        source="tool_call_timeout_seconds", allow_null=True
    )
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")
    customFieldDefinitions = CustomFieldDefinitionSerializer(
        source="custom_field_definitions.all", many=True
    )

    def get_hasOverrideApiPassword(self, definition) -> bool:
        return bool(getattr(definition, "has_override_api_password", False))

    def get_hasOverrideApiToken(self, definition) -> bool:
        return bool(getattr(definition, "has_override_api_token", False))


@extend_schema_serializer(component_name="ActionReadDTOPage")
class ActionPageSerializer(PageSerializer):
    items = ActionReadSerializer(many=True)


@extend_schema_serializer(component_name="ActionCreateDTO")
class ActionCreateSerializer(serializers.Serializer):
    """`name` and `actionType` are required; everything else is optional. Text
    settings take null or "" for "none". Secrets (`overrideApiPassword`,
    `overrideApiToken`) are write-only and stored encrypted."""

    name = serializers.CharField(max_length=100)
    description = optional_text(100)
    actionType = LooseChoiceField(source="action_type", choices=ActionDefinitionType.values)
    isActive = serializers.BooleanField(source="is_active", required=False)
    apiEndpoint = optional_text(2000, source="api_endpoint")
    apiMethod = LooseChoiceField(
        source="api_method",
        choices=list(services.API_METHODS),
        required=False,
        allow_null=True,
        allow_blank=True,
    )
    apiHeaders = optional_text(
        source="api_headers",
        validators=[services.check_json_object],
        help_text="A JSON object of header name to value; values are stored encrypted and read "
        'back masked. On update, a value of "********" keeps that header\'s stored value.',
    )
    apiBodyTemplate = optional_text(source="api_body_template", trim_whitespace=False)
    fieldMapping = optional_text(source="field_mapping", validators=[services.check_json_object])
    responseFieldMapping = optional_text(
        source="response_field_mapping", validators=[services.check_json_object]
    )
    overrideApiBaseUrl = optional_text(
        2000, source="override_api_base_url", validators=[services.check_http_url]
    )
    overrideApiUsername = optional_text(255, source="override_api_username")
    overrideApiPassword = optional_text(
        services.SECRET_MAX, source="override_api_password", trim_whitespace=False, write_only=True
    )
    overrideApiToken = optional_text(
        services.SECRET_MAX, source="override_api_token", trim_whitespace=False, write_only=True
    )
    overrideApiAuthenticationType = LooseChoiceField(
        source="override_api_authentication_type",
        choices=ApiAuthenticationType.values,
        required=False,
        allow_null=True,
        allow_blank=True,
    )
    conditionalRules = optional_text(source="conditional_rules", validators=[services.check_json])
    forwardRecipients = optional_text(2000, source="forward_recipients")
    forwardPhoneNumber = optional_text(32, source="forward_phone_number")
    waitSeconds = serializers.IntegerField(
        source="wait_seconds",
        required=False,
        allow_null=True,
        min_value=0,
        max_value=services.WAIT_SECONDS_MAX,
    )
    actionSchedule = optional_text(500, source="action_schedule")
    actionScheduleTimeZoneId = TimeZoneField(
        source="action_schedule_time_zone_id",
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=64,
        help_text="An IANA zone; left out, null or empty means the caller's timezone.",
    )
    isFunctionTool = serializers.BooleanField(source="is_function_tool", required=False)
    functionParametersSchema = optional_text(
        source="function_parameters_schema", validators=[services.check_json_schema]
    )
    toolCallTimeoutSeconds = serializers.IntegerField(
        source="tool_call_timeout_seconds",
        required=False,
        allow_null=True,
        min_value=services.TOOL_CALL_TIMEOUT_MIN,
        max_value=services.TOOL_CALL_TIMEOUT_MAX,
    )


@extend_schema_serializer(component_name="ActionUpdateDTO")
class ActionUpdateSerializer(ActionCreateSerializer):
    """As on create, plus `actionID`, which must match the id in the URL. Fields
    left out keep their values; secrets left out or null are kept, "" clears."""

    actionID = identifier()

    def validate_actionID(self, value: int) -> int:
        if value != self.context["route_id"]:
            raise serializers.ValidationError("Does not match the id in the URL.")
        return value


# --- Topics and channels -------------------------------------------------------------
TOPIC_SORTS = {"Name": "name", "TopicID": "id", "IsActive": "is_active", "CreatedAt": "created_at"}
CHANNEL_SORTS = {
    "Name": "name",
    "ChannelID": "id",
    "Kind": "kind",
    "IsActive": "is_active",
    "CreatedAt": "created_at",
}


class TopicListParams(PageParams):
    sortBy = LooseChoiceField(choices=list(TOPIC_SORTS), default="Name")


class ChannelListParams(PageParams):
    sortBy = LooseChoiceField(choices=list(CHANNEL_SORTS), default="Name")


@extend_schema_serializer(component_name="TopicReadDTO")
class TopicReadSerializer(serializers.Serializer):
    topicID = serializers.IntegerField(source="id")
    customerID = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    description = BlankAsNullField(allow_null=True)
    keywords = serializers.ListField(child=serializers.CharField())
    patterns = serializers.ListField(child=serializers.CharField())
    isActive = serializers.BooleanField(source="is_active")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


@extend_schema_serializer(component_name="TopicReadDTOPage")
class TopicPageSerializer(PageSerializer):
    items = TopicReadSerializer(many=True)


@extend_schema_serializer(component_name="TopicCreateDTO")
class TopicCreateSerializer(serializers.Serializer):
    """Keywords match case-insensitively as whole words; patterns are regular
    expressions in RE2 syntax (linear time: no lookaround, no backreferences),
    matched case-insensitively; each must compile, else a 400 names `patterns[i]`."""

    name = serializers.CharField(max_length=100)
    description = optional_text(255)
    keywords = serializers.ListField(
        child=serializers.CharField(max_length=services.KEYWORD_MAX_LENGTH),
        required=False,
        allow_null=True,
        max_length=services.TOPIC_RULES_MAX,
    )
    patterns = serializers.ListField(
        child=serializers.CharField(
            max_length=services.PATTERN_MAX_LENGTH,
            trim_whitespace=False,
            validators=[services.check_pattern],
        ),
        required=False,
        allow_null=True,
        max_length=services.TOPIC_RULES_MAX,
    )
    isActive = serializers.BooleanField(source="is_active", required=False)


@extend_schema_serializer(component_name="TopicUpdateDTO")
class TopicUpdateSerializer(TopicCreateSerializer):
    topicID = identifier()

    def validate_topicID(self, value: int) -> int:
        if value != self.context["route_id"]:
            raise serializers.ValidationError("Does not match the id in the URL.")
        return value


@extend_schema_serializer(component_name="ChannelReadDTO")
class ChannelReadSerializer(serializers.Serializer):
    channelID = serializers.IntegerField(source="id")
    customerID = serializers.IntegerField(source="workspace_id")
    name = serializers.CharField()
    kind = serializers.ChoiceField(choices=ChannelKind.values)
    isActive = serializers.BooleanField(source="is_active")
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")


@extend_schema_serializer(component_name="ChannelReadDTOPage")
class ChannelPageSerializer(PageSerializer):
    items = ChannelReadSerializer(many=True)


@extend_schema_serializer(component_name="ChannelCreateDTO")
class ChannelCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    kind = LooseChoiceField(choices=ChannelKind.values)
    isActive = serializers.BooleanField(source="is_active", required=False)


@extend_schema_serializer(component_name="ChannelUpdateDTO")
class ChannelUpdateSerializer(ChannelCreateSerializer):
    channelID = identifier()

    def validate_channelID(self, value: int) -> int:
        if value != self.context["route_id"]:
            raise serializers.ValidationError("Does not match the id in the URL.")
        return value


# --- Links -----------------------------------------------------------------------------
LINK_SORTS = {"Priority": "priority", "ActionID": "action_id", "CreatedAt": "created_at"}


class LinkListParams(PageParams):
    sortBy = LooseChoiceField(choices=list(LINK_SORTS), default="Priority")
    actionId = identifier(required=False)
    channelId = identifier(required=False)
    isActive = serializers.BooleanField(
        required=False, allow_null=True, default=None, help_text="The linked action's isActive."
    )


class TopicActionListParams(LinkListParams):
    topicId = identifier(required=False)
    hookName = serializers.CharField(
        required=False, help_text="Accepted for compatibility and ignored: topic links have none."
    )


class HookActionListParams(LinkListParams):
    hookName = LooseChoiceField(choices=HookName.values, required=False)

    def validate(self, data: dict) -> dict:
        if "hookName" not in data and "actionId" not in data:
            message = "Give hookName or actionId."
            raise serializers.ValidationError({"hookName": [message], "actionId": [message]})
        return data


class WaitSecondsParams(serializers.Serializer):
    hookName = LooseChoiceField(choices=HookName.values)
    channelId = identifier(required=False)


class WaitSecondsSerializer(serializers.Serializer):
    totalWaitSeconds = serializers.IntegerField()


class PrioritySerializer(serializers.Serializer):
    """PUT on a link changes its priority only. Other fields of the link's DTO
    may be sent back unchanged; a changed one is a 400."""

    priority = serializers.IntegerField(
        min_value=services.PRIORITY_MIN, max_value=services.PRIORITY_MAX
    )


class _LinkTargetsMixin:
    """Resolves topicID/channelID/actionID to the caller's workspace's rows through
    the `targets` (selectors.LinkTargets) in the context. Unknown or another
    workspace's id: a 400 naming the field."""

    context: dict

    def _target(self, kind: str, pk: int | None):
        if not pk:  # 0 is how a non-nullable C# int says "none"
            return None
        target = self.context["targets"].get(kind, pk)
        if target is None:
            raise serializers.ValidationError(f"No {kind} with id {pk} in your workspace.")
        return target

    def validate_channelID(self, value: int | None):
        return self._target("channel", value)

    def validate_actionID(self, value: int):
        return self._target("action", value)


def link_id(**kwargs: Any) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=0, max_value=MAX_ID, **kwargs)


@extend_schema_serializer(component_name="TopicActionCreateDTO")
class TopicActionCreateSerializer(_LinkTargetsMixin, serializers.Serializer):
    """One of `topicID` and `specialTopic` is required; `channelID` and
    `specialChannel` are optional (not both). Lower priority runs first."""

    topicID = link_id(source="topic", required=False, allow_null=True)
    specialTopic = optional_text(100, source="special_topic")
    documentID = serializers.IntegerField(
        source="document_id", min_value=0, max_value=MAX_ID, required=False, allow_null=True
    )
    channelID = link_id(source="channel", required=False, allow_null=True)
    specialChannel = optional_text(100, source="special_channel")
    actionID = identifier(source="action")
    priority = serializers.IntegerField(
        min_value=services.PRIORITY_MIN, max_value=services.PRIORITY_MAX, required=False
    )

    def validate_topicID(self, value: int | None):
        return self._target("topic", value)

    def validate(self, data: dict) -> dict:
        special_topic = (data.get("special_topic") or "").strip()
        special_channel = (data.get("special_channel") or "").strip()
        errors: dict[str, list[str]] = {}
        if data.get("topic") is None and not special_topic:
            errors["topicID"] = ["Give topicID or specialTopic."]
        elif data.get("topic") is not None and special_topic:
            errors["topicID"] = ["Give topicID or specialTopic, not both."]
        if data.get("channel") is not None and special_channel:
            errors["channelID"] = ["Give channelID or specialChannel, not both."]
        if errors:
            raise serializers.ValidationError(errors)
        return data


@extend_schema_serializer(component_name="HookActionCreateDTO")
class HookActionCreateSerializer(_LinkTargetsMixin, serializers.Serializer):
    """`channelID` null (or 0) links the action on every channel. Lower priority runs first."""

    hookName = LooseChoiceField(source="hook_name", choices=HookName.values)
    channelID = link_id(source="channel", required=False, allow_null=True)
    actionID = identifier(source="action")
    priority = serializers.IntegerField(
        min_value=services.PRIORITY_MIN, max_value=services.PRIORITY_MAX, required=False
    )


class _LinkReadSerializer(serializers.Serializer):
    customerID = serializers.IntegerField(source="workspace_id")
    channelID = serializers.IntegerField(source="channel_id", allow_null=True)
    channelName = serializers.CharField(source="channel.name", allow_null=True)
    actionID = serializers.IntegerField(source="action_id")
    actionName = serializers.CharField(source="action.name")
    actionType = serializers.ChoiceField(
        source="action.action_type", choices=ActionDefinitionType.values
    )
    isActive = serializers.BooleanField(source="action.is_active", help_text="The action's.")
    priority = serializers.IntegerField(help_text="Lower runs first; ties by id.")
    createdAt = serializers.DateTimeField(source="created_at")


@extend_schema_serializer(component_name="TopicActionReadDTO")
class TopicActionReadSerializer(_LinkReadSerializer):
    topicActionID = serializers.IntegerField(source="id")
    topicID = serializers.IntegerField(source="topic_id", allow_null=True)
    topicName = serializers.CharField(source="topic.name", allow_null=True)
    specialTopic = serializers.CharField(source="special_topic", allow_null=True)
    documentID = serializers.IntegerField(source="document_id")
    specialChannel = serializers.CharField(source="special_channel", allow_null=True)


@extend_schema_serializer(component_name="TopicActionReadDTOPage")
class TopicActionPageSerializer(PageSerializer):
    items = TopicActionReadSerializer(many=True)


@extend_schema_serializer(component_name="HookActionReadDTO")
class HookActionReadSerializer(_LinkReadSerializer):
    hookActionID = serializers.IntegerField(source="id")
    hookName = serializers.ChoiceField(source="hook_name", choices=HookName.values)


@extend_schema_serializer(component_name="HookActionReadDTOPage")
class HookActionPageSerializer(PageSerializer):
    items = HookActionReadSerializer(many=True)
