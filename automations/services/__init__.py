"""Every change automations make goes through here (seed 004, AnswerPal).

- checks.py: content checks shared with the API serializers, and common helpers;
- definitions.py: action definitions (what can run);
- topics.py: topics and channels;
- links.py: topic and hook links (when and in which order);
- inbound.py: an inbound message and the pipeline it starts;
- conversations.py: an escalation, a close, a phone pickup;

the hook engine's own writes (hook_fire, topic_actions_run, steps) are
automations.engine's.

Errors name fields the way the /api facade does (`actionType`, `topicID`,
`items[2].actionID`): it is the only facade that speaks these resources, and a
400 that names a field the caller never sent would be useless. Every function
validates what it writes, so the admin and commands get the same checks as the
API. Another workspace's topic, channel or action given as a link target is a
400 naming the field ("no such … in your workspace"), never a hint that it
exists elsewhere.
"""

from automations.services.checks import (
    HEADER_MASK,
    check_api_headers,
    check_http_url,
    check_json,
    check_json_object,
    check_json_schema,
    check_pattern,
    masked_headers,
    normalise_time_zone,
)
from automations.services.conversations import (
    call_pickup,
    conversation_close,
    conversation_escalate,
)
from automations.services.definitions import (
    API_METHODS,
    DEFINITION_FIELDS,
    SECRET_FIELDS,
    SECRET_MAX,
    TEXT_MAX,
    TOOL_CALL_TIMEOUT_MAX,
    TOOL_CALL_TIMEOUT_MIN,
    WAIT_SECONDS_MAX,
    action_definition_create,
    action_definition_delete,
    action_definition_update,
    definition_run_warnings,
    definition_template_problems,
)
from automations.services.inbound import inbound_message_receive
from automations.services.links import (
    BULK_LIMIT,
    PRIORITY_MAX,
    PRIORITY_MIN,
    hook_action_bulk_create,
    hook_action_create,
    link_delete,
    link_update_priority,
    topic_action_bulk_create,
    topic_action_create,
)
from automations.services.topics import (
    CHANNEL_FIELDS,
    KEYWORD_MAX_LENGTH,
    PATTERN_MAX_LENGTH,
    TOPIC_FIELDS,
    TOPIC_RULES_MAX,
    channel_create,
    channel_delete,
    channel_update,
    topic_create,
    topic_delete,
    topic_update,
)

__all__ = [
    "API_METHODS",
    "BULK_LIMIT",
    "CHANNEL_FIELDS",
    "DEFINITION_FIELDS",
    "HEADER_MASK",
    "KEYWORD_MAX_LENGTH",
    "PATTERN_MAX_LENGTH",
    "PRIORITY_MAX",
    "PRIORITY_MIN",
    "SECRET_FIELDS",
    "SECRET_MAX",
    "TEXT_MAX",
    "TOOL_CALL_TIMEOUT_MAX",
    "TOOL_CALL_TIMEOUT_MIN",
    "TOPIC_FIELDS",
    "TOPIC_RULES_MAX",
    "WAIT_SECONDS_MAX",
    "action_definition_create",
    "action_definition_delete",
    "action_definition_update",
    "call_pickup",
    "channel_create",
    "channel_delete",
    "channel_update",
    "check_api_headers",
    "check_http_url",
    "check_json",
    "check_json_object",
    "check_json_schema",
    "check_pattern",
    "conversation_close",
    "conversation_escalate",
    "definition_run_warnings",
    "definition_template_problems",
    "hook_action_bulk_create",
    "hook_action_create",
    "inbound_message_receive",
    "link_delete",
    "link_update_priority",
    "masked_headers",
    "normalise_time_zone",
    "topic_action_bulk_create",
    "topic_action_create",
    "topic_create",
    "topic_delete",
    "topic_update",
]
