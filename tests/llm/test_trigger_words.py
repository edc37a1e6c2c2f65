"""TriggerSet finds exactly the triggers that ``in`` finds (the injection check's pre-check)."""

from __future__ import annotations

import json
from pathlib import Path

from mlwarden.stats.injection_patterns import CONTENT_PATTERNS, INJECTION_PATTERNS
from mlwarden.stats.trigger_words import TriggerSet

DEV = Path(__file__).parents[2] / "bench" / "data" / "llm_dev.jsonl"


def test_found_equals_substring_tests_on_the_dev_set() -> None:
    triggers = {t for row in [*INJECTION_PATTERNS, *CONTENT_PATTERNS] for t in row[3]}
    ts = TriggerSet(triggers)
    texts = [json.loads(line)["text"].lower() for line in DEV.read_text().splitlines() if line]
    assert len(texts) > 100
    for low in texts:
        assert ts.found(low) == {t for t in triggers if t in low}, low


def test_overlapping_and_nested_triggers() -> None:
    ts = TriggerSet(["ab", "abc", "bcd", "c", "xyz"])
    assert ts.found("abcd") == {"ab", "abc", "bcd", "c"}
    assert ts.found("ababab") == {"ab"}
    assert ts.found("") == frozenset()
    assert TriggerSet([]).found("anything") == frozenset()
