"""Schemathesis against the real server: every operation of the OpenAPI document, all checks,
a bounded number of generated requests each, zero failures.

The server is seeded first (a model with a reference, events, labels, monitors, an incident,
quarantined rows, failed deliveries, a span), and the path parameters point at what exists,
so generated requests reach the routes' logic instead of stopping at 404 and the replies
checked against their schemas carry rows. The few operations whose rules join several fields
(an end after a start, a snooze in the future, a reference that parses as CSV) cannot say so
in JSON Schema; for them the configuration below expects a 4xx for some schema-valid
requests, and says why.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from mlwarden.schema.otlp import SpanData, encode_json
from serverproc import ServerProcess

EXAMPLES = int(os.environ.get("MLWARDEN_SCHEMATHESIS_EXAMPLES", "12"))
T0 = 1_767_225_600_000_000_000

CONFIG = """
[parameters]
model = "m"
column = "x"
incident_id = 1
trace_id = "{trace}"

# Rules JSON Schema cannot state: a schema-valid request may still be refused, for a reason.
[[operations]]
include-operation-id = ["evaluate_monitors"]   # 'end' after 'start', at most 3,000 windows
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "409", "422"]

[[operations]]
include-operation-id = ["snooze"]   # exactly one of 'until' and 'hours'; 'until' in the future
checks.positive_data_acceptance.expected-statuses = ["2XX", "400", "404", "409", "422"]

[[operations]]
include-operation-id = ["list_spans"]   # 'cursor' is an opaque token from an earlier page
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# 'by' and the column of a 'segment' filter name columns of the model
# (events_sample, column_windows: 'end' after 'start', at most 3,000 windows)
include-operation-id = ["confusion", "counts", "column", "events_sample", "column_windows"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# the decision analysis needs labelled, scored events of a binary classifier in the range, and
# costs that make some outcome matter
include-operation-id = ["decision"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# the champion / challenger comparison needs two different versions, each with events in the
# range, of a classifier
include-operation-id = ["champion"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# blind spots: the metric must suit the model's task, 'end' after 'start', a 'segment' names a
# column of the model
include-operation-id = ["blind_spots"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# a spec's rules across fields: 'dim' for embeddings only, the positive class among the classes
include-operation-id = ["register_model"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "403", "409", "422"]

[[operations]]
# a row's required fields follow the model's spec (207 / 422 with a reason per row)
include-operation-id = ["post_events", "post_actuals"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "413", "422"]

[[operations]]
# a score's value must fit its data_type (true / false for boolean), a name must not be blank
# and a timestamp within the accepted years: checked per item (207 / 422 with a reason)
include-operation-id = ["post_scores"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "413", "422"]
# an array with some bad items is answered 207, the bad ones listed with their reasons
checks.negative_data_rejection.expected-statuses = ["207", "400", "401", "403", "404", "413", "415", "422", "429"]

[[operations]]
# an SLO's and a probe's fields depend on one another (a latency SLO needs 'threshold_ms', a
# probe's timeout fits its interval, its URL must not be internal); a name is a plain name
include-operation-id = ["put_slos", "put_probe"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# a probe is deleted once (then 404), names follow the name rules
include-operation-id = ["delete_probe"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# deletes and the rename act on models seeded for them, not on 'm' that the others need:
# the first succeeds, later ones find the model gone (or the new name taken)
include-operation-id = ["delete_model", "rename_model"]
parameters = { model = "scratch" }
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "409", "422"]

[[operations]]
include-operation-id = ["delete_version", "delete_reference"]
parameters = { model = "scratch-v" }
checks.positive_data_acceptance.expected-statuses = ["2XX", "404"]

[[operations]]
# each window's end after its start; a 'segment' names a column of the model
include-operation-id = ["compare"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# 'end' after 'start', and the window must hold at least 100 events (a segment: a column)
include-operation-id = ["reference_from_events"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# 'q' must hold more than spaces
include-operation-id = ["search_route"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "422"]

[[operations]]
# an annotation's 'end' must come after its 'time'
include-operation-id = ["create_model_annotation", "create_project_annotation"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "422"]

[[operations]]
# an annotation id is one made earlier in the run, or gone; the model is pinned to 'm', so a
# request generated with an invalid model name is sent with the valid one (and may succeed)
include-operation-id = ["delete_model_annotation", "delete_project_annotation"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "404"]
checks.negative_data_rejection.expected-statuses = ["200", "400", "404", "405", "422"]

[[operations]]
# the body is a file (CSV / Parquet / Arrow) or YAML text that must parse to the documented
# shape; the budget is a small language ('1 per 30 days', 'two per week')
include-operation-id = ["upload_reference", "put_alerting", "apply_monitors", "setup_monitors"]
checks.positive_data_acceptance.expected-statuses = ["2XX", "400", "404", "409", "413", "415", "422"]
checks.negative_data_rejection.enabled = false

[[operations]]
# evaluations on the seeded dataset and run; an item's fields, a task's and an evaluator's
# parameters follow their kind, and items come from exactly one source: 422 with the reason
include-operation-id = ["get_dataset", "add_items", "start_experiment"]
parameters = { name = "evals" }
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "409", "422"]

[[operations]]
# the body is a JSON Lines or CSV file whose rows must be items
include-operation-id = ["upload_items"]
parameters = { name = "evals" }
checks.positive_data_acceptance.expected-statuses = ["2XX", "404", "413", "422"]
checks.negative_data_rejection.enabled = false

[[operations]]
include-operation-id = ["get_experiment", "compare_experiments"]
parameters = { run_id = "{run}", other_id = "{run}" }
"""


def _seed(url: str) -> str:
    with httpx.Client(base_url=url, timeout=60) as http:
        spec = {
            "name": "m",
            "task": "binary",
            "features": [
                {"name": "x", "kind": "numeric"},
                {"name": "region", "kind": "categorical"},
            ],
            "prediction": "prediction",
            "score": "score",
            "target": "target",
        }
        assert http.post("/v1/models", json=spec).status_code == 201
        ref = "x,region,prediction,score,target\n" + "\n".join(
            f"{i % 17},{'ab'[i % 2]},{i % 2},{(i % 10) / 10},{i % 2}" for i in range(400)
        )
        r = http.post("/v1/models/m/reference", content=ref, headers={"content-type": "text/csv"})
        assert r.status_code == 201, r.text
        events = [
            {
                "event_id": f"e{i}",
                "features": {"x": i % 13, "region": "ab"[i % 2]},
                "prediction": i % 2,
                "score": (i % 10) / 10,
            }
            for i in range(300)
        ]
        assert http.post("/v1/models/m/events", json=events).status_code == 200
        assert http.post("/v1/models/m/monitors/setup", json={}).status_code == 200
        for scratch in ("scratch", "scratch-v"):
            body = {**spec, "name": scratch}
            assert http.post("/v1/models", json=body).status_code == 201
        _seed_replies(http)
        trace = f"{7:032x}"
        span = SpanData(trace, f"{7:016x}", "chat", T0, T0 + 10**6, attributes={})
        r = http.post(
            "/v1/traces", content=encode_json([span]), headers={"content-type": "application/json"}
        )
        assert r.status_code == 200
        return trace


def _seed_replies(http: httpx.Client) -> None:
    """Rows for the list replies (labels, quarantine, deliveries) and incident 1 (drifted
    events, evaluated), so the replies checked against their schemas are not all empty."""
    labels = [{"event_id": f"e{i}", "actual": i % 2} for i in range(100)]
    assert http.post("/v1/models/m/actuals", json=labels).status_code == 200
    bad = [{"event_id": "bad", "features": {"x": "zz"}, "prediction": 1}]
    assert http.post("/v1/models/m/events", json=bad).status_code == 422
    # loopback is refused by the destination policy: every delivery is logged as failed
    hook = "channels:\n  - {kind: webhook, name: hook, url: 'http://127.0.0.1:9/x'}\n"
    r = http.put("/v1/alerting", content=hook, headers={"content-type": "application/yaml"})
    assert r.status_code == 200, r.text
    drifted = [
        {"event_id": f"d{i}", "features": {"x": 1000 + i, "region": "zz"}, "prediction": 1}
        for i in range(300)
    ]
    assert http.post("/v1/models/m/events", json=drifted).status_code == 200
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    span = {
        "start": (hour - timedelta(hours=1)).isoformat(),
        "end": (hour + timedelta(hours=1)).isoformat(),
    }
    assert http.post("/v1/models/m/evaluate", json=span).status_code == 200
    assert http.get("/v1/incidents/1").status_code == 200
    broken = b'{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}'
    r = http.post("/v1/traces", content=broken, headers={"content-type": "application/json"})
    assert r.status_code == 200


def _seed_evals(url: str) -> str:
    """A dataset of two items and a finished run over it (for the evaluation operations)."""
    with httpx.Client(base_url=url, timeout=60) as http:
        assert http.post("/v1/llm/datasets", json={"name": "evals"}).status_code == 201
        items = [{"input": "2+2?", "output": "4", "expected_output": "4"},
                 {"input": "hi", "output": "hello", "expected_output": "hey"}]  # fmt: skip
        r = http.post("/v1/llm/datasets/evals/items", json={"items": items})
        assert r.status_code == 200, r.text
        body = {"dataset": "evals", "evaluators": [{"kind": "exact_match"}]}
        r = http.post("/v1/llm/experiments", json=body)
        assert r.status_code == 202, r.text
        run_id: str = r.json()["id"]
        for _ in range(600):
            if http.get(f"/v1/llm/experiments/{run_id}").json()["status"] == "done":
                return run_id
            time.sleep(0.05)
        raise AssertionError("the seeded experiment did not finish")


def test_the_api_keeps_its_openapi_promises(tmp_path: Path) -> None:
    srv = ServerProcess(tmp_path / "data").start()
    try:
        trace = _seed(srv.url)
        work = tmp_path / "st"
        work.mkdir()
        run_id = _seed_evals(srv.url)
        config = CONFIG.replace("{trace}", trace).replace("{run}", run_id)
        (work / "schemathesis.toml").write_text(config)
        run = subprocess.run(
            [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{srv.url}/openapi.json",
                "--checks",
                "all",
                "--max-examples",
                str(EXAMPLES),
                "--generation-deterministic",
                "--continue-on-failure",
                "--max-failures",
                "100",
                "--request-timeout",
                "120",
                # speed is measured in bench/, not here: a loaded machine may take seconds
                "--max-response-time",
                "120",
                "--no-color",
            ],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=1200,
            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
        )
    finally:
        srv.stop()
    assert run.returncode == 0, run.stdout[-12000:] + run.stderr[-3000:]
    assert "Tested: " in run.stdout
