"""Precision and recall of the offline LLM checks on a labelled set, and their throughput.

    python bench/llm_checks.py [--seconds 2] [--errors] [--set PATH ...]

Prints, per detector, the number of labelled examples (positives / hard
negatives), precision, recall, and then checks per second: each check alone on
short chat turns, and all the checks that ingest runs on one span (PII on the
prompt and the response, injection on the prompt, refusal on the response).
The labelled set is bench/llm_checks_data.py; ``--errors`` lists misclassified
examples and the known limits (positives the patterns are known to miss). A second,
smaller set (bench/llm_checks_blind.py) was written without reading the patterns; its
figures are printed apart.

``--set PATH`` (repeatable) scores labelled calls from a JSONL file instead, one object a
line: ``{"id": ..., "role": "user"|"system"|"tool"|"assistant", "text": ...,
"labels": {"injection": bool, "pii": bool, ...}, "pii_types": [...]}``. Injection is checked
as ingest checks a message of that role (assistant turns are not checked); PII on any role.
Per set it prints precision, recall, F1 and the confusion counts of each labelled detector,
and the recall per PII type. Without ``--set`` it runs the built-in sets and the development
set ``bench/data/llm_dev.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parent.parent / "src"))

from llm_checks_blind import BLIND  # noqa: E402
from llm_checks_data import (  # noqa: E402
    INJECTION_MESSAGES,
    KNOWN_LIMITS,
    LABELLED,
    Conversation,
    Example,
)
from mlwarden.stats.llm_checks import (  # noqa: E402
    check_json,
    detect_refusal,
    find_injection,
    find_pii,
)
from mlwarden.stats.prompt_injection import find_injection_in_messages  # noqa: E402

DEV_SET = Path(__file__).parent / "data" / "llm_dev.jsonl"


def detector(key: str) -> Callable[[str], bool]:
    """The labelled set's detector ``key`` as text -> fired."""
    if key == "injection":
        return lambda t: find_injection(t).flagged
    if key == "refusal":
        return lambda t: detect_refusal(t).flagged
    if key == "json":
        return lambda t: check_json(t).flagged
    if key == "pii":
        return lambda t: find_pii(t).flagged
    return lambda t: find_pii(t, types=[key]).flagged


def conversation_fires(messages: list[tuple[str, str]]) -> bool:
    """Injection in a conversation, every message checked as ingest checks it."""
    return find_injection_in_messages((role, 0, text) for role, text in messages).flagged


def score(
    examples: list[Example] | list[Conversation], fires: Callable[[Any], bool]
) -> dict[str, object]:
    tp = fp = fn = tn = 0
    errors = []
    for text, label in examples:
        got = fires(text)
        tp += got and label
        fp += got and not label
        fn += label and not got
        tn += not got and not label
        if got != label:
            errors.append((text, label))
    return {
        "n": len(examples),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
        "pos": tp + fn,
        "neg": fp + tn,
        "precision": tp / (tp + fp) if tp + fp else float("nan"),
        "recall": tp / (tp + fn) if tp + fn else float("nan"),
        "errors": errors,
    }


def f1(s: dict[str, object]) -> float:
    p, r = s["precision"], s["recall"]
    assert isinstance(p, float) and isinstance(r, float)
    return 2 * p * r / (p + r) if p + r else float("nan")


Record = dict[str, Any]


def load_set(path: Path) -> list[Record]:
    """The labelled calls of a JSONL file (blank lines and ``//`` comments skipped)."""
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        rec = json.loads(line)
        if not isinstance(rec.get("text"), str) or not isinstance(rec.get("labels"), dict):
            raise SystemExit(f"{path}:{n}: each line needs a 'text' string and a 'labels' object")
        out.append(rec)
    return out


def record_fires(key: str) -> Callable[[Record], bool]:
    """Detector ``key`` on one labelled call, as ingest runs it on a message of that role."""
    if key == "injection":
        return lambda r: conversation_fires([(r.get("role") or "user", r["text"])])
    fires = detector(key)
    return lambda r: fires(r["text"])


def score_records(records: list[Record], key: str) -> dict[str, object]:
    labelled = [(r, bool(r["labels"][key])) for r in records if r["labels"].get(key) is not None]
    fires = record_fires(key)
    s = score(labelled, fires)  # type: ignore[arg-type]
    s["errors"] = [
        (f"[{r.get('id', '?')} {r.get('role', 'user')}] {r['text']}", lab) for r, lab in s["errors"]
    ]  # type: ignore[attr-defined]
    return s


def set_report(path: Path, errors: bool) -> None:
    records = load_set(path)
    keys = sorted({k for r in records for k in r["labels"]}, key=lambda k: (k != "injection", k))
    known = [k for k in keys if k in ("injection", "pii", "refusal", "json")]
    print(f"\n{path} ({len(records)} calls)")
    print(
        f"{'detector':<18} {'n':>4} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4} "
        f"{'precision':>9} {'recall':>7} {'f1':>6}"
    )
    for key in known:
        s = score_records(records, key)
        print(
            f"{key:<18} {s['n']:>4} {s['tp']:>4} {s['fp']:>4} {s['fn']:>4} {s['tn']:>4} "
            f"{s['precision']:>9.3f} {s['recall']:>7.3f} {f1(s):>6.3f}"
        )
        if errors:
            for text, label in s["errors"]:  # type: ignore[attr-defined]
                print(f"    {'missed' if label else 'false alarm'}: {text[:110]!r}")
    by_type: dict[str, list[bool]] = {}
    for r in records:
        if r["labels"].get("pii"):
            got = find_pii(r["text"]).flagged
            for t in r.get("pii_types") or ["(untyped)"]:
                by_type.setdefault(t, []).append(got)
    if by_type:
        print(
            "  pii recall by labelled type: "
            + ", ".join(f"{t} {sum(v)}/{len(v)}" for t, v in sorted(by_type.items()))
        )


def evaluate(
    sets: dict[str, tuple[str, list[Example]]] = LABELLED,
) -> dict[str, dict[str, object]]:
    """Scores of every detector on a labelled set (the pattern author's by default)."""
    return {name: score(ex, detector(key)) for name, (key, ex) in sets.items()}


def table(scores: dict[str, dict[str, object]], errors: bool) -> None:
    print(f"{'detector':<18} {'n':>4} {'pos':>4} {'neg':>4} {'precision':>9} {'recall':>7}")
    for name, s in scores.items():
        print(
            f"{name:<18} {s['n']:>4} {s['pos']:>4} {s['neg']:>4} "
            f"{s['precision']:>9.3f} {s['recall']:>7.3f}"
        )
        if errors:
            for text, label in s["errors"]:  # type: ignore[attr-defined]
                print(f"    {'missed' if label else 'false alarm'}: {text[:90]!r}")


def throughput(seconds: float) -> list[tuple[str, float]]:
    turns = [t for _, (_, ex) in LABELLED.items() for t, _ in ex]
    prompt = (
        "system: You are a support assistant for Acme.\nuser: Hi, my order #415-555-0199 never "
        "arrived. Can you check? My email is jane.doe@example.com and the card ended 4242. "
        "Ignore the typos please, I'm typing on my phone. " * 3
    )
    response = (
        "I'm sorry to hear that. I found order 415-555-0199: it shipped on 2024-05-02 and is "
        "with the carrier. You will get an update at the address on file within 24 hours. " * 3
    )

    def one_span(_: str) -> None:
        find_pii(prompt)
        find_injection(prompt)
        find_pii(response)
        detect_refusal(response)

    cases: list[tuple[str, Callable[[str], object]]] = [
        ("pii (all types)", find_pii),
        ("injection", find_injection),
        ("refusal", detect_refusal),
        ("json", check_json),
        (f"spans/s: a span's 4 checks (~{len(prompt) + len(response)} chars)", one_span),
    ]
    out = []
    for name, fn in cases:
        n = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            for t in turns:
                fn(t)
            n += len(turns)
        out.append((name, n / (time.perf_counter() - start)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=2.0, help="time per throughput case")
    ap.add_argument("--errors", action="store_true", help="list misclassified examples")
    ap.add_argument(
        "--set",
        action="append",
        type=Path,
        default=[],
        metavar="PATH",
        help="a JSONL labelled set to score (repeatable); skips the built-in sets and throughput",
    )
    args = ap.parse_args()
    if args.set:
        for path in args.set:
            set_report(path, args.errors)
        return
    print("labelled set of the patterns' author (a regression floor)")
    table(evaluate(), args.errors)
    print("\nconversations: system prompts with retrieved text, tool results, role-play")
    table({"injection (messages)": score(INJECTION_MESSAGES, conversation_fires)}, args.errors)
    print("\nlabelled set written without reading the patterns (bench/llm_checks_blind.py)")
    table(evaluate(BLIND), args.errors)
    set_report(DEV_SET, args.errors)
    caught = [t for key, t in KNOWN_LIMITS if detector(key)(t)]
    print(f"\nknown limits (misses kept apart): {len(caught)} of {len(KNOWN_LIMITS)} caught")
    if args.errors:
        for key, text in KNOWN_LIMITS:
            mark = "caught" if detector(key)(text) else "missed"
            print(f"    {mark} {key}: {text[:90]!r}")
    print(f"\n{'throughput (1 core)':<48} {'checks/s':>10}")
    for name, rate in throughput(args.seconds):
        print(f"{name:<48} {rate:>10,.0f}")


if __name__ == "__main__":
    main()
