"""The template sandbox (config.templating): ApiCall endpoints, headers and bodies, step params."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import time
import uuid

import pytest

from config import templating
from config.templating import (
    InvalidTemplate,
    TemplateError,
    TemplateRenderError,
    UnsafeTemplate,
    render,
    render_with_report,
    sandbox,
    validate,
)

CONTEXT = {
    "endUser": {"customerNumber": "C-1001", "email": "ada@example.com", "tags": ["vip", "eu"]},
    "ticket": {"status": "open", "subject": 'Refund "now"', "priority": 2},
}


# --- rendering ------------------------------------------------------------------------------
def test_answerpal_placeholders():
    assert render("/customers/{{endUser.customerNumber}}", CONTEXT) == "/customers/C-1001"
    assert render('{"status":"{{ticket.status}}"}', CONTEXT) == '{"status":"open"}'
    assert render("{{ endUser['email']|upper }} {{ endUser.tags|join(',') }}", CONTEXT) == (
        "ADA@EXAMPLE.COM vip,eu"
    )
    assert render("{% if ticket.priority > 1 %}high{% else %}low{% endif %}", CONTEXT) == "high"
    assert render("{% for t in endUser.tags %}[{{ t }}]{% endfor %}", CONTEXT) == "[vip][eu]"


def test_autoescape_is_off_and_none_renders_empty():
    assert render("{{ s }}|{{ n }}", {"s": "<b>&'\"", "n": None}) == "<b>&'\"|"


def test_tojson_is_plain_json():
    text = render(
        '{"subject": {{ ticket.subject|tojson }}, "tags": {{ endUser.tags|tojson }}, '
        '"html": {{ "<a>"|tojson }}, "u": {{ "é"|tojson }}}',
        CONTEXT,
    )
    assert json.loads(text) == {
        "subject": 'Refund "now"',
        "tags": ["vip", "eu"],
        "html": "<a>",
        "u": "é",
    }
    assert "\\u003c" not in text and "é" in text  # not HTML-escaped, not ASCII-escaped
    assert render("{{ missing|tojson }}", {}) == "null"
    assert render("{{ ticket|tojson(indent=2) }}", CONTEXT).startswith("{\n  ")
    with pytest.raises(TemplateRenderError, match="indent"):
        render("{{ ticket|tojson(indent=99) }}", CONTEXT)


def test_context_is_a_plain_copy():
    class Secretive:
        password = "hunter2"

        def __str__(self) -> str:
            return "Secretive()"

    context = {
        "obj": Secretive(),
        "when": dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC),
        "amount": decimal.Decimal("12.50"),
        "id": uuid.UUID(int=1),
        "items": ("a", "b"),
        1: "int key",
    }
    assert render("{{ obj }} {{ obj.password }}", context) == "Secretive() "
    assert render("{{ when }} {{ amount }} {{ id }}", context) == (
        "2024-05-01T12:30:00+00:00 12.50 00000000-0000-0000-0000-000000000001"
    )
    assert render("{{ items|join('+') }}", context) == "a+b"
    assert render("{{ items[0] }}", context) == "a"


def test_dict_keys_starting_with_an_underscore_are_data():
    assert render("{{ doc._id }}/{{ doc['_rev'] }}", {"doc": {"_id": "x1", "_rev": "2"}}) == (
        "x1/2"
    )


# --- missing values -------------------------------------------------------------------------
def test_missing_values_render_empty_and_are_reported(caplog):
    with caplog.at_level(logging.WARNING, logger="config.templating.sandbox"):
        result = render_with_report(
            "a={{ endUser.nope }} b={{ absent.deep.er }} c={{ ticket.status }}", CONTEXT
        )
    assert result.text == "a= b= c=open"
    assert result.missing == ("nope", "absent.deep.er")
    assert "absent.deep.er" in caplog.text
    assert "open" not in caplog.text  # names only, never values


def test_missing_values_are_false_and_empty_and_defaultable():
    assert render("{% if absent %}x{% else %}y{% endif %}", {}) == "y"
    assert render("{% for x in absent %}x{% endfor %}", {}) == ""
    assert render("{{ absent|default('n/a') }}", {}) == "n/a"
    result = render_with_report("{% if absent is defined %}x{% endif %}", {})
    assert result.missing == ()


def test_arithmetic_on_a_missing_value_is_an_error():
    with pytest.raises(TemplateRenderError, match="undefined"):
        render("{{ absent + 1 }}", {})


def test_strict_mode():
    with pytest.raises(TemplateRenderError, match="'absent' is undefined"):
        render("{{ absent }}", {}, strict=True)
    with pytest.raises(TemplateRenderError, match="nope"):
        render("{{ endUser.nope }}", CONTEXT, strict=True)


# --- url mode -------------------------------------------------------------------------------
def test_url_mode_encodes_each_value_as_one_segment():
    context = {"id": "a/../b?admin=1#x&y=2 z%", "flag": True, "n": 7}
    assert render("/c/{{ id }}/x?q={{ id }}&f={{ flag }}&n={{ n }}", context, mode="url") == (
        "/c/a%2F..%2Fb%3Fadmin%3D1%23x%26y%3D2%20z%25/x"
        "?q=a%2F..%2Fb%3Fadmin%3D1%23x%26y%3D2%20z%25&f=true&n=7"
    )


def test_url_mode_refuses_missing_and_none():
    with pytest.raises(TemplateRenderError, match="'absent' is undefined"):
        render("/customers/{{ absent }}", CONTEXT, mode="url")
    with pytest.raises(TemplateRenderError, match="nope"):
        render("/customers/{{ endUser.nope }}", CONTEXT, mode="url")
    with pytest.raises(TemplateRenderError, match="empty"):
        render("/customers/{{ v }}", {"v": None}, mode="url")


# --- sandbox escapes ------------------------------------------------------------------------
ESCAPES = [
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ joiner.__init__.__globals__.os }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ ()|attr('__class__') }}",
    "{{ ()|attr('__class__')|attr('__base__') }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__init__.__globals__ }}",
    "{{ range.__self__ }}",
    "{{ dict.mro() }}",
    "{{ request.application.__globals__ }}",
    "{{ endUser.__class__ }}",
    "{{ endUser['__class__'] }}",
    "{{ endUser._private }}",
    "{{ '{0.__class__}'.format('') }}",
    "{{ '{0.__class__.__mro__}'.format(endUser) }}",
    "{{ '{x.__class__}'.format_map({'x': ''}) }}",
    "{{ endUser.tags.append('x') }}",
    "{{ endUser.update({'a': 1}) }}",
    "{{ endUser.tags|map(attribute='__class__')|list }}",
    "{{ endUser.tags|sort(attribute='__class__') }}",
]


@pytest.mark.parametrize("template", ESCAPES)
def test_sandbox_escapes_are_refused(template):
    with pytest.raises(UnsafeTemplate) as excinfo:
        render(template, CONTEXT)
    assert isinstance(excinfo.value, TemplateError)
    assert "unsafe" in str(excinfo.value) or "sandbox" in str(excinfo.value)


def test_range_is_capped_by_the_sandbox():
    with pytest.raises(UnsafeTemplate, match="Range too big"):
        render("{% for x in range(10**9) %}{% endfor %}", {})
    assert render("{{ range(3)|list }}", {}) == "[0, 1, 2]"


# --- resource limits ------------------------------------------------------------------------
BOMBS = [
    ("{{ 'a' * 10**9 }}", "exceed"),
    ("{{ [0] * 10**8 }}", "exceed"),
    ("{{ 10**(10**10) }}", "bits"),
    ("{{ 'x'|center(1000000000) }}", "exceed"),
    ("{{ 'x'.ljust(10**8) }}", "exceed"),
    ("{{ 'x'.zfill(10**8) }}", "exceed"),
    ("{{ '\t'.expandtabs(10**8) }}", "exceed"),
    ("{{ '%999999999d' % 1 }}", "too large"),
    ("{{ '%*d' % (999999999, 1) }}", "too large"),
    ("{{ '%999999999d'|format(1) }}", "too large"),
    ("{{ '{0:>999999999}'.format('x') }}", "too large"),
    ("{{ ('x' * 100000)|replace('', 'y' * 1000) }}", "exceed"),
    ("{{ ('x' * 100000).replace('x', 'y' * 1000) }}", "exceed"),
    ("{{ ('y' * 1000).join(range(100000)|map('string')) }}", "exceed"),
    ("{{ range(100000)|join('y' * 1000) }}", "exceed"),
    ("{{ ('\n' * 100000)|indent(100, blank=True) }}", "exceed"),
    ("{{ range(10)|batch(10**9, 'x')|list }}", "exceed"),
    ("{{ 'x x x'|wordwrap(1, wrapstring='y' * 1000000) }}", "exceed"),
    (
        "{% set ns = namespace(x='ab') %}{% for i in range(40) %}{% set ns.x = ns.x ~ ns.x %}"
        "{% endfor %}{{ ns.x|length }}",
        "exceed",
    ),
    (
        "{% set ns = namespace(x=[1]) %}{% for i in range(40) %}{% set ns.x = ns.x + ns.x %}"
        "{% endfor %}",
        "exceed",
    ),
    (
        "{% set ns = namespace(x=2) %}{% for i in range(40) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}",
        "bits",
    ),
    (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        "loops",
    ),
    ("{% for x in range(100000) %}xxxxxxxxxx{% endfor %}", "output is longer"),
    ("{{ 'x' * 1000 }}" * 101, "output is longer"),
]


@pytest.mark.parametrize(("template", "message"), BOMBS)
def test_resource_bombs_are_refused_quickly(template, message):
    started = time.monotonic()
    with pytest.raises(UnsafeTemplate, match=message):
        render(template, CONTEXT)
    assert time.monotonic() - started < 5


def test_output_size_cap_is_exact():
    limit = sandbox.MAX_OUTPUT_CHARS
    assert len(render("{{ 'x' * n }}", {"n": limit})) == limit
    with pytest.raises(UnsafeTemplate, match="output is longer"):
        render("{{ 'x' * n }}", {"n": limit + 1})


def test_render_time_is_capped(monkeypatch):
    monkeypatch.setattr(sandbox, "RENDER_TIMEOUT_SECONDS", 0.05)
    template = "{% for a in range(50000) %}{% if range(1000)|sum %}{% endif %}{% endfor %}"
    with pytest.raises(UnsafeTemplate, match="longer than"):
        render(template, {})


def test_template_source_size_is_capped():
    with pytest.raises(InvalidTemplate, match="longer than"):
        validate("x" * (sandbox.MAX_TEMPLATE_CHARS + 1))


# --- nesting --------------------------------------------------------------------------------
def nested(depth: int, opening: str, closing: str, inner: str = "1") -> str:
    return opening * depth + inner + closing * depth


DEEP = sandbox.MAX_NESTING_DEPTH + 1


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ " + nested(100, "(", ")") + " }}", "brackets more than 20 levels"),  # the issue's
        ("{{ " + nested(DEEP, "(", ")") + " }}", "brackets more than 20 levels"),
        ("{{ " + nested(DEEP, "[", "]") + " }}", "brackets more than 20 levels"),
        ("{{ " + nested(DEEP, "{'a': ", "}") + " }}", "brackets more than 20 levels"),
        ("{{ " + nested(1000, "range(", ")") + " }}", "brackets more than 20 levels"),
        (nested(DEEP, "{% if 1 %}", "{% endif %}", "x"), "blocks more than 20 levels"),
        (nested(DEEP, "{% for x in [1] %}", "{% endfor %}", "x"), "blocks more than 20 levels"),
        (nested(DEEP, "{% set x %}", "{% endset %}", "x"), "blocks more than 20 levels"),
        ("{{ 1" + " + 1" * 500 + " }}", "expressions are nested more than 64"),
        ("{{ " + "not " * 500 + "1 }}", "expressions are nested more than 64"),
        ("{{ 'a'" + "|lower" * 500 + " }}", "expressions are nested more than 64"),
        ("{{ a" + ".b" * 500 + " }}", "expressions are nested more than 64"),
        ("{{ " + "1 if x else " * 300 + "2 }}", "expressions are nested more than 64"),
    ],
)
def test_a_template_nested_too_deeply_is_invalid(template, message):
    # Each was a RecursionError (or a SyntaxError from Python's compiler) before.
    with pytest.raises(InvalidTemplate, match=message):
        validate(template)
    with pytest.raises(InvalidTemplate, match=message):
        render(template, {"a": {}})


def test_nesting_up_to_the_caps_renders():
    depth = sandbox.MAX_NESTING_DEPTH
    assert render("{{ " + nested(depth, "(", ")") + " }}", {}) == "1"
    assert render(nested(depth, "{% if 1 %}", "{% endif %}", "x"), {}) == "x"
    assert render(nested(depth, "{% for x in [1] %}", "{% endfor %}", "x"), {}) == "x"
    assert render("{{ 1" + " + 1" * 40 + " }}", {}) == "41"
    # Flat chains are not nesting: a concatenation and a comparison chain are one node.
    assert render("{{ 'a'" + " ~ 'a'" * 500 + " }}", {}) == "a" * 501
    # Closing tags and brackets count back down, so siblings never add up.
    assert render("{% if 1 %}x{% endif %}" * 50 + "{{ (1) }}" * 50, {}) == "x" * 50 + "1" * 50


def test_recursion_past_the_caps_is_still_an_invalid_template(monkeypatch):
    # With the caps out of the way, Jinja2's recursive parser runs out of stack: that
    # must be a template error too, not a RecursionError.
    monkeypatch.setattr(sandbox, "MAX_NESTING_DEPTH", 10**6)
    monkeypatch.setattr(sandbox, "MAX_TREE_DEPTH", 10**6)
    for template in ("{{ " + nested(1000, "(", ")") + " }}", "{{ " + "- " * 2000 + "1 }}"):
        with pytest.raises(InvalidTemplate, match="nested too deeply or is too complex"):
            validate(template)


def test_python_compiler_limits_are_an_invalid_template(monkeypatch):
    # 21 nested loops pass Jinja2 but not Python's compiler (20 nested blocks).
    monkeypatch.setattr(sandbox, "MAX_NESTING_DEPTH", 10**6)
    with pytest.raises(InvalidTemplate, match="nested too deeply or is too complex"):
        validate(nested(21, "{% for x in [1] %}", "{% endfor %}", "x"))


# --- statements that buffer output are not allowed ------------------------------------------
@pytest.mark.parametrize(
    "template",
    [
        "{% macro m() %}x{% endmacro %}{{ m() }}",
        "{% call range(1) %}x{% endcall %}",
        "{% filter upper %}x{% endfilter %}",
        "{% set x %}captured{% endset %}",
        "{% block b %}x{% endblock %}",
        "{% extends 'base.html' %}",
        "{% include 'other.html' %}",
        "{% import 'macros.html' as m %}",
        "{% from 'macros.html' import m %}",
        "{% for x in [1] recursive %}{{ loop([]) }}{% endfor %}",
    ],
)
def test_buffering_statements_are_invalid(template):
    with pytest.raises(InvalidTemplate, match="not allowed"):
        validate(template)
    with pytest.raises(InvalidTemplate):
        render(template, {})


# --- validate -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ ticket.status ", "line 1"),
        ("ok\n{% if x %}", "line 2"),
        ("{{ x|no_such_filter }}", "No filter named"),
        ("{% for %}", "line 1"),
    ],
)
def test_validate_reports_syntax_errors(template, message):
    with pytest.raises(InvalidTemplate, match=message):
        validate(template)


def test_validate_accepts_good_templates_without_rendering_them():
    validate('{"status": {{ ticket.status|tojson }}, "n": {{ 10**(10**10) }}}')
    validate("/customers/{{endUser.customerNumber}}", mode="url")


def test_ordinary_render_errors():
    with pytest.raises(TemplateRenderError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}", {})
    with pytest.raises(TemplateRenderError):
        render("{{ lipsum() }}", {})  # removed from the globals


# --- the vocabulary: unknown names at save time ---------------------------------------------
VOCABULARY = {
    "contact": {"firstname": None, "email": None, "name": None, "firstName": None},
    "ticket": {"id": None, "status": None},
    "arguments": None,  # anything below
}


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "Hi {{ contact.frist_name }}",
            "Unknown variable 'contact.frist_name' (did you mean 'contact.firstname'?).",
        ),
        (
            "Hi {{ contact.first_name }}",
            "Unknown variable 'contact.first_name' (did you mean 'contact.firstname'?).",
        ),
        ("{{ contct.email }}", "Unknown variable 'contct' (did you mean 'contact'?)."),
        (
            "{{ nothing_like_it }}",
            "Unknown variable 'nothing_like_it' (known: arguments, contact, ticket).",
        ),
        (
            "{{ contact['nmae'] }}",
            "Unknown variable 'contact.nmae' (did you mean 'contact.name'?).",
        ),
        ("{% if ticket.stauts == 'open' %}x{% endif %}", "Unknown variable 'ticket.stauts'"),
        ("{{ contact.plan.level }}", "Unknown variable 'contact.plan'."),
        ("{{ contact.email|lower }} {{ contact.zzz|upper }}", "Unknown variable 'contact.zzz'."),
    ],
)
def test_unknown_variables_are_named_with_a_suggestion(template, message):
    [found] = templating.unknown_variables(template, VOCABULARY)
    assert found.startswith(message), found


@pytest.mark.parametrize(
    "template",
    [
        "Hi {{ contact.firstname }}, {{ contact.firstName }} <{{ contact['email'] }}>",
        "{{ contact.firstname.upper() }} {{ contact.email|lower }}",  # a value's own methods
        "{{ arguments.anything.at.all }}",  # an object whose keys are data
        "{% for t in arguments.tags %}{{ t.name }}{% endfor %} {{ ticket.status }}",
        "{% for k, v in contact.items() %}{{ k }}={{ v }} {{ loop.index }}{% endfor %}",
        "{% set x = contact.name %}{{ x.whatever }}",  # names the template assigns
        "{% with c = contact %}{{ c.whatever }}{% endwith %}",
        "{{ range(3)|list }} {{ dict(a=1) }} {{ namespace(a=1).a }}",  # the sandbox's globals
        "{{ contact.plan | default('free') }}",  # the template says it may be missing
        "{% if contact.plan is defined %}{{ contact.plan }}{% endif %}",
        "{{ (contact or ticket).whatever }}",  # not a plain chain: nothing to check
        "no markup at all",
    ],
)
def test_known_names_locals_globals_and_guarded_attributes_pass(template):
    assert templating.unknown_variables(template, VOCABULARY) == []


def test_a_guard_does_not_excuse_an_unknown_variable():
    # Variables are a closed list: `default` excuses a missing attribute, not a typo'd root.
    assert templating.unknown_variables("{{ contct.plan | default('') }}", VOCABULARY) == [
        "Unknown variable 'contct' (did you mean 'contact'?)."
    ]


def test_each_unknown_name_is_reported_once_in_order():
    template = "{{ contact.b }} {{ contact.a }} {{ contact.b }} {{ contact.firstname }}"
    found = templating.unknown_variables(template, VOCABULARY)
    assert [m.split("'")[1] for m in found] == ["contact.b", "contact.a"]


def test_underscore_names_are_left_to_the_sandbox():
    # The sandbox refuses them when rendering; the name check does not hide that.
    assert templating.unknown_variables("{{ contact.__class__ }}", VOCABULARY) == []
    with pytest.raises(UnsafeTemplate):
        render("{{ contact.__class__ }}", {"contact": {}})


def test_url_mode_is_checked_too_and_a_bad_template_raises_like_validate():
    assert templating.unknown_variables("/c/{{ contact.nope }}", VOCABULARY, mode="url") == [
        "Unknown variable 'contact.nope'."
    ]
    with pytest.raises(InvalidTemplate):
        templating.unknown_variables("{{ contact.firstname ", VOCABULARY)
    deep = "{{ " + "(" * 100 + "contact.firstname" + ")" * 100 + " }}"
    with pytest.raises(InvalidTemplate, match="more than 20 levels deep"):
        templating.unknown_variables(deep, VOCABULARY)


# --- the vocabulary: aliases at run time ----------------------------------------------------
def test_contact_and_end_user_are_one_object_in_both_spellings():
    from automations.context import template_context

    person = {"firstName": "Ada", "email": "ada@example.com"}
    stored = {"endUser": dict(person), "ticket": {"id": "th_1"}}
    context = template_context(stored)
    template = (
        "{{ contact.firstname }} {{ contact.firstName }} {{ endUser.firstname }} "
        "{{ endUser.firstName }} {{ contact.name }} {{ conversation.id }} {{ ticket.id }}"
    )
    assert render(template, context) == "Ada Ada Ada Ada Ada th_1 th_1"
    assert stored == {"endUser": person, "ticket": {"id": "th_1"}}  # the run's context untouched


def test_a_run_without_a_contact_has_none_under_both_names():
    from automations.context import template_context

    context = template_context({"endUser": None, "ticket": {"id": "th_1"}})
    assert context["contact"] is None and context["endUser"] is None
    assert render("[{{ contact.firstname }}]", context) == "[]"


def test_a_known_variable_without_a_value_renders_empty():
    # Data, not a typo: the contact simply has no first name. A default is the author's.
    from automations.context import template_context

    context = template_context({"endUser": {"firstname": "", "email": "x@example.com"}})
    assert render("Hi {{ contact.firstname }},", context) == "Hi ,"
    assert render("Hi {{ contact.firstname or 'there' }},", context) == "Hi there,"
