"""Dataset items: what an evaluation runs over, checked one by one.

An item holds an ``input`` (required), the ``output`` an app gave (optional: an experiment
can produce its own), the ``expected_output``, the retrieved ``context`` (a string or a list
of passages) and ``metadata`` (a JSON object), and, for items taken from traces, the
``source_trace_id`` / ``source_span_id``. A bad item is reported with its index, field and
reason and never takes the good ones down (like scores).

Uploads are JSON Lines (one object a line) or CSV with a header row naming those fields
(``context`` and ``metadata`` cells may hold JSON).

Examples
--------
>>> good = validate_items([{"input": "2+2?", "expected_output": "4"}, {"output": "x"}])
>>> [r["input"] for r in good.items], [(r.index, r.field) for r in good.rejected]
(['2+2?'], [(1, 'input')])
>>> parse_upload(b'input,expected_output\\nhi,hello\\n', fmt="csv")[0]["expected_output"]
'hello'
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from mlwarden.errors import ValidationError, expected
from mlwarden.schema.batch import Rejection

__all__ = [
    "FIELDS",
    "MAX_ITEMS",
    "MAX_TEXT",
    "ItemBatch",
    "decode_item",
    "item_id",
    "parse_upload",
    "text_ok",
    "validate_items",
]

#: Longest input, output, expected output and context (characters).
MAX_TEXT = 100_000
#: Most items added in one request or upload.
MAX_ITEMS = 10_000
MAX_ID = 128
FIELDS = ("input", "output", "expected_output", "context", "metadata",
          "source_trace_id", "source_span_id", "id")  # fmt: skip
_TEXTS = ("input", "output", "expected_output")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class ItemBatch:
    """The good items as stored (dicts of :data:`FIELDS`, ``id`` set; ``context`` -- a JSON
    list of strings -- and ``metadata`` as JSON text or None) and the rejected ones."""

    items: list[dict[str, Any]]
    rejected: list[Rejection]


class _Bad(Exception):
    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason


def item_id(item: dict[str, Any]) -> str:
    """A stable id: the source span when there is one, else a hash of the input, context and
    expected output (the same example uploaded twice is one item)."""
    if item.get("source_span_id"):
        return f"span-{item['source_trace_id'] or ''}-{item['source_span_id']}"[:MAX_ID]
    key = orjson.dumps([item.get("input"), item.get("context"), item.get("expected_output")])
    return hashlib.sha256(key).hexdigest()[:24]


def decode_item(row: dict[str, Any]) -> dict[str, Any]:
    """A stored item with ``context`` as a list of strings (or None) and ``metadata`` as a
    dict (or None), as evaluators and prompt templates read it."""
    out = dict(row)
    out["context"] = orjson.loads(row["context"]) if row.get("context") else None
    out["metadata"] = orjson.loads(row["metadata"]) if row.get("metadata") else None
    return out


def _text(item: dict[str, Any], field: str, limit: int, *, required: bool = False) -> str | None:
    v = item.get(field)
    if v is None or (v == "" and not required):
        if required:
            raise _Bad(field, f"The {field!r} field is required.")
        return None
    if not isinstance(v, str) or (required and not v.strip()) or len(v) > limit:
        must = f"be a{' non-empty' if required else ''} string of at most {limit} characters"
        raise _Bad(field, expected("field", field, must, v if not isinstance(v, str) else v[:40]))
    if not text_ok(v):
        raise _Bad(field, expected("field", field, "be text (no NUL, no lone surrogate)", v[:40]))
    return v


def text_ok(v: str) -> bool:
    """Whether ``v`` can be stored as text: no NUL character, no unpaired surrogate (JSON
    allows ``"\\ud800"``; UTF-8 cannot hold it)."""
    return "\x00" not in v and not _SURROGATE.search(v)


def _context(v: Any) -> list[str] | None:
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return [v]
    ok = isinstance(v, list) and all(isinstance(p, str) and text_ok(p) for p in v)
    if not ok or sum(len(p) for p in v) > MAX_TEXT:
        must = f"be a string or a list of strings of at most {MAX_TEXT} characters in all"
        raise _Bad("context", expected("field", "context", must, str(v)[:40]))
    return list(v)


def _item(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise _Bad("", f"An item must be a JSON object. Got {type(raw).__name__} instead.")
    unknown = sorted(set(raw) - set(FIELDS))
    if unknown:
        must = f"be one of {', '.join(FIELDS)}"
        raise _Bad(unknown[0], expected("field name", unknown[0], must, unknown[0]))
    out: dict[str, Any] = {f: _text(raw, f, MAX_TEXT, required=f == "input") for f in _TEXTS}
    ctx = _context(raw.get("context"))
    out["context"] = orjson.dumps(ctx).decode() if ctx else None
    meta = raw.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise _Bad("metadata", expected("field", "metadata", "be a JSON object", str(meta)[:40]))
    try:
        out["metadata"] = orjson.dumps(meta).decode() if meta else None
    except orjson.JSONEncodeError:
        raise _Bad(
            "metadata", "The 'metadata' field must be JSON text (no lone surrogate)."
        ) from None
    for f in ("source_trace_id", "source_span_id"):
        out[f] = _text(raw, f, MAX_ID)
    out["id"] = _text(raw, "id", MAX_ID) or item_id(out)
    return out


def validate_items(raw: Sequence[Any]) -> ItemBatch:
    """Check each item of a request; the last item of an id sent twice wins."""
    if len(raw) > MAX_ITEMS:
        raise ValidationError(f"A request holds at most {MAX_ITEMS} items; got {len(raw)}.")
    good: dict[str, dict[str, Any]] = {}
    rejected: list[Rejection] = []
    for i, r in enumerate(raw):
        try:
            item = _item(r)
        except _Bad as bad:
            rejected.append(Rejection(i, bad.field, bad.reason, row=r))
            continue
        good.pop(item["id"], None)
        good[item["id"]] = item
    return ItemBatch(list(good.values()), rejected)


def _cell(field: str, v: str) -> Any:
    """A CSV cell: JSON for ``context`` (a list) and ``metadata`` (an object), else text."""
    if field in ("context", "metadata") and v.lstrip().startswith(("[", "{")):
        try:
            return orjson.loads(v)
        except orjson.JSONDecodeError:
            raise ValidationError(
                expected("CSV column", field, "hold valid JSON when it starts with [ or {", v[:40])
            ) from None
    return v


def parse_upload(body: bytes, *, fmt: Literal["jsonl", "csv"]) -> list[Any]:
    """The raw items of an upload (checked later by :func:`validate_items`)."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValidationError("An upload must be UTF-8 text.") from None
    if fmt == "jsonl":
        out: list[Any] = []
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise ValidationError(
                        f"Line {n} of the JSONL upload is not JSON: {exc}."
                    ) from None
        return out
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    if "input" not in header:
        raise ValidationError(expected("CSV header", "input", "be one of the columns", header))
    return [{k: _cell(k, v) for k, v in row.items() if k is not None and v is not None}
            for row in reader]  # fmt: skip
