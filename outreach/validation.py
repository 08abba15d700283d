"""Domain checks for an action's fields, shared by the API and the services.

They collect every problem instead of stopping at the first, so a 400 names
every bad field, and they tolerate missing inputs (a field that failed its
shape check upstream is simply not checked again).
"""

from __future__ import annotations

from typing import Any

from accounts.models import Workspace
from contacts.models import Contact
from outreach.models import TYPE_CHANNELS, ActionType, Identity
from outreach.params import validate_params


def check_action_fields(
    *,
    workspace: Workspace,
    type: Any = None,
    params: Any = None,
    identity_id: Any = None,
    identity: Identity | None = None,
    check_identity: bool = True,
    contact_id: Any = None,
) -> tuple[dict, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    cleaned: dict = {}

    if type is not None:
        if type not in ActionType.values:
            errors["type"] = [
                f"Unknown action type {type!r}; valid types: {', '.join(ActionType.values)}."
            ]
        else:
            cleaned["type"] = type
            if params is not None:
                normalised, params_errors = validate_params(type, params)
                errors.update(params_errors)
                if not params_errors:
                    cleaned["params"] = normalised
                    if type == ActionType.UPDATE_LIFECYCLE_STAGE:
                        contact = _contact(workspace, normalised["contact_id"])
                        if contact is None:
                            errors["params.contact_id"] = [
                                f"No contact {normalised['contact_id']!r} in this workspace."
                            ]
                        cleaned["contact"] = contact

    if contact_id is not None:
        contact = _contact(workspace, contact_id)
        if contact is None:
            errors["contact_id"] = [f"No contact {contact_id!r} in this workspace."]
        cleaned["contact"] = contact

    if check_identity:
        if identity is None and identity_id is not None:
            identity = Identity.objects.filter(workspace=workspace, public_id=identity_id).first()
            if identity is None:
                errors["identity_id"] = [f"No identity {identity_id!r} in this workspace."]
        if identity is not None:
            action_type = cleaned.get("type")
            problem = identity_problem(
                identity,
                workspace_id=workspace.pk,
                action_type=action_type,
                what=f"A {action_type} action",
            )
            if problem is not None:
                errors["identity_id"] = [problem]
            cleaned["identity"] = identity
    return cleaned, errors


def identity_problem(
    identity: Identity, *, workspace_id: int, action_type: str | None, what: str
) -> str | None:
    """Why `identity` cannot perform `action_type` in the workspace, or None. The
    channel is checked only for a known type; `what` names what needs the identity
    ("A send_email action", "A send_email step"). Actions and cadence steps share it."""
    if identity.workspace_id != workspace_id:
        return "No such identity in this workspace."
    if not identity.is_active:
        return f"Identity {identity.public_id} is deactivated."
    channels = TYPE_CHANNELS[action_type] if action_type is not None else None
    if channels is not None and identity.channel not in channels:
        return (
            f"{what} needs a {'/'.join(sorted(channels))} identity; "
            f"{identity.public_id} is a {identity.channel} identity."
        )
    return None


def _contact(workspace: Workspace, contact_id: Any):
    return Contact.objects.for_workspace(workspace).filter(public_id=str(contact_id)).first()
