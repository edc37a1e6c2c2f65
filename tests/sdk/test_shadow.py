"""Shadow logging: one ``log`` call queues the champion's event and each shadow version's,
with the same event id; a bad shadow version drops the whole call."""

from __future__ import annotations

import mlwarden


def test_shadow_predictions_share_the_event_id_features_and_segments() -> None:
    memory = mlwarden.InMemoryTransport()
    m = mlwarden.init(model="churn", version="v1", transport=memory)
    eid = m.log({"age": 41}, 1, score=0.8, segments={"region": "eu"}, latency_ms=3.0,
                shadow={"v2": (0, 0.3), "v3": 1})  # fmt: skip
    assert m.flush(10)
    s = m.stats()
    assert (s.logged, s.sent, s.dropped) == (3, 3, 0)
    m.close()
    rows = sorted(memory.events_table("churn").to_pylist(), key=lambda r: r["version"])
    assert [r["version"] for r in rows] == ["v1", "v2", "v3"]
    assert {r["event_id"] for r in rows} == {eid}
    assert [r["prediction"] for r in rows] == [1, 0, 1]
    assert [r.get("score") for r in rows] == [0.8, 0.3, None]
    assert all(r["age"] == 41 and r["region"] == "eu" for r in rows)
    assert [r.get("latency_ms") for r in rows] == [3.0, None, None]  # the shadow's is unknown


def test_a_shadow_of_the_monitors_own_version_drops_the_call() -> None:
    memory = mlwarden.InMemoryTransport()
    m = mlwarden.init(model="churn", version="v1", transport=memory)
    m.log({"age": 41}, 1, shadow={"v1": 0})
    m.log({"age": 41}, 1, shadow={"not a name!": 0})
    assert m.flush(10)
    s = m.stats()
    assert s.dropped == 2 and s.sent == 0
    m.close()


def test_shadow_predictions_are_marked_so_and_the_champions_are_not() -> None:
    memory = mlwarden.InMemoryTransport()
    m = mlwarden.init(model="churn", version="v1", transport=memory)
    m.log({"age": 41}, 1, shadow={"v2": 0})
    m.log({"age": 30}, 0)
    assert m.flush(10)
    m.close()
    rows = memory.events_table("churn").to_pylist()
    marks = sorted((r["version"], bool(r.get("shadow"))) for r in rows)
    assert marks == [("v1", False), ("v1", False), ("v2", True)]
