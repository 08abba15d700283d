from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import ApiKey, Scope, Workspace

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path):
    settings.DATA_DIR = tmp_path


def seed() -> tuple[str, str]:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    password = re.search(r"login: admin / (\S+)", text).group(1)
    key = re.search(r"API key\s+(\S+)", text).group(1)
    return password, key


def test_it_prints_a_login_and_a_key_that_work():
    password, key = seed()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    body = client.get("/v1/me").json()
    assert body["workspace"]["name"] == "Demo workspace"
    assert set(body["api_key"]["scopes"]) == set(Scope.values)

    browser = Client()
    assert browser.login(username="admin", password=password)
    assert browser.get("/admin/", secure=True).status_code == 200


def test_it_is_idempotent():
    first = seed()
    second = seed()
    assert first == second
    assert Workspace.objects.count() == 1
    assert get_user_model().objects.count() == 1
    assert ApiKey.objects.count() == 1


def test_the_seed_000_example_works_with_the_printed_key():
    from outreach.models import Action, ActionStatus

    _, key = seed()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    response = client.post(
        "/v1/actions",
        {
            "type": "send_email",
            "params": {"to": "contact@example.com", "subject": "Hello", "body": "Hi there!"},
            "identity_id": "id_123",
            "require_approval": True,
        },
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "success"
    action = Action.objects.get(public_id=response.json()["action_id"])
    assert action.status == ActionStatus.PENDING_APPROVAL


def test_it_seeds_demo_actions_awaiting_approval_once():
    from outreach.models import Action, ActionStatus

    seed()
    seed()
    assert Action.objects.filter(status=ActionStatus.PENDING_APPROVAL).count() == 5


def test_demo_actions_are_linked_to_demo_contacts():
    from contacts.models import Contact
    from outreach.models import Action

    seed()
    seed()
    assert Contact.objects.count() == 4
    linked = Action.objects.filter(contact__isnull=False, enrollment__isnull=True).count()
    assert linked == 5  # ada, grace, John's phone, Jane's phone and LinkedIn
    # and the demo cadence's first step, for John (once, though seeded twice)
    step = Action.objects.get(enrollment__isnull=False)
    assert (step.contact.firstname, step.cadence.name) == ("John", "Demo: 3-touch follow-up")
