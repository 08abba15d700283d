"""Demo identities and actions for `make run`.

The email identity has the public id `id_123`, the one in seed 000's curl
example, so that example works verbatim with the printed key.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser

from accounts.actors import Actor
from accounts.models import Workspace
from outreach import services
from outreach.models import Action, Channel, Identity

DEMO_EMAIL_IDENTITY = "id_123"


def _identity(workspace: Workspace, owner, public_id: str | None, **fields) -> Identity:
    existing = Identity.objects.filter(
        workspace=workspace, channel=fields["channel"], address=fields["address"]
    ).first()
    if existing:
        return existing
    identity = services.identity_create(workspace=workspace, owner=owner, **fields)
    if public_id:
        Identity.objects.filter(pk=identity.pk).update(public_id=public_id)
        identity.public_id = public_id
    return identity


def seed_outreach(*, workspace: Workspace, user: AbstractBaseUser) -> None:
    email = _identity(
        workspace,
        user,
        DEMO_EMAIL_IDENTITY,
        channel=Channel.EMAIL,
        address="sales@demo.example.com",
        display_name="Demo Sales",
    )
    sms = _identity(
        workspace, user, None, channel=Channel.SMS, address="+14155550100", display_name="Demo SMS"
    )
    linkedin = _identity(
        workspace,
        user,
        None,
        channel=Channel.LINKEDIN,
        address="https://www.linkedin.com/in/demo-sales",
        display_name="Demo LinkedIn",
    )
    _identity(
        workspace,
        user,
        None,
        channel=Channel.PHONE,
        address="+14155550101",
        display_name="Demo Phone",
    )
    if Action.objects.filter(workspace=workspace).exists():
        return
    actor = Actor.system("seed_demo")
    samples = [
        (
            "send_email",
            email,
            {
                "to": "ada@example.com",
                "subject": "Quick question, Ada",
                "body": "Hi Ada,\n\nDo you have 15 minutes this week?\n\nBest,\nDemo",
            },
        ),
        (
            "send_email",
            email,
            {
                "to": "grace@example.com",
                "subject": "Following up",
                "body": "Hi Grace,\n\nJust following up on my last note.",
            },
        ),
        (
            "send_sms",
            sms,
            {
                "recipient_phone": "+14155551234",
                "recipient_name": "John Smith",
                "message": "Your appointment is in 1 hour!",
            },
        ),
        (
            "linkedin_message",
            linkedin,
            {
                "profile_url": "https://www.linkedin.com/in/jane-doe",
                "message": "Hi Jane, great talk at the conference!",
            },
        ),
    ]
    for action_type, identity, params in samples:
        services.action_create(
            workspace=workspace,
            actor=actor,
            type=action_type,
            params=params,
            identity=identity,
            require_approval=True,
            description="Demo action awaiting approval",
        )
