"""The template preview of action definitions: what the body (and, for an ApiCall, the
request line) renders to for a sample contact, without sending anything.

The contact is the workspace's first one (contacts.vocabulary.preview_contact), else the
built-in sample Jane Doe; the conversation and message are that contact's latest, else
samples; topic, escalation and call are samples. The definition's page shows the
preview of what is saved; its Preview button posts the form as it stands (unsaved) to
`<id>/preview/` (`add/preview/` on the add page) and shows the same for it, with the
unknown variables a save would refuse.
"""

from __future__ import annotations

import copy
from typing import Any

from automations.admin.api_test import SAMPLE_CONTEXT
from automations.api_call import render_request
from automations.context import template_context, ticket_context
from automations.models import ActionDefinition, ActionDefinitionType
from automations.services import definition_template_problems
from config import templating
from config.queue import PermanentError, TransientError
from contacts.models import Conversation
from contacts.vocabulary import preview_contact, preview_contact_label

T = ActionDefinitionType
REPLY_TYPES = (T.REPLY, T.REPLY_SEND, T.SEND)
PREVIEW_TYPES = (T.API_CALL, *REPLY_TYPES)

SAMPLE_EXTRAS: dict[str, Any] = {
    "escalation": {
        "reason": "The customer asks for a refund.",
        "to": "billing@example.com",
        "status": "pending",
        "error": "",
        "handoffAction": None,
    },
    "call": {
        "id": "CA-sample",
        "from": "+14155550123",
        "to": "+14155550100",
        "transcript": "Hi, I have a question about my invoice.",
    },
    "changes": {},
    "arguments": {},
}


def sample_context(workspace_id: int | None) -> tuple[dict[str, Any], str]:
    """(the context a preview renders with, whom it is for)."""
    context = copy.deepcopy({**SAMPLE_CONTEXT, **SAMPLE_EXTRAS})
    variables, contact = preview_contact(workspace_id)
    context["endUser"] = variables
    if contact is not None:
        conversation = Conversation.objects.filter(contact=contact).order_by("-id").first()
        if conversation is not None:
            context["ticket"] = ticket_context(conversation)
            message = conversation.messages.order_by("-id").first()
            if message is not None:
                context["message"] = {
                    "id": message.pk,
                    "from": message.from_address,
                    "to": message.to_address,
                    "subject": message.subject,
                    "body": message.body,
                }
    return template_context(context), preview_contact_label(contact=contact, variables=variables)


def preview_definition(definition: ActionDefinition) -> dict[str, Any] | None:
    """For the template: {"for", "method", "url", "body", "error", "missing",
    "unknown"}; None for a type that renders no template."""
    if definition.action_type not in PREVIEW_TYPES:
        return None
    context, whom = sample_context(definition.workspace_id)
    preview: dict[str, Any] = {
        "for": whom,
        "error": "",
        "missing": [],
        "unknown": definition_template_problems(definition),  # what a save refuses
    }
    if definition.action_type == T.API_CALL:
        try:
            request = render_request(definition, context)
        except (PermanentError, TransientError) as exc:
            preview["error"] = exc.message
        else:
            preview.update(
                method=request["method"],
                url=request["url"],
                body=request["body"],
                missing=request["warnings"],
            )
        return preview
    try:
        rendered = templating.render_with_report(definition.api_body_template or "", context)
    except templating.TemplateError as exc:
        preview["error"] = f"apiBodyTemplate: {exc}"
    else:
        preview["body"] = rendered.text
        preview["missing"] = [f"{n!r} is missing and rendered empty" for n in rendered.missing]
    return preview
