"""Topic detection by keywords and regex patterns (automations/topics.py)."""

from __future__ import annotations

import logging
import re
import sys
from dataclasses import dataclass, field

import pytest
import re2

from automations import topics as topics_module
from automations.topics import (
    MAX_TEXT_CHARS,
    PatternError,
    best_topic,
    compile_pattern,
    detect_topics,
    topic_score,
)


@dataclass
class T:
    name: str
    keywords: list = field(default_factory=list)
    patterns: list = field(default_factory=list)
    is_active: bool = True


def names(found):
    return [t.name for t in found]


def test_keyword_is_whole_word_and_case_insensitive():
    billing = T("Billing", keywords=["invoice"])
    assert names(detect_topics([billing], "Where is Invoice #42?")) == ["Billing"]
    assert names(detect_topics([billing], "(invoice)")) == ["Billing"]
    assert names(detect_topics([billing], "INVOICE")) == ["Billing"]
    # Whole words only: plurals and compounds do not match.
    assert detect_topics([billing], "three invoices") == []
    assert detect_topics([billing], "reinvoice please") == []
    assert detect_topics([billing], "invoice_id") == []


def test_keyword_unicode_boundaries():
    topic = T("Cafe", keywords=["café"])
    assert names(detect_topics([topic], "Le CAFÉ est fermé")) == ["Cafe"]
    assert detect_topics([topic], "cafés") == []
    assert detect_topics([topic], "écafé") == []


def test_phrase_keywords_and_escaping():
    topic = T("Cards", keywords=["credit card", "c++", "a.b"])
    assert names(detect_topics([topic], "my Credit   Card was declined")) == ["Cards"]
    assert names(detect_topics([topic], "I write C++ code")) == ["Cards"]
    assert detect_topics([topic], "creditcard") == []
    assert detect_topics([topic], "axb") == []  # '.' is literal
    assert names(detect_topics([topic], "see a.b now")) == ["Cards"]


def test_blank_and_non_string_rules_ignored():
    topic = T("X", keywords=["", "   ", None, 5], patterns=["", None])
    assert detect_topics([topic], "anything at all") == []


def test_regex_patterns():
    orders = T("Orders", patterns=[r"\border\s*#?\d{4,}\b"])
    assert names(detect_topics([orders], "About ORDER #12345")) == ["Orders"]
    assert detect_topics([orders], "order #12") == []


def test_invalid_pattern_is_skipped():
    topic = T("Broken", patterns=["(unclosed", r"refund"])
    assert names(detect_topics([topic], "I want a refund")) == ["Broken"]
    assert detect_topics([T("Only broken", patterns=["[a-"])], "a-z") == []


def test_inactive_topics_ignored():
    active = T("Active", keywords=["refund"])
    inactive = T("Inactive", keywords=["refund"], is_active=False)
    assert names(detect_topics([inactive, active], "refund please")) == ["Active"]


def test_ordering_by_match_count_then_name():
    text = "refund refund invoice, shipping delay; where is my parcel? refund"
    refunds = T("Refunds", keywords=["refund"])  # 3
    billing = T("billing", keywords=["invoice", "refund"])  # 1 + 3 = 4
    shipping = T("Shipping", keywords=["shipping"], patterns=[r"parcel|delay"])  # 1 + 2 = 3
    alpha = T("Alpha", keywords=["where"])  # 1
    zulu = T("Zulu", keywords=["my"])  # 1
    none = T("None", keywords=["cancel"])
    found = detect_topics([zulu, none, shipping, alpha, refunds, billing], text)
    assert names(found) == ["billing", "Refunds", "Shipping", "Alpha", "Zulu"]
    assert best_topic([zulu, none, shipping, alpha, refunds, billing], text) is billing


def test_best_topic_none_and_empty_text():
    topic = T("Billing", keywords=["invoice"])
    assert best_topic([topic], "hello") is None
    assert best_topic([topic], "") is None
    assert detect_topics([topic], None) == []
    assert best_topic([], "invoice") is None


def test_text_is_capped():
    topic = T("Late", keywords=["needle"])
    assert detect_topics([topic], "x " * MAX_TEXT_CHARS + "needle") == []
    assert names(detect_topics([topic], "needle " + "x " * MAX_TEXT_CHARS)) == ["Late"]


def test_a_catastrophic_pattern_finishes_on_re2():
    # (a+)+$ backtracks exponentially on Python's re (26 a's took 4.8 s); RE2 is linear,
    # so 5,000 a's and a "!" at the full text cap simply finish.
    topic = T("Evil", patterns=[r"(a+)+$"])
    assert detect_topics([topic], "a" * 5000 + "!") == []
    assert names(detect_topics([topic], "a" * 5000)) == ["Evil"]
    assert type(topics_module._pattern_regex(r"(a+)+$")).__module__ == "re2"
    assert type(topics_module._keyword_regex("invoice")).__module__ == "re2"


@pytest.mark.parametrize(
    "pattern",
    [r"(a)\1", r"(?P<x>a)(?P=x)", r"(?=a)", r"(?!a)b", r"(?<=a)b", r"(?<!a)b", r"a\Z", "\ud800"],
)
def test_patterns_re2_cannot_run_are_refused(pattern):
    with pytest.raises(PatternError, match="Not a valid regular expression"):
        compile_pattern(pattern)


def test_a_stored_pattern_that_no_longer_compiles_is_skipped_with_a_warning(caplog):
    topics_module._pattern_regex.cache_clear()  # the warning comes with the compile
    topic = T("Old", patterns=[r"(?<!re)fund", r"refund"])
    with caplog.at_level(logging.WARNING, logger="automations.topics"):
        assert names(detect_topics([topic], "a refund please")) == ["Old"]
    assert "Skipping invalid topic pattern '(?<!re)fund'" in caplog.text


def test_patterns_match_case_insensitively_with_re2_syntax():
    topic = T("Orders", patterns=[r"(?P<kind>order|invoice)\s*#?\d{4,}\z"])
    assert names(detect_topics([topic], "see INVOICE #20240")) == ["Orders"]
    assert detect_topics([topic], "see INVOICE #20240 now") == []


def _python_keyword_hits(keyword: str, text: str) -> int:
    """What the lookbehind regex this module used before RE2 counted."""
    body = r"\s+".join(re.escape(word) for word in keyword.split())
    return len(re.findall(rf"(?<!\w){body}(?!\w)", text, re.IGNORECASE))


@pytest.mark.parametrize(
    ("keyword", "text"),
    [
        ("refund", "refund refund, REFUND; refunds re-refund _refund refund_ refund"),
        ("a-a", "xa-a-a a-a-a a-a"),  # a rejected start overlaps a later whole-word match
        ("(x)", "(x)(x) (x)y"),
        ("c++", "c++c++ c++ xc++ c++_"),
        ("credit card", "credit\u00a0card credit\u2003\u2003card credit\x1ccard credit\tcard"),
        ("café", "café CAFÉ cafés écafé café_ 1café (café)"),
        ("naïve", "naïveté NAÏVE naïve"),
        ("東京", "東京 東京都 の東京 東京。"),
        ("x", "x\x00x xx x"),
        ("a", "a" * 3000),  # 3,000 rejected starts, no hit
        ("a", "a " * 1500),  # more hits than a rule may count
    ],
)
def test_keyword_matching_counts_as_the_lookbehind_regex_did(keyword, text):
    topic = T("K", keywords=[keyword])
    assert topic_score(topic, text) == min(
        _python_keyword_hits(keyword, text), topics_module.MAX_HITS_PER_RULE
    )


def test_the_whitespace_class_is_pythons():
    everything = "".join(chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF)
    matched = set(re2.findall(topics_module.WHITESPACE_CLASS, everything))
    assert matched == {char for char in everything if char.isspace()}


def test_a_lone_surrogate_in_the_text_does_not_crash():
    topic = T("Billing", keywords=["invoice"], patterns=["refund"])
    assert names(detect_topics([topic], "\ud800 invoice")) == ["Billing"]


def test_detection_stops_scoring_when_the_budget_is_spent(monkeypatch, caplog):
    # A clock that jumps a second per reading: the budget is spent after the first rule.
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(topics_module.time, "monotonic", lambda: float(next(ticks)))
    monkeypatch.setattr(topics_module, "MATCH_BUDGET_SECONDS", 1.5)
    first = T("First", keywords=["refund", "invoice"])
    second = T("Second", keywords=["refund"])
    with caplog.at_level(logging.WARNING, logger="automations.topics"):
        found = detect_topics([first, second], "refund invoice")
    # "First" got through its first rule only, "Second" was never scored.
    assert names(found) == ["First"]
    assert "Topic detection stopped" in caplog.text
