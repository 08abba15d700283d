"""Action definitions: what can run (seed 004's /api/Actions)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError

from accounts.models import Workspace
from automations.api_call import ABSOLUTE_URL_RE
from automations.context import automation_vocabulary
from automations.models import ActionDefinition, ActionDefinitionType, ApiAuthenticationType
from automations.services.checks import (
    canonical_choice,
    check_api_headers,
    check_choice,
    check_http_url,
    check_json,
    check_json_object,
    check_json_schema,
    check_range,
    model_problems,
    normalise_time_zone,
    unmask_headers,
)
from config import templating
from config.exceptions import ValidationFailed

WAIT_SECONDS_MAX = 2**31 - 1
TOOL_CALL_TIMEOUT_MIN, TOOL_CALL_TIMEOUT_MAX = 1, 300
API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Text settings without a column length (templates, JSON) and secrets: the limits
# are the services', so the API and the admin refuse the same values.
TEXT_MAX = 100_000
SECRET_MAX = 4096

# Model field -> the DTO's name for it.
DEFINITION_FIELDS: dict[str, str] = {
    "name": "name",
    "description": "description",
    "action_type": "actionType",
    "is_active": "isActive",
    "api_endpoint": "apiEndpoint",
    "api_method": "apiMethod",
    "api_headers": "apiHeaders",
    "api_body_template": "apiBodyTemplate",
    "field_mapping": "fieldMapping",
    "response_field_mapping": "responseFieldMapping",
    "override_api_base_url": "overrideApiBaseUrl",
    "override_api_username": "overrideApiUsername",
    "override_api_password": "overrideApiPassword",
    "override_api_token": "overrideApiToken",
    "override_api_authentication_type": "overrideApiAuthenticationType",
    "conditional_rules": "conditionalRules",
    "forward_recipients": "forwardRecipients",
    "forward_phone_number": "forwardPhoneNumber",
    "wait_seconds": "waitSeconds",
    "action_schedule": "actionSchedule",
    "action_schedule_time_zone_id": "actionScheduleTimeZoneId",
    "is_function_tool": "isFunctionTool",
    "function_parameters_schema": "functionParametersSchema",
    "tool_call_timeout_seconds": "toolCallTimeoutSeconds",
}
SECRET_FIELDS = ("override_api_password", "override_api_token")
TEXT_LIMITS: dict[str, int] = {
    **dict.fromkeys(
        (
            "api_headers",
            "api_body_template",
            "field_mapping",
            "response_field_mapping",
            "conditional_rules",
            "function_parameters_schema",
        ),
        TEXT_MAX,
    ),
    **dict.fromkeys(SECRET_FIELDS, SECRET_MAX),
}
NULLABLE_FIELDS = ("wait_seconds", "tool_call_timeout_seconds")


DEFINITION_CHECKS: dict[str, Callable[[Any], None]] = {
    "api_method": lambda v: check_choice(v, API_METHODS),
    "api_headers": check_api_headers,
    "field_mapping": check_json_object,
    "response_field_mapping": check_json_object,
    "conditional_rules": check_json,
    "function_parameters_schema": check_json_schema,
    "override_api_base_url": check_http_url,
    "override_api_authentication_type": lambda v: check_choice(v, ApiAuthenticationType.values),
    "wait_seconds": check_range(0, WAIT_SECONDS_MAX),
    "tool_call_timeout_seconds": check_range(TOOL_CALL_TIMEOUT_MIN, TOOL_CALL_TIMEOUT_MAX),
}


def _normalise_definition_value(field: str, value: Any) -> Any:
    if value is None:
        return None if field in NULLABLE_FIELDS else ""
    if not isinstance(value, str) or not value:
        return value
    if field == "api_method":
        return value.strip().upper()
    if field == "action_type":
        return canonical_choice(value, ActionDefinitionType.values)
    if field == "override_api_authentication_type":
        return canonical_choice(value, ApiAuthenticationType.values)
    if field == "action_schedule_time_zone_id":
        try:
            return normalise_time_zone(value)
        except DjangoValidationError:
            return value  # reported by the model's validator
    return value


def _apply_definition(definition: ActionDefinition, values: Mapping[str, Any]) -> None:
    unknown = set(values) - set(DEFINITION_FIELDS)
    if unknown:
        raise TypeError(f"Not action definition fields: {', '.join(sorted(unknown))}")
    for field, value in values.items():
        if field in SECRET_FIELDS and value is None:
            continue  # absent or null keeps the stored secret; "" clears it
        if field == "api_headers" and isinstance(value, str):
            value = unmask_headers(value, definition.api_headers)
        setattr(definition, field, _normalise_definition_value(field, value))


# What each type cannot run without (checked on create and update, so a
# definition that would fail every time it runs is refused when it is written).
# Reply, ReplySend and Send draft the reply from apiBodyTemplate.
REPLY_TYPES = (
    ActionDefinitionType.REPLY,
    ActionDefinitionType.REPLY_SEND,
    ActionDefinitionType.SEND,
)


def _type_problems(definition: ActionDefinition) -> dict[str, list[str]]:
    kind, errors = definition.action_type, {}
    if kind == ActionDefinitionType.API_CALL and not (
        definition.api_endpoint or definition.override_api_base_url
    ):
        errors["apiEndpoint"] = ["Required for an ApiCall action (or set overrideApiBaseUrl)."]
    if kind in REPLY_TYPES and not definition.api_body_template.strip():
        errors["apiBodyTemplate"] = [f"Required for a {kind} action: it is the reply's body."]
    if kind == ActionDefinitionType.FORWARD and not (
        definition.forward_recipients.strip() or definition.forward_phone_number.strip()
    ):
        message = "A Forward action needs forwardRecipients or forwardPhoneNumber."
        errors["forwardRecipients"] = [message]
        errors["forwardPhoneNumber"] = [message]
    if kind == ActionDefinitionType.WAIT and definition.wait_seconds is None:
        errors["waitSeconds"] = ["Required for a Wait action."]
    return errors


def _template_strings(text: str, *, values_only: bool = False) -> list[str]:
    """The templates in a JSON template (each string is rendered on its own, see
    automations.api_call), or the text itself when it is not JSON."""
    try:
        structure = json.loads(text)
    except (ValueError, RecursionError):
        return [text]
    found, stack = [], [structure]
    while stack:  # iteratively: the JSON may be deep
        value = stack.pop()
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())
            if not values_only:
                found.extend(key for key in value if isinstance(key, str))
    return found


def definition_template_problems(definition: ActionDefinition) -> dict[str, list[str]]:
    """The save-time template check, by field: templates the definition's type renders
    must compile (a template nested too deeply included), so a run cannot fail on them
    later, and name only variables of the vocabulary
    (automations.context.automation_vocabulary), so a typo is a 400 naming it instead of
    an empty value at run time; the admin's check and its preview too."""
    kind = definition.action_type
    templates: dict[str, tuple[list[str], str]] = {}
    if kind in REPLY_TYPES and definition.api_body_template:
        templates["apiBodyTemplate"] = ([definition.api_body_template], "text")
    if kind == ActionDefinitionType.API_CALL:
        if definition.api_endpoint and definition.api_endpoint.strip():
            templates["apiEndpoint"] = ([definition.api_endpoint.strip()], "url")
        if definition.api_headers:
            strings = _template_strings(definition.api_headers, values_only=True)
            templates["apiHeaders"] = (strings, "text")
        if definition.api_body_template:
            templates["apiBodyTemplate"] = (_template_strings(definition.api_body_template), "text")
    errors: dict[str, list[str]] = {}
    vocabulary = None
    for name, (strings, mode) in templates.items():
        unknown: list[str] = []
        for template in strings:
            try:
                templating.validate(template, mode=mode)
                if "{" not in template:
                    continue  # no markup: nothing to look up
                if vocabulary is None:
                    vocabulary = automation_vocabulary(
                        workspace_id=definition.workspace_id,
                        response_mappings=[definition.response_field_mapping or ""],
                    )
                found = templating.unknown_variables(template, vocabulary, mode=mode)
                unknown.extend(m for m in found if m not in unknown)
            except templating.TemplateError as exc:
                errors[name] = [f"The template does not compile: {exc}"]
                break
        else:
            if unknown:
                errors[name] = unknown
    return errors


def _length_problems(definition: ActionDefinition) -> dict[str, list[str]]:
    return {
        DEFINITION_FIELDS[field]: [f"Ensure this field has no more than {limit} characters."]
        for field, limit in TEXT_LIMITS.items()
        if len(getattr(definition, field) or "") > limit
    }


def definition_run_warnings(definition: ActionDefinition) -> dict[str, list[str]]:
    """What a saved definition lacks to run, by DTO name. Accepted on write: the
    seed's own ApiCall example has a relative endpoint and Bearer without a token
    (its overrides override customer defaults, which this hub does not have), but a
    run fails on them (automations.api_call) until the overrides are set. The admin
    shows these after a save; they never refuse a write, so the admin and the API
    accept the same."""
    if definition.action_type != ActionDefinitionType.API_CALL:
        return {}
    warnings: dict[str, list[str]] = {}
    endpoint = definition.api_endpoint.strip()
    if (
        endpoint
        and not ABSOLUTE_URL_RE.match(endpoint)
        and not definition.override_api_base_url.strip()
    ):
        warnings["apiEndpoint"] = [
            "A relative endpoint needs a base URL (overrideApiBaseUrl): there is no default "
            "one, so a run fails until it is set."
        ]
    auth = (definition.override_api_authentication_type or "").lower()
    if auth == ApiAuthenticationType.BASIC.lower() and not definition.override_api_username:
        warnings["overrideApiUsername"] = [
            "Basic authentication needs a username: a run fails until it is set."
        ]
    if auth == ApiAuthenticationType.BEARER.lower() and not definition.override_api_token.strip():
        warnings["overrideApiToken"] = [
            "Bearer authentication needs a token: a run fails until it is set."
        ]
    return warnings


def _check_definition(definition: ActionDefinition) -> None:
    errors = model_problems(definition, DEFINITION_FIELDS)
    for name, messages in _length_problems(definition).items():
        errors.setdefault(name, messages)
    if "actionType" not in errors:
        for name, messages in _type_problems(definition).items():
            errors.setdefault(name, messages)
    for field, check in DEFINITION_CHECKS.items():
        name = DEFINITION_FIELDS[field]
        value = getattr(definition, field)
        if name in errors or value in (None, ""):
            continue
        try:
            check(value)
        except DjangoValidationError as exc:
            errors[name] = list(exc.messages)
    for name, messages in definition_template_problems(definition).items():
        errors.setdefault(name, messages)
    if errors:
        raise ValidationFailed(
            f"Invalid action definition: {', '.join(sorted(errors))}.", fields=errors
        )


def action_definition_create(
    *, workspace: Workspace, values: Mapping[str, Any], default_time_zone: str
) -> ActionDefinition:
    """`values` are model fields. A blank `action_schedule_time_zone_id` becomes
    `default_time_zone` (the caller's timezone)."""
    definition = ActionDefinition(workspace=workspace)
    _apply_definition(definition, values)
    if not definition.action_schedule_time_zone_id:
        definition.action_schedule_time_zone_id = default_time_zone
    _check_definition(definition)
    definition.save()
    return definition


def action_definition_update(
    *, definition: ActionDefinition, changes: Mapping[str, Any], default_time_zone: str
) -> ActionDefinition:
    """Fields left out of `changes` keep their values; None clears a field. Secrets:
    None keeps the stored value, "" clears it, anything else replaces it. In
    `api_headers`, a header whose value is HEADER_MASK keeps its stored value."""
    _apply_definition(definition, changes)
    if not definition.action_schedule_time_zone_id:
        definition.action_schedule_time_zone_id = default_time_zone
    _check_definition(definition)
    definition.save()
    return definition


def action_definition_delete(*, definition: ActionDefinition) -> None:
    """Removes the definition with its custom fields and its topic and hook links."""
    definition.delete()
