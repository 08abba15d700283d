"""The resources an action's `_href`s point at, so every link resolves:
`/v2/users/{id}`, `/v2/people/{id}`, `/v2/cadences/{id}`, `/v2/steps/{id}`,
`/v2/tasks/{id}` and `/v2/action_details/{kind}/{id}` (each also with `.json`).

Minimal Salesloft-shaped `{"data": {...}}` records, read with `actions:read` and
the /v2 rate limit. Each is workspace-scoped (another workspace's id is a 404):

- users: members of the workspace (`guid` is the `user_guid` /v2/actions filters on).
- people: the workspace's contacts (the CRM is shared by all members).
- cadences and steps: team cadences for everyone, personal ones for their owner
  and admins. `archived_at` is null while the cadence is active and its last
  update time once deactivated (the deactivation time itself is not kept);
  `active` says the same as a boolean. A step's `type` uses Salesloft's words
  (sms and linkedin steps are `other`).
- tasks: `task` actions the caller may see (an admin: the workspace's; a member:
  its own), in any state, since a task outlives its execution:
  `current_state` is scheduled, completed or cancelled (failed, cancelled and
  rejected tasks). `due_date` is in the workspace's time zone.
- action_details: the action's params in summary, for any action the caller may
  see; the kind in the path must be the action's (`email` for email types,
  `call_instructions` for calls, `other` otherwise) or it is a 404.
"""

from __future__ import annotations

import zoneinfo

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import Membership
from config.exceptions import NotFound
from contacts.models import Contact
from outreach.api.salesloft.filters import MAX_BIGINT, salesloft_type
from outreach.api.salesloft.serializers import (
    DETAIL_KINDS,
    ActionDetailsEnvelope,
    CadenceEnvelope,
    Hrefs,
    PersonEnvelope,
    StepEnvelope,
    TaskEnvelope,
    UserEnvelope,
    detail_kind,
    task_state,
    timestamp,
)
from outreach.api.salesloft.views import RATE_LIMIT_HEADERS_DOC, SalesloftView
from outreach.models import ActionStatus, ActionType, Cadence, CadenceSharing, Step, StepType
from outreach.params import summary_of
from outreach.selectors import actions_visible_to


def _pk(value: int, what: str) -> int:
    if value > MAX_BIGINT:
        raise NotFound(f"No such {what}.")
    return value


def _found(obj, what: str):
    if obj is None:
        raise NotFound(f"No such {what}.")
    return obj


def _schema(name: str, envelope, *, extra: list[OpenApiParameter] | None = None):
    def decorate(operation_id: str):
        return extend_schema(
            operation_id=operation_id,
            summary=f"Fetch a {name} (Salesloft)",
            description=RATE_LIMIT_HEADERS_DOC,
            parameters=[*(extra or []), OpenApiParameter("id", int, OpenApiParameter.PATH)],
            responses=envelope,
        )

    return decorate


def _json_variant(view: type[SalesloftView], operation_id: str, decorate) -> type:
    """The same view under `<path>.json`, with its own operation id."""

    def get(self, request: Request, **kwargs) -> Response:
        return view.get(self, request, **kwargs)

    get = decorate(operation_id)(get)
    return type(f"{view.__name__}Json", (view,), {"get": get})


class SalesloftResourceView(SalesloftView):
    def visible_cadences(self):
        cadences = Cadence.objects.for_workspace(self.workspace)
        if not self.api_key.is_workspace_admin:
            cadences = cadences.filter(
                Q(sharing=CadenceSharing.TEAM) | Q(owner_id=self.api_key.user_id)
            )
        return cadences


user_schema = _schema("user", UserEnvelope)


@extend_schema(tags=["salesloft"])
class UserView(SalesloftResourceView):
    @user_schema("salesloft_users_retrieve")
    def get(self, request: Request, id: int) -> Response:
        membership = _found(
            Membership.objects.filter(workspace=self.workspace, user_id=_pk(id, "user"))
            .select_related("user")
            .first(),
            "user",
        )
        user = membership.user
        name = user.get_full_name()
        record = {
            "id": user.pk,
            "guid": str(membership.guid),
            "name": name or user.get_username(),
            "email": user.email or user.get_username(),
        }
        return Response({"data": record})


person_schema = _schema("person", PersonEnvelope)


@extend_schema(tags=["salesloft"])
class PersonView(SalesloftResourceView):
    @person_schema("salesloft_people_retrieve")
    def get(self, request: Request, id: int) -> Response:
        contact = _found(
            Contact.objects.for_workspace(self.workspace).filter(pk=_pk(id, "person")).first(),
            "person",
        )
        record = {
            "id": contact.pk,
            "first_name": contact.firstname,
            "last_name": contact.lastname,
            "email_address": contact.email,
            "phone": contact.phone,
            "title": contact.jobtitle,
            "created_at": timestamp(contact.created_at),
            "updated_at": timestamp(contact.updated_at),
        }
        return Response({"data": record})


cadence_schema = _schema("cadence", CadenceEnvelope)


@extend_schema(tags=["salesloft"])
class CadenceView(SalesloftResourceView):
    @cadence_schema("salesloft_cadences_retrieve")
    def get(self, request: Request, id: int) -> Response:
        cadence = _found(self.visible_cadences().filter(pk=_pk(id, "cadence")).first(), "cadence")
        team = cadence.sharing == CadenceSharing.TEAM
        record = {
            "id": cadence.pk,
            "name": cadence.name,
            "team_cadence": team,
            "shared": team,
            "active": cadence.is_active,
            "archived_at": None if cadence.is_active else timestamp(cadence.updated_at),
        }
        if cadence.owner_id is not None:
            record["owner"] = Hrefs(request).embed("users", cadence.owner_id)
        record["created_at"] = timestamp(cadence.created_at)
        record["updated_at"] = timestamp(cadence.updated_at)
        return Response({"data": record})


step_schema = _schema("step", StepEnvelope)
STEP_TYPES = {StepType.EMAIL: "email", StepType.PHONE: "phone"}


@extend_schema(tags=["salesloft"])
class StepView(SalesloftResourceView):
    @step_schema("salesloft_steps_retrieve")
    def get(self, request: Request, id: int) -> Response:
        step = _found(
            Step.objects.for_workspace(self.workspace)
            .filter(pk=_pk(id, "step"), cadence__in=self.visible_cadences())
            .first(),
            "step",
        )
        label = StepType(step.type).label if step.type in StepType.values else step.type
        record = {
            "id": step.pk,
            "name": step.name or label,
            "display_name": f"Day {step.day}: Step {step.order} - {step.name or label}",
            "day": step.day,
            "step_number": step.order,
            "type": STEP_TYPES.get(step.type, "other"),
            "multitouch_enabled": step.multitouch_group_id is not None,
            "cadence": Hrefs(request).embed("cadences", step.cadence_id),
            "created_at": timestamp(step.created_at),
            "updated_at": timestamp(step.updated_at),
        }
        return Response({"data": record})


task_schema = _schema("task", TaskEnvelope)


@extend_schema(tags=["salesloft"])
class TaskView(SalesloftResourceView):
    @task_schema("salesloft_tasks_retrieve")
    def get(self, request: Request, id: int) -> Response:
        action = _found(
            actions_visible_to(api_key=self.api_key)
            .select_related(None)
            .filter(pk=_pk(id, "task"), type=ActionType.TASK)
            .first(),
            "task",
        )
        zone = zoneinfo.ZoneInfo(self.workspace.timezone or "UTC")
        hrefs = Hrefs(request)
        record = {
            "id": action.pk,
            "subject": str(action.params.get("title", "")),
            "description": str(action.params.get("note", "")),
            "task_type": "general",
            "current_state": task_state(action.status),
            "due_date": action.scheduled_time.astimezone(zone).date().isoformat(),
            "due_at": timestamp(action.scheduled_time),
            "completed_at": (
                timestamp(action.executed_at) if action.status == ActionStatus.COMPLETED else None
            ),
        }
        if action.owner_id is not None:
            record["user"] = hrefs.embed("users", action.owner_id)
        if action.contact_id is not None:
            record["person"] = hrefs.embed("people", action.contact_id)
        record["created_at"] = timestamp(action.created_at)
        record["updated_at"] = timestamp(action.updated_at)
        return Response({"data": record})


KIND_PARAMETER = OpenApiParameter(
    "kind", str, OpenApiParameter.PATH, enum=sorted(set(DETAIL_KINDS.values()))
)
action_details_schema = _schema("action's details", ActionDetailsEnvelope, extra=[KIND_PARAMETER])


@extend_schema(tags=["salesloft"])
class ActionDetailsView(SalesloftResourceView):
    @action_details_schema("salesloft_action_details_retrieve")
    def get(self, request: Request, kind: str, id: int) -> Response:
        action = _found(
            actions_visible_to(api_key=self.api_key)
            .select_related(None)
            .filter(pk=_pk(id, "action details"))
            .first(),
            "action details",
        )
        if detail_kind(action.type) != kind:
            raise NotFound("No such action details.")
        try:
            summary = summary_of(action.type, action.params)
        except KeyError:
            summary = action.get_type_display()
        record = {
            "id": action.pk,
            "kind": kind,
            "action_type": action.type,
            "summary": summary,
        }
        if salesloft_type(action.type) == "email":
            record["subject"] = str(action.params.get("subject", ""))
        elif kind == "call_instructions":
            record["instructions"] = str(action.params.get("script", ""))
        record["created_at"] = timestamp(action.created_at)
        record["updated_at"] = timestamp(action.updated_at)
        return Response({"data": record})


UserJsonView = _json_variant(UserView, "salesloft_users_retrieve_json", user_schema)
PersonJsonView = _json_variant(PersonView, "salesloft_people_retrieve_json", person_schema)
CadenceJsonView = _json_variant(CadenceView, "salesloft_cadences_retrieve_json", cadence_schema)
StepJsonView = _json_variant(StepView, "salesloft_steps_retrieve_json", step_schema)
TaskJsonView = _json_variant(TaskView, "salesloft_tasks_retrieve_json", task_schema)
ActionDetailsJsonView = _json_variant(
    ActionDetailsView, "salesloft_action_details_retrieve_json", action_details_schema
)
