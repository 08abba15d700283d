"""The sandbox (config.templating): the Jinja2 environment, its resource limits and
guarded filters, and rendering. The package docstring says what is allowed and why."""

from __future__ import annotations

import contextvars
import datetime as dt
import decimal
import enum
import functools
import json
import logging
import re
import string
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
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

from config.templating.errors import (
    InvalidTemplate,
    TemplateError,
    TemplateRenderError,
    UnsafeTemplate,
)

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


class SandboxEnvironment(ImmutableSandboxedEnvironment):
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
def sandbox_environment(mode: str, strict: bool) -> SandboxEnvironment:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if mode == "url":
        return SandboxEnvironment(finalize=_finalize_url, undefined=jinja2.StrictUndefined)
    undefined = jinja2.StrictUndefined if strict else LenientUndefined
    return SandboxEnvironment(finalize=_finalize_text, undefined=undefined)


@functools.lru_cache(maxsize=512)
def compile_template(source: str, mode: str, strict: bool) -> jinja2.Template:
    if len(source) > MAX_TEMPLATE_CHARS:
        raise InvalidTemplate(f"The template is longer than {MAX_TEMPLATE_CHARS} characters.")
    try:
        return sandbox_environment(mode, strict).from_string(source)
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
    compile_template(template, mode, False)


def render_with_report(
    template: str, context: dict[str, Any] | None, *, mode: str = "text", strict: bool = False
) -> Rendered:
    compiled = compile_template(template, mode, strict)
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
    """Render `template` with `context` in the sandbox. See config.templating's docstring."""
    return render_with_report(template, context, mode=mode, strict=strict).text
