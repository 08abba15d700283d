"""Staff set up an automation in a real browser, and it drafts a reply.

A reviewer logs in, creates the topic "Billing" (keyword "invoice"), creates a
Reply definition (choosing the type shows the body template and hides the
ApiCall groups), links it to the topic inline; then an inbound email about an
invoice arrives through POST /v1/inbound/messages, the hook steps run, and the
drafted reply waits in the approval queue with the rendered body.
Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import expect

from automations.models import ActionDefinition, HookStep, Topic, TopicAction
from outreach.models import Action, ActionStatus
from tests.automations import drain_steps
from tests.factories import make_staff_member

pytestmark = pytest.mark.browser

BODY = "Hi {{ endUser.firstName }}, thanks for your message about your invoice."
RENDERED = "Hi Dana, thanks for your message about your invoice."


@pytest.fixture
def reviewer(workspace):
    permissions = [
        Permission.objects.get(content_type__app_label="outreach", codename="approve_action"),
        *Permission.objects.filter(content_type__app_label="automations"),
    ]
    return make_staff_member(workspace, "rita@example.org", permissions)


def test_staff_set_up_an_auto_reply_that_lands_in_the_queue(
    reviewer, email_identity, make_contact, client_for, owner, workspace, live_server, page,
    screenshot, log_in,
):  # fmt: skip
    base = live_server.url
    success = page.locator(".messagelist .success")

    def fieldset(title: str):
        heading = page.locator("h2.fieldset-heading", has_text=re.compile(f"^{title}$"))
        return page.locator("fieldset", has=heading)

    # Log in through the real login form.
    log_in(reviewer)
    expect(page.locator("#approval-queue-count")).to_have_text("0")

    # 1. The topic.
    page.goto(f"{base}/admin/automations/topic/add/")
    page.fill("#id_name", "Billing")
    page.fill("#id_keywords", "invoice")
    screenshot("topic-add")
    page.click("input[name=_save]")
    expect(success).to_contain_text("Billing")
    topic = Topic.objects.get()
    assert (topic.workspace, topic.keywords) == (workspace, ["invoice"])

    # 2. The definition: the type decides which groups show.
    page.goto(f"{base}/admin/automations/actiondefinition/add/")
    expect(page.locator("#action-type-hint")).to_be_visible()
    for title in ("Outbound API call", "Body template", "Forward", "Wait"):
        expect(fieldset(title)).to_be_hidden()
    for title in ("Core", "Runtime controls", "Function tool"):
        expect(fieldset(title)).to_be_visible()
    page.select_option("#id_action_type", "ApiCall")
    expect(fieldset("Outbound API call")).to_be_visible()
    expect(fieldset("Outbound authentication overrides")).to_be_visible()
    expect(fieldset("Body template")).to_be_visible()
    screenshot("definition-apicall-fields")
    page.select_option("#id_action_type", "Reply")
    expect(fieldset("Body template")).to_be_visible()
    expect(fieldset("Outbound API call")).to_be_hidden()
    expect(fieldset("Outbound authentication overrides")).to_be_hidden()
    expect(fieldset("Wait")).to_be_hidden()
    expect(page.locator("#id_action_schedule_time_zone_id")).to_have_value("Europe/Amsterdam")
    page.fill("#id_name", "Auto-reply to billing questions")
    page.fill("#id_api_body_template", BODY)
    screenshot("definition-reply")
    page.click("input[name=_save]")
    expect(success).to_contain_text("Auto-reply to billing questions")
    definition = ActionDefinition.objects.get()
    assert (definition.action_type, definition.api_body_template) == ("Reply", BODY)

    # 3. Link it to the topic, on the topic's page.
    page.goto(f"{base}/admin/automations/topic/{topic.pk}/change/")
    page.select_option(
        "#id_topicaction_set-0-action", label="Auto-reply to billing questions (Reply)"
    )
    page.fill("#id_topicaction_set-0-priority", "1")
    screenshot("topic-link")
    page.click("input[name=_continue]")
    expect(success).to_contain_text("Billing")
    link = TopicAction.objects.get()
    assert (link.topic, link.action, link.priority) == (topic, definition, 1)
    expect(page.locator("#id_topicaction_set-0-action")).to_be_disabled()  # fixed once linked

    # 4. An email about an invoice arrives; the hook steps run.
    make_contact("dana@example.com", firstname="Dana")
    response = client_for(owner, workspace).post(
        "/v1/inbound/messages",
        {
            "from": "dana@example.com",
            "to": email_identity.address,
            "subject": "Question about my invoice",
            "body": "Invoice #42 looks wrong.",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    drain_steps()
    assert HookStep.objects.get(definition=definition).status == "completed"
    drafted = Action.objects.get(type="email_message")
    assert drafted.status == ActionStatus.PENDING_APPROVAL
    assert drafted.params["body"] == RENDERED

    # 5. The reply waits in the approval queue, rendered.
    page.goto(f"{base}/admin/")
    expect(page.locator("#approval-queue-count")).to_have_text("1")
    page.goto(f"{base}/admin/outreach/pendingapproval/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(drafted.public_id)
    screenshot("queue")
    page.get_by_role("link", name=drafted.public_id).click()
    expect(page.locator('#action-preview [data-preview="body"]')).to_have_text(RENDERED)
    screenshot("drafted-reply")
