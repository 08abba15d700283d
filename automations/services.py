"""Every change to automation settings goes through here (seed 004, AnswerPal).

Action definitions say what can run; topic and hook links say when and in which
order. Priority order is ascending: the link with the lowest `priority` runs
first, ties broken by the older link (lower id).

Errors name fields the way the /api facade does (`actionType`, `topicID`,
`items[2].actionID`): it is the only facade that speaks these resources, and a
400 that names a field the caller never sent would be useless. Every function
validates what it writes, so the admin and commands get the same checks as the
API. Another workspace's topic, channel or action given as a link target is a
400 naming the field ("no such … in your workspace"), never a hint that it
exists elsewhere.
"""

from __future__ import annotations

import json
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, models, transaction
from jsonschema.exceptions import SchemaError
from jsonschema.validators import validator_for

from accounts.models import Workspace
from automations.api_call import ABSOLUTE_URL_RE
from automations.context import automation_vocabulary
from automations.models import (
    ActionDefinition,
    ActionDefinitionType,
    ApiAuthenticationType,
    Channel,
    ChannelKind,
    HookAction,
    HookName,
    Topic,
    TopicAction,
)
from automations.topics import PatternError, compile_pattern
from config import templating
from config.exceptions import Conflict, ValidationFailed

BULK_LIMIT = 500
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1
WAIT_SECONDS_MAX = 2**31 - 1
TOOL_CALL_TIMEOUT_MIN, TOOL_CALL_TIMEOUT_MAX = 1, 300
API_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TOPIC_RULES_MAX = 100  # keywords, and patterns, per topic
# Text settings without a column length (templates, JSON) and secrets: the limits
# are the services', so the API and the admin refuse the same values.
TEXT_MAX = 100_000
SECRET_MAX = 4096
KEYWORD_MAX_LENGTH = 100
PATTERN_MAX_LENGTH = 500

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
TOPIC_FIELDS = {
    "name": "name",
    "description": "description",
    "keywords": "keywords",
    "patterns": "patterns",
    "is_active": "isActive",
}
CHANNEL_FIELDS = {"name": "name", "kind": "kind", "is_active": "isActive"}


# --- Content checks (shared with the API serializers) ---------------------------
# Each takes a non-empty value and raises Django's ValidationError, so DRF
# fields can use them as validators and the services can run them again.
def _parse_json(value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise DjangoValidationError(f"Must be valid JSON ({exc}).", code="invalid_json") from None


def check_json(value: str) -> None:
    _parse_json(value)


def check_json_object(value: str) -> None:
    if not isinstance(_parse_json(value), dict):
        raise DjangoValidationError("Must be a JSON object.", code="not_an_object")


# apiHeaders is a secret: stored encrypted and read back with every value masked,
# because a header such as X-Api-Key is a credential. Writing the mask back as a
# header's value keeps that header's stored value, so what a client (or the admin)
# read can be sent back unchanged; the mask is therefore never a value of its own.
HEADER_MASK = "********"


def _headers_object(raw: str) -> dict[str, Any] | None:
    if not raw or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def masked_headers(raw: str) -> str:
    """apiHeaders as every read shows them: the names, each value masked ("" if none)."""
    headers = _headers_object(raw)
    if headers is None:
        return ""
    return json.dumps(
        dict.fromkeys(headers, HEADER_MASK), ensure_ascii=False, separators=(",", ":")
    )


def _unmask_headers(new: str, stored: str) -> str:
    """`new` with each masked value replaced by the stored value of that header (the
    same name, else the same name in another case, as HTTP compares them). A mask
    with nothing stored behind it stays, for `check_api_headers` to refuse."""
    headers = _headers_object(new)
    if not headers or not any(value == HEADER_MASK for value in headers.values()):
        return new
    exact = _headers_object(stored) or {}
    folded = {name.lower(): value for name, value in exact.items()}
    merged = {
        name: exact.get(name, folded.get(name.lower(), value)) if value == HEADER_MASK else value
        for name, value in headers.items()
    }
    return json.dumps(merged, ensure_ascii=False, separators=(",", ":"))


def check_api_headers(value: str) -> None:
    check_json_object(value)
    unmatched = [name for name, item in json.loads(value).items() if item == HEADER_MASK]
    if unmatched:
        raise DjangoValidationError(
            f"{', '.join(repr(n) for n in unmatched)}: {HEADER_MASK!r} keeps a stored value, "
            "and none is stored for this header; send its value.",
            code="masked_without_value",
        )


def check_json_schema(value: str) -> None:
    schema = _parse_json(value)
    if not isinstance(schema, dict | bool):
        raise DjangoValidationError("Must be a JSON Schema (an object).", code="invalid_schema")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(part) for part in exc.path)
        raise DjangoValidationError(
            f"Not a valid JSON Schema: {exc.message}" + (f" (at {where})" if where else ""),
            code="invalid_schema",
        ) from None


_http_url = URLValidator(schemes=["http", "https"], message="Must be an http(s) URL.")


def check_http_url(value: str) -> None:
    _http_url(value)


@lru_cache(maxsize=1)
def _time_zones() -> dict[str, str]:
    return {name.lower(): name for name in zoneinfo.available_timezones()}


def normalise_time_zone(value: str) -> str:
    """The IANA spelling of a zone given in any case ("europe/amsterdam")."""
    canonical = _time_zones().get(value.strip().lower())
    if canonical is None:
        raise DjangoValidationError(
            f"{value!r} is not an IANA time zone (e.g. Europe/Amsterdam).", code="invalid_timezone"
        )
    return canonical


def check_pattern(value: str) -> None:
    """A topic pattern must compile on RE2, the linear-time engine detection runs it
    on (automations.topics): lookaround and backreferences are refused here."""
    try:
        compile_pattern(value)
    except PatternError as exc:
        raise DjangoValidationError(str(exc), code="invalid_pattern") from None


def _canonical_choice(value: str, choices: Sequence[str]) -> str:
    """Enum values bind case-insensitively, as ASP.NET binds them."""
    lowered = {choice.lower(): choice for choice in choices}
    return lowered.get(value.strip().lower(), value)


def _check_choice(value: str, choices: Sequence[str]) -> None:
    if value not in choices:
        raise DjangoValidationError(f"{value!r} is not one of: {', '.join(choices)}.")


def _check_range(low: int | None, high: int | None) -> Callable[[int], None]:
    def check(value: int) -> None:
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise DjangoValidationError(f"Must be {bounds}.")

    return check


DEFINITION_CHECKS: dict[str, Callable[[Any], None]] = {
    "api_method": lambda v: _check_choice(v, API_METHODS),
    "api_headers": check_api_headers,
    "field_mapping": check_json_object,
    "response_field_mapping": check_json_object,
    "conditional_rules": check_json,
    "function_parameters_schema": check_json_schema,
    "override_api_base_url": check_http_url,
    "override_api_authentication_type": lambda v: _check_choice(v, ApiAuthenticationType.values),
    "wait_seconds": _check_range(0, WAIT_SECONDS_MAX),
    "tool_call_timeout_seconds": _check_range(TOOL_CALL_TIMEOUT_MIN, TOOL_CALL_TIMEOUT_MAX),
}


def _model_problems(
    instance: models.Model, names: Mapping[str, str], *, exclude: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Django's own field checks (lengths, choices, validators), keyed by DTO name.
    Foreign keys are excluded: the callers check them without a query each."""
    try:
        instance.full_clean(
            exclude=["workspace", *exclude], validate_unique=False, validate_constraints=False
        )
    except DjangoValidationError as exc:
        return {
            names.get(field, field): list(messages) for field, messages in exc.message_dict.items()
        }
    return {}


# --- Action definitions ----------------------------------------------------------
def _normalise_definition_value(field: str, value: Any) -> Any:
    if value is None:
        return None if field in NULLABLE_FIELDS else ""
    if not isinstance(value, str) or not value:
        return value
    if field == "api_method":
        return value.strip().upper()
    if field == "action_type":
        return _canonical_choice(value, ActionDefinitionType.values)
    if field == "override_api_authentication_type":
        return _canonical_choice(value, ApiAuthenticationType.values)
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
            value = _unmask_headers(value, definition.api_headers)
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
    errors = _model_problems(definition, DEFINITION_FIELDS)
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


# --- Topics and channels -----------------------------------------------------------
def _string_list_problems(
    name: str, values: Any, *, max_length: int, check: Callable[[str], None] | None = None
) -> dict[str, list[str]]:
    if not isinstance(values, list):
        return {name: ["Must be a list of strings."]}
    if len(values) > TOPIC_RULES_MAX:
        return {name: [f"At most {TOPIC_RULES_MAX} entries."]}
    errors: dict[str, list[str]] = {}
    for index, value in enumerate(values):
        key = f"{name}[{index}]"
        if not isinstance(value, str) or not value.strip():
            errors[key] = ["Must be a non-empty string."]
        elif len(value) > max_length:
            errors[key] = [f"At most {max_length} characters."]
        elif check is not None:
            try:
                check(value)
            except DjangoValidationError as exc:
                errors[key] = list(exc.messages)
    return errors


def _check_topic(topic: Topic) -> None:
    errors = _model_problems(topic, TOPIC_FIELDS)
    errors.pop("keywords", None)  # checked below, per entry
    errors.pop("patterns", None)
    errors.update(_string_list_problems("keywords", topic.keywords, max_length=KEYWORD_MAX_LENGTH))
    errors.update(
        _string_list_problems(
            "patterns", topic.patterns, max_length=PATTERN_MAX_LENGTH, check=check_pattern
        )
    )
    if errors:
        raise ValidationFailed(f"Invalid topic: {', '.join(sorted(errors))}.", fields=errors)


def _save_named(instance: models.Model, what: str) -> None:
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError:
        raise Conflict(
            f"A {what} named {instance.name!r} already exists in this workspace.",
            code=f"duplicate_{what}",
            fields={"name": [f"A {what} with this name already exists."]},
        ) from None


def _normalise_topic(changes: Mapping[str, Any]) -> dict[str, Any]:
    values = dict(changes)
    for key in ("keywords", "patterns"):
        if values.get(key) is None and key in values:
            values[key] = []
        elif isinstance(values.get(key), list) and key == "keywords":
            values[key] = [v.strip() if isinstance(v, str) else v for v in values[key]]
    if "description" in values and values["description"] is None:
        values["description"] = ""
    return values


def topic_create(
    *,
    workspace: Workspace,
    name: str,
    description: str = "",
    keywords: list[str] | None = None,
    patterns: list[str] | None = None,
    is_active: bool = True,
) -> Topic:
    """Keywords match case-insensitively as whole words, patterns as RE2 regexes."""
    values = _normalise_topic(
        {"description": description, "keywords": keywords, "patterns": patterns}
    )
    topic = Topic(workspace=workspace, name=name, is_active=is_active, **values)
    _check_topic(topic)
    _save_named(topic, "topic")
    return topic


def topic_update(*, topic: Topic, changes: Mapping[str, Any]) -> Topic:
    unknown = set(changes) - set(TOPIC_FIELDS)
    if unknown:
        raise TypeError(f"Not topic fields: {', '.join(sorted(unknown))}")
    for field, value in _normalise_topic(changes).items():
        setattr(topic, field, value)
    _check_topic(topic)
    _save_named(topic, "topic")
    return topic


def topic_delete(*, topic: Topic) -> None:
    """Removes the topic and its topic-action links."""
    topic.delete()


def _check_channel(channel: Channel) -> None:
    errors = _model_problems(channel, CHANNEL_FIELDS)
    if errors:
        raise ValidationFailed(f"Invalid channel: {', '.join(sorted(errors))}.", fields=errors)


def channel_create(
    *, workspace: Workspace, name: str, kind: str, is_active: bool = True
) -> Channel:
    channel = Channel(
        workspace=workspace,
        name=name,
        kind=_canonical_choice(kind, ChannelKind.values),
        is_active=is_active,
    )
    _check_channel(channel)
    _save_named(channel, "channel")
    return channel


def channel_update(*, channel: Channel, changes: Mapping[str, Any]) -> Channel:
    unknown = set(changes) - set(CHANNEL_FIELDS)
    if unknown:
        raise TypeError(f"Not channel fields: {', '.join(sorted(unknown))}")
    for field, value in changes.items():
        if field == "kind" and isinstance(value, str):
            value = _canonical_choice(value, ChannelKind.values)
        setattr(channel, field, value)
    _check_channel(channel)
    _save_named(channel, "channel")
    return channel


def channel_delete(*, channel: Channel) -> None:
    """Removes the channel and every topic and hook link scoped to it."""
    channel.delete()


# --- Links: shared ----------------------------------------------------------------
def _target_problem(
    workspace: Workspace, name: str, target: models.Model | None, what: str
) -> dict[str, list[str]]:
    if target is not None and target.workspace_id != workspace.pk:
        return {name: [f"No {what} with this id in your workspace."]}
    return {}


def _priority_problems(priority: Any) -> dict[str, list[str]]:
    if isinstance(priority, bool) or not isinstance(priority, int):
        return {"priority": ["Must be an integer."]}
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        return {"priority": [f"Must be between {PRIORITY_MIN} and {PRIORITY_MAX}."]}
    return {}


def _insert_links(links: Sequence[models.Model], *, key: Callable[[Any], tuple]) -> list:
    """All or nothing: every link in one transaction, each in its own savepoint so
    every duplicate (of an existing link or of an earlier item) is reported."""
    conflicts: dict[str, list[str]] = {}
    first_at: dict[tuple, int] = {}
    with transaction.atomic():
        for index, link in enumerate(links):
            link_key = key(link)
            if link_key in first_at:
                conflicts[f"items[{index}]"] = [f"Duplicates items[{first_at[link_key]}]."]
                continue
            first_at[link_key] = index
            try:
                with transaction.atomic():
                    link.save()
            except IntegrityError:
                conflicts[f"items[{index}]"] = ["This link already exists."]
        if conflicts:
            raise Conflict(
                f"Duplicate links: {', '.join(conflicts)}; nothing was created.",
                code="duplicate_link",
                fields=conflicts,
            )
    return list(links)


def _insert_link(link: models.Model) -> None:
    try:
        with transaction.atomic():
            link.save()
    except IntegrityError:
        raise Conflict("This action is already linked there.", code="duplicate_link") from None


def _items_problems(items: Sequence[Any]) -> None:
    if not items:
        raise ValidationFailed("Give at least one link.", fields={"items": ["Must not be empty."]})
    if len(items) > BULK_LIMIT:
        raise ValidationFailed(
            f"At most {BULK_LIMIT} links per request.",
            fields={"items": [f"At most {BULK_LIMIT} items."]},
        )


def _bulk_build(items: Sequence[Mapping[str, Any]], build: Callable[..., Any]) -> list:
    _items_problems(items)
    links, errors = [], {}
    for index, item in enumerate(items):
        try:
            links.append(build(**item))
        except ValidationFailed as exc:
            for name, messages in exc.fields.items():
                errors[f"items[{index}].{name}"] = messages
    if errors:
        raise ValidationFailed(
            f"Invalid links: {', '.join(errors)}; nothing was created.", fields=errors
        )
    return links


# --- Topic links ------------------------------------------------------------------
def _blank_to_none(value: str | None) -> str | None:
    return value.strip() or None if isinstance(value, str) else value


def _build_topic_action(
    *,
    workspace: Workspace,
    action: ActionDefinition,
    topic: Topic | None = None,
    special_topic: str | None = None,
    document_id: int | None = 0,
    channel: Channel | None = None,
    special_channel: str | None = None,
    priority: int = 0,
) -> TopicAction:
    special_topic, special_channel = _blank_to_none(special_topic), _blank_to_none(special_channel)
    errors = {
        **_target_problem(workspace, "topicID", topic, "topic"),
        **_target_problem(workspace, "channelID", channel, "channel"),
        **_target_problem(workspace, "actionID", action, "action"),
        **_priority_problems(priority),
    }
    if action is None:
        errors["actionID"] = ["This field is required."]
    if topic is None and special_topic is None:
        errors.setdefault("topicID", []).append("Give topicID or specialTopic.")
    elif topic is not None and special_topic is not None:
        errors.setdefault("topicID", []).append("Give topicID or specialTopic, not both.")
    if channel is not None and special_channel is not None:
        errors.setdefault("channelID", []).append("Give channelID or specialChannel, not both.")
    link = TopicAction(
        workspace=workspace,
        topic=topic,
        special_topic=special_topic,
        document_id=document_id or 0,
        channel=channel,
        special_channel=special_channel,
        action=action,
        priority=priority,
    )
    names = {"special_topic": "specialTopic", "special_channel": "specialChannel"}
    names |= {"document_id": "documentID", "priority": "priority"}
    problems = _model_problems(link, names, exclude=["topic", "channel", "action"])
    for name, messages in problems.items():
        if name in names.values():
            errors.setdefault(name, messages)
    if errors:
        raise ValidationFailed(f"Invalid link: {', '.join(sorted(errors))}.", fields=errors)
    return link


def _topic_action_key(link: TopicAction) -> tuple:
    return (
        link.topic_id or 0,
        link.special_topic or "",
        link.document_id,
        link.channel_id or 0,
        link.special_channel or "",
        link.action_id,
    )


def topic_action_create(
    *,
    workspace: Workspace,
    action: ActionDefinition,
    topic: Topic | None = None,
    special_topic: str | None = None,
    document_id: int | None = 0,
    channel: Channel | None = None,
    special_channel: str | None = None,
    priority: int = 0,
) -> TopicAction:
    """Links `action` to a topic (or special topic), optionally on a channel (or
    special channel). The same link twice is a 409."""
    link = _build_topic_action(
        workspace=workspace,
        action=action,
        topic=topic,
        special_topic=special_topic,
        document_id=document_id,
        channel=channel,
        special_channel=special_channel,
        priority=priority,
    )
    _insert_link(link)
    return link


def topic_action_bulk_create(
    *, workspace: Workspace, items: Sequence[Mapping[str, Any]]
) -> list[TopicAction]:
    """All or nothing. `items` hold topic_action_create's arguments (without the
    workspace); a bad item is a 400 keyed `items[i].field`, a duplicate a 409
    keyed `items[i]`."""
    links = _bulk_build(items, lambda **item: _build_topic_action(workspace=workspace, **item))
    return _insert_links(links, key=_topic_action_key)


# --- Hook links -------------------------------------------------------------------
def _build_hook_action(
    *,
    workspace: Workspace,
    hook_name: str,
    action: ActionDefinition,
    channel: Channel | None = None,
    priority: int = 0,
) -> HookAction:
    hook_name = _canonical_choice(hook_name, HookName.values) if hook_name else hook_name
    errors = {
        **_target_problem(workspace, "channelID", channel, "channel"),
        **_target_problem(workspace, "actionID", action, "action"),
        **_priority_problems(priority),
    }
    if action is None:
        errors["actionID"] = ["This field is required."]
    if hook_name not in HookName.values:
        errors["hookName"] = [f"{hook_name!r} is not one of: {', '.join(HookName.values)}."]
    if errors:
        raise ValidationFailed(f"Invalid link: {', '.join(sorted(errors))}.", fields=errors)
    return HookAction(
        workspace=workspace, hook_name=hook_name, channel=channel, action=action, priority=priority
    )


def _hook_action_key(link: HookAction) -> tuple:
    return (link.hook_name, link.channel_id or 0, link.action_id)


def hook_action_create(
    *,
    workspace: Workspace,
    hook_name: str,
    action: ActionDefinition,
    channel: Channel | None = None,
    priority: int = 0,
) -> HookAction:
    """Links `action` to a hook, on one channel or (channel None) on every channel.
    The same link twice is a 409."""
    link = _build_hook_action(
        workspace=workspace, hook_name=hook_name, action=action, channel=channel, priority=priority
    )
    _insert_link(link)
    return link


def hook_action_bulk_create(
    *, workspace: Workspace, items: Sequence[Mapping[str, Any]]
) -> list[HookAction]:
    """All or nothing, like topic_action_bulk_create."""
    links = _bulk_build(items, lambda **item: _build_hook_action(workspace=workspace, **item))
    return _insert_links(links, key=_hook_action_key)


# --- Both kinds of link ---------------------------------------------------------------
def link_update_priority(
    *, link: TopicAction | HookAction, priority: int
) -> TopicAction | HookAction:
    """A link's priority is the only thing that changes after creation."""
    if errors := _priority_problems(priority):
        raise ValidationFailed("Invalid priority.", fields=errors)
    type(link).objects.filter(pk=link.pk).update(priority=priority)
    link.priority = priority
    return link


def link_delete(*, link: TopicAction | HookAction) -> None:
    link.delete()
