"""Which of many literal trigger strings occur in a text, in one regex scan.

The detectors keep a cheap pre-check before each heavy pattern: a pattern runs only when one of
its trigger substrings occurs in the lowercased text. Testing each row's triggers with ``in``
costs a Python-level loop over hundreds of strings per text; :class:`TriggerSet` finds them all
at once with one compiled regex built as a trie (so at each position only the branch of the
current character is tried), searched again one character past each hit so overlapping triggers are all seen.

At one position the scan reports the longest trigger starting there; every shorter trigger
starting at the same position is a prefix of it, so each trigger carries the list of triggers
that are its prefixes and the result is exactly ``{t for t in triggers if t in text}``.

Examples
--------
>>> ts = TriggerSet(["ignore", "ignore all", "all rules", "dan"])
>>> sorted(ts.found("please ignore all rules"))
['all rules', 'ignore', 'ignore all']
>>> ts.found("nothing here")
frozenset()
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["TriggerSet"]


def _trie_pattern(words: list[str]) -> str:
    """A regex source matching the longest of ``words`` at a position (words non-empty)."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict) -> str:  # type: ignore[type-arg]
        ends = "" in node
        branches = [re.escape(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if ends else body

    return emit(trie)


class TriggerSet:
    """The literal ``triggers`` (lowercase), found together by :meth:`found`."""

    def __init__(self, triggers: Iterable[str]) -> None:
        self.triggers = sorted(set(triggers))
        source = _trie_pattern(self.triggers) if self.triggers else "(?!)"
        self.regex_ = re.compile(source)
        self.prefixes_ = {
            t: frozenset(p for p in self.triggers if t.startswith(p)) for t in self.triggers
        }

    def found(self, low: str) -> frozenset[str]:
        """The triggers that occur in ``low`` (already lowercased)."""
        search = self.regex_.search
        m = search(low)
        if m is None:
            return frozenset()
        hits = set()
        while m is not None:  # restart one past each hit, so overlapping triggers are seen
            hits.add(m.group())
            m = search(low, m.start() + 1)
        out: set[str] = set()
        for h in hits:
            out |= self.prefixes_[h]
        return frozenset(out)
