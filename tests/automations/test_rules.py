"""JSON Logic conditional rules and action schedules (automations/json_logic.py,
automations/schedules.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from automations.json_logic import (
    MAX_DEPTH,
    MAX_NODES,
    RuleError,
    evaluate,
    rule_passes,
    truthy,
    validate_rules,
)
from automations.schedules import (
    ScheduleError,
    Window,
    next_allowed,
    parse_schedule,
    validate_schedule,
)

# A sample of the official JSON Logic test suite (https://jsonlogic.com/tests.json):
# (rule, data, expected).
OFFICIAL = [
    # ==
    ({"==": [1, 1]}, None, True),
    ({"==": [1, "1"]}, None, True),
    ({"==": [1, 2]}, None, False),
    ({"==": [0, False]}, None, True),
    ({"==": [None, 1]}, None, False),
    ({"==": [None, None]}, None, True),
    ({"==": ["", 0]}, None, True),
    ({"==": [1, True]}, None, True),
    ({"==": ["1", True]}, None, True),
    # ===
    ({"===": [1, 1]}, None, True),
    ({"===": [1, "1"]}, None, False),
    ({"===": [0, False]}, None, False),
    ({"===": [1.0, 1]}, None, True),
    # != / !==
    ({"!=": [1, 2]}, None, True),
    ({"!=": [1, 1]}, None, False),
    ({"!=": [1, "1"]}, None, False),
    ({"!==": [1, 2]}, None, True),
    ({"!==": [1, 1]}, None, False),
    ({"!==": [1, "1"]}, None, True),
    # ! / !!
    ({"!": [False]}, None, True),
    ({"!": False}, None, True),
    ({"!": [True]}, None, False),
    ({"!": [[]]}, None, True),
    ({"!!": [[]]}, None, False),
    ({"!!": [["0"]]}, None, True),
    ({"!!": ["0"]}, None, True),
    ({"!!": [0]}, None, False),
    ({"!!": [""]}, None, False),
    ({"!!": [None]}, None, False),
    ({"!!": [{"var": "x"}]}, {"x": {}}, True),
    # or / and
    ({"or": [True, True]}, None, True),
    ({"or": [False, True]}, None, True),
    ({"or": [False, False]}, None, False),
    ({"or": [False, False, True]}, None, True),
    ({"or": [1, 3]}, None, 1),
    ({"or": [False, 3]}, None, 3),
    ({"or": [0, ""]}, None, ""),
    ({"and": [True, True]}, None, True),
    ({"and": [False, True]}, None, False),
    ({"and": [1, 3]}, None, 3),
    ({"and": [3, False]}, None, False),
    ({"and": [0, 1]}, None, 0),
    # if
    ({"if": [True, "yes", "no"]}, None, "yes"),
    ({"if": [False, "yes", "no"]}, None, "no"),
    ({"if": [[], "yes", "no"]}, None, "no"),
    ({"if": [[1], "yes", "no"]}, None, "yes"),
    ({"if": ["0", "yes", "no"]}, None, "yes"),
    ({"if": [True, "apple", True, "banana", "carrot"]}, None, "apple"),
    ({"if": [False, "apple", True, "banana", "carrot"]}, None, "banana"),
    ({"if": [False, "apple", False, "banana", "carrot"]}, None, "carrot"),
    ({"if": [False, "apple", False, "banana"]}, None, None),
    ({"if": []}, None, None),
    ({"if": [True]}, None, True),
    ({"?:": [True, 1, 2]}, None, 1),
    # > >= < <=
    ({">": [2, 1]}, None, True),
    ({">": [1, 1]}, None, False),
    ({">": ["30", "4"]}, None, False),  # two strings compare as strings
    ({">": ["30", 4]}, None, True),
    ({">=": [1, 1]}, None, True),
    ({">=": [1, 2]}, None, False),
    ({"<": [1, 2]}, None, True),
    ({"<": [2, 1]}, None, False),
    ({"<": [1, 1]}, None, False),
    ({"<": [1, 2, 3]}, None, True),
    ({"<": [1, 1, 3]}, None, False),
    ({"<": [1, 4, 3]}, None, False),
    ({"<=": [1, 1]}, None, True),
    ({"<=": [1, 1, 3]}, None, True),
    ({"<=": [1, 4, 3]}, None, False),
    ({"<": [{"var": "t"}, 10]}, {"t": "9"}, True),
    ({"<": ["abc", 1]}, None, False),  # NaN compares false
    # in
    ({"in": ["Spring", "Springfield"]}, None, True),
    ({"in": ["i", "team"]}, None, False),
    ({"in": ["Bart", ["Bart", "Homer", "Lisa"]]}, None, True),
    ({"in": ["Milhouse", ["Bart", "Homer", "Lisa"]]}, None, False),
    ({"in": [1, ["1"]]}, None, False),
    ({"in": ["x", None]}, None, False),
    # cat
    ({"cat": "ice"}, None, "ice"),
    ({"cat": ["ice"]}, None, "ice"),
    ({"cat": ["ice", "cream"]}, None, "icecream"),
    ({"cat": [1, 2]}, None, "12"),
    ({"cat": ["Robocop", 2]}, None, "Robocop2"),
    ({"cat": ["I love", " pie"]}, None, "I love pie"),
    ({"cat": ["I love ", 3.14, " pie"]}, None, "I love 3.14 pie"),
    ({"cat": [True, None, 2.0]}, None, "truenull2"),
    # arithmetic
    ({"+": [1, 2]}, None, 3),
    ({"+": [2, 2, 2]}, None, 6),
    ({"+": [1]}, None, 1),
    ({"+": ["1", 1]}, None, 2),
    ({"+": "3.14"}, None, 3.14),
    ({"+": [0.1, 0.2]}, None, 0.3),
    ({"*": [3, 2]}, None, 6),
    ({"*": [2, 2, 2]}, None, 8),
    ({"*": ["1", 1]}, None, 1),
    ({"-": [2, 3]}, None, -1),
    ({"-": [3, 2]}, None, 1),
    ({"-": [3]}, None, -3),
    ({"-": ["1", 1]}, None, 0),
    ({"/": [4, 2]}, None, 2),
    ({"/": [2, 4]}, None, 0.5),
    ({"/": ["1", 1]}, None, 1),
    ({"/": [1, 0]}, None, None),  # documented deviation: null, not Infinity
    ({"%": [1, 2]}, None, 1),
    ({"%": [2, 2]}, None, 0),
    ({"%": [3, 2]}, None, 1),
    ({"%": [-3, 2]}, None, -1),  # sign of the dividend, as in JavaScript
    ({"%": [3, 0]}, None, None),
    ({"min": [1, 2, 3]}, None, 1),
    ({"min": [1, 3, 3]}, None, 1),
    ({"min": [3, 2, 1]}, None, 1),
    ({"min": [1]}, None, 1),
    ({"max": [1, 2, 3]}, None, 3),
    ({"max": [1, 3, 3]}, None, 3),
    ({"max": [3, 2, 1]}, None, 3),
    ({"max": ["7", 2]}, None, 7),
    ({"max": []}, None, None),
    # merge
    ({"merge": []}, None, []),
    ({"merge": [[1]]}, None, [1]),
    ({"merge": [[1], []]}, None, [1]),
    ({"merge": [[1], [2]]}, None, [1, 2]),
    ({"merge": [[1], [2], [3]]}, None, [1, 2, 3]),
    ({"merge": [[1, 2], [3]]}, None, [1, 2, 3]),
    ({"merge": [1, 2]}, None, [1, 2]),
    ({"merge": [1, [2]]}, None, [1, 2]),
    ({"merge": [[1], [[2]]]}, None, [1, [2]]),
    # var
    ({"var": ["a"]}, {"a": 1}, 1),
    ({"var": ["b"]}, {"a": 1}, None),
    ({"var": ["a"]}, None, None),
    ({"var": "a"}, {"a": 1}, 1),
    ({"var": "b"}, {"a": 1}, None),
    ({"var": "a"}, None, None),
    ({"var": ["a", 1]}, None, 1),
    ({"var": ["b", 2]}, {"a": 1}, 2),
    ({"var": "a.b"}, {"a": {"b": "c"}}, "c"),
    ({"var": "a.q"}, {"a": {"b": "c"}}, None),
    ({"var": ["a.q", 9]}, {"a": {"b": "c"}}, 9),
    ({"var": 1}, ["apple", "banana"], "banana"),
    ({"var": "1"}, ["apple", "banana"], "banana"),
    ({"var": "1.1"}, ["apple", ["banana", "beer"]], "beer"),
    ({"var": ""}, 3.14, 3.14),
    ({"var": []}, 3.14, 3.14),
    ({"var": None}, {"a": 1}, {"a": 1}),
    (
        {"and": [{"<": [{"var": "temp"}, 110]}, {"==": [{"var": "pie.filling"}, "apple"]}]},
        {"temp": 100, "pie": {"filling": "apple"}},
        True,
    ),
    (
        {"var": [{"if": [{"<": [{"var": "temp"}, 110]}, "pie.filling", "pie.eta"]}]},
        {"temp": 100, "pie": {"filling": "apple", "eta": "60s"}},
        "apple",
    ),
    ({"in": [{"var": "filling"}, ["apple", "cherry"]]}, {"filling": "apple"}, True),
    ({"var": "a.b.c"}, {"a": None}, None),
    ({"var": "a.b.c"}, {"a": {"b": None}}, None),
    ({"var": ["a.b.c", 1]}, {"a": {"b": None}}, 1),
    # missing
    ({"missing": []}, None, []),
    ({"missing": ["a"]}, None, ["a"]),
    ({"missing": "a"}, None, ["a"]),
    ({"missing": "a"}, {"a": "apple"}, []),
    ({"missing": ["a"]}, {"a": "apple"}, []),
    ({"missing": ["a", "b"]}, {"a": "apple"}, ["b"]),
    ({"missing": ["a", "b"]}, {"b": "banana"}, ["a"]),
    ({"missing": ["a", "b"]}, {"a": "apple", "b": "banana"}, []),
    ({"missing": ["a", "b"]}, {}, ["a", "b"]),
    ({"missing": ["a", "b"]}, None, ["a", "b"]),
    ({"missing": ["a.b"]}, {"a": "apple"}, ["a.b"]),
    ({"missing": ["a.b"]}, {"a": {"b": "apple brown betty"}}, []),
    ({"missing": ["a"]}, {"a": ""}, ["a"]),
    ({"missing": ["a"]}, {"a": None}, ["a"]),
    ({"missing": ["a"]}, {"a": 0}, []),
    (
        {"missing": {"merge": ["vin", {"if": [{"var": "financing"}, ["apr"], []]}]}},
        {"financing": True},
        ["vin", "apr"],
    ),
    (
        {"missing": {"merge": ["vin", {"if": [{"var": "financing"}, ["apr"], []]}]}},
        {"financing": False},
        ["vin"],
    ),
    # missing_some
    ({"missing_some": [1, ["a", "b"]]}, {"a": "apple"}, []),
    ({"missing_some": [1, ["a", "b"]]}, {"b": "banana"}, []),
    ({"missing_some": [1, ["a", "b"]]}, {"a": "apple", "b": "banana"}, []),
    ({"missing_some": [1, ["a", "b"]]}, {"c": "carrot"}, ["a", "b"]),
    ({"missing_some": [2, ["a", "b", "c"]]}, {"a": "apple", "b": "banana"}, []),
    ({"missing_some": [2, ["a", "b", "c"]]}, {"a": "apple", "c": "carrot"}, []),
    ({"missing_some": [2, ["a", "b", "c"]]}, {"a": "apple"}, ["b", "c"]),
    ({"missing_some": [2, ["a", "b", "c"]]}, {"d": "durian"}, ["a", "b", "c"]),
    (
        {
            "if": [
                {
                    "merge": [
                        {"missing": ["first_name", "last_name"]},
                        {"missing_some": [1, ["cell_phone", "home_phone"]]},
                    ]
                },
                "We require first name, last name, and one phone number.",
                "OK to proceed",
            ]
        },
        {"first_name": "Bruce", "last_name": "Wayne"},
        "We require first name, last name, and one phone number.",
    ),
    # some / all / none
    ({"all": [[1, 2, 3], {">": [{"var": ""}, 0]}]}, None, True),
    ({"all": [[1, 2, 3], {">": [{"var": ""}, 1]}]}, None, False),
    ({"all": [[], {">": [{"var": ""}, 0]}]}, None, False),
    ({"all": [{"var": "integers"}, {">=": [{"var": ""}, 1]}]}, {"integers": [1, 2, 3]}, True),
    ({"all": [{"var": "integers"}, {"==": [{"var": ""}, 1]}]}, {"integers": [1, 2, 3]}, False),
    ({"all": [{"var": "integers"}, {"==": [{"var": ""}, 1]}]}, {"integers": []}, False),
    (
        {"all": [{"var": "items"}, {">=": [{"var": "qty"}, 1]}]},
        {"items": [{"qty": 1, "sku": "apple"}, {"qty": 2, "sku": "banana"}]},
        True,
    ),
    (
        {"all": [{"var": "items"}, {">": [{"var": "qty"}, 1]}]},
        {"items": [{"qty": 1, "sku": "apple"}, {"qty": 2, "sku": "banana"}]},
        False,
    ),
    ({"none": [[-3, -2, -1], {">": [{"var": ""}, 0]}]}, None, True),
    ({"none": [[-3, 2, -1], {">": [{"var": ""}, 0]}]}, None, False),
    ({"none": [[], {">": [{"var": ""}, 0]}]}, None, True),
    ({"none": [{"var": "integers"}, {"==": [{"var": ""}, 1]}]}, {"integers": [1, 2, 3]}, False),
    ({"none": [{"var": "missing"}, {"==": [{"var": ""}, 1]}]}, {}, True),
    ({"some": [[-1, 0, 1], {">": [{"var": ""}, 0]}]}, None, True),
    ({"some": [[-1, 0, -1], {">": [{"var": ""}, 0]}]}, None, False),
    ({"some": [[], {">": [{"var": ""}, 0]}]}, None, False),
    ({"some": [{"var": "integers"}, {"==": [{"var": ""}, 1]}]}, {"integers": [1, 2, 3]}, True),
    (
        {"some": [{"var": "items"}, {">": [{"var": "qty"}, 1]}]},
        {"items": [{"qty": 1, "sku": "apple"}, {"qty": 2, "sku": "banana"}]},
        True,
    ),
    (
        {"some": [{"var": "items"}, {">": [{"var": "qty"}, 2]}]},
        {"items": [{"qty": 1, "sku": "apple"}, {"qty": 2, "sku": "banana"}]},
        False,
    ),
    # literals and arrays of rules
    (1, None, 1),
    ("apple", None, "apple"),
    (None, None, None),
    ([{"var": "a"}, 2], {"a": 1}, [1, 2]),
]


@pytest.mark.parametrize(("rule", "data", "expected"), OFFICIAL)
def test_official_cases(rule, data, expected):
    result = evaluate(rule, data)
    if isinstance(expected, float):
        assert result == pytest.approx(expected)
    else:
        assert result == expected
        assert type(result) is type(expected) or {type(result), type(expected)} <= {int, float}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, False),
        (-1, True),
        (0.0, False),
        (float("nan"), False),
        ("", False),
        ("0", True),
        ("false", True),
        ([], False),
        ([0], True),
        ({}, True),
        (None, False),
        (False, False),
        (True, True),
    ],
)
def test_truthiness(value, expected):
    assert truthy(value) is expected


def test_if_is_lazy():
    # The expensive branch would exceed the step budget if it were evaluated.
    data = {"xs": list(range(200_000))}
    expensive = {"all": [{"var": "xs"}, {">=": [{"var": ""}, 0]}]}
    assert evaluate({"if": [True, "ok", expensive]}, data) == "ok"
    assert evaluate({"or": [True, expensive]}, data) is True
    assert evaluate({"and": [0, expensive]}, data) == 0


def test_var_nested_paths_and_defaults():
    data = {
        "ticket": {"status": "open", "tags": ["vip", "eu"], "meta": {"count": 0}},
        "lines": [{"sku": "A"}, {"sku": "B"}],
    }
    assert evaluate({"var": "ticket.status"}, data) == "open"
    assert evaluate({"var": "ticket.tags.1"}, data) == "eu"
    assert evaluate({"var": "lines.1.sku"}, data) == "B"
    assert evaluate({"var": ["lines.5.sku", "none"]}, data) == "none"
    assert evaluate({"var": ["lines.x", "none"]}, data) == "none"
    assert evaluate({"var": ["ticket.meta.count", 9]}, data) == 0  # present falsy: no default
    assert evaluate({"var": ["ticket.status.length", "d"]}, data) == "d"


def test_unknown_operator_is_refused():
    with pytest.raises(RuleError, match="Unknown operator 'eval'"):
        evaluate({"eval": ["1+1"]}, {})
    # Even inside a branch that would never run.
    with pytest.raises(RuleError, match="Unknown operator"):
        evaluate({"if": [False, {"__import__": "os"}, 1]}, {})


def test_malformed_operations_are_refused():
    with pytest.raises(RuleError, match="exactly one key"):
        evaluate({"==": [1, 1], "!=": [1, 2]}, {})
    with pytest.raises(RuleError, match="two arguments"):
        evaluate({"some": [[1, 2]]}, {})
    with pytest.raises(RuleError):
        evaluate({"missing_some": [1, "a"]}, {})


def test_depth_limit():
    rule: object = True
    for _ in range(MAX_DEPTH + 5):
        rule = {"!!": [rule]}
    with pytest.raises(RuleError, match="nested too deeply"):
        evaluate(rule, {})
    shallow: object = True
    for _ in range(10):
        shallow = {"!": [shallow]}
    assert evaluate(shallow, {}) is True


def test_node_limit():
    rule = {"+": list(range(MAX_NODES + 1))}
    with pytest.raises(RuleError, match="too large"):
        evaluate(rule, {})


def test_step_budget_for_iteration():
    data = {"xs": list(range(60_000))}
    rule = {"all": [{"var": "xs"}, {">=": [{"var": ""}, 0]}]}
    with pytest.raises(RuleError, match="steps"):
        evaluate(rule, data)


def test_rule_passes():
    assert rule_passes("", {}) is True
    assert rule_passes("   ", {}) is True
    assert rule_passes(None, {}) is True
    assert rule_passes("{}", {}) is True
    rule = json.dumps({"==": [{"var": "ticket.status"}, "open"]})
    assert rule_passes(rule, {"ticket": {"status": "open"}}) is True
    assert rule_passes(rule, {"ticket": {"status": "closed"}}) is False
    assert rule_passes('{"var": "tags"}', {"tags": []}) is False
    assert rule_passes('"0"', {}) is True
    with pytest.raises(RuleError, match="not valid JSON"):
        rule_passes("{not json", {})
    with pytest.raises(RuleError, match="Unknown operator"):
        rule_passes('{"nope": [1]}', {})


def test_validate_rules():
    validate_rules("")
    validate_rules('{"and": [{"in": ["vip", {"var": "endUser.tags"}]}, {">": [{"var": "n"}, 2]}]}')
    with pytest.raises(RuleError, match="not valid JSON"):
        validate_rules("[1,")
    with pytest.raises(RuleError, match="Unknown operator 'map'"):
        validate_rules('{"map": [[1], {"var": ""}]}')
    deep = "[" * 200 + "]" * 200
    with pytest.raises(RuleError, match="nested too deeply"):
        validate_rules(deep)


# ---------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------

NY = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_parse_schedule_forms():
    windows = parse_schedule("Mon-Fri 09:00-17:00; Sat 10:00-14:00")
    assert windows == [
        Window(frozenset(range(5)), 9 * 60, 17 * 60),
        Window(frozenset({5}), 600, 840),
    ]
    assert parse_schedule("Sat,Sun 10:00-12:00, Wed 8:30-9:00") == [
        Window(frozenset({5, 6}), 600, 720),
        Window(frozenset({2}), 510, 540),
    ]
    assert parse_schedule("daily 00:00-24:00")[0] == Window(frozenset(range(7)), 0, 1440)
    assert parse_schedule("Weekdays 09:00-17:00")[0].days == frozenset(range(5))
    assert parse_schedule("WEEKENDS 09:00-17:00;")[0].days == frozenset({5, 6})
    assert parse_schedule("Fri-Mon 09:00-10:00")[0].days == frozenset({4, 5, 6, 0})
    assert parse_schedule("Monday, Wed-Thu 09:00-10:00")[0].days == frozenset({0, 2, 3})
    overnight = parse_schedule("Fri 22:00-06:00")[0]
    assert (overnight.start, overnight.end) == (22 * 60, 30 * 60)
    assert parse_schedule("") == []
    assert parse_schedule(None) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Funday 09:00-17:00", "Unknown day 'Funday'"),
        ("Mon-Xyz 09:00-17:00", "Unknown day"),
        ("Mon 25:00-26:00", "Invalid time '25:00'"),
        ("Mon 09:60-10:00", "Invalid time"),
        ("Mon 24:00-10:00", "Invalid time '24:00'"),
        ("Mon 09:00-24:30", "Invalid time"),
        ("Mon 09:00-09:00", "empty"),
        ("Mon 9-17", "Cannot read schedule"),
        ("09:00-17:00", "Cannot read schedule"),
        ("Mon 09:00-17:00 Tue 09:00-17:00", "Expected ';' or ','"),
        ("Mon 09:00-17:00;; Tue 09:00-10:00", "Cannot read schedule"),
    ],
)
def test_invalid_schedules(text, message):
    with pytest.raises(ScheduleError, match=message):
        validate_schedule(text)


def test_blank_schedule_always_allowed():
    assert next_allowed("", NY, utc(2025, 1, 1, 3)) is None
    assert next_allowed(None, NY, utc(2025, 1, 1, 3)) is None


def test_inside_and_outside_utc():
    spec = "Mon-Fri 09:00-17:00"
    # Wed 2025-01-08
    assert next_allowed(spec, "UTC", utc(2025, 1, 8, 9, 0)) is None
    assert next_allowed(spec, "UTC", utc(2025, 1, 8, 16, 59)) is None
    assert next_allowed(spec, "UTC", utc(2025, 1, 8, 17, 0)) == utc(2025, 1, 9, 9, 0)
    assert next_allowed(spec, "UTC", utc(2025, 1, 8, 8, 0)) == utc(2025, 1, 8, 9, 0)
    assert next_allowed(spec, "", utc(2025, 1, 8, 8, 0)) == utc(2025, 1, 8, 9, 0)


def test_next_opening_across_weekend():
    spec = "Mon-Fri 09:00-17:00"
    # Fri 2025-01-10 18:00 UTC -> Mon 2025-01-13 09:00
    assert next_allowed(spec, "UTC", utc(2025, 1, 10, 18)) == utc(2025, 1, 13, 9)
    assert next_allowed(spec, "UTC", utc(2025, 1, 11, 12)) == utc(2025, 1, 13, 9)
    with_saturday = "Mon-Fri 09:00-17:00; Sat 10:00-14:00"
    assert next_allowed(with_saturday, "UTC", utc(2025, 1, 10, 18)) == utc(2025, 1, 11, 10)
    assert next_allowed(with_saturday, "UTC", utc(2025, 1, 11, 14)) == utc(2025, 1, 13, 9)


def test_overnight_window_belongs_to_start_day():
    spec = "Fri 22:00-06:00"
    assert next_allowed(spec, "UTC", utc(2025, 1, 10, 23)) is None  # Fri night
    assert next_allowed(spec, "UTC", utc(2025, 1, 11, 5, 59)) is None  # Sat early
    assert next_allowed(spec, "UTC", utc(2025, 1, 11, 6)) == utc(2025, 1, 17, 22)
    # Thursday night is not covered (Friday's window starts Friday).
    assert next_allowed(spec, "UTC", utc(2025, 1, 10, 1)) == utc(2025, 1, 10, 22)


def test_end_of_day_24_00():
    spec = "Mon 18:00-24:00"
    assert next_allowed(spec, "UTC", utc(2025, 1, 6, 23, 59, 59)) is None
    assert next_allowed(spec, "UTC", utc(2025, 1, 7, 0, 0)) == utc(2025, 1, 13, 18)
    assert next_allowed("Daily 00:00-24:00", "UTC", utc(2025, 1, 7, 0, 0)) is None


def test_timezone_new_york_vs_utc():
    spec = "Mon-Fri 09:00-17:00"
    now = utc(2025, 1, 8, 15)  # 10:00 in New York (EST), 15:00 UTC
    assert next_allowed(spec, NY, now) is None
    assert next_allowed(spec, "UTC", now) is None
    late = utc(2025, 1, 8, 21)  # 16:00 EST: open in NY, closed in UTC
    assert next_allowed(spec, NY, late) is None
    assert next_allowed(spec, "UTC", late) == utc(2025, 1, 9, 9)
    early = utc(2025, 1, 8, 10)  # 05:00 EST: closed in NY, open in UTC
    assert next_allowed(spec, NY, early) == utc(2025, 1, 8, 14)
    assert next_allowed(spec, "UTC", early) is None
    # Local Friday night in New York is already Saturday in UTC.
    assert next_allowed("Fri 20:00-23:00", NY, utc(2025, 1, 11, 2)) is None
    # An aware non-UTC 'now' works too.
    local = datetime(2025, 1, 8, 8, 0, tzinfo=ZoneInfo(NY))
    assert next_allowed(spec, NY, local) == utc(2025, 1, 8, 14)


def test_dst_change_dates():
    spec = "Mon-Fri 09:00-17:00"
    # Spring forward on Sun 2025-03-09: Friday 09:00 is EST (14:00 UTC), Monday EDT (13:00).
    assert next_allowed(spec, NY, utc(2025, 3, 7, 12)) == utc(2025, 3, 7, 14)
    assert next_allowed(spec, NY, utc(2025, 3, 8, 12)) == utc(2025, 3, 10, 13)
    # Fall back on Sun 2025-11-02: back to 14:00 UTC on Monday.
    assert next_allowed(spec, NY, utc(2025, 11, 1, 12)) == utc(2025, 11, 3, 14)
    # A window across the spring-forward night lasts one hour less in real time.
    overnight = "Sat 22:00-06:00"
    assert next_allowed(overnight, NY, utc(2025, 3, 9, 9, 59)) is None  # 05:59 EDT
    assert next_allowed(overnight, NY, utc(2025, 3, 9, 10)) == utc(2025, 3, 16, 2)  # 06:00 EDT
    # A start inside the gap (02:30 does not exist) opens at 03:30 EDT.
    assert next_allowed("Sun 02:30-04:00", NY, utc(2025, 3, 9, 6)) == utc(2025, 3, 9, 7, 30)


def test_next_allowed_is_within_eight_days_and_utc():
    result = next_allowed("Tue 09:00-10:00", "Asia/Tokyo", utc(2025, 1, 7, 1, 30))  # 10:30 JST
    assert result is not None
    assert result.tzinfo is UTC
    assert result == utc(2025, 1, 14, 0)
    assert result - utc(2025, 1, 7, 1, 30) < timedelta(days=8)


def test_next_allowed_errors():
    with pytest.raises(ValueError, match="aware"):
        next_allowed("Mon 09:00-10:00", NY, datetime(2025, 1, 1, 9))
    with pytest.raises(ScheduleError, match="Unknown timezone"):
        next_allowed("Mon 09:00-10:00", "Mars/Olympus", utc(2025, 1, 1))
    with pytest.raises(ScheduleError):
        next_allowed("Mon 9-10", NY, utc(2025, 1, 1))
