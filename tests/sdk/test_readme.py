"""The README's SDK section: its snippets are lines of the examples the tests run; its table of
environment variables is the one ``mlwarden.init`` reads."""

from __future__ import annotations

import re

from mlwarden.sdk import ENV

from .conftest import EXAMPLES, ROOT


def sdk_section() -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index("## Python SDK")
    return text[start : text.index("\n## ", start + 1)]


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_every_snippet_is_part_of_an_example() -> None:
    blocks = re.findall(r"```python\n(.*?)```", sdk_section(), flags=re.S)
    assert len(blocks) >= 5
    examples = {p.name: lines(p.read_text()) for p in EXAMPLES.glob("*.py")}
    for block in blocks:
        want = lines(block)
        found = [
            name
            for name, have in examples.items()
            if any(have[i : i + len(want)] == want for i in range(len(have)))
        ]
        assert found, f"this README snippet is in no example:\n{block}"


def test_environment_table_lists_what_init_reads() -> None:
    documented = re.findall(r"^\| `(MLWARDEN_[A-Z_]+)` \|", sdk_section(), flags=re.M)
    assert documented == list(ENV)
