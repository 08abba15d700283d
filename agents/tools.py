"""The MCP tools and resources: each one request to a REST endpoint (agents.dispatch).

Fixed tools (scopes as on the endpoint they call):

| tool | endpoint | scope |
|---|---|---|
| propose_action | POST /v1/actions | actions:write |
| get_action | GET /v1/actions/{id} | actions:read |
| list_actions | GET /v1/actions | actions:read |
| cancel_action | POST /v1/actions/{id}/cancel | actions:write |
| list_identities | GET /v1/identities | actions:read |
| find_contacts | GET /v1/contacts | contacts:read |
| get_contact | GET /v1/contacts/{id} (with recent events) | contacts:read |

Plus one tool per active function-tool action definition, exactly the list of
`GET /api/Actions/tools` (tickets:read or settings:manage), named and described
as there, with the definition's argument schema; calling one is
`POST /api/Actions/{id}/run` with the arguments. The list is read on every
`tools/list`, so a changed definition shows on the client's next list (the
server is stateless, so there is no stream to push `list_changed` on).

An agent's proposal waits for approval: `require_approval` is forced on unless
the key also holds `actions:approve` and the call sets it to false.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accounts.models import Scope
from agents.dispatch import NOT_FOUND, Answer, Caller, call, segment

STR = {"type": "string"}
ACTION_ID = {"type": "string", "description": "The action's id (act_...)."}


def _object(properties: dict, required: tuple[str, ...] = ()) -> dict:
    return {"type": "object", "properties": properties, "required": list(required)}


def _propose(caller: Caller, args: dict) -> Answer:
    body = {
        k: args[k]
        for k in (
            "type",
            "params",
            "identity_id",
            "contact_id",
            "scheduled_time",
            "description",
            "list_id",
            "item_id",
        )
        if k in args
    }
    may_approve = caller.api_key is not None and caller.api_key.has_scope(Scope.ACTIONS_APPROVE)
    body["require_approval"] = args.get("require_approval", True) if may_approve else True
    return call(caller, "POST", "/v1/actions", body=body)


def _get_action(caller: Caller, args: dict) -> Answer:
    return call(caller, "GET", f"/v1/actions/{segment(args.get('action_id', ''))}")


def _list_actions(caller: Caller, args: dict) -> Answer:
    query = {k: args.get(k) for k in ("status", "type", "limit", "skip")}
    return call(caller, "GET", "/v1/actions", query=query)


def _cancel_action(caller: Caller, args: dict) -> Answer:
    return call(caller, "POST", f"/v1/actions/{segment(args.get('action_id', ''))}/cancel")


def _list_identities(caller: Caller, args: dict) -> Answer:
    query = {k: args.get(k) for k in ("channel", "is_active", "limit", "skip")}
    return call(caller, "GET", "/v1/identities", query=query)


CONTACT_FILTERS = (
    "search",
    "lifecycle_stage",
    "lead_status",
    "company_id",
    "country",
    "city",
    "job_title",
    "page",
    "limit",
)


def _find_contacts(caller: Caller, args: dict) -> Answer:
    query = {k: args.get(k) for k in CONTACT_FILTERS}
    return call(caller, "GET", "/v1/contacts", query=query)


def _get_contact(caller: Caller, args: dict) -> Answer:
    return call(caller, "GET", f"/v1/contacts/{segment(args.get('contact_id', ''))}")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict
    run: Callable[[Caller, dict], Answer]


FIXED_TOOLS: dict[str, Tool] = {
    t.name: t
    for t in [
        Tool(
            "propose_action",
            "Propose an outreach action (send_email, send_sms, linkedin_message, ...). "
            "It waits in the human approval queue unless this key holds actions:approve "
            "and require_approval is false. Returns the /v1 action object.",
            _object(
                {
                    "type": {**STR, "description": "Action type, e.g. send_email."},
                    "params": {
                        "type": "object",
                        "description": "Parameters of the type, e.g. {to, subject, body}.",
                    },
                    "identity_id": {**STR, "description": "Who acts (id_...): list_identities."},
                    "contact_id": {**STR, "description": "The contact it concerns (optional)."},
                    "scheduled_time": {
                        **STR,
                        "format": "date-time",
                        "description": "When to run (ISO 8601 with offset); now if absent.",
                    },
                    "description": STR,
                    "list_id": STR,
                    "item_id": STR,
                    "require_approval": {
                        "type": "boolean",
                        "default": True,
                        "description": "false skips approval, only with actions:approve.",
                    },
                },
                ("type", "params", "identity_id"),
            ),
            _propose,
        ),
        Tool(
            "get_action",
            "One action with its approval decisions and execution result.",
            _object({"action_id": ACTION_ID}, ("action_id",)),
            _get_action,
        ),
        Tool(
            "list_actions",
            "Actions visible to this key, newest first.",
            _object(
                {
                    "status": {
                        **STR,
                        "description": "pending_approval, scheduled, processing, completed, "
                        "failed, cancelled or rejected.",
                    },
                    "type": STR,
                    "limit": {"type": "integer", "minimum": 1},
                    "skip": {"type": "integer", "minimum": 0},
                }
            ),
            _list_actions,
        ),
        Tool(
            "cancel_action",
            "Cancel an action that has not run yet.",
            _object({"action_id": ACTION_ID}, ("action_id",)),
            _cancel_action,
        ),
        Tool(
            "list_identities",
            "Identities (mailboxes, phone numbers, LinkedIn accounts) actions can run as.",
            _object(
                {
                    "channel": STR,
                    "is_active": {"type": "boolean"},
                    "limit": {"type": "integer", "minimum": 1},
                    "skip": {"type": "integer", "minimum": 0},
                }
            ),
            _list_identities,
        ),
        Tool(
            "find_contacts",
            "Search contacts (the /v1/contacts search).",
            _object(
                {
                    "search": {**STR, "description": "Free text: name, email, company."},
                    "lifecycle_stage": STR,
                    "lead_status": STR,
                    "company_id": STR,
                    "country": STR,
                    "city": STR,
                    "job_title": STR,
                    "page": {"type": "integer", "minimum": 1},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                }
            ),
            _find_contacts,
        ),
        Tool(
            "get_contact",
            "One contact with its profile, recent actions and recent events.",
            _object({"contact_id": STR}, ("contact_id",)),
            _get_contact,
        ),
    ]
}


def function_tools(caller: Caller) -> list[dict]:
    """`GET /api/Actions/tools` as the caller: [] when its key may not see them."""
    answer = call(caller, "GET", "/api/Actions/tools")
    return answer.body if answer.ok and isinstance(answer.body, list) else []


def all_tools(caller: Caller) -> list[Tool]:
    tools = list(FIXED_TOOLS.values())
    for spec in function_tools(caller):
        function = spec["function"]
        tools.append(
            Tool(
                function["name"],
                function["description"],
                function["parameters"],
                _runner(spec["actionID"]),
            )
        )
    return tools


def _runner(definition_id: int) -> Callable[[Caller, dict], Answer]:
    def run(caller: Caller, args: dict) -> Answer:
        return call(caller, "POST", f"/api/Actions/{definition_id}/run", body={"arguments": args})

    return run


def find_tool(caller: Caller, name: str) -> Tool | None:
    if name in FIXED_TOOLS:
        return FIXED_TOOLS[name]
    return next((t for t in all_tools(caller) if t.name == name), None)


def call_tool(caller: Caller, name: str, args: dict) -> Answer:
    tool = find_tool(caller, name)
    if tool is None:
        return Answer(
            404,
            {
                "status": "error",
                "error": {
                    "code": "unknown_tool",
                    "message": f"No tool named {name!r}.",
                    "fields": {"name": [f"No tool named {name!r}."]},
                },
            },
        )
    return tool.run(caller, args)


def error_of(answer: Answer) -> dict:
    """A refused call as `{"code", "message", "fields"}`, whatever the facade's error
    style (v1's `{"error": {...}}`, the /api ProblemDetails `{"title", "errors"}`)."""
    body = answer.body if isinstance(answer.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    fields = error.get("fields") or error.get("errors") or {}
    return {
        "code": str(error.get("code") or answer.status),
        "message": str(error.get("message") or error.get("title") or f"HTTP {answer.status}"),
        "fields": fields if isinstance(fields, dict) else {},
    }


def describe_error(error: dict) -> str:
    """One line that names every bad field and what is wrong with it."""
    text = error["message"]
    if error["fields"]:
        text += " " + "; ".join(
            f"{path}: {' '.join(_messages(msgs))}" for path, msgs in error["fields"].items()
        )
    return text


def _messages(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, dict):
        return [json.dumps(value)]
    return [str(value)]


# Resources: action://{id} and contact://{id}, the same reads as get_action / get_contact.
RESOURCE_TEMPLATES = [
    ("action://{id}", "action", "An outreach action (the /v1 action object)."),
    ("contact://{id}", "contact", "A contact with its profile and recent events."),
]


def read_resource(caller: Caller, uri: str) -> Answer:
    scheme, _, ident = uri.partition("://")
    if scheme == "action" and ident:
        return _get_action(caller, {"action_id": ident})
    if scheme == "contact" and ident:
        return _get_contact(caller, {"contact_id": ident})
    return NOT_FOUND


def recent_actions(caller: Caller, limit: int = 20) -> list[dict]:
    answer = _list_actions(caller, {"limit": limit})
    return answer.body.get("actions", []) if answer.ok else []
