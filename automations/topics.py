"""Topic detection: which active topics a message is about.

A topic matches when any of its rules matches the text:

- a **keyword** matches case-insensitively as a whole word or phrase: it must not be
  preceded or followed by a letter, digit or underscore (Unicode-aware), so
  ``invoice`` matches "Invoice #42" and "(invoice)" but not "invoices" or
  "reinvoice". Whitespace inside a phrase matches any run of whitespace
  ("credit  card" matches "credit card"). Keywords are escaped, never regexes.
- a **pattern** is a Python regular expression searched case-insensitively.
  Invalid patterns are skipped (and logged); staff forms should validate them.

Score = total non-overlapping occurrences over all keywords and patterns (each rule
counted at most ``MAX_HITS_PER_RULE`` times). Results: matching active topics by
score descending, then name (case-insensitive), then name.

Limitation: the standard ``re`` module has no match timeout (the ``regex`` module
is not installed), so a catastrophic pattern is contained only by searching at most
the first ``MAX_TEXT_CHARS`` characters of the text. Compiled rules are cached.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

MAX_TEXT_CHARS = 20_000
MAX_HITS_PER_RULE = 1000


@lru_cache(maxsize=4096)
def _keyword_regex(keyword: str) -> re.Pattern[str] | None:
    words = keyword.split()
    if not words:
        return None
    body = r"\s+".join(re.escape(word) for word in words)
    return re.compile(rf"(?<!\w){body}(?!\w)", re.IGNORECASE)


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    try:
        return re.compile(pattern, re.IGNORECASE)
    except (re.error, RecursionError, OverflowError) as exc:
        logger.warning("Skipping invalid topic pattern: %s", exc)
        return None


def _count(regex: re.Pattern[str] | None, text: str) -> int:
    if regex is None:
        return 0
    hits = 0
    for _ in regex.finditer(text):
        hits += 1
        if hits >= MAX_HITS_PER_RULE:
            break
    return hits


def topic_score(topic: Any, text: str) -> int:
    """Occurrences of the topic's keywords and patterns in ``text`` (already capped)."""
    score = 0
    for keyword in getattr(topic, "keywords", None) or []:
        if isinstance(keyword, str):
            score += _count(_keyword_regex(keyword.strip()), text)
    for pattern in getattr(topic, "patterns", None) or []:
        if isinstance(pattern, str):
            score += _count(_pattern_regex(pattern), text)
    return score


def detect_topics(topics: Iterable[Any], text: str | None) -> list[Any]:
    """Active topics matching ``text``, most matches first, then by name."""
    if not text:
        return []
    text = text[:MAX_TEXT_CHARS]
    scored = []
    for topic in topics:
        if not getattr(topic, "is_active", True):
            continue
        score = topic_score(topic, text)
        if score > 0:
            scored.append((score, topic))
    scored.sort(key=lambda item: (-item[0], str(item[1].name).casefold(), str(item[1].name)))
    return [topic for _, topic in scored]


def best_topic(topics: Iterable[Any], text: str | None) -> Any | None:
    """The best matching active topic, or None."""
    found = detect_topics(topics, text)
    return found[0] if found else None
