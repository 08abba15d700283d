"""Conditional rules (JSON Logic, `conditionalRules`) of action definitions.

``evaluate(rule, data)`` is a small hand-written interpreter of the JSON Logic
operators listed in ``OPERATORS`` (https://jsonlogic.com), with JavaScript's
coercions where the spec relies on them (``==``, ``<``, ``+``, ``cat``...). Nothing
is ever passed to ``eval``/``exec``. Deviations, chosen to stay JSON-friendly:
division or remainder by zero gives ``null`` instead of Infinity/NaN, ``min``/``max``
of nothing give ``null``, and numbers that are whole come back as ``int``.

A rule is checked before it runs: at most ``MAX_DEPTH`` nested levels and
``MAX_NODES`` nodes, only known operators, an operation is an object with exactly
one key. The iterating operators (``some``/``all``/``none``) also share a budget
of ``MAX_STEPS`` evaluations. Every failure raises ``RuleError``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 50
MAX_NODES = 2000
MAX_STEPS = 100_000
MAX_RULE_CHARS = 100_000


class RuleError(ValueError):
    """The rule is malformed, uses an unknown operator, or exceeds a limit."""


# ---------------------------------------------------------------------------
# JavaScript-style coercions
# ---------------------------------------------------------------------------

_JS_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?|Infinity)")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _norm(value: float | int) -> float | int:
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 2**53
    ):
        return int(value)
    return value


def to_number(value: Any) -> float | int:
    """JavaScript ``Number(value)``."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return int(value)
    if _is_number(value):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        if _JS_NUMBER.fullmatch(text):
            return _norm(float(text))
        return math.nan
    if isinstance(value, list):
        return to_number(to_js_string(value))
    return math.nan


def to_js_string(value: Any) -> str:
    """JavaScript ``String(value)``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        normed = _norm(value)
        return str(normed) if isinstance(normed, int) else repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join("" if item is None else to_js_string(item) for item in value)
    return "[object Object]"


def truthy(value: Any) -> bool:
    """JSON Logic truthiness: JavaScript's, except that an empty array is false."""
    if value is None or value is False:
        return False
    if isinstance(value, list):
        return len(value) > 0
    if isinstance(value, dict):
        return True
    if _is_number(value):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return bool(value)


def loose_equals(a: Any, b: Any) -> bool:
    """JavaScript ``==``."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) and isinstance(b, bool):
        return a == b
    if isinstance(a, bool):
        return loose_equals(int(a), b)
    if isinstance(b, bool):
        return loose_equals(a, int(b))
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if _is_number(a) and isinstance(b, str):
        return a == to_number(b)
    if isinstance(a, str) and _is_number(b):
        return to_number(a) == b
    if isinstance(a, list | dict) and isinstance(b, list | dict):
        return a is b
    if isinstance(a, list | dict):
        return loose_equals(to_js_string(a), b)
    if isinstance(b, list | dict):
        return loose_equals(a, to_js_string(b))
    return False


def strict_equals(a: Any, b: Any) -> bool:
    """JavaScript ``===``."""
    if _is_number(a) and _is_number(b):
        return a == b
    if type(a) is not type(b):
        return False
    if isinstance(a, list | dict):
        return a is b
    return a == b


def _less(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a < b
    return to_number(a) < to_number(b)


def _less_equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a <= b
    return to_number(a) <= to_number(b)


# ---------------------------------------------------------------------------
# Evaluation
# ---------------------------------------------------------------------------

_MISSING = object()


def _lookup(data: Any, path: Any) -> Any:
    if path is None or path == "" or path == []:
        return data
    key = to_js_string(path) if not isinstance(path, str) else path
    current = data
    for part in key.split("."):
        if isinstance(current, dict):
            if part not in current:
                return _MISSING
            current = current[part]
        elif isinstance(current, list | str):
            if not re.fullmatch(r"\d+", part):
                return _MISSING
            index = int(part)
            if index >= len(current):
                return _MISSING
            current = current[index]
        else:
            return _MISSING
    return current


class _Evaluator:
    def __init__(self) -> None:
        self.steps = 0

    def apply(self, rule: Any, data: Any) -> Any:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise RuleError(f"Rule evaluation exceeded {MAX_STEPS} steps.")
        if isinstance(rule, list):
            return [self.apply(item, data) for item in rule]
        if not isinstance(rule, dict):
            return rule
        ((op, raw_args),) = rule.items()
        args = raw_args if isinstance(raw_args, list) else [raw_args]
        lazy = _LAZY.get(op)
        if lazy is not None:
            return lazy(self, args, data)
        values = [self.apply(arg, data) for arg in args]
        if op == "var":
            return self.var(values, data)
        if op == "missing":
            return _missing(values, data)
        if op == "missing_some":
            return _missing_some(values, data)
        return _EAGER[op](*values)

    @staticmethod
    def var(values: list[Any], data: Any) -> Any:
        path = values[0] if values else None
        default = values[1] if len(values) > 1 else None
        found = _lookup(data, path)
        return default if found is _MISSING else found

    # Lazy operators -----------------------------------------------------

    def op_if(self, args: list[Any], data: Any) -> Any:
        i = 0
        while i < len(args) - 1:
            if truthy(self.apply(args[i], data)):
                return self.apply(args[i + 1], data)
            i += 2
        if i == len(args) - 1:
            return self.apply(args[i], data)
        return None

    def op_and(self, args: list[Any], data: Any) -> Any:
        result = None
        for arg in args:
            result = self.apply(arg, data)
            if not truthy(result):
                return result
        return result

    def op_or(self, args: list[Any], data: Any) -> Any:
        result = None
        for arg in args:
            result = self.apply(arg, data)
            if truthy(result):
                return result
        return result

    def _items(self, args: list[Any], data: Any) -> list[Any]:
        if len(args) != 2:
            raise RuleError("some/all/none take exactly two arguments: [array, rule].")
        items = self.apply(args[0], data)
        return items if isinstance(items, list) else []

    def op_some(self, args: list[Any], data: Any) -> bool:
        items = self._items(args, data)
        return any(truthy(self.apply(args[1], item)) for item in items)

    def op_all(self, args: list[Any], data: Any) -> bool:
        items = self._items(args, data)
        if not items:
            return False
        return all(truthy(self.apply(args[1], item)) for item in items)

    def op_none(self, args: list[Any], data: Any) -> bool:
        return not self.op_some(args, data)


def _missing(values: list[Any], data: Any) -> list[Any]:
    keys = values[0] if values and isinstance(values[0], list) else values
    out = []
    for key in keys:
        found = _lookup(data, key)
        if found is _MISSING or found is None or found == "":
            out.append(key)
    return out


def _missing_some(values: list[Any], data: Any) -> list[Any]:
    if len(values) != 2 or not isinstance(values[1], list):
        raise RuleError("missing_some takes [minimum, [keys...]].")
    need = to_number(values[0])
    missing = _missing(values[1], data)
    if len(values[1]) - len(missing) >= need:
        return []
    return missing


def _arith(values: list[Any]) -> list[float | int]:
    return [to_number(v) for v in values]


def _plus(*values: Any) -> Any:
    return _norm(math.fsum(_arith(list(values)))) if values else 0


def _times(*values: Any) -> Any:
    result: float | int = 1
    for number in _arith(list(values)):
        result *= number
    return _norm(result)


def _minus(*values: Any) -> Any:
    if len(values) == 1:
        return _norm(-to_number(values[0]))
    if len(values) < 2:
        raise RuleError("'-' takes one or two arguments.")
    return _norm(to_number(values[0]) - to_number(values[1]))


def _divide(a: Any = None, b: Any = None, *_rest: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0 or math.isnan(y):
        return None
    return _norm(x / y)


def _modulo(a: Any = None, b: Any = None, *_rest: Any) -> Any:
    x, y = to_number(a), to_number(b)
    if y == 0 or math.isnan(y):
        return None
    return _norm(math.fmod(x, y))


def _minmax(pick: Callable[..., Any]) -> Callable[..., Any]:
    def run(*values: Any) -> Any:
        numbers = _arith(list(values))
        if not numbers:
            return None
        if any(isinstance(n, float) and math.isnan(n) for n in numbers):
            return math.nan
        return _norm(pick(numbers))

    return run


def _merge(*values: Any) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if isinstance(value, list):
            out.extend(value)
        else:
            out.append(value)
    return out


def _in(a: Any = None, b: Any = None, *_rest: Any) -> bool:
    if isinstance(b, str):
        return to_js_string(a) in b
    if isinstance(b, list):
        return any(strict_equals(a, item) for item in b)
    return False


def _lt(a: Any = None, b: Any = None, c: Any = _MISSING, *_rest: Any) -> bool:
    if c is _MISSING:
        return _less(a, b)
    return _less(a, b) and _less(b, c)


def _le(a: Any = None, b: Any = None, c: Any = _MISSING, *_rest: Any) -> bool:
    if c is _MISSING:
        return _less_equal(a, b)
    return _less_equal(a, b) and _less_equal(b, c)


_EAGER: dict[str, Callable[..., Any]] = {
    "==": lambda a=None, b=None, *_: loose_equals(a, b),
    "===": lambda a=None, b=None, *_: strict_equals(a, b),
    "!=": lambda a=None, b=None, *_: not loose_equals(a, b),
    "!==": lambda a=None, b=None, *_: not strict_equals(a, b),
    "!": lambda a=None, *_: not truthy(a),
    "!!": lambda a=None, *_: truthy(a),
    ">": lambda a=None, b=None, *_: _less(b, a),
    ">=": lambda a=None, b=None, *_: _less_equal(b, a),
    "<": _lt,
    "<=": _le,
    "in": _in,
    "cat": lambda *values: "".join(to_js_string(v) for v in values),
    "+": _plus,
    "-": _minus,
    "*": _times,
    "/": _divide,
    "%": _modulo,
    "min": _minmax(min),
    "max": _minmax(max),
    "merge": _merge,
}
_LAZY: dict[str, Callable[[_Evaluator, list[Any], Any], Any]] = {
    "if": _Evaluator.op_if,
    "?:": _Evaluator.op_if,
    "and": _Evaluator.op_and,
    "or": _Evaluator.op_or,
    "some": _Evaluator.op_some,
    "all": _Evaluator.op_all,
    "none": _Evaluator.op_none,
}

OPERATORS = frozenset(_EAGER) | frozenset(_LAZY) | {"var", "missing", "missing_some"}


def check_rule(rule: Any) -> None:
    """Refuse unknown operators, malformed operations, and rules over the limits."""
    nodes = 0
    stack: list[tuple[Any, int]] = [(rule, 1)]
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise RuleError(f"Rule is too large (more than {MAX_NODES} nodes).")
        if depth > MAX_DEPTH:
            raise RuleError(f"Rule is nested too deeply (more than {MAX_DEPTH} levels).")
        if isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)
        elif isinstance(node, dict):
            if len(node) != 1:
                raise RuleError(
                    "An operation must be an object with exactly one key (the operator); "
                    f"got {len(node)} keys."
                )
            ((op, args),) = node.items()
            if op not in OPERATORS:
                raise RuleError(f"Unknown operator {op!r}.")
            if op in {"some", "all", "none"} and (not isinstance(args, list) or len(args) != 2):
                raise RuleError(f"{op!r} takes exactly two arguments: [array, rule].")
            stack.append((args, depth + 1))
        elif not (node is None or isinstance(node, str | bool | int | float)):
            raise RuleError(f"Unsupported value of type {type(node).__name__} in rule.")


def evaluate(rule: Any, data: Any = None) -> Any:
    """Evaluate a JSON Logic ``rule`` (already parsed) against ``data``."""
    check_rule(rule)
    try:
        return _Evaluator().apply(rule, data)
    except RecursionError as exc:  # pragma: no cover - depth is bounded by check_rule
        raise RuleError("Rule is nested too deeply.") from exc


def _parse(rules_json: str) -> Any:
    if len(rules_json) > MAX_RULE_CHARS:
        raise RuleError(f"Rule is too long (more than {MAX_RULE_CHARS} characters).")
    try:
        return json.loads(rules_json)
    except (ValueError, RecursionError) as exc:
        raise RuleError(f"Rule is not valid JSON: {exc}") from exc


def rule_passes(rules_json: str | None, data: dict) -> bool:
    """True when the rule is blank or evaluates truthy; RuleError when it is broken."""
    if rules_json is None or not rules_json.strip():
        return True
    rule = _parse(rules_json)
    if rule == {}:
        return True
    return truthy(evaluate(rule, data))


def validate_rules(rules_json: str | None) -> None:
    """Save-time check: valid JSON, known operators only, within limits."""
    if rules_json is None or not rules_json.strip():
        return
    rule = _parse(rules_json)
    if rule == {}:
        return
    check_rule(rule)
