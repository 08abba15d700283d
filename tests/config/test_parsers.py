"""config.parsers.SafeJSONParser: depth cap, NUL and lone surrogates, non-object
bodies, on every API view and every write endpoint."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from accounts.actors import Actor
from config.exceptions import ValidationFailed
from config.parsers import (
    DEPTH_MESSAGE,
    MAX_DEPTH,
    MAX_REPORTED_PATHS,
    NUL_MESSAGE,
    SURROGATE_MESSAGE,
    SafeJSONParser,
    check_json_body,
)
from contacts import services as contact_services
from contacts.models import Conversation
from outreach.services import cadences
from tests.factories import (
    make_channel,
    make_definition,
    make_hook_action,
    make_topic,
    make_topic_action,
)


def nested(depth: int, leaf: Any = 1) -> Any:
    """An object `depth` levels deep: nested(2) == {"a": {"a": 1}}."""
    value = leaf
    for _ in range(depth):
        value = {"a": value}
    return value


class _View:
    checks_json_body_type = True


def parse(text: str, view: Any = None) -> Any:
    return SafeJSONParser().parse(io.BytesIO(text.encode()), parser_context={"view": view})


# --- the parser itself ------------------------------------------------------
def test_it_accepts_a_body_exactly_at_the_depth_cap():
    body = nested(MAX_DEPTH)
    assert parse(json.dumps(body)) == body


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 1_000, 100_000])
def test_it_refuses_a_body_nested_past_the_cap(depth):
    # 1,000 and more levels exceed Python's recursion limit inside json itself.
    text = '{"a":' * depth + "1" + "}" * depth
    with pytest.raises(ValidationFailed) as caught:
        parse(text)
    assert caught.value.code == "malformed_request"
    assert caught.value.fields == {"non_field_errors": [DEPTH_MESSAGE]}


def test_arrays_count_towards_the_depth():
    assert check_json_body([[[1]]], max_depth=3) == {}
    assert check_json_body([[[[1]]]], max_depth=3) == {"non_field_errors": [DEPTH_MESSAGE]}


@pytest.mark.parametrize("text", ["[]", '"x"', "1", "1.5", "true", "null"])
def test_a_body_that_is_not_an_object_is_refused(text):
    with pytest.raises(ValidationFailed) as caught:
        parse(text)
    assert caught.value.fields == {"non_field_errors": ["Expected a JSON object."]}


@pytest.mark.parametrize("text", ['[{"a": 1}]', '"x"', "1", "null"])
def test_a_view_that_checks_the_type_itself_gets_any_top_level_value(text):
    assert parse(text, _View()) == json.loads(text)


def test_nul_is_refused_in_values_and_keys_with_every_path_named():
    body = {
        "properties": {"firstname": "a\u0000b", "ok": "fine"},
        "upsert": [{"properties": {"city": "\u0000"}}, {"tags": ["x", "y\u0000"]}],
        "bad\u0000key": {"deeper": "not looked at"},
    }
    with pytest.raises(ValidationFailed) as caught:
        parse(json.dumps(body))
    assert caught.value.code == "invalid_request"
    assert caught.value.fields == {
        "properties.firstname": [NUL_MESSAGE],
        "upsert[0].properties.city": [NUL_MESSAGE],
        "upsert[1].tags[1]": [NUL_MESSAGE],
        "bad\\u0000key": [NUL_MESSAGE],
    }
    assert "properties.firstname" in caught.value.message


def test_lone_surrogates_are_refused_but_paired_ones_and_other_text_pass():
    with pytest.raises(ValidationFailed) as caught:
        parse('{"name": "a\\ud800b"}')
    assert caught.value.fields == {"name": [SURROGATE_MESSAGE]}
    body = {"name": "😀 é ü 漢字 \t\n", "n": None, "x": 1.5, "b": False}
    assert parse(json.dumps(body)) == body
    assert parse('{"name": "\\ud83d\\ude00"}') == {"name": "😀"}


def test_a_body_full_of_nuls_names_only_the_first_few():
    errors = check_json_body({"tags": ["\u0000"] * 1_000})
    assert len(errors) == MAX_REPORTED_PATHS
    assert errors["tags[0]"] == [NUL_MESSAGE]


def test_array_bodies_name_paths_from_the_index():
    with pytest.raises(ValidationFailed) as caught:
        parse('[{"name": "ok"}, {"name": "\\u0000"}]', _View())
    assert caught.value.fields == {"[1].name": [NUL_MESSAGE]}


def test_malformed_json_and_nan_are_still_parse_errors():
    from rest_framework.exceptions import ParseError

    with pytest.raises(ParseError):
        parse("{not json")
    with pytest.raises(ParseError):
        parse('{"x": NaN}')


# --- every view and every write endpoint ------------------------------------
def _api_views() -> list[tuple[str, type[APIView]]]:
    found = []

    def walk(patterns: list, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "cls", None)
                if view is not None and issubclass(view, APIView):
                    found.append((prefix + str(pattern.pattern), view))

    walk(get_resolver().url_patterns, "")
    return found


def test_every_api_view_parses_json_with_the_safe_parser():
    views = _api_views()
    assert len(views) > 40
    for route, view in views:
        parsers = view().get_parsers()
        assert parsers, route
        assert all(isinstance(p, SafeJSONParser) for p in parsers), (route, parsers)


@pytest.fixture
def ids(workspace, owner, email_identity, make_action, make_contact, make_key) -> dict[str, Any]:
    actor = Actor.for_user(owner)
    contact = make_contact("ada@example.com", firstname="Ada")
    cadence = cadences.cadence_create(workspace=workspace, actor=actor, name="Q3")
    step = cadences.step_create(
        cadence=cadence, type="email", params_template={"subject": "Hi", "body": "Hello"}
    )
    enrollment = cadences.enrollment_create(
        workspace=workspace, actor=actor, cadence=cadence, contact=make_contact("b@example.com")
    )
    note = contact_services.note_create(contact=contact, actor=actor, content="Called.")
    conversation = Conversation.objects.create(
        workspace=workspace, contact=contact, channel="email"
    )
    definition = make_definition(workspace, name="Reply")
    topic = make_topic(workspace, name="Billing")
    channel = make_channel(workspace, name="Support mail")
    key, _ = make_key(owner, workspace, name="other")
    action = make_action()
    return {
        "action": action.public_id,
        "uuid": action.uuid,
        "identity": email_identity.public_id,
        "cadence": cadence.pk,
        "step": step.pk,
        "enrollment": enrollment.pk,
        "contact": contact.public_id,
        "note": note.public_id,
        "conversation": conversation.public_id,
        "definition": definition.pk,
        "topic": topic.pk,
        "channel": channel.pk,
        "topic_action": make_topic_action(workspace, action=definition, topic=topic).pk,
        "hook_action": make_hook_action(workspace, action=definition).pk,
        "key": key.public_id,
    }


# Every operation that takes a JSON body. Those marked False ignore their body
# (it is never parsed, so it cannot hurt them); they must still not fail.
WRITES: list[tuple[str, str, bool]] = [
    ("post", "/v1/api-keys", True),
    ("post", "/v1/api-keys/{key}/revoke", False),
    ("post", "/v1/actions", True),
    ("post", "/v1/actions/approve/bulk", True),
    ("post", "/v1/actions/process", False),
    ("post", "/v1/actions/{action}/approve", True),
    ("post", "/v1/actions/{action}/cancel", False),
    ("post", "/v1/actions/{action}/complete", True),
    ("post", "/v1/actions/{action}/execute", False),
    ("post", "/v1/actions/{action}/retry", False),
    ("post", "/v1/identities", True),
    ("patch", "/v1/identities/{identity}", True),
    ("post", "/v1/identities/{identity}/deactivate", False),
    ("post", "/v1/cadences", True),
    ("patch", "/v1/cadences/{cadence}", True),
    ("post", "/v1/cadences/{cadence}/enrollments", True),
    ("post", "/v1/cadences/{cadence}/steps", True),
    ("patch", "/v1/cadences/{cadence}/steps/{step}", True),
    ("post", "/v1/enrollments/{enrollment}/stop", True),
    ("post", "/v1/contacts", True),
    ("post", "/v1/contacts/batch", True),
    ("put", "/v1/contacts/{contact}", True),
    ("post", "/v1/contacts/{contact}/notes", True),
    ("patch", "/v1/contacts/{contact}/notes/{note}", True),
    ("post", "/v1/inbound/messages", True),
    ("post", "/v1/conversations/{conversation}/escalate", True),
    ("post", "/v1/conversations/{conversation}/close", False),
    ("post", "/v1/calls/pickup", True),
    ("post", "/functions/v1/scheduled-actions", True),
    ("post", "/functions/v1/scheduled-actions/{uuid}/cancel", False),
    ("post", "/api/Actions", True),
    ("put", "/api/Actions/{definition}", True),
    ("post", "/api/Actions/{definition}/run", True),
    ("post", "/api/TopicActions", True),
    ("post", "/api/TopicActions/bulk", True),
    ("put", "/api/TopicActions/{topic_action}", True),
    ("post", "/api/HookActions", True),
    ("post", "/api/HookActions/bulk", True),
    ("put", "/api/HookActions/{hook_action}", True),
    ("post", "/api/Topics", True),
    ("put", "/api/Topics/{topic}", True),
    ("post", "/api/Channels", True),
    ("put", "/api/Channels/{channel}", True),
]
WRITE_IDS = [f"{method.upper()} {path}" for method, path, _ in WRITES]


def _error_fields(response) -> dict:
    body = response.json()
    if "errors" in body:  # /v2 and /api
        return body["errors"]
    if "error" in body and isinstance(body["error"], dict):  # /v1
        return body["error"]["fields"]
    return body["fields"]  # /functions/v1


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "reads_body"), WRITES, ids=WRITE_IDS)
def test_a_body_nested_1000_levels_deep_is_a_400_on_every_write_endpoint(
    owner_client, ids, method, path, reads_body
):
    depth = 1_000
    text = '{"a":' * depth + "1" + "}" * depth
    response = getattr(owner_client, method)(
        path.format(**ids), data=text, content_type="application/json"
    )
    if not reads_body:
        assert response.status_code < 500
        return
    assert response.status_code == 400, response.content[:300]
    assert _error_fields(response) == {"non_field_errors": [DEPTH_MESSAGE]}


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "path", "reads_body"), WRITES, ids=WRITE_IDS)
def test_a_nul_in_a_body_string_is_a_400_naming_it_on_every_write_endpoint(
    owner_client, ids, method, path, reads_body
):
    response = getattr(owner_client, method)(
        path.format(**ids),
        data=json.dumps({"name": "x\u0000", "params": {"note": "\u0000"}}),
        content_type="application/json",
    )
    if not reads_body:
        assert response.status_code < 500
        return
    assert response.status_code == 400, response.content[:300]
    assert _error_fields(response) == {"name": [NUL_MESSAGE], "params.note": [NUL_MESSAGE]}
