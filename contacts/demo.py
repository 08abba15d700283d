"""Demo contacts for `make run`: the people the demo actions reach, a thread
to reply into, and a note. Idempotent."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from accounts.actors import Actor
from accounts.models import Workspace
from contacts import services
from contacts.models import Contact, Conversation, Message

PEOPLE = [
    (
        "ada@example.com",
        {
            "firstname": "Ada",
            "lastname": "Lovelace",
            "jobtitle": "VP Engineering",
            "company": "Analytical Engines",
            "country": "UK",
            "city": "London",
            "lifecyclestage": "opportunity",
            "industry": "Software",
        },
    ),
    (
        "grace@example.com",
        {
            "firstname": "Grace",
            "lastname": "Hopper",
            "jobtitle": "CTO",
            "company": "Compiler Co",
            "country": "US",
            "city": "Arlington",
            "state": "VA",
            "lifecyclestage": "lead",
        },
    ),
    (
        "john.smith@example.com",
        {
            "firstname": "John",
            "lastname": "Smith",
            "phone": "+14155551234",
            "lifecyclestage": "customer",
        },
    ),
    (
        "jane.doe@example.com",
        {
            "firstname": "Jane",
            "lastname": "Doe",
            "phone": "+14155555678",  # seed 003's second scheduled SMS goes to her
            "linkedin_url": "https://www.linkedin.com/in/jane-doe",
            "lifecyclestage": "prospect",
        },
    ),
]


def seed_contacts(*, workspace: Workspace) -> None:
    actor = Actor.system("seed_demo")
    for email, properties in PEOPLE:
        if not Contact.objects.for_workspace(workspace).filter(email=email).exists():
            services.contact_create(
                workspace=workspace, actor=actor, email=email, properties=properties
            )
    ada = Contact.objects.for_workspace(workspace).get(email="ada@example.com")
    if ada.conversations.exists():
        return
    start = timezone.now() - dt.timedelta(days=3)
    thread = Conversation.objects.create(
        workspace=workspace,
        contact=ada,
        channel="email",
        subject="Engines for the new lab",
        last_message_at=start + dt.timedelta(hours=5),
    )
    for hours, direction, sender, body in [
        (0, "outbound", "sales@demo.example.com", "Hi Ada, could we show you the new engine?"),
        (5, "inbound", "ada@example.com", "Yes, send me the specs and a price."),
    ]:
        Message.objects.create(
            workspace=workspace,
            conversation=thread,
            direction=direction,
            from_address=sender,
            to_address="ada@example.com" if direction == "outbound" else "sales@demo.example.com",
            subject=thread.subject,
            body=body,
            sent_at=start + dt.timedelta(hours=hours),
        )
    services.note_create(contact=ada, actor=actor, content="Budget approved for **Q3**.")
