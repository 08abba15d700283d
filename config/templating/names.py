"""The save-time vocabulary check (config.templating): which names a template reads that
its vocabulary does not know, read from the parsed template rather than a render."""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from jinja2 import nodes

from config.templating.sandbox import compile_template, sandbox_environment

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
    compile_template(source, mode, False)  # InvalidTemplate / UnsafeTemplate first, with the caps
    tree = sandbox_environment(mode, False).parse(source)
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
    skip = local | set(sandbox_environment(mode, False).globals)
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
