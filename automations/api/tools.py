"""Function tools and the user trigger.

- `GET /api/Actions/tools`: active `isFunctionTool` definitions as tool specs an
  LLM client can call: `{"type": "function", "function": {"name", "description",
  "parameters"}, "actionID"}`. The name is the definition's name made safe for
  tool-calling APIs (`[A-Za-z0-9_-]`, ≤ 64) with its id appended, so it is unique.
- `POST /api/Actions/{id}/run`: runs one definition now, as a UserTriggered run,
  with `{"arguments", "conversationId", "contactId"}`. A function tool's
  arguments are validated against its `functionParametersSchema` (400 naming
  each bad path); an ApiCall honours `toolCallTimeoutSeconds`. The context has
  `endUser`, `ticket` and `arguments`.

Who may run what: the endpoint takes `tickets:read` or `settings:manage`, which
is enough for a type that changes nothing (DetectTopics, Wait). Every other type
sends or changes something and also needs `actions:write` (403 `missing_scope`,
checked before anything is stored). Outreach the run creates (Reply, ReplySend,
Send, Forward) waits for approval unless the key has `actions:approve`, exactly as
a reviewer would have to approve it in the queue (automations.step_executors).
"""

from __future__ import annotations

import json
import re

import jsonschema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Scope
from accounts.tenancy import WorkspaceScopedMixin
from automations.context import end_user_context, ticket_context
from automations.engine import definition_run_now
from automations.models import ActionDefinition
from automations.step_executors import changes_something
from config.exceptions import NotFound, ValidationFailed
from contacts.models import Contact, Conversation

ANY = OpenApiResponse(OpenApiTypes.OBJECT)


def tool_name(definition: ActionDefinition) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", definition.name).strip("_") or "action"
    suffix = f"_{definition.pk}"
    return slug[: 64 - len(suffix)] + suffix


def _schema(definition: ActionDefinition) -> dict:
    if not definition.function_parameters_schema:
        return {"type": "object", "properties": {}}
    return json.loads(definition.function_parameters_schema)


class ToolFunctionSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.DictField(help_text="The definition's functionParametersSchema.")


@extend_schema_serializer(component_name="ToolDTO")
class ToolSerializer(serializers.Serializer):
    """One tool spec as the view builds it (documentation only)."""

    type = serializers.CharField(help_text='Always "function".')
    function = ToolFunctionSerializer()
    actionID = serializers.IntegerField()
    toolCallTimeoutSeconds = serializers.IntegerField(allow_null=True)


class ToolsView(WorkspaceScopedMixin, APIView):
    required_scopes = {"GET": (Scope.TICKETS_READ, Scope.SETTINGS_MANAGE)}

    # An array of tool specs, not one object.
    @extend_schema(
        responses=ToolSerializer(many=True),
        operation_id="answerpal_tools_list",
        tags=["automations"],
    )
    def get(self, request: Request) -> Response:
        tools = (
            ActionDefinition.objects.for_workspace(self.workspace)
            .filter(is_active=True, is_function_tool=True)
            .order_by("name", "id")
        )
        return Response(
            [
                {
                    "type": "function",
                    "function": {
                        "name": tool_name(d),
                        "description": d.description or d.name,
                        "parameters": _schema(d),
                    },
                    "actionID": d.pk,
                    "toolCallTimeoutSeconds": d.tool_call_timeout_seconds,
                }
                for d in tools
            ]
        )


class RunSerializer(serializers.Serializer):
    arguments = serializers.DictField(required=False, default=dict)
    conversationId = serializers.CharField(required=False, allow_blank=True, default="")
    contactId = serializers.CharField(required=False, allow_blank=True, default="")


class RunView(WorkspaceScopedMixin, APIView):
    required_scopes = {"POST": (Scope.SETTINGS_MANAGE, Scope.TICKETS_READ)}

    @extend_schema(
        request=RunSerializer,
        responses=ANY,
        operation_id="answerpal_action_run",
        tags=["automations"],
        description="Runs the definition now. Needs `tickets:read` or `settings:manage`; a "
        "type that sends or changes anything (all but DetectTopics and Wait) also needs "
        "`actions:write`, and the outreach it creates waits for approval unless the key "
        "has `actions:approve`.",
    )
    def post(self, request: Request, action_id: int) -> Response:
        definition = (
            ActionDefinition.objects.for_workspace(self.workspace).filter(pk=action_id).first()
        )
        if definition is None:
            raise NotFound("No such action.")
        if changes_something(definition.action_type) and not self.api_key.has_scope(
            Scope.ACTIONS_WRITE
        ):
            raise PermissionDenied(
                f"Running a {definition.action_type} action sends or changes something: "
                f"this API key lacks the '{Scope.ACTIONS_WRITE}' scope.",
                code="missing_scope",
            )
        body = RunSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        if not definition.is_active:
            raise ValidationFailed(fields={"actionID": ["The action is not active."]})
        if definition.is_function_tool:
            validator = jsonschema.Draft202012Validator(_schema(definition))
            errors = {
                "arguments"
                + "".join(
                    f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path
                ): [error.message]
                for error in validator.iter_errors(data["arguments"])
            }
            if errors:
                raise ValidationFailed(
                    "The arguments do not match the tool's schema.", fields=errors
                )
        contact = conversation = None
        if data["conversationId"]:
            conversation = (
                Conversation.objects.for_workspace(self.workspace)
                .filter(public_id=data["conversationId"])
                .first()
            )
            if conversation is None:
                raise ValidationFailed(fields={"conversationId": ["No such conversation."]})
            contact = conversation.contact
        if data["contactId"]:
            contact = (
                Contact.objects.for_workspace(self.workspace)
                .filter(public_id=data["contactId"])
                .first()
            )
            if contact is None:
                raise ValidationFailed(fields={"contactId": ["No such contact."]})
        context = {
            "endUser": end_user_context(contact) if contact else {},
            "ticket": ticket_context(conversation) if conversation else {},
            "arguments": data["arguments"],
        }
        step = definition_run_now(
            workspace=self.workspace,
            definition=definition,
            context=context,
            contact=contact,
            conversation=conversation,
            requires_approval=not self.api_key.has_scope(Scope.ACTIONS_APPROVE),
        )
        result = {
            k: v for k, v in step.result.items() if k not in ("context", "outreach_action_pk")
        }
        return Response(
            {
                "runID": step.run_id,
                "status": step.status,
                "result": result,
                "error": step.error or None,
            }
        )
