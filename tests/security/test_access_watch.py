"""The access-log checks: quiet on steady Poisson traffic, a brute force and a flood named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from scipy import stats as sps

from mlwarden.server.access_watch import AccessWatch
from mlwarden.stats.access_rates import rate_increase_p

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def entries(window: int, caller: str, requests: int, failures: int) -> list[dict[str, Any]]:
    at = (T0 + timedelta(minutes=5 * window, seconds=1)).isoformat()
    ok = {"at": at, "status": 200, "client": caller, "key_id": None}
    bad = {"at": at, "status": 401, "client": caller, "key_id": None}
    return [ok] * (requests - failures) + [bad] * failures


def test_rate_increase_p_is_the_binomial_tail() -> None:
    assert rate_increase_p(7, 30, 12) == pytest.approx(sps.binom.sf(6, 37, 1 / 13))


def test_steady_traffic_gives_no_findings() -> None:
    rng = np.random.default_rng(0)
    watch = AccessWatch()
    rates = rng.uniform(5, 200, 20)
    found = []
    for w in range(600):  # about two days of 5-minute windows
        batch: list[dict[str, Any]] = []
        for i, rate in enumerate(rates):
            n = int(rng.poisson(rate))
            batch += entries(w, f"10.0.0.{i}", n, min(n, int(rng.poisson(0.5))))
        found += watch.observe(batch)
    assert found == []


def test_a_brute_force_and_a_flood_are_named() -> None:
    watch = AccessWatch()
    for w in range(12):
        assert watch.observe(entries(w, "10.0.0.1", 50, 1) + entries(w, "10.0.0.2", 30, 0)) == []
    burst = entries(12, "10.0.0.1", 50, 1) + entries(12, "10.0.0.9", 400, 400)
    burst += entries(12, "10.0.0.2", 3000, 0)
    assert watch.observe(burst) == []  # the window is still open
    found = watch.observe([], now=T0 + timedelta(minutes=5 * 13))
    named = {(f["type"], f["caller"]) for f in found}
    assert named == {
        ("auth_failures", "addr:10.0.0.9"),
        ("auth_failures", "*"),
        ("request_rate", "addr:10.0.0.2"),
    }, found
    flood = [f for f in found if f["type"] == "request_rate"][0]
    assert flood["client"] == "10.0.0.2" and flood["key_id"] is None
    assert flood["message"] == "3000 requests from client 10.0.0.2 in 300 s (usually 30.0)"
    assert watch.observe([], now=T0 + timedelta(minutes=5 * 14)) == []  # checked once
