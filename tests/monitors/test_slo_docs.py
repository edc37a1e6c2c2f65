"""The SLO and probe bodies docs/integrations/slo.md tells users to copy are valid, and mean
what the page says."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mlwarden.schema.slo import ProbeSpec, parse_slos

DOC = Path(__file__).parents[2] / "docs" / "integrations" / "slo.md"


def test_the_documented_bodies_parse() -> None:
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]
    slos_body, probe_body = blocks
    available, fast = parse_slos(slos_body["slos"])
    assert (available.objective, available.kind, available.source) == (
        0.999,
        "availability",
        "probes",
    )
    assert (fast.kind, fast.threshold_ms, fast.source, fast.budget) == (
        "latency",
        300.0,
        "requests",
        0.01,
    )
    probe = ProbeSpec.from_dict({**probe_body, "name": "predict"})
    assert probe.method == "POST" and probe.json_path == "prediction.label"
    assert probe.interval_s == 30 and probe.timeout_s == 5
