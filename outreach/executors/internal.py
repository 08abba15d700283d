"""Executors that act inside the hub: lifecycle stage changes and manual tasks."""

from __future__ import annotations

from accounts.actors import Actor
from config.exceptions import ValidationFailed
from config.queue import PermanentError
from contacts.models import Contact
from contacts.services import contact_set_lifecycle_stage
from outreach.executors import ExecutionContext, ExecutionResult, PermanentCode, register


@register
class LifecycleStageExecutor:
    types = ("update_lifecycle_stage",)

    def execute(self, context: ExecutionContext) -> ExecutionResult:
        action = context.action
        params = action.params
        contact = (
            Contact.objects.for_workspace(action.workspace)
            .filter(public_id=params["contact_id"])
            .first()
        )
        if contact is None:
            raise PermanentError(
                f"Contact {params['contact_id']} no longer exists.",
                code=PermanentCode.INVALID_ACTION,
            )
        try:
            contact_set_lifecycle_stage(
                contact=contact,
                stage=params["stage"],
                reason=params["reason"],
                actor=Actor.system(f"action:{action.public_id}"),
                action_id=action.public_id,
            )
        except ValidationFailed as exc:
            raise PermanentError(exc.message, code=PermanentCode.INVALID_ACTION) from None
        return ExecutionResult(detail={"contact_id": contact.public_id, "stage": params["stage"]})


@register
class TaskExecutor:
    """A task is done by a person (`POST /v1/actions/{id}/complete` or the admin
    button); the dispatcher never picks it up, so reaching this is a bug."""

    types = ("task",)

    def execute(self, context: ExecutionContext) -> ExecutionResult:
        raise PermanentError(
            "A task is completed by a person, not by the dispatcher.",
            code=PermanentCode.INVALID_ACTION,
        )
