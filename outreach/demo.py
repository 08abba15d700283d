"""Demo identities, actions and a cadence for `make run`.

The email identity has the public id `id_123`, the one in seed 000's curl
example, so that example works verbatim with the printed key. The two SMS
awaiting approval are seed 003's example records, under its UUIDs (when free):
`GET /functions/v1/scheduled-actions?status=pending` lists them (with the other
pending demo actions; `&action_type=send_sms`: just those two), and
`GET /functions/v1/scheduled-actions/123e4567-e89b-12d3-a456-426614174000` reads
John's.

The cadence "Demo: 3-touch follow-up" (day 1 email, day 2 SMS, day 3 call) has
John Smith enrolled: the worker sends the email at once (to the console
backend by default), then the SMS step waits for day 2, visible on /v1/actions,
/v2/actions and /functions/v1/scheduled-actions. A reply from him
(`POST /v1/inbound/messages` from john.smith@example.com) stops it. Created
once: when the cadence exists, nothing is done again.
"""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser

from accounts.actors import Actor
from accounts.models import Workspace
from contacts.models import Contact
from outreach import services
from outreach.models import Action, Cadence, Identity, IdentityChannel
from outreach.services import cadences

DEMO_EMAIL_IDENTITY = "id_123"
# Seed 003's example ids, given to the demo's SMS to John and to Jane.
SEED_SMS_UUIDS = {
    "+14155551234": uuid.UUID("123e4567-e89b-12d3-a456-426614174000"),
    "+14155555678": uuid.UUID("456e7890-e89b-12d3-a456-426614174000"),
}
DEMO_CADENCE = "Demo: 3-touch follow-up"
DEMO_CADENCE_CONTACT = "john.smith@example.com"


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
        channel=IdentityChannel.EMAIL,
        address="sales@demo.example.com",
        display_name="Demo Sales",
    )
    sms = _identity(
        workspace,
        user,
        None,
        channel=IdentityChannel.SMS,
        address="+14155550100",
        display_name="Demo SMS",
    )
    linkedin = _identity(
        workspace,
        user,
        None,
        channel=IdentityChannel.LINKEDIN,
        address="https://www.linkedin.com/in/demo-sales",
        display_name="Demo LinkedIn",
    )
    _identity(
        workspace,
        user,
        None,
        channel=IdentityChannel.PHONE,
        address="+14155550101",
        display_name="Demo Phone",
    )
    if not Action.objects.filter(workspace=workspace).exists():
        _seed_sample_actions(workspace, email, sms, linkedin)
    _seed_cadence(workspace, user)


def _seed_sample_actions(
    workspace: Workspace, email: Identity, sms: Identity, linkedin: Identity
) -> None:
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
            "send_sms",
            sms,
            {
                "recipient_phone": "+14155555678",
                "recipient_name": "Jane Doe",
                "message": "Follow-up: How was your experience?",
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
        action = services.action_create(
            workspace=workspace,
            actor=actor,
            type=action_type,
            params=params,
            identity=identity,
            require_approval=True,
            description="Demo action awaiting approval",
        )
        seed_uuid = SEED_SMS_UUIDS.get(params.get("recipient_phone", ""))
        if seed_uuid is not None and not Action.objects.filter(uuid=seed_uuid).exists():
            Action.objects.filter(pk=action.pk).update(uuid=seed_uuid)


def _seed_cadence(workspace: Workspace, user: AbstractBaseUser) -> None:
    if Cadence.objects.filter(workspace=workspace, name=DEMO_CADENCE).exists():
        return
    actor = Actor.for_user(user)
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name=DEMO_CADENCE)
    cadences.step_create(
        cadence=cadence,
        type="email",
        day=1,
        name="Intro email",
        params_template={
            "subject": "Quick question, {{ contact.firstname }}",
            "body": (
                "Hi {{ contact.firstname }},\n\nDo you have 15 minutes this week to talk "
                "about your outreach?\n\nBest,\n{{ sender.name }}"
            ),
        },
    )
    cadences.step_create(
        cadence=cadence,
        type="sms",
        day=2,
        name="SMS nudge",
        params_template={
            "message": "Hi {{ contact.firstname }}, {{ sender.name }} here: did my email reach you?"
        },
    )
    cadences.step_create(
        cadence=cadence,
        type="phone",
        day=3,
        name="Follow-up call",
        params_template={
            "script": "Hi {{ contact.firstname }}, this is Demo Sales following up on my email."
        },
    )
    contact = Contact.objects.for_workspace(workspace).filter(email=DEMO_CADENCE_CONTACT).first()
    if contact is not None and not contact.is_suppressed:
        cadences.enrollment_create(
            workspace=workspace, actor=actor, cadence=cadence, contact=contact
        )
