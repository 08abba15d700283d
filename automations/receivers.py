"""Contact changes fire the OnEndUserAdd / OnEndUserUpdate / OnEndUserDelete
hooks. A run is stored only when the workspace links something to the hook, so
a CSV import of thousands of contacts does not write thousands of empty runs."""

from __future__ import annotations

from django.dispatch import receiver

from automations.engine import fire_hook
from automations.models import HookAction, HookName
from contacts.properties import properties_of
from contacts.signals import contact_added, contact_deleted, contact_updated


def _fire(hook_name: str, contact, extra: dict | None = None) -> None:
    linked = HookAction.objects.filter(
        workspace_id=contact.workspace_id, hook_name=hook_name, action__is_active=True
    ).exists()
    if not linked:
        return
    end_user = {
        "contactId": contact.public_id,
        "email": contact.email,
        "firstName": contact.firstname,
        "lastName": contact.lastname,
        **{k: v for k, v in properties_of(contact).items() if isinstance(k, str)},
    }
    fire_hook(
        workspace=contact.workspace,
        hook_name=hook_name,
        context={"endUser": end_user, **(extra or {})},
        contact=None if hook_name == HookName.ON_END_USER_DELETE else contact,
    )


@receiver(contact_added)
def on_contact_added(sender, contact, actor, **kwargs) -> None:
    _fire(HookName.ON_END_USER_ADD, contact)


@receiver(contact_updated)
def on_contact_updated(sender, contact, actor, changes, **kwargs) -> None:
    _fire(HookName.ON_END_USER_UPDATE, contact, {"changes": changes})


@receiver(contact_deleted)
def on_contact_deleted(sender, contact, actor, **kwargs) -> None:
    _fire(HookName.ON_END_USER_DELETE, contact)
