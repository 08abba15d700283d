"""Topic detection by keywords and regex patterns (automations/topics.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from automations import topics as topics_module
from automations.topics import MAX_TEXT_CHARS, best_topic, detect_topics


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


def test_catastrophic_pattern_is_bounded_by_text_cap(monkeypatch):
    # (a+)+$ backtracks exponentially; with a small cap it still finishes quickly.
    monkeypatch.setattr(topics_module, "MAX_TEXT_CHARS", 16)
    topic = T("Evil", patterns=[r"(a+)+!"])
    started = time.monotonic()
    assert detect_topics([topic], "a" * 15 + "?" + "a" * 40 + "!") == []
    assert time.monotonic() - started < 2
