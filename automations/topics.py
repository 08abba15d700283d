"""Topic detection: which active topics a message is about.

A topic matches when any of its rules matches the text:

- a **keyword** matches case-insensitively as a whole word or phrase: it must not be
  preceded or followed by a letter, digit or underscore (Unicode-aware), so
  ``invoice`` matches "Invoice #42" and "(invoice)" but not "invoices" or
  "reinvoice". Whitespace inside a phrase matches any run of whitespace
  ("credit  card" matches "credit card"). Keywords are escaped, never regexes.
- a **pattern** is an RE2 regular expression (https://github.com/google/re2/wiki/Syntax)
  searched case-insensitively. RE2 runs in time linear in the text, whatever the
  pattern, so `(a+)+$` cannot backtrack catastrophically. What RE2 does not have is
  refused when a topic is saved (`check_pattern`): lookahead and lookbehind
  (`(?=…)`, `(?!…)`, `(?<=…)`, `(?<!…)`), backreferences (`\\1`, `(?P=name)`),
  possessive and atomic groups, `(?x)` verbose mode, `\\Z` (write `\\z`), and
  repetitions over 1000 or programs over ``PATTERN_MAX_MEM``. Note that RE2's `\\w`,
  `\\d`, `\\s` and `\\b` are ASCII; `\\pL`, `\\pN` and `[[:alpha:]]` are there for
  more. A stored pattern that no longer compiles is skipped with a warning.

Score = total non-overlapping occurrences over all keywords and patterns (each rule
counted at most ``MAX_HITS_PER_RULE`` times). Results: matching active topics by
score descending, then name (case-insensitive), then name.

Budget: only the first ``MAX_TEXT_CHARS`` characters are searched, and one message's
detection stops scoring once ``MATCH_BUDGET_SECONDS`` of wall time are spent (checked
between rules; one RE2 search is linear and bounded by the text cap), logging a
warning: the topics scored so far compete, the one being scored with the rules it got
through. So a flood of topics or rules cannot pin a worker.

Keywords are matched without lookbehind (RE2 has none): RE2 finds the phrase and the
boundaries are checked here, with Python's own idea of a word character
(``str.isalnum()`` or ``_``), so the semantics are those of ``(?<!\\w)…(?!\\w)``.
Compiled rules are cached per process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import re2

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
MAX_HITS_PER_RULE = 1000
MATCH_BUDGET_SECONDS = 0.5
# RE2's memory budget per compiled rule (program and DFA cache): bigger patterns are
# refused, and it bounds what the rule cache below can hold.
PATTERN_MAX_MEM = 1 << 20

RE2_HINT = (
    "Patterns use RE2 syntax: no lookahead or lookbehind, no backreferences, "
    r"\z instead of \Z."
)


class PatternError(ValueError):
    """A pattern RE2 cannot compile; ``str()`` says why, for the pattern's author."""


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.max_mem = PATTERN_MAX_MEM
    options.log_errors = False  # RE2 would print every refused pattern to stderr
    return options


# Python's ``\s`` (the characters of ``str.isspace()``) as an RE2 class: RE2's own
# ``\s`` is ASCII. tests/automations/test_topic_detection.py checks it is the same set.
WHITESPACE_CLASS = (
    r"[\x{9}-\x{d}\x{1c}-\x{20}\x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}-\x{2029}"
    r"\x{202f}\x{205f}\x{3000}]"
)
_SPACE_RUN = WHITESPACE_CLASS + "+"


def compile_pattern(pattern: str) -> Any:
    """The pattern compiled by RE2 as topic detection runs it (case-insensitive);
    raises PatternError when RE2 refuses it."""
    try:
        return re2.compile(pattern, _options())
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "refused"
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise PatternError(f"Not a valid regular expression ({reason}). {RE2_HINT}") from None
    except ValueError:  # a lone surrogate cannot be encoded as UTF-8
        raise PatternError("Not a valid regular expression (not valid Unicode).") from None


@lru_cache(maxsize=1024)
def _keyword_regex(keyword: str) -> Any | None:
    words = keyword.split()
    if not words:
        return None
    try:
        return re2.compile(_SPACE_RUN.join(re2.escape(word) for word in words), _options())
    except (re2.error, ValueError) as exc:
        logger.warning("Skipping topic keyword %r: %s", keyword[:100], exc)
        return None


@lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> Any | None:
    if not pattern:
        return None
    try:
        return compile_pattern(pattern)
    except PatternError as exc:
        # Stored before the rules tightened (or edited in the database): skip it.
        logger.warning("Skipping invalid topic pattern %r: %s", pattern[:100], exc)
        return None


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _char_before(data: bytes, index: int) -> str:
    start = index - 1
    while start > 0 and data[start] & 0xC0 == 0x80:  # UTF-8 continuation byte
        start -= 1
    return data[max(start, 0) : index].decode("utf-8", "replace")


def _char_after(data: bytes, index: int) -> str:
    end = index + 1
    while end < len(data) and data[end] & 0xC0 == 0x80:
        end += 1
    return data[index:end].decode("utf-8", "replace")


def _count_keyword(regex: Any, data: bytes) -> int:
    """Whole-word occurrences, as Python's ``(?<!\\w)keyword(?!\\w)`` would find them.
    Searches run on the UTF-8 bytes, encoded once per message."""
    hits, pos = 0, 0
    while hits < MAX_HITS_PER_RULE:
        match = regex.search(data, pos)
        if match is None:
            break
        start, end = match.span()
        if _is_word(_char_before(data, start)) or _is_word(_char_after(data, end)):
            # Not a whole word here; a later, overlapping start may still be one.
            pos = start + 1
            while pos < len(data) and data[pos] & 0xC0 == 0x80:
                pos += 1
            continue
        hits += 1
        pos = end
    return hits


def _count_pattern(regex: Any, text: str) -> int:
    hits = 0
    for _ in regex.finditer(text):
        hits += 1
        if hits >= MAX_HITS_PER_RULE:
            break
    return hits


def _score(topic: Any, text: str, data: bytes, deadline: float | None) -> tuple[int, bool]:
    """(score, finished): unfinished when the deadline passed before a rule."""
    score = 0
    for keyword in getattr(topic, "keywords", None) or []:
        if deadline is not None and time.monotonic() > deadline:
            return score, False
        if isinstance(keyword, str) and (regex := _keyword_regex(keyword.strip())) is not None:
            score += _count_keyword(regex, data)
    for pattern in getattr(topic, "patterns", None) or []:
        if deadline is not None and time.monotonic() > deadline:
            return score, False
        if isinstance(pattern, str) and (regex := _pattern_regex(pattern)) is not None:
            score += _count_pattern(regex, text)
    return score, True


def _prepared(text: str) -> tuple[str, bytes]:
    text = text[:MAX_TEXT_CHARS]
    try:
        return text, text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: RE2 only reads valid UTF-8
        data = text.encode("utf-8", "replace")
        return data.decode("utf-8"), data


def topic_score(topic: Any, text: str) -> int:
    """Occurrences of the topic's keywords and patterns in ``text`` (capped)."""
    text, data = _prepared(text)
    return _score(topic, text, data, None)[0]


def detect_topics(topics: Iterable[Any], text: str | None) -> list[Any]:
    """Active topics matching ``text``, most matches first, then by name."""
    if not text:
        return []
    text, data = _prepared(text)
    started = time.monotonic()
    deadline = started + MATCH_BUDGET_SECONDS
    scored = []
    for count, topic in enumerate(topics):
        if not getattr(topic, "is_active", True):
            continue
        score, finished = _score(topic, text, data, deadline)
        if score > 0:
            scored.append((score, topic))
        if not finished:
            logger.warning(
                "Topic detection stopped after %.2f s (budget %.2f s): %d topics scored, "
                "the rest skipped",
                time.monotonic() - started,
                MATCH_BUDGET_SECONDS,
                count,
            )
            break
    scored.sort(key=lambda item: (-item[0], str(item[1].name).casefold(), str(item[1].name)))
    return [topic for _, topic in scored]


def best_topic(topics: Iterable[Any], text: str | None) -> Any | None:
    """The best matching active topic, or None."""
    found = detect_topics(topics, text)
    return found[0] if found else None


def context_with_topic(context: Mapping[str, Any], topics: Iterable[Any]) -> tuple[Any, dict]:
    """The best matching active topic of a run context's message (subject and body),
    or None, and the context with `topic` set to it ({id, name}, or None)."""
    message = context.get("message") or {}
    topic = best_topic(topics, f"{message.get('subject', '')}\n{message.get('body', '')}")
    return topic, {**context, "topic": {"id": topic.pk, "name": topic.name} if topic else None}
