"""Sandboxed templates for automations: ApiCall endpoints, headers and bodies.

Placeholders are plain Jinja2 (AnswerPal's style): `{{endUser.customerNumber}}`,
`{{ticket.status}}`, `{{ contact.email|lower }}`, `{% if ticket.priority %}...{% endif %}`.

    render("/customers/{{endUser.customerNumber}}", context, mode="url")
    render('{"status": {{ ticket.status|tojson }}}', context)

Sandbox
    Jinja2's ImmutableSandboxedEnvironment: no attribute starting with `_` (so no
    `__class__`, `__globals__`, `_TemplateReference__context`), no mutation of lists,
    dicts or sets, `str.format` sandboxed. Where Jinja2 would hand back an "unsafe"
    undefined value, this sandbox raises at once, so a forbidden access can never render
    as an empty string. Rendering also runs on a plain copy of the context (dicts, lists,
    strings, numbers, booleans, None; dates, decimals and UUIDs become strings; anything
    else its `str()`), so a template never reaches a Python object's methods.

    Statements that buffer output outside the streamed result are not allowed:
    `{% macro %}`, `{% call %}`, `{% filter %}`, `{% set x %}...{% endset %}`,
    `{% block %}`, `{% extends %}`, `{% include %}`, `{% import %}` and recursive loops.
    Compile-time constant folding is off (it would run filters at save time).

Resource limits (UnsafeTemplate when exceeded, InvalidTemplate for the source's shape)
    - template source: MAX_TEMPLATE_CHARS (100 000);
    - nesting: brackets and block statements at most MAX_NESTING_DEPTH (20) deep, the
      parsed expression tree at most MAX_TREE_DEPTH (64) deep; anything that still
      exhausts the recursion limit, memory or Python's compiler limits while parsing or
      compiling is an InvalidTemplate too, never a RecursionError;
    - output: MAX_OUTPUT_CHARS (100 000), checked while streaming;
    - any intermediate value (concatenation `~`, `+`, `*`, `%`, `**`, a filter's or a
      method's result): MAX_VALUE_CHARS (1 000 000) characters or items, 10 000 bits for
      integers; amplifying operations (`'x' * n`, `center`, `ljust`, `replace`,
      `indent`, `wordwrap`, `join`, `batch`, `slice`, printf/`format` widths) are
      estimated before they run;
    - `range()`: 100 000 items (the sandbox's own cap); loop iterations:
      MAX_LOOP_ITERATIONS (100 000) per render, all loops together;
    - wall time: RENDER_TIMEOUT_SECONDS (2 s), checked at every loop iteration, call,
      filter, operator and output chunk.

Missing values (decision)
    Default ("lenient"): a missing variable or attribute renders as an empty string,
    chains (`{{ a.b.c }}` with no `a` is empty too), is false in `{% if %}` and empty in
    a loop, and is `null` in `tojson`. It is never silent: every missing name that
    reached the output is logged at WARNING (names only, never values) and returned by
    `render_with_report()` so the caller can put it in the run's record. Arithmetic or
    calls on a missing value still fail with TemplateRenderError.
    `strict=True` uses StrictUndefined: any missing value is a TemplateRenderError.
    `mode="url"` is always strict (see below).

Names (save time)
    `unknown_variables(template, vocabulary)` reads the parsed template (not a render,
    which would see only the branches a sample takes) and names every variable, or
    attribute of a known variable, that the vocabulary lacks, with a "did you mean"
    when one is close; cadence steps and action definitions refuse those with a 400.
    The vocabularies live with their data (contacts.vocabulary, outreach.step_templates,
    automations.context); this module knows no domain names.

Modes
    "text": autoescape off (JSON and plain-text bodies, header values); None renders
    as an empty string.
    "url": every `{{ ... }}` result is percent-encoded as ONE path segment or query
    value (`urllib.parse.quote(value, safe="")`: `/`, `?`, `#`, `&`, `=`, `%`, `..` and
    spaces are encoded), so substituted data can never change the URL's structure;
    literal template text is left as written. A missing value or None is an error here
    (an empty path segment would silently address another resource).

Filters: Jinja2's built-ins, with `tojson` replaced by a plain `json.dumps` (not HTML-
escaped, `ensure_ascii=False`, optional `indent` up to 8) for JSON bodies:
`{"status": {{ ticket.status|tojson }}}`.

Errors (all TemplateError): InvalidTemplate (syntax, unknown filter, forbidden
statement; from `validate()` and `render()`), UnsafeTemplate (sandbox violation or
resource limit), TemplateRenderError (anything else at render time, e.g. a missing value
in strict mode). Messages are meant for the person who wrote the template.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import difflib
import enum
import functools
import json
import logging
import re
import string
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import jinja2
from jinja2 import nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import FILTERS
from jinja2.lexer import Token, TokenStream
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

logger = logging.getLogger(__name__)

MAX_TEMPLATE_CHARS = 100_000
MAX_OUTPUT_CHARS = 100_000
MAX_VALUE_CHARS = 1_000_000
MAX_INT_BITS = 10_000
MAX_LOOP_ITERATIONS = 100_000
MAX_CONTEXT_DEPTH = 32
# Nesting: brackets `( [ {` and block statements (`{% if %}`, `{% for %}`, ...) are
# counted on the token stream, before Jinja2's recursive parser sees them; the depth of
# the parsed tree (long operator or filter chains, `a if b else c if ...`) is checked
# before the recursive compiler passes. Python's own limits on the generated code
# (20 nested loops, 100 indentation levels, 200 parentheses) lie beyond both.
MAX_NESTING_DEPTH = 20
MAX_TREE_DEPTH = 64
RENDER_TIMEOUT_SECONDS = 2.0
MODES = ("text", "url")


# --- errors ---------------------------------------------------------------------------------
class TemplateError(Exception):
    """Base of every template problem; `str(exc)` is a message for the template's author."""


class InvalidTemplate(TemplateError):
    """The template does not compile (syntax, unknown filter, forbidden statement)."""

    def __init__(self, message: str, *, lineno: int | None = None) -> None:
        super().__init__(f"line {lineno}: {message}" if lineno else message)
        self.lineno = lineno


class UnsafeTemplate(TemplateError):
    """The sandbox refused something: a forbidden attribute or call, or a resource limit."""


class TemplateRenderError(TemplateError):
    """Rendering failed for an ordinary reason (missing value in strict mode, type error)."""


# --- per-render budget ----------------------------------------------------------------------
@dataclass
class _Budget:
    deadline: float
    iterations: int = 0
    missing: list[str] = field(default_factory=list)


_budget: contextvars.ContextVar[_Budget | None] = contextvars.ContextVar(
    "template_budget", default=None
)


def _tick() -> None:
    budget = _budget.get()
    if budget is not None and time.monotonic() > budget.deadline:
        raise UnsafeTemplate(f"The template took longer than {RENDER_TIMEOUT_SECONDS:g} s.")


def _note_missing(name: str) -> None:
    budget = _budget.get()
    if budget is not None and name not in budget.missing:
        budget.missing.append(name)


def _refuse_size(what: str) -> UnsafeTemplate:
    return UnsafeTemplate(f"{what} would exceed {MAX_VALUE_CHARS} characters or items.")


def _check_estimate(estimate: int, what: str = "A value") -> None:
    if estimate > MAX_VALUE_CHARS:
        raise _refuse_size(what)


def _check_value(value: Any, what: str = "A value") -> Any:
    if isinstance(value, str | list | tuple | dict | set | frozenset):
        if len(value) > MAX_VALUE_CHARS:
            raise _refuse_size(what)
    elif (
        isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS
    ):
        raise UnsafeTemplate(f"A number would exceed {MAX_INT_BITS} bits.")
    return value


def _as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return default


# printf-style: %[(key)][flags][width][.precision]type
_PRINTF_RE = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_printf(fmt: Any) -> None:
    if not isinstance(fmt, str):
        return
    for width, precision in _PRINTF_RE.findall(fmt):
        for number in (width, precision):
            if number == "*" or (number and int(number) > MAX_OUTPUT_CHARS):
                raise UnsafeTemplate("A format width or precision is too large.")


def _check_brace_format(fmt: str) -> None:
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError as exc:
        raise TemplateRenderError(f"Invalid format string: {exc}") from None
    for _literal, _field, spec, _conversion in parsed:
        if not spec:
            continue
        if "{" in spec:
            raise UnsafeTemplate("Nested format specifications are not allowed.")
        if any(int(n) > MAX_OUTPUT_CHARS for n in re.findall(r"\d+", spec)):
            raise UnsafeTemplate("A format width or precision is too large.")


# --- undefined values -----------------------------------------------------------------------
class LenientUndefined(jinja2.ChainableUndefined):
    """Missing values render as "" (and are recorded); attribute access chains."""

    __slots__ = ()

    def _path(self) -> str:
        return self._undefined_name or "value"

    def _chain(self, name: str) -> LenientUndefined:
        return type(self)(name=f"{self._path()}.{name}")

    def __getattr__(self, name: str) -> Any:
        if name[:2] == "__":
            raise AttributeError(name)
        return self._chain(name)

    def __getitem__(self, key: Any) -> LenientUndefined:
        return self._chain(str(key))

    def __str__(self) -> str:
        _note_missing(self._path())
        return ""

    def __iter__(self) -> Iterator[Any]:
        _note_missing(self._path())
        return iter(())


def _is_undefined(value: Any) -> bool:
    return isinstance(value, jinja2.Undefined)


# --- guarded filters ------------------------------------------------------------------------
def _string_length(value: Any) -> int:
    return len(value) if isinstance(value, str) else len(str(value))


def _guard_center(original: Callable) -> Callable:
    def center(value: Any, width: int = 80) -> str:
        _check_estimate(_as_int(width), "center()")
        return original(value, width)

    return center


def _guard_indent(original: Callable) -> Callable:
    def indent(s: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
        pad = len(width) if isinstance(width, str) else _as_int(width)
        text = str(s)
        _check_estimate(len(text) + (text.count("\n") + 1) * pad, "indent()")
        return original(s, width, first, blank)

    return indent


def _guard_format(original: Callable) -> Callable:
    def format_(value: Any, *args: Any, **kwargs: Any) -> str:
        _check_printf(value)
        return original(value, *args, **kwargs)

    return format_


def _replace_estimate(s: str, old: Any, new: Any, count: Any = None) -> int:
    old, new = str(old), str(new)
    occurrences = s.count(old) if old else len(s) + 1
    if count is not None and _as_int(count, -1) >= 0:
        occurrences = min(occurrences, _as_int(count))
    return len(s) + occurrences * max(0, len(new) - len(old))


def _guard_replace(original: Callable) -> Callable:
    @functools.wraps(original)
    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> str:
        _check_estimate(_replace_estimate(str(s), old, new, count), "replace()")
        return original(eval_ctx, s, old, new, count)

    return replace


def _guard_wordwrap(original: Callable) -> Callable:
    @functools.wraps(original)
    def wordwrap(environment: Any, s: Any, width: int = 79, *args: Any, **kwargs: Any) -> str:
        wrapstring = kwargs.get("wrapstring") or (args[1] if len(args) > 1 else None)
        sep = len(str(wrapstring)) if wrapstring else 1
        if _as_int(width) < 1:
            raise TemplateRenderError("wordwrap() needs a positive width.")
        _check_estimate(_string_length(s) * (1 + sep), "wordwrap()")
        return original(environment, s, width, *args, **kwargs)

    return wordwrap


def _guard_join(original: Callable) -> Callable:
    @functools.wraps(original)
    def join(eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None) -> str:
        items = list(value)
        _check_value(items, "join()")
        if attribute is None:
            total = sum(_string_length(i) for i in items)
            _check_estimate(total + len(str(d)) * max(0, len(items) - 1), "join()")
        return original(eval_ctx, items, d, attribute)

    return join


def _guard_count_arg(original: Callable, name: str) -> Callable:
    def guarded(value: Any, count: int, *args: Any, **kwargs: Any) -> Any:
        _check_estimate(_as_int(count), f"{name}()")
        return original(value, count, *args, **kwargs)

    return guarded


def _json_default(value: Any) -> Any:
    if _is_undefined(value):
        if isinstance(value, jinja2.StrictUndefined):
            value._fail_with_undefined_error()
        _note_missing(value._undefined_name or "value")
        return None
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def tojson(value: Any, indent: int | None = None) -> str:
    """`json.dumps` for JSON bodies: valid JSON, not HTML-escaped, missing → null."""
    if indent is not None and not 0 <= _as_int(indent, -1) <= 8:
        raise TemplateRenderError("tojson(indent) must be between 0 and 8.")
    if _is_undefined(value):
        value = _json_default(value)
    return json.dumps(value, ensure_ascii=False, default=_json_default, indent=indent)


def _post_checked(original: Callable) -> Callable:
    """Every filter: a time check before, a size check after."""

    @functools.wraps(original)
    def checked(*args: Any, **kwargs: Any) -> Any:
        _tick()
        return _check_value(original(*args, **kwargs), "A filter's result")

    return checked


def _sandbox_loop(iterable: Any) -> Iterator[Any]:
    budget = _budget.get()
    for item in iterable:
        if budget is not None:
            budget.iterations += 1
            if budget.iterations > MAX_LOOP_ITERATIONS:
                raise UnsafeTemplate(f"The template ran more than {MAX_LOOP_ITERATIONS} loops.")
            if time.monotonic() > budget.deadline:
                raise UnsafeTemplate(f"The template took longer than {RENDER_TIMEOUT_SECONDS:g} s.")
        yield item


def _sandbox_cap(value: Any) -> Any:
    _tick()
    return _check_value(value, "A concatenation")


def _build_filters() -> dict[str, Callable]:
    filters = dict(FILTERS)
    filters["center"] = _guard_center(FILTERS["center"])
    filters["indent"] = _guard_indent(FILTERS["indent"])
    filters["format"] = _guard_format(FILTERS["format"])
    filters["replace"] = _guard_replace(FILTERS["replace"])
    filters["wordwrap"] = _guard_wordwrap(FILTERS["wordwrap"])
    filters["join"] = _guard_join(FILTERS["join"])
    filters["batch"] = _guard_count_arg(FILTERS["batch"], "batch")
    filters["slice"] = _guard_count_arg(FILTERS["slice"], "slice")
    filters["tojson"] = tojson
    filters = {name: _post_checked(f) for name, f in filters.items()}
    # Internal: inserted by _Hardener, not meant to be written by hand (harmless if so).
    filters["_sandbox_loop"] = _sandbox_loop
    filters["_sandbox_cap"] = _sandbox_cap
    return filters


# --- the environment ------------------------------------------------------------------------
_FORBIDDEN_NODES: dict[type, str] = {
    nodes.Macro: "{% macro %}",
    nodes.CallBlock: "{% call %}",
    nodes.FilterBlock: "{% filter %}",
    nodes.AssignBlock: "{% set %}...{% endset %}",
    nodes.Block: "{% block %}",
    nodes.Extends: "{% extends %}",
    nodes.Include: "{% include %}",
    nodes.Import: "{% import %}",
    nodes.FromImport: "{% from ... import %}",
}

_STR_WIDTH_METHODS = {"center", "ljust", "rjust", "zfill"}

# Statements with an end tag (`{% set %}` too when it has no `=`: the block form).
_BLOCK_TAGS = frozenset({"for", "if", "block", "macro", "call", "filter", "with", "autoescape"})
_OPENING_BRACKETS = frozenset({"lparen", "lbracket", "lbrace"})
_CLOSING_BRACKETS = frozenset({"rparen", "rbracket", "rbrace"})


def _too_deep(token: Token, name: str | None, what: str) -> jinja2.TemplateSyntaxError:
    return jinja2.TemplateSyntaxError(
        f"The template nests {what} more than {MAX_NESTING_DEPTH} levels deep.", token.lineno, name
    )


def _nesting_checked(stream: Iterable[Token], name: str | None) -> Iterator[Token]:
    """Passes the tokens through, refusing brackets or blocks nested too deep."""
    brackets = blocks = 0
    tag: str | None = None  # the statement being read, until its block_end
    tag_next = assigns = False
    for token in stream:
        kind = token.type
        if tag_next:
            tag_next = False
            tag = token.value if kind == "name" else None
            if tag in _BLOCK_TAGS:
                blocks += 1
            elif tag and tag.startswith("end"):
                blocks = max(0, blocks - 1)
        if kind in _OPENING_BRACKETS:
            brackets += 1
            if brackets > MAX_NESTING_DEPTH:
                raise _too_deep(token, name, "brackets")
        elif kind in _CLOSING_BRACKETS:
            brackets = max(0, brackets - 1)
        elif kind == "block_begin":
            tag_next, tag, assigns = True, None, False
        elif kind == "assign" and tag == "set":
            assigns = True
        elif kind == "block_end" and tag == "set" and not assigns:
            blocks += 1
        if blocks > MAX_NESTING_DEPTH:
            raise _too_deep(token, name, "blocks")
        yield token


def _check_tree_depth(tree: nodes.Node, name: str | None) -> None:
    """Iteratively (the point is not to recurse): the parsed tree's depth."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_TREE_DEPTH:
            raise jinja2.TemplateSyntaxError(
                f"The template's expressions are nested more than {MAX_TREE_DEPTH} levels "
                "deep (a very long chain of operators or filters?).",
                node.lineno,
                name,
            )
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())


class _Hardener(NodeTransformer):
    """Refuses buffering statements; routes loops and concatenations through guards."""

    def __init__(self, name: str | None) -> None:
        self.name = name

    def generic_visit(self, node: nodes.Node, *args: Any, **kwargs: Any) -> nodes.Node:
        for kind, label in _FORBIDDEN_NODES.items():
            if isinstance(node, kind):
                raise jinja2.TemplateSyntaxError(
                    f"{label} is not allowed in automation templates.", node.lineno, self.name
                )
        return super().generic_visit(node, *args, **kwargs)

    def visit_For(self, node: nodes.For) -> nodes.Node:
        if node.recursive:
            raise jinja2.TemplateSyntaxError(
                "Recursive loops are not allowed in automation templates.", node.lineno, self.name
            )
        node = self.generic_visit(node)
        node.iter = nodes.Filter(
            node.iter, "_sandbox_loop", [], [], None, None, lineno=node.iter.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        node = self.generic_visit(node)
        return nodes.Filter(node, "_sandbox_cap", [], [], None, None, lineno=node.lineno)


class AutomationEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, *, finalize: Callable[[Any], Any], undefined: type) -> None:
        super().__init__(
            autoescape=False,
            undefined=undefined,
            finalize=finalize,
            optimized=False,
            keep_trailing_newline=True,
            auto_reload=False,
            cache_size=0,
        )
        self.filters = _build_filters()
        self.globals.pop("lipsum", None)

    def _tokenize(
        self,
        source: str,
        name: str | None,
        filename: str | None = None,
        state: str | None = None,
    ) -> TokenStream:
        stream = super()._tokenize(source, name, filename, state)
        return TokenStream(_nesting_checked(stream, name), name, filename)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        _check_tree_depth(tree, name)
        tree = _Hardener(name).visit(tree)
        tree.set_environment(self)
        return tree

    # A name starting with "_" is refused even where Jinja2 would answer "undefined",
    # except as a key of a dict (context data such as {"_id": ...} is not an attribute).
    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(attribute, str) and attribute.startswith("_"):
            if isinstance(obj, dict) and attribute in obj:
                return obj[attribute]
            self.unsafe_undefined(obj, attribute)
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        if isinstance(argument, str) and argument.startswith("_"):
            if isinstance(obj, dict) and argument in obj:
                return obj[argument]
            self.unsafe_undefined(obj, argument)
        return super().getitem(obj, argument)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe."
        )

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            _check_brace_format(value.__self__)
        return wrapper

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and (right > MAX_INT_BITS or left.bit_length() * max(right, 0) > MAX_INT_BITS)
            ):
                raise UnsafeTemplate(f"A number would exceed {MAX_INT_BITS} bits.")
        elif operator == "*":
            for seq, count in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(count, int):
                    _check_estimate(len(seq) * count, "A repetition")
        elif operator == "%":
            _check_printf(left)
        result = super().call_binop(context, operator, left, right)
        return _check_value(result, "An operation's result")

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _tick()
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            method = getattr(__obj, "__name__", "")
            if method in _STR_WIDTH_METHODS and args:
                _check_estimate(_as_int(args[0]), f"str.{method}()")
            elif method == "expandtabs":
                size = _as_int(args[0] if args else kwargs.get("tabsize", 8))
                _check_estimate(len(owner) + owner.count("\t") * size, "str.expandtabs()")
            elif method == "replace" and len(args) >= 2:
                _check_estimate(_replace_estimate(owner, *args[:3]), "str.replace()")
            elif method == "join" and args:
                items = list(args[0])
                _check_value(items, "str.join()")
                total = sum(_string_length(i) for i in items)
                _check_estimate(total + len(owner) * max(0, len(items) - 1), "str.join()")
                args = (items, *args[1:])
        result = super().call(__context, __obj, *args, **kwargs)
        return _check_value(result, "A call's result")


def _finalize_text(value: Any) -> Any:
    _tick()
    if value is None:
        return ""
    if _is_undefined(value):
        return str(value)  # "" and recorded, or an UndefinedError when strict
    return value


def _finalize_url(value: Any) -> str:
    _tick()
    if _is_undefined(value):
        str(value)  # strict: raises UndefinedError naming the value
        raise TemplateRenderError(f"{value._undefined_name or 'A value'!r} is undefined.")
    if value is None:
        raise TemplateRenderError("A value substituted into the URL is empty (None).")
    if isinstance(value, bool):
        value = "true" if value else "false"
    return quote(str(value), safe="")


@functools.cache
def _environment(mode: str, strict: bool) -> AutomationEnvironment:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if mode == "url":
        return AutomationEnvironment(finalize=_finalize_url, undefined=jinja2.StrictUndefined)
    undefined = jinja2.StrictUndefined if strict else LenientUndefined
    return AutomationEnvironment(finalize=_finalize_text, undefined=undefined)


@functools.lru_cache(maxsize=512)
def _compile(source: str, mode: str, strict: bool) -> jinja2.Template:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise InvalidTemplate(f"The template is longer than {MAX_TEMPLATE_CHARS} characters.")
    try:
        return _environment(mode, strict).from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise InvalidTemplate(exc.message or str(exc), lineno=exc.lineno) from None
    except SecurityError as exc:
        raise UnsafeTemplate(str(exc)) from None
    except (RecursionError, MemoryError, SyntaxError):
        # What the explicit caps above do not catch: Jinja2's parser and compiler
        # recurse, and Python refuses generated code nested past its own limits.
        raise InvalidTemplate(
            "The template is nested too deeply or is too complex to compile."
        ) from None


# --- context --------------------------------------------------------------------------------
def plain_context(value: Any, _depth: int = 0) -> Any:
    """A JSON-like copy of `value`: what templates are allowed to see."""
    if _depth > MAX_CONTEXT_DEPTH:
        raise TemplateRenderError(f"The context is nested deeper than {MAX_CONTEXT_DEPTH}.")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): plain_context(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain_context(v, _depth + 1) for v in value]
    if isinstance(value, enum.Enum):
        return plain_context(value.value, _depth + 1)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    return str(value)


# --- public API -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Rendered:
    text: str
    missing: tuple[str, ...]  # names that rendered empty (lenient mode)


def validate(template: str, *, mode: str = "text") -> None:
    """Save-time check: raises InvalidTemplate if `template` does not compile here."""
    _compile(template, mode, False)


def render_with_report(
    template: str, context: dict[str, Any] | None, *, mode: str = "text", strict: bool = False
) -> Rendered:
    compiled = _compile(template, mode, strict)
    budget = _Budget(deadline=time.monotonic() + RENDER_TIMEOUT_SECONDS)
    token = _budget.set(budget)
    try:
        variables = plain_context(context or {})
        pieces, size = [], 0
        for chunk in compiled.generate(variables):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise UnsafeTemplate(f"The output is longer than {MAX_OUTPUT_CHARS} characters.")
            _tick()
            pieces.append(chunk)
    except TemplateError:
        raise
    except SecurityError as exc:
        raise UnsafeTemplate(f"Forbidden by the sandbox: {exc}") from None
    except OverflowError as exc:  # sandbox range() cap, float overflow
        raise UnsafeTemplate(f"Forbidden by the sandbox: {exc}") from None
    except (RecursionError, MemoryError):
        raise UnsafeTemplate("The template needs too many resources.") from None
    except UndefinedError as exc:
        raise TemplateRenderError(f"Missing value: {exc.message}") from None
    except jinja2.TemplateError as exc:
        raise TemplateRenderError(exc.message or str(exc)) from None
    except Exception as exc:
        raise TemplateRenderError(f"{type(exc).__name__}: {exc}") from None
    finally:
        _budget.reset(token)
    if budget.missing:
        logger.warning("Template rendered missing values as empty: %s", ", ".join(budget.missing))
    return Rendered("".join(pieces), tuple(budget.missing))


def render(
    template: str, context: dict[str, Any] | None, *, mode: str = "text", strict: bool = False
) -> str:
    """Render `template` with `context` in the sandbox. See the module docstring."""
    return render_with_report(template, context, mode=mode, strict=strict).text


# --- vocabulary check -----------------------------------------------------------------------
# What a kind of template may name: each variable's attributes, nested; None where anything
# goes below (a string's methods, a list, an object whose keys are data: custom properties,
# tool arguments). The vocabularies themselves live with the data they describe
# (contacts.vocabulary, outreach.step_templates, automations.context); this checks only.
Vocabulary = Mapping[str, "Vocabulary | None"]

# Writing `x | default(...)` or `x is defined` says "this may be missing": an unknown
# attribute so guarded is accepted (variables themselves are a closed list).
_GUARD_FILTERS = frozenset({"default", "d"})
_GUARD_TESTS = frozenset({"defined", "undefined"})
# A dict's own methods, when called: `{% for k, v in endUser.items() %}`.
_MAPPING_METHODS = frozenset({"items", "keys", "values", "get"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class _NameUse:
    path: tuple[str | int, ...]  # ("contact", "firstname"); ints are constant indexes
    guarded: bool
    called: bool


def _display(path: Sequence[str | int]) -> str:
    text = str(path[0])
    for segment in path[1:]:
        if isinstance(segment, str) and _IDENTIFIER.match(segment):
            text += f".{segment}"
        else:
            text += f"[{segment!r}]"
    return text


def _chain_child(node: nodes.Node) -> nodes.Node | None:
    """The object `node` takes an attribute or a constant key of, if it does."""
    if isinstance(node, nodes.Getattr):
        return node.node
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str | int)
        and not isinstance(node.arg.value, bool)
    ):
        return node.node
    return None


def _chain_path(node: nodes.Node) -> tuple[str | int, ...] | None:
    """("contact", "firstname") for `contact.firstname` / `contact['firstname']`; None
    when the chain does not start at a variable (a literal, a call's result...)."""
    segments: list[str | int] = []
    while True:
        child = _chain_child(node)
        if child is None:
            break
        segments.append(node.attr if isinstance(node, nodes.Getattr) else node.arg.value)
        node = child
    if not isinstance(node, nodes.Name) or node.ctx != "load":
        return None
    return (node.name, *reversed(segments))


@functools.lru_cache(maxsize=512)
def _names_used(source: str, mode: str) -> tuple[tuple[_NameUse, ...], frozenset[str]]:
    """Every variable chain the template reads (outermost chains only), and the names
    it assigns itself (loop targets, `{% set %}`, `{% with %}`)."""
    _compile(source, mode, False)  # InvalidTemplate / UnsafeTemplate first, with the caps
    tree = _environment(mode, False).parse(source)
    uses: list[_NameUse] = []
    local: set[str] = {"loop"}
    # Iteratively, with each node's parent: the tree is at most MAX_TREE_DEPTH deep, but
    # there is no need to recurse.
    stack: list[tuple[nodes.Node, nodes.Node | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        stack.extend((child, node) for child in reversed(list(node.iter_child_nodes())))
        if isinstance(node, nodes.Name) and node.ctx in ("store", "param"):
            local.add(node.name)
            continue
        if parent is not None and _chain_child(parent) is node:
            continue  # part of a longer chain, checked with it
        path = _chain_path(node)
        if path is None:
            continue
        applied_to = getattr(parent, "node", None) is node  # `node | f`, `node is t`, `node()`
        guarded = applied_to and (
            (isinstance(parent, nodes.Filter) and parent.name in _GUARD_FILTERS)
            or (isinstance(parent, nodes.Test) and parent.name in _GUARD_TESTS)
        )
        called = applied_to and isinstance(parent, nodes.Call)
        uses.append(_NameUse(path, guarded, called))
    return tuple(uses), frozenset(local)


def _suggestion(name: str, known: Iterable[str]) -> str | None:
    """The known name `name` is most likely a typo of, if any."""
    candidates = [k for k in known if isinstance(k, str)]
    squashed: dict[str, str] = {}
    for k in candidates:  # the first spelling wins: vocabularies list canonical names first
        squashed.setdefault(k.lower().replace("_", ""), k)
    exact = squashed.get(name.lower().replace("_", ""))
    if exact is not None:
        return exact
    close = difflib.get_close_matches(name.lower(), [k.lower() for k in candidates], n=1)
    if not close:
        return None
    return next(k for k in candidates if k.lower() == close[0])


def _unknown_part(
    use: _NameUse, vocabulary: Vocabulary, guarded: frozenset[tuple[str | int, ...]]
) -> tuple[int, str | None] | None:
    """(how many segments of the path are fine, a suggestion) when the path is unknown.
    A path the template guards anywhere (`{% if x.y is defined %}...{{ x.y }}`) is fine
    everywhere in it."""
    root = use.path[0]
    if root not in vocabulary:
        return 0, _suggestion(str(root), vocabulary)
    node = vocabulary[root]
    for index, segment in enumerate(use.path[1:], start=1):
        if node is None or isinstance(segment, int):
            return None  # anything goes below, or an index into a list
        if segment in node:
            node = node[segment]
            continue
        last = index == len(use.path) - 1
        if use.called and last and segment in _MAPPING_METHODS:
            return None
        if any(use.path[: end + 1] in guarded for end in range(index, len(use.path))):
            return None
        return index, _suggestion(str(segment), node)
    return None


def unknown_variables(template: str, vocabulary: Vocabulary, *, mode: str = "text") -> list[str]:
    """Messages naming each variable (or attribute of a known variable) that `template`
    reads and `vocabulary` does not know, e.g. "Unknown variable 'contact.frist_name'
    (did you mean 'contact.firstname'?)."; [] when it names only known ones.

    The save-time check: rendering cannot find these (a missing value renders empty, and
    only in the branches a sample takes). Names the template assigns itself (loop
    variables, `{% set %}`) and the sandbox's globals (`range`, `dict`, `cycler`,
    `joiner`, `namespace`) are not checked, nor names starting with "_" (the sandbox
    refuses those). An attribute guarded by `| default(...)` or `is defined` may be
    unknown: the template says it may be missing. Raises InvalidTemplate / UnsafeTemplate
    like `validate()`."""
    uses, local = _names_used(template, mode)
    skip = local | set(_environment(mode, False).globals)
    guarded = frozenset(use.path for use in uses if use.guarded)
    messages: list[str] = []
    for use in uses:
        if use.path[0] in skip or any(str(s).startswith("_") for s in use.path):
            continue
        unknown = _unknown_part(use, vocabulary, guarded)
        if unknown is None:
            continue
        known_part, suggestion = unknown
        shown = _display(use.path[: known_part + 1])
        message = f"Unknown variable '{shown}'"
        if suggestion is not None:
            message += f" (did you mean '{_display((*use.path[:known_part], suggestion))}'?)"
        elif known_part == 0:
            message += f" (known: {', '.join(sorted(vocabulary))})"
        message += "."
        if message not in messages:
            messages.append(message)
    return messages
