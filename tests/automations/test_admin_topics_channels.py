"""Topics, channels and their links in the admin, and the read-only hook runs,
through Django's test client. Writes go through automations.services."""

from __future__ import annotations

import re

import pytest

from automations import services
from automations.engine import hook_fire
from automations.models import Channel, HookAction, HookRun, Topic, TopicAction
from contacts.models import Conversation
from tests.admin_helpers import field_errors, form_data, staff_client
from tests.factories import make_reply

pytestmark = pytest.mark.django_db

ADMIN = "/admin/automations/"
TOPICS = f"{ADMIN}topic/"
CHANNELS = f"{ADMIN}channel/"
TOPIC_ACTIONS = f"{ADMIN}topicaction/"
HOOK_ACTIONS = f"{ADMIN}hookaction/"
RUNS = f"{ADMIN}hookrun/"
LINKS = "topicaction_set"  # the inline's prefix on topic and channel pages
HOOK_LINKS = "hookaction_set"


def topic_url(topic: Topic) -> str:
    return f"{TOPICS}{topic.pk}/change/"


def channel_url(channel: Channel) -> str:
    return f"{CHANNELS}{channel.pk}/change/"


def inline_rows(response, prefix: str = LINKS) -> list:
    [formset] = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == prefix
    ]
    return formset


def new_link(data: dict, prefix: str = LINKS, **fields) -> dict:
    """Fill the page's next empty inline row with `fields`."""
    total = int(data[f"{prefix}-TOTAL_FORMS"])
    initial = int(data[f"{prefix}-INITIAL_FORMS"])
    index = next(
        (
            i
            for i in range(initial, total)
            if not any(data.get(f"{prefix}-{i}-{n}") for n in ("action", "hook_name"))
        ),
        total,
    )
    if index == total:
        data[f"{prefix}-TOTAL_FORMS"] = str(total + 1)
    for name, value in fields.items():
        data[f"{prefix}-{index}-{name}"] = str(getattr(value, "pk", value))
    return data


def link_errors(response, prefix: str = LINKS) -> list:
    assert response.status_code == 200, response.status_code
    formset = inline_rows(response, prefix)
    return [form.errors for form in formset.forms if form.errors] + (
        [formset.non_form_errors()] if formset.non_form_errors() else []
    )


# --- Topics --------------------------------------------------------------------------------------
def test_a_topic_is_created_with_one_keyword_per_line(staff, workspace):
    page = staff.get(f"{TOPICS}add/")
    assert page.context["adminform"].form.initial["workspace"] == workspace.pk
    data = form_data(page)
    data.update(
        name="Billing",
        keywords="invoice\n  refund  \n\nreceipt\r\n",
        patterns=r"order\s+#\d+",
    )
    response = staff.post(f"{TOPICS}add/", data)
    assert response.status_code == 302, field_errors(response)
    topic = Topic.objects.get()
    assert (topic.workspace, topic.name) == (workspace, "Billing")
    assert topic.keywords == ["invoice", "refund", "receipt"]
    assert topic.patterns == [r"order\s+#\d+"]

    page = staff.get(topic_url(topic))
    assert page.context["adminform"].form["keywords"].value() == "invoice\nrefund\nreceipt"
    listed = staff.get(TOPICS)
    assert "invoice, refund, receipt" in listed.content.decode()


def test_topic_errors_name_the_bad_entry(staff, workspace):
    data = form_data(staff.get(f"{TOPICS}add/"))
    data.update(name="Orders", keywords="order\n" + "x" * 101, patterns="ok\n(unclosed")
    errors = field_errors(staff.post(f"{TOPICS}add/", data))
    assert errors["keywords"] == [f"“{'x' * 101}”: At most 100 characters."]
    assert errors["patterns"][0].startswith("“(unclosed”: Not a valid regular expression")
    assert not Topic.objects.exists()


def test_the_topic_form_refuses_a_pattern_re2_cannot_run(staff, workspace):
    # The same check as /api/Topics (services.check_pattern): detection runs on RE2.
    data = form_data(staff.get(f"{TOPICS}add/"))
    data.update(name="Echo", patterns="ok\n(a)\\1\n(?<!re)fund")
    errors = field_errors(staff.post(f"{TOPICS}add/", data))
    assert errors["patterns"][0].startswith("“(a)\\1”: Not a valid regular expression")
    assert errors["patterns"][1].startswith("“(?<!re)fund”: Not a valid regular expression")
    assert not Topic.objects.exists()


def test_a_duplicate_topic_name_is_an_error_on_the_name(staff, workspace):
    services.topic_create(workspace=workspace, name="Billing")
    data = form_data(staff.get(f"{TOPICS}add/"))
    data["name"] = "Billing"
    errors = field_errors(staff.post(f"{TOPICS}add/", data))
    assert errors == {"name": ["A topic with this name already exists."]}
    assert Topic.objects.count() == 1


def test_editing_a_topic_goes_through_topic_update(staff, workspace):
    topic = services.topic_create(workspace=workspace, name="Billing", keywords=["invoice"])
    data = form_data(staff.get(topic_url(topic)))
    data["keywords"] = "invoice\nbilling"
    data["description"] = "Money"
    assert staff.post(topic_url(topic), data).status_code == 302
    topic.refresh_from_db()
    assert (topic.keywords, topic.description) == (["invoice", "billing"], "Money")


# --- Topic links inline ---------------------------------------------------------------------------
def test_links_are_added_inline_and_listed_by_priority(staff, workspace):
    topic = services.topic_create(workspace=workspace, name="Billing", keywords=["invoice"])
    late = make_reply(workspace, "Late")
    early = make_reply(workspace, "Early")
    middle = make_reply(workspace, "Middle")
    services.topic_action_create(workspace=workspace, topic=topic, action=late, priority=30)

    data = form_data(staff.get(topic_url(topic)))
    new_link(data, action=early, priority=10)
    new_link(data, action=middle, priority=20)
    response = staff.post(topic_url(topic), data)
    assert response.status_code == 302, link_errors(response)

    links = TopicAction.objects.filter(topic=topic)
    assert [(link.action.name, link.priority) for link in links] == [
        ("Early", 10),
        ("Middle", 20),
        ("Late", 30),
    ]
    assert {link.workspace_id for link in links} == {workspace.pk}
    page = staff.get(topic_url(topic))
    shown = [form.instance.action.name for form in inline_rows(page).initial_forms]
    assert shown == ["Early", "Middle", "Late"]
    selected = re.findall(
        rf'<select name="{LINKS}-\d-action"[^>]*>.*?<option value="(\d+)" selected>',
        page.content.decode(),
        re.S,
    )
    assert selected == [str(early.pk), str(middle.pk), str(late.pk)]  # the page's order too


def test_a_topic_and_its_first_link_are_created_together(staff, workspace):
    reply = make_reply(workspace, "Auto-reply")
    data = form_data(staff.get(f"{TOPICS}add/"))
    data.update(name="Billing", keywords="invoice")
    new_link(data, action=reply, priority=5)
    response = staff.post(f"{TOPICS}add/", data)
    assert response.status_code == 302, link_errors(response)
    link = TopicAction.objects.get()
    assert (link.topic.name, link.action, link.priority) == ("Billing", reply, 5)


def test_a_duplicate_link_is_a_readable_error(staff, workspace):
    topic = services.topic_create(workspace=workspace, name="Billing")
    reply = make_reply(workspace)
    services.topic_action_create(workspace=workspace, topic=topic, action=reply, priority=1)

    data = form_data(staff.get(topic_url(topic)))
    data["description"] = "changed"
    new_link(data, action=reply, priority=2)
    response = staff.post(topic_url(topic), data)
    assert response.status_code == 200
    assert "This action is already linked here." in response.content.decode()
    assert TopicAction.objects.count() == 1
    topic.refresh_from_db()
    assert topic.description == ""  # nothing of the page was saved

    # Twice on one page, neither existing yet.
    other = make_reply(workspace, "Other")
    data = form_data(staff.get(topic_url(topic)))
    new_link(data, action=other, priority=3)
    new_link(data, action=other, priority=4)
    response = staff.post(topic_url(topic), data)
    assert "The same link twice on this page." in response.content.decode()
    assert TopicAction.objects.count() == 1


def test_priority_changes_and_deletes_go_through_the_link_services(staff, workspace):
    topic = services.topic_create(workspace=workspace, name="Billing")
    first = services.topic_action_create(
        workspace=workspace, topic=topic, action=make_reply(workspace, "A"), priority=1
    )
    second = services.topic_action_create(
        workspace=workspace, topic=topic, action=make_reply(workspace, "B"), priority=2
    )
    data = form_data(staff.get(topic_url(topic)))
    data[f"{LINKS}-0-priority"] = "50"
    data[f"{LINKS}-1-DELETE"] = "on"
    # A link's action is fixed: a changed value is ignored (the field is disabled).
    data[f"{LINKS}-0-action"] = str(second.action_id)
    response = staff.post(topic_url(topic), data)
    assert response.status_code == 302, link_errors(response)
    assert list(TopicAction.objects.values_list("pk", "action_id", "priority")) == [
        (first.pk, first.action_id, 50)
    ]


def test_a_failure_while_saving_rolls_the_whole_page_back(staff, workspace, monkeypatch):
    """Validation passed, then the link service refuses (someone linked the same
    action in between): the topic's own changes are rolled back too, and the page
    says so instead of crashing."""
    from automations.admin.links import TopicLinkInline
    from config.exceptions import Conflict

    topic = services.topic_create(workspace=workspace, name="Billing")
    reply = make_reply(workspace)
    calls = []

    def create(**kwargs):
        calls.append(kwargs)
        if len(calls) > 1:  # the dry run passes, the real save does not
            raise Conflict("This action is already linked there.", code="duplicate_link")
        return services.topic_action_create(**kwargs)

    monkeypatch.setattr(TopicLinkInline, "create", staticmethod(create))
    data = form_data(staff.get(topic_url(topic)))
    data["description"] = "changed"
    new_link(data, action=reply, priority=1)
    response = staff.post(topic_url(topic), data, follow=True)

    assert len(calls) == 2
    assert "Nothing was saved: This action is already linked there." in response.content.decode()
    topic.refresh_from_db()
    assert topic.description == ""
    assert not TopicAction.objects.exists()


def test_inline_choices_are_the_topics_workspace_only(staff, workspace, other_workspace):
    topic = services.topic_create(workspace=workspace, name="Billing")
    mine = make_reply(workspace, "Mine")
    theirs = make_reply(other_workspace, "Theirs")
    services.channel_create(workspace=other_workspace, name="Their mail", kind="email")
    page = staff.get(topic_url(topic))
    form = inline_rows(page).forms[-1]
    assert list(form.fields["action"].queryset) == [mine]
    assert list(form.fields["channel"].queryset) == []
    assert "Theirs" not in page.content.decode()

    data = new_link(form_data(page), action=theirs, priority=1)
    errors = link_errors(staff.post(topic_url(topic), data))
    assert "Select a valid choice" in str(errors)
    assert not TopicAction.objects.exists()


# --- Channels -------------------------------------------------------------------------------------
def test_a_channel_with_topic_and_hook_links(staff, workspace):
    topic = services.topic_create(workspace=workspace, name="Billing")
    reply = make_reply(workspace, "Reply")
    data = form_data(staff.get(f"{CHANNELS}add/"))
    data.update(name="Support mail", kind="email")
    response = staff.post(f"{CHANNELS}add/", data)
    assert response.status_code == 302, field_errors(response)
    channel = Channel.objects.get()

    data = form_data(staff.get(channel_url(channel)))
    new_link(data, topic=topic, action=reply, priority=2)
    new_link(data, HOOK_LINKS, hook_name="PostTopicDetection", action=reply, priority=1)
    response = staff.post(channel_url(channel), data)
    assert response.status_code == 302, link_errors(response) + link_errors(response, HOOK_LINKS)
    link = TopicAction.objects.get()
    assert (link.topic, link.channel, link.action, link.priority) == (topic, channel, reply, 2)
    hook = HookAction.objects.get()
    assert (hook.hook_name, hook.channel, hook.priority) == ("PostTopicDetection", channel, 1)

    # A topic link on a channel needs a topic (or a special topic).
    data = new_link(form_data(staff.get(channel_url(channel))), action=reply, priority=3)
    errors = link_errors(staff.post(channel_url(channel), data))
    assert "Give topicID or specialTopic." in str(errors)


def test_a_duplicate_channel_name_is_an_error(staff, workspace):
    services.channel_create(workspace=workspace, name="Support mail", kind="email")
    data = form_data(staff.get(f"{CHANNELS}add/"))
    data.update(name="Support mail", kind="chat")
    errors = field_errors(staff.post(f"{CHANNELS}add/", data))
    assert errors == {"name": ["A channel with this name already exists."]}


# --- The link lists -------------------------------------------------------------------------------
def test_a_definition_is_linked_to_a_hook_from_the_hook_action_list(staff, workspace):
    reply = make_reply(workspace, "Auto-reply")
    page = staff.get(f"{HOOK_ACTIONS}add/")
    data = form_data(page)
    data.update(hook_name="PostTopicDetection", action=str(reply.pk), priority="10")
    response = staff.post(f"{HOOK_ACTIONS}add/", data)
    assert response.status_code == 302, field_errors(response)
    link = HookAction.objects.get()
    assert (link.workspace, link.hook_name, link.action, link.channel) == (
        workspace,
        "PostTopicDetection",
        reply,
        None,
    )

    # The same link again: an error on the form, not a crash.
    errors = field_errors(staff.post(f"{HOOK_ACTIONS}add/", data))
    assert errors == {"__all__": ["This action is already linked there."]}

    # Only the priority changes afterwards.
    page = staff.get(f"{HOOK_ACTIONS}{link.pk}/change/")
    assert set(page.context["adminform"].form.fields) == {"priority"}
    data = form_data(page)
    data["priority"] = "-5"
    assert staff.post(f"{HOOK_ACTIONS}{link.pk}/change/", data).status_code == 302
    link.refresh_from_db()
    assert link.priority == -5


def test_the_hook_action_list_is_ordered_by_hook_then_priority_and_filters(staff, workspace):
    a, b, c = (make_reply(workspace, name) for name in "abc")
    services.hook_action_create(workspace=workspace, hook_name="PreSpam", action=a, priority=5)
    services.hook_action_create(workspace=workspace, hook_name="OnClose", action=b, priority=9)
    services.hook_action_create(workspace=workspace, hook_name="OnClose", action=c, priority=1)
    listed = staff.get(HOOK_ACTIONS).context["cl"].result_list
    assert [(x.hook_name, x.action.name) for x in listed] == [
        ("OnClose", "c"),
        ("OnClose", "b"),
        ("PreSpam", "a"),
    ]
    filtered = staff.get(HOOK_ACTIONS, {"hook_name__exact": "PreSpam"}).context["cl"].result_list
    assert [x.action.name for x in filtered] == ["a"]


def test_the_topic_action_list_and_its_form(staff, workspace):
    topic = services.topic_create(workspace=workspace, name="Billing")
    reply = make_reply(workspace, "Auto-reply")
    data = form_data(staff.get(f"{TOPIC_ACTIONS}add/"))
    data.update(topic=str(topic.pk), action=str(reply.pk), priority="3")
    response = staff.post(f"{TOPIC_ACTIONS}add/", data)
    assert response.status_code == 302, field_errors(response)
    listed = staff.get(TOPIC_ACTIONS)
    assert [x.priority for x in listed.context["cl"].result_list] == [3]
    assert "Billing" in listed.content.decode()

    data.update(topic="", special_topic="")
    errors = field_errors(staff.post(f"{TOPIC_ACTIONS}add/", data))
    assert errors == {"topic": ["Give topicID or specialTopic."]}

    link = TopicAction.objects.get()
    response = staff.post(f"{TOPIC_ACTIONS}{link.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not TopicAction.objects.exists()


# --- Tenancy --------------------------------------------------------------------------------------
def test_staff_of_another_workspace_see_none_of_it(workspace, other_workspace, outsider):
    topic = services.topic_create(workspace=workspace, name="Billing")
    channel = services.channel_create(workspace=workspace, name="Support mail", kind="email")
    reply = make_reply(workspace, "Acme reply")
    link = services.topic_action_create(workspace=workspace, topic=topic, action=reply)
    hook = services.hook_action_create(workspace=workspace, hook_name="PreSpam", action=reply)
    run = hook_fire(workspace=workspace, hook_name="PreSpam", context={})
    services.topic_create(workspace=other_workspace, name="Globex topic")
    client = staff_client(outsider, app_label="automations")

    for url in (TOPICS, CHANNELS, TOPIC_ACTIONS, HOOK_ACTIONS, RUNS):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode()
        for name in ("Billing", "Support mail", "Acme reply"):
            assert name not in html, url
    assert [t.name for t in client.get(TOPICS).context["cl"].result_list] == ["Globex topic"]
    for url in (
        topic_url(topic),
        channel_url(channel),
        f"{TOPIC_ACTIONS}{link.pk}/change/",
        f"{HOOK_ACTIONS}{hook.pk}/change/",
        f"{RUNS}{run.pk}/change/",
    ):
        response = client.get(url)
        assert response.status_code == 302, url  # "does not exist": back to the index
        assert response["Location"] == "/admin/"

    # No choice offers another workspace's rows.
    form = client.get(f"{HOOK_ACTIONS}add/").context["adminform"].form
    assert list(form.fields["workspace"].queryset) == [other_workspace]
    assert list(form.fields["action"].queryset) == []
    assert list(form.fields["channel"].queryset) == []
    form = client.get(f"{TOPIC_ACTIONS}add/").context["adminform"].form
    assert [t.name for t in form.fields["topic"].queryset] == ["Globex topic"]
    topic_form = client.get(f"{TOPICS}add/")
    assert list(inline_rows(topic_form).forms[0].fields["action"].queryset) == []


# --- Hook runs ------------------------------------------------------------------------------------
def test_hook_runs_are_read_only_with_their_steps(staff, workspace):
    wait = make_reply(workspace, "Pause", action_type="Wait", wait_seconds=60)
    close = make_reply(workspace, "Close it", action_type="Close")
    services.hook_action_create(
        workspace=workspace, hook_name="OnEscalate", action=wait, priority=1
    )
    services.hook_action_create(
        workspace=workspace, hook_name="OnEscalate", action=close, priority=2
    )
    conversation = Conversation.objects.create(workspace=workspace, channel="email")
    run = hook_fire(
        workspace=workspace,
        hook_name="OnEscalate",
        context={"ticket": {"priority": "high"}},
        conversation=conversation,
    )
    run.steps.filter(position=1).update(status="failed", error="conditionalRules: boom")

    listed = staff.get(RUNS)
    assert [r.pk for r in listed.context["cl"].result_list] == [run.pk]
    assert "2 (1 failed)" in listed.content.decode()
    page = staff.get(f"{RUNS}{run.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Pause" in html and "Close it" in html
    assert "conditionalRules: boom" in html
    assert "&quot;priority&quot;: &quot;high&quot;" in html  # the context, as JSON
    steps = [form.instance.definition_name for form in inline_rows(page, "steps").forms]
    assert steps == ["Pause", "Close it"]

    assert staff.get(f"{RUNS}add/").status_code == 403
    assert staff.post(f"{RUNS}{run.pk}/change/", {}).status_code == 403
    assert staff.post(f"{RUNS}{run.pk}/delete/", {"post": "yes"}).status_code == 403
    assert HookRun.objects.count() == 1
