"""Monitors over HTTP against the real server: set-up, the editable spec, the scheduler, results."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from mlwarden.cli.demo import feed
from mlwarden.cli.simulator import Scenario, Simulation
from serverproc import ServerProcess


def test_setup_edit_schedule_and_results(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "d", "--evaluate-every", "1").start()
    http = httpx.Client(base_url=srv.url, timeout=300)
    try:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        sim = Simulation(
            Scenario(
                days=8,
                events_per_day=800,
                drift_start_day=5,
                start=today - timedelta(days=8),
                reference_rows=5000,
            )
        )
        feed(srv.url, sim, now=datetime.now(UTC))
        request_ok = True
        name = "loan-default"
        assert http.get(f"/v1/models/{name}/monitors").status_code == 404

        dry = http.post(
            f"/v1/models/{name}/monitors/setup", json={"dry_run": True, "rows_per_window": 800}
        )
        assert dry.status_code == 200, dry.text
        body = dry.json()
        assert not body["applied"] and body["cadence"] == "1d"  # chosen from ~800 events a day
        plan = {p["monitor"]: p for p in body["plan"]}
        assert {
            "feature_drift:credit_score",
            "performance:accuracy",
            "fairness:gender",
            "volume",
        } <= set(plan)
        fa = plan["feature_drift:credit_score"]["threshold"]["expected_false_alerts_per_month"]
        assert 0 < fa <= 1
        assert http.get(f"/v1/models/{name}/monitors").status_code == 404  # dry run applied nothing

        applied = http.post(f"/v1/models/{name}/monitors/setup", json={})
        assert applied.status_code == 200 and applied.json()["applied"]
        spec_yaml = applied.json()["spec_yaml"]
        assert (
            "kind: feature_drift" in spec_yaml
            and "threshold" not in spec_yaml.split("monitors:")[1][:200]
        )

        # the scheduler evaluates the closed windows by itself
        deadline = time.monotonic() + 120
        rows: list[dict[str, object]] = []
        while time.monotonic() < deadline and len({r["window_start"] for r in rows}) < 8:
            time.sleep(1)
            rows = http.get(
                f"/v1/models/{name}/results", params={"monitor": "feature_drift:credit_score"}
            ).json()
        days = sorted({str(r["window_start"])[:10] for r in rows})
        assert len(days) == 8
        drifted = [r for r in rows if r["status"] == "alert"]
        assert drifted and all(
            str(r["window_start"]) >= (today - timedelta(days=3)).isoformat()[:10] for r in drifted
        )
        assert all("chart" in r["details"] for r in rows)
        seg = http.get(
            f"/v1/models/{name}/results", params={"whole_model": "false", "segment": "region=north"}
        )
        assert (
            seg.status_code == 200
            and seg.json()
            and all(r["segment"] == "region=north" for r in seg.json())
        )

        # edit the spec: a fixed threshold and another cadence; re-apply
        edited = spec_yaml.replace(
            "- kind: feature_drift\n  column: credit_score\n",
            "- kind: feature_drift\n  column: credit_score\n  threshold: 0.9\n",
        )
        assert edited != spec_yaml
        r = http.put(
            f"/v1/models/{name}/monitors",
            content=edited.replace("cadence: 1d", "cadence: 6h"),
            headers={"content-type": "application/yaml"},
        )
        assert r.status_code == 200 and r.json()["cadence"] == "6h"
        r = http.post(
            f"/v1/models/{name}/evaluate",
            json={"start": (today - timedelta(days=8)).isoformat(), "end": today.isoformat()},
        )
        assert r.status_code == 200 and r.json()["results"] > 0
        rows = http.get(
            f"/v1/models/{name}/results",
            params={"monitor": "feature_drift:credit_score", "limit": 1000},
        ).json()
        # the windows evaluated above (the scheduler also evaluates today's closed windows,
        # which have no events: no_data, without a threshold)
        six_hourly = [
            r
            for r in rows
            if str(r["window_start"])[11:13] in ("06", "18")
            and str(r["window_start"]) < today.isoformat()[:19]
        ]
        assert six_hourly and all(r["threshold"] == 0.9 for r in six_hourly)

        # bad specs get precise errors and change nothing
        for bad, needle in [
            ("model: loan-default\nmonitors: [{kind: nope}]", "must be one of"),
            ("model: loan-default\ncadence: sometimes\nmonitors: []", "cadence"),
            ("model: loan-default\nfalse_alarm_budget: rarely\nmonitors: []", "false_alarm_budget"),
            ("model: other\nmonitors: []", "not 'loan-default'"),
            (
                "model: loan-default\nmonitors: [{kind: feature_drift, column: x, colour: red}]",
                "colour",
            ),
            ("model: [", "YAML"),
        ]:
            r = http.put(
                f"/v1/models/{name}/monitors",
                content=bad,
                headers={"content-type": "application/yaml"},
            )
            assert r.status_code == 400 and needle in r.json()["error"]["message"], (bad, r.text)
        assert http.get(f"/v1/models/{name}/monitors").json()["cadence"] == "6h"
        r = http.post(
            f"/v1/models/{name}/evaluate",
            json={"start": today.isoformat(), "end": today.isoformat()},
        )
        assert r.status_code == 422
        assert request_ok
    finally:
        http.close()
        srv.stop()
