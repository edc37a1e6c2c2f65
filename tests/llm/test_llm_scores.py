"""Trace scores through the real server: the API (validation, idempotency, aggregates), the
SDK's ``score()``, and the ``llm_score`` monitor firing on a planted rise in thumbs-down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from mlwarden.schema.otlp import SpanData, encode_json
from mlwarden.sdk import llm
from serverproc import ServerProcess

APP = "feedback-bot"
DAYS = 8
TRACES_PER_DAY = 60
#: Thumbs-down share per day: 10% (6 of 60), then 50% on the last day.
DOWN = [6] * (DAYS - 1) + [30]


def _trace_id(day: int, i: int) -> str:
    return f"{day:04x}{i:04x}".rjust(32, "a")


@pytest.fixture(scope="module")
def seeded(llm_server: ServerProcess) -> Iterator[tuple[str, datetime]]:
    """``DAYS`` days of one-span traces of ``APP`` with a boolean ``user_feedback`` each."""
    start = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=DAYS
    )
    spans, scores = [], []
    for d in range(DAYS):
        for i in range(TRACES_PER_DAY):
            t = start + timedelta(days=d, minutes=10 * i + 1)
            ns = int(t.timestamp() * 1e9)
            tid = _trace_id(d, i)
            spans.append(SpanData(tid, f"{i + 1:016x}", "chat", ns, ns + 50_000_000,
                                  attributes={"gen_ai.request.model": "m"}))  # fmt: skip
            scores.append({"id": f"fb-{tid}", "trace_id": tid, "name": "user_feedback",
                           "value": i >= DOWN[d], "source": "human",
                           "timestamp": (t + timedelta(minutes=1)).isoformat()})  # fmt: skip
    with httpx.Client(base_url=llm_server.url, timeout=120) as http:
        body = encode_json(spans, resource={"service.name": APP})
        r = http.post("/v1/traces", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        r = http.post("/v1/llm/scores", json=scores)
        assert r.status_code == 200, r.text
        assert r.json()["accepted"] == DAYS * TRACES_PER_DAY
    yield llm_server.url, start


@pytest.fixture
def http(seeded: tuple[str, datetime]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=seeded[0], timeout=120) as client:
        yield client


def test_bad_items_are_reported_one_by_one_and_never_take_good_ones_down(
    http: httpx.Client,
) -> None:
    items: list[Any] = [
        {"trace_id": "t-api", "name": "stars", "value": 4},
        {"trace_id": "t-api", "name": "stars", "value": "NaN", "data_type": "numeric"},
        {"name": "stars", "value": 3},
        {"trace_id": "t-api", "name": "tone", "value": "polite", "source": "robot"},
        {"trace_id": "t-api", "name": "ok", "value": 2, "data_type": "boolean"},
        "not an object",
        {"trace_id": "t-api", "name": "tone", "value": "polite", "comment": "fine"},
    ]
    r = http.post("/v1/llm/scores", json=items)
    assert r.status_code == 207, r.text
    out = r.json()
    assert (out["received"], out["accepted"]) == (7, 2)
    assert [(x["index"], x["field"]) for x in out["rejected"]] == [
        (1, "value"), (2, "trace_id"), (3, "source"), (4, "value"), (5, ""),
    ]  # fmt: skip
    assert "'source' field must be one of human, api, eval" in out["rejected"][2]["reason"]
    r = http.post("/v1/llm/scores", json=[{"trace_id": "x", "name": "", "value": 1}])
    assert r.status_code == 422
    assert r.json()["rejected"][0]["field"] == "name"


def test_a_score_sent_again_with_its_id_replaces_the_stored_one(http: httpx.Client) -> None:
    one = {"id": "idem-1", "trace_id": "t-idem", "name": "stars", "value": 2}
    assert http.post("/v1/llm/scores", json=one).json()["replaced"] == 0
    r = http.post("/v1/llm/scores", json=[{**one, "value": 5, "comment": "better"}])
    assert (r.json()["accepted"], r.json()["replaced"]) == (1, 1)
    got = http.get("/v1/llm/scores", params={"trace_id": "t-idem"}).json()
    assert got["total"] == 1
    assert (got["scores"][0]["value"], got["scores"][0]["comment"]) == (5.0, "better")


def test_aggregates_per_name(http: httpx.Client, seeded: tuple[str, datetime]) -> None:
    start = seeded[1]
    rows = [
        {"trace_id": "t-agg", "session_id": "s-agg", "name": "helpful", "value": v}
        for v in (1.0, 2.0, 4.5)
    ] + [
        {"trace_id": "t-agg", "session_id": "s-agg", "name": "tone", "value": v}
        for v in ("polite", "polite", "rude", "polite")
    ]
    assert http.post("/v1/llm/scores", json=rows).status_code == 200
    got = http.get("/v1/llm/scores", params={"session_id": "s-agg"}).json()
    agg = {a["name"]: a for a in got["aggregates"]}
    assert agg["helpful"]["count"] == 3 and agg["helpful"]["mean"] == pytest.approx(2.5)
    assert agg["tone"]["categories"] == {"polite": 0.75, "rude": 0.25}
    # the seeded thumbs: 6 of 60 down for 7 days and 30 of 60 on the last one
    first_day = {"name": "user_feedback", "start": start.isoformat(),
                 "end": (start + timedelta(days=1)).isoformat(), "limit": 5}  # fmt: skip
    fb = http.get("/v1/llm/scores", params=first_day).json()
    assert fb["total"] == TRACES_PER_DAY and len(fb["scores"]) == 5
    assert fb["aggregates"][0]["true_share"] == pytest.approx(0.9)
    assert all(s["data_type"] == "boolean" and s["source"] == "human" for s in fb["scores"])


def test_sdk_score_sends_through_the_exporter_and_never_raises(
    http: httpx.Client, seeded: tuple[str, datetime]
) -> None:
    exporter = llm.configure(url=seeded[0], service_name="sdk-scores")
    try:
        with llm.start_span("answer") as span:
            sid = llm.score(name="user_feedback", value=False, comment="wrong")
        assert sid is not None
        assert llm.score(name="stars", value=float("inf"), trace_id="t") is None  # logged
        assert llm.score(name="", value=1, trace_id="t") is None
        assert exporter.flush(30.0)
    finally:
        llm.configure(exporter=llm.InMemoryExporter())
    got = http.get("/v1/llm/scores", params={"trace_id": span.trace_id}).json()
    assert [(s["id"], s["value"], s["comment"]) for s in got["scores"]] == [(sid, False, "wrong")]


def test_llm_score_monitor_is_set_up_and_fires_on_the_thumbs_down_rise(
    http: httpx.Client, seeded: tuple[str, datetime]
) -> None:
    start = seeded[1]
    r = http.post("/v1/models", json={"name": APP, "task": "llm", "prediction": None})
    assert r.status_code == 201, r.text
    r = http.post(f"/v1/models/{APP}/monitors/setup", json={"cadence": "1d"})
    assert r.status_code == 200, r.text
    assert "kind: llm_score\n  score: user_feedback\n  metric: false_rate" in r.json()["spec_yaml"]
    end = start + timedelta(days=DAYS)
    r = http.post(f"/v1/models/{APP}/evaluate",
                  json={"start": start.isoformat(), "end": end.isoformat()})  # fmt: skip
    assert r.status_code == 200, r.text
    rows = http.get(f"/v1/models/{APP}/results",
                    params={"monitor": "llm_score:user_feedback"}).json()  # fmt: skip
    by_day = {r["window_start"][:10]: r for r in rows}
    last = by_day[(start + timedelta(days=DAYS - 1)).date().isoformat()]
    assert last["status"] == "alert", last
    assert last["value"] == pytest.approx(0.5)
    assert last["details"]["baseline"] == "history"
    earlier = [r["status"] for d, r in by_day.items() if r is not last]
    assert "alert" not in earlier and "ok" in earlier, earlier


def test_stated_max_rate_and_min_mean(http: httpx.Client, seeded: tuple[str, datetime]) -> None:
    """A stated limit judges from the first window; a numeric score's mean against a floor."""
    from mlwarden.monitors.llm_scores import LlmScore

    assert LlmScore("user_feedback", max_rate=0.05).get_params()["max_rate"] == 0.05
    start = seeded[1]
    day = start + timedelta(days=DAYS - 1)
    stars = [{"trace_id": _trace_id(DAYS - 1, i), "name": "stars", "value": 2.0 + (i % 3) * 0.1,
              "timestamp": (day + timedelta(minutes=5 * i)).isoformat()}
             for i in range(40)]  # fmt: skip
    assert http.post("/v1/llm/scores", json=stars).status_code == 200
    yaml = (
        f"model: {APP}\ncadence: 1d\nmonitors:\n"
        "- kind: llm_score\n  score: stars\n  metric: mean\n  min_mean: 4.0\n"
        "- kind: llm_score\n  score: user_feedback\n  max_rate: 0.2\n"
    )
    r = http.put(f"/v1/models/{APP}/monitors", content=yaml,
                 headers={"content-type": "application/yaml"})  # fmt: skip
    assert r.status_code == 200, r.text
    r = http.post(f"/v1/models/{APP}/evaluate",
                  json={"start": day.isoformat(), "end": (day + timedelta(days=1)).isoformat()})  # fmt: skip
    assert r.status_code == 200, r.text
    rows = {x["monitor"]: x for x in http.get(
        f"/v1/models/{APP}/results", params={"start": day.isoformat()}).json()}  # fmt: skip
    assert rows["llm_score:stars"]["status"] == "alert"
    assert rows["llm_score:stars"]["direction"] == "below"
    assert rows["llm_score:user_feedback"]["status"] == "alert"  # 50% vs a stated 20%


def test_scores_age_out_with_spans_under_retention() -> None:
    from mlwarden.schema.scores import validate_scores
    from mlwarden.store import DuckDBStore

    now = datetime(2026, 6, 1, tzinfo=UTC)
    rows = [{"id": "old", "trace_id": "t", "name": "n", "value": 1.0,
             "timestamp": (now - timedelta(days=10)).isoformat()},
            {"id": "new", "trace_id": "t", "name": "n", "value": 2.0,
             "timestamp": (now - timedelta(days=1)).isoformat()}]  # fmt: skip
    store = DuckDBStore(":memory:", retention_days=5)
    try:
        assert store.put_scores("p", validate_scores(rows).table).result() == (2, 0)
        store.apply_retention(now=now)
        left = store.scores("p").to_pyarrow().column("id").to_pylist()
    finally:
        store.close()
    assert left == ["new"]
