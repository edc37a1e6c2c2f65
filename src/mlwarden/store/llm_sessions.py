"""Sessions and users of an LLM app: lists with totals, one session's turns, a review queue.

A *turn* is one trace of the session (one request of the app: its LLM calls, tools,
retrievals); a session's turns are its traces in start order. User and session are the span
columns the store attributes by trace, so a call exported minutes after its root (or before
it) belongs to the root's session and user here as everywhere.

Examples
--------
>>> import ibis, pyarrow as pa
>>> from datetime import datetime
>>> from mlwarden.schema.genai import SPAN_SCHEMA
>>> rows = [{"trace_id": f"t{i}", "span_id": "a", "span_type": "llm", "user_id": "ann",
...          "session_id": "s1", "start_time": datetime(2026, 1, 1, 10, i),
...          "end_time": datetime(2026, 1, 1, 10, i, 2), "cost": 0.25, "input_tokens": 10,
...          "refusal": i == 1} for i in range(2)]
>>> t = ibis.memtable(pa.Table.from_pylist(rows, schema=SPAN_SCHEMA))
>>> page, n = sessions(t)
>>> (n, page[0]["session_id"], page[0]["turns"], page[0]["cost"], page[0]["flagged"])
(1, 's1', 2, 0.5, 1)
>>> users(t)[0]["user_id"], users(t)[0]["sessions"]
('ann', 1)
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from mlwarden._lazy import ibis
from mlwarden.errors import ValidationError, expected
from mlwarden.store.span_queries import FLAGS, any_flag, known_sum
from mlwarden.store.times import utc_naive

__all__ = [
    "QUEUE_MODES",
    "USER_SORTS",
    "last_user_turn",
    "review_queue",
    "session_turns",
    "sessions",
    "users",
]

#: Orders of :func:`review_queue`.
QUEUE_MODES = ("flagged", "unscored", "sampled")
#: ``sort`` of :func:`users` -> (column, descending).
USER_SORTS: dict[str, tuple[str, bool]] = {
    "cost": ("cost", True),
    "calls": ("calls", True),
    "tokens": ("tokens", True),
    "flagged": ("flagged", True),
    "sessions": ("sessions", True),
    "last_seen": ("last_seen", True),
    "user": ("user_id", False),
}
#: Most spans of one session read for its conversation.
MAX_SESSION_SPANS = 5000


def _ranged(t: Any, start: datetime | None, end: datetime | None) -> Any:
    if start is not None:
        t = t.filter(t.start_time >= utc_naive(start))
    if end is not None:
        t = t.filter(t.start_time < utc_naive(end))
    return t


def _totals(t: Any) -> dict[str, Any]:
    is_llm = (t.span_type == "llm").fill_null(False)
    return {
        "first_seen": t.start_time.min(),
        "last_seen": t.end_time.max(),
        "traces": t.trace_id.nunique(),
        "calls": is_llm.sum().fill_null(0),
        "errors": (t.status_code == "error").sum().fill_null(0),
        "flagged": any_flag(t).sum().fill_null(0),
        "input_tokens": t.input_tokens.sum(),
        "output_tokens": t.output_tokens.sum(),
        "cost": t.cost.sum().fill_null(0.0),
    }


def _ints(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for r in rows:
        for k, v in r.items():
            if k in ("traces", "calls", "errors", "flagged", "sessions", "turns", "scores",
                     "thumbs_up", "thumbs_down", "input_tokens", "output_tokens", "tokens"):  # fmt: skip
                r[k] = None if v is None else int(v)
    return rows


def sessions(
    spans: Any,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    user: str | None = None,
    flagged: bool | None = None,
    min_cost: float | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One page of the sessions active in ``[start, end)``, latest activity first, and how
    many match: per session its user, first and last time, turns (traces), LLM calls, errors,
    flagged calls, tokens (null: none reported) and cost. ``flagged``: only sessions with
    (without) a flagged call; ``min_cost``: only sessions that cost at least this."""
    t = _ranged(spans, start, end)
    t = t.filter(t.session_id.notnull())
    if user is not None:
        t = t.filter(t.user_id == user)
    agg = t.group_by("session_id").aggregate(user_id=t.user_id.max(), **_totals(t))
    if flagged is not None:
        agg = agg.filter(agg.flagged > 0) if flagged else agg.filter(agg.flagged == 0)
    if min_cost is not None:
        agg = agg.filter(agg.cost >= min_cost)
    total = int(agg.count().to_pyarrow().as_py())
    page = agg.order_by([ibis.desc("last_seen"), "session_id"]).limit(limit, offset=offset)
    rows = _ints(page.to_pyarrow().to_pylist())
    for r in rows:
        r["turns"] = r["traces"]
    return rows, total


def session_turns(spans: Any, session_id: str) -> list[dict[str, Any]]:
    """The turns of one session in start order: per trace its LLM calls (start order, each
    with prompt, response, tokens, cost, duration, time to first token and flags), its
    totals, the user's last message and the last answer. Empty when the session is unknown."""
    t = spans.filter(spans.session_id == session_id)
    rows: list[dict[str, Any]] = (
        t.order_by(["start_time", "trace_id", "span_id"])
        .limit(MAX_SESSION_SPANS)
        .to_pyarrow()
        .to_pylist()
    )
    turns: dict[str, dict[str, Any]] = {}
    for r in rows:
        turn = turns.setdefault(
            r["trace_id"],
            {
                "trace_id": r["trace_id"],
                "start": r["start_time"],
                "end": r["end_time"],
                "user_id": r["user_id"],
                "calls": [],
                "spans": 0,
                "errors": 0,
            },  # fmt: skip
        )
        turn["spans"] += 1
        turn["end"] = max(turn["end"], r["end_time"])
        turn["errors"] += r["status_code"] == "error"
        if r["span_type"] == "llm":
            r["flags"] = [f for f in FLAGS if f != "json_invalid" and r.get(f)] + (
                ["json_invalid"] if r["json_valid"] is False else []
            )
            turn["calls"].append(r)
    out = []
    for turn in turns.values():
        calls = turn["calls"]
        turn["duration_ms"] = (turn["end"] - turn["start"]).total_seconds() * 1000.0
        turn["input_tokens"] = known_sum(c["input_tokens"] for c in calls)
        turn["output_tokens"] = known_sum(c["output_tokens"] for c in calls)
        turn["cost"] = known_sum(c["cost"] for c in calls)
        turn["ttft_ms"] = next((c["ttft_ms"] for c in calls if c["ttft_ms"] is not None), None)
        turn["flags"] = sorted({f for c in calls for f in c["flags"]})
        turn["question"] = next((last_user_turn(c["prompt"]) for c in calls if c["prompt"]), None)
        turn["answer"] = next((c["response"] for c in reversed(calls) if c["response"]), None)
        out.append(turn)
    return out


_TURN = re.compile(r"^(system|user|assistant|tool|developer|function): ", re.MULTILINE)


def last_user_turn(prompt: str | None) -> str | None:
    """The text of the last ``user:`` message of a stored prompt (``role: text`` lines), or the
    whole prompt when it has none.

    Examples
    --------
    >>> last_user_turn("system: be brief\\nuser: hi\\nassistant: hello\\nuser: and Paris?\\nok")
    'and Paris?\\nok'
    >>> last_user_turn("just text")
    'just text'
    """
    if not prompt:
        return prompt
    heads = list(_TURN.finditer(prompt))
    for i in range(len(heads) - 1, -1, -1):
        if heads[i].group(1) == "user":
            stop = heads[i + 1].start() if i + 1 < len(heads) else len(prompt)
            return prompt[heads[i].end() : stop].rstrip("\n")
    return prompt


def users(
    spans: Any,
    scores: Any | None = None,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    search: str | None = None,
    flagged: bool | None = None,
    min_cost: float | None = None,
    sort: str = "cost",
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Per user active in ``[start, end)``: LLM calls, traces, sessions, tokens, cost, errors,
    flagged calls, first and last time, and (given ``scores``) the scores of their traces:
    how many, and boolean ones true (thumbs up) and false (thumbs down). ``search``: user ids
    containing it; ``sort``: one of :data:`USER_SORTS`."""
    if sort not in USER_SORTS:
        raise ValidationError(
            expected("parameter", "sort", f"be one of {', '.join(USER_SORTS)}", sort)
        )
    t = _ranged(spans, start, end)
    t = t.filter(t.user_id.notnull())
    if search:
        t = t.filter(t.user_id.contains(search))
    agg = t.group_by("user_id").aggregate(sessions=t.session_id.nunique(), **_totals(t))
    agg = agg.mutate(tokens=agg.input_tokens.fill_null(0) + agg.output_tokens.fill_null(0))
    if scores is not None:
        owner = t.select("trace_id", "user_id").distinct()
        s = scores.inner_join(owner, scores.trace_id == owner.trace_id)
        per = s.group_by(_u=s.user_id).aggregate(
            scores=s.count(),
            thumbs_up=((s.data_type == "boolean") & (s.value == 1.0)).sum().fill_null(0),
            thumbs_down=((s.data_type == "boolean") & (s.value == 0.0)).sum().fill_null(0),
        )
        agg = agg.left_join(per, agg.user_id == per._u).drop("_u")
        agg = agg.mutate(
            scores=agg.scores.fill_null(0),
            thumbs_up=agg.thumbs_up.fill_null(0),
            thumbs_down=agg.thumbs_down.fill_null(0),
        )
    if flagged is not None:
        agg = agg.filter(agg.flagged > 0) if flagged else agg.filter(agg.flagged == 0)
    if min_cost is not None:
        agg = agg.filter(agg.cost >= min_cost)
    col, desc = USER_SORTS[sort]
    order = [ibis.desc(col) if desc else ibis.asc(col)]
    if col != "user_id":
        order.append(ibis.asc("user_id"))
    return _ints(agg.order_by(order).limit(limit, offset=offset).to_pyarrow().to_pylist())


def review_queue(
    spans: Any,
    scores: Any,
    *,
    mode: str = "flagged",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
) -> list[str]:
    """Trace ids to review, in order: traces in ``[start, end)`` with an LLM call and no
    human score yet. ``flagged``: traces with a flagged call first, then newest first;
    ``unscored``: newest first; ``sampled``: a fixed pseudo-random order (a hash of the
    trace id), so reviewers see a fair sample rather than the latest traffic."""
    if mode not in QUEUE_MODES:
        raise ValidationError(
            expected("parameter", "mode", f"be one of {', '.join(QUEUE_MODES)}", mode)
        )
    t = _ranged(spans, start, end)
    t = t.filter((t.span_type == "llm").fill_null(False))
    human = scores.filter(scores.source == "human").select("trace_id")
    t = t.anti_join(human, "trace_id")
    agg = t.group_by("trace_id").aggregate(start=t.start_time.min(), flagged=any_flag(t).max())
    if mode == "flagged":
        order = [ibis.desc("flagged"), ibis.desc("start"), "trace_id"]
    elif mode == "unscored":
        order = [ibis.desc("start"), "trace_id"]
    else:
        agg = agg.mutate(h=agg.trace_id.hash())
        order = ["h", "trace_id"]
    ids: list[str] = (
        agg.order_by(order).limit(limit).select("trace_id").to_pyarrow().column(0).to_pylist()
    )
    return ids
