"""The real instrumentation libraries, pinned in ``.venv-interop`` (``make interop``), drive a
real ``openai`` client (LangChain, LiteLLM) against the fake OpenAI server and export to the
real server over OTLP HTTP protobuf, gRPC and logs; every stored field is compared with what
the library itself exported (each driver keeps a copy: ``drivers/_common.py``).

Cases per driver: a chat call, a stream with and one without usage, a tool call and the call
with its result, a 3-turn session of one user, an embedding and an error (503). Which attribute
each library reports a field in is listed below (``REPORTED``): where a library reports nothing
(LiteLLM's session, openai-v2's time to first token), the stored field must be empty too.
The project's own SDK runs the same app with the newest ``openai`` (the project venv's) and the
oldest supported (``make openai1``). All drivers run at once, behind a loopback-only network
guard (``drivers/_run.py``); a driver whose venv is missing is skipped, saying which make target
installs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlwarden.schema.pricing import load_prices
from serverproc import ServerProcess, free_port

ROOT = Path(__file__).resolve().parents[3]
DRIVERS = Path(__file__).resolve().parent / "drivers"
#: Where ``make interop`` installs the pinned libraries (tests/llm/interop/requirements.txt).
VENV = Path(os.environ.get("MLWARDEN_INTEROP_VENV") or ROOT / ".venv-interop")
PYTHON = VENV / "bin" / "python"
ANSWER = "The capital of France is Paris."
TOOL_RESULT = '{"city": "Paris", "temperature_c": 21}'
USER, SESSION = "u-interop", "s-interop"
CASES = {"chat", "stream-usage", "stream-no-usage", "tool", "tool-result",
         "turn0", "turn1", "turn2", "embed", "error"}  # fmt: skip


#: Where ``make openai1`` installs the oldest supported openai (1.x) for the SDK's driver.
OPENAI1 = Path(os.environ.get("MLWARDEN_OPENAI1_DIR") or ROOT / ".venv-openai1")


@dataclass(frozen=True)
class Driver:
    script: str
    transport: str  # http (protobuf) or grpc
    service: str
    #: cases the library makes no span for
    missing: frozenset[str] = frozenset()
    #: run by the project's python (the SDK) rather than the interop venv's
    project: bool = False
    #: with the oldest supported openai first on the path
    openai1: bool = False
    #: environment of the driver's own
    env: tuple[tuple[str, str], ...] = ()
    #: cases whose content the library sends as log records that are not joined to their span
    #: (known gap: only LLM spans take texts from logs, an embedding's input is not stored)
    unjoined: frozenset[str] = frozenset()

    def command(self, *args: str) -> tuple[list[str], dict[str, str]] | str:
        """The command line and environment, or why this driver cannot run here."""
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        env.pop("PYTHONPATH", None)  # the interop drivers see their venv only
        env.update(self.env)
        python = PYTHON
        if self.project:
            python = Path(sys.executable)
            paths = [OPENAI1] if self.openai1 else []
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in [*paths, ROOT / "src"])
            if self.openai1 and not (OPENAI1 / "openai").is_dir():
                return f"no openai 1.x at {OPENAI1}: run `make openai1`"
        elif not PYTHON.exists():
            return f"no interop venv at {VENV}: run `make interop`"
        return [str(python), str(DRIVERS / "_run.py"), str(DRIVERS / self.script), *args], env


DRIVERS_RUN = {
    "openai-v2": Driver("openai_v2.py", "http", "interop-openai-v2"),
    "openinference-openai": Driver(
        "openinference_openai.py", "grpc", "interop-openinference-openai"
    ),  # fmt: skip
    # OpenInference's LangChain instrumentation makes no span for embeddings
    "openinference-langchain": Driver(
        "openinference_langchain.py",
        "http",
        "interop-openinference-langchain",
        frozenset({"embed"}),
    ),  # fmt: skip
    "traceloop": Driver("traceloop_sdk.py", "http", "interop-traceloop"),
    # the same with messages as events: OTLP log records, over gRPC
    "traceloop-events": Driver(
        "traceloop_sdk.py",
        "grpc",
        "interop-traceloop-events",
        env=(("INTEROP_EVENTS", "1"),),
        unjoined=frozenset({"embed"}),
    ),
    "litellm": Driver("litellm_otel.py", "grpc", "interop-litellm"),
    # the project's own SDK, with the newest openai (the venv's) and the oldest supported
    "mlwarden-sdk": Driver("mlwarden_sdk.py", "http", "interop-mlwarden", project=True),
    "mlwarden-sdk-openai1": Driver(
        "mlwarden_sdk.py", "http", "interop-mlwarden-openai1", project=True, openai1=True
    ),  # fmt: skip
}

#: The attributes each field is reported in, by the libraries above (first found wins).
REPORTED = {
    "model": ("gen_ai.response.model", "llm.model_name", "embedding.model_name",
              "gen_ai.request.model"),
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "input_tokens": ("gen_ai.usage.input_tokens", "llm.token_count.prompt"),
    "output_tokens": ("gen_ai.usage.output_tokens", "llm.token_count.completion"),
    "cache_read_tokens": ("gen_ai.usage.cache_read.input_tokens",
                          "llm.token_count.prompt_details.cache_read"),
    "finish_reason": ("gen_ai.response.finish_reasons", "llm.finish_reason"),
    "user_id": ("user.id", "traceloop.association.properties.user_id", "gen_ai.user",
                "llm.user"),
    "session_id": ("session.id", "traceloop.association.properties.session_id"),
    "cost": ("gen_ai.cost.total_cost",),
}  # fmt: skip
FIRST_TOKEN_EVENTS = ("First Token Stream Event", "gen_ai.content.completion.chunk")


#: ``make test`` builds the interop venv in the background while the suite runs
#: (``make interop-bg``): its marker says a build is under way; the tests wait for it.
BUILD_WAIT_S = 1800


def _wait_for_build() -> None:
    building, failed = VENV / ".building", VENV / ".failed"
    deadline = time.monotonic() + BUILD_WAIT_S
    while building.exists() and time.monotonic() < deadline:
        time.sleep(2)
    if failed.exists():
        log = VENV / "build.log"
        tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
        pytest.fail(f"building {VENV} failed (make interop):\n{tail}")
    assert not building.exists(), f"{VENV} still building after {BUILD_WAIT_S} s"


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, Any]]]:
    """Every driver that can run here run once (all at the same time) against one server and
    one fake OpenAI: its output, or why it could not run."""
    from fake_openai import fake_openai

    _wait_for_build()

    grpc_port = free_port()
    srv = ServerProcess(tmp_path_factory.mktemp("interop") / "data",
                        "--otlp-grpc-port", str(grpc_port)).start()  # fmt: skip
    try:
        with fake_openai() as fake:
            args = (srv.url, f"127.0.0.1:{grpc_port}", fake.base_url)
            out: dict[str, Any] = {}
            procs = {}
            for name, d in DRIVERS_RUN.items():
                cmd = d.command(*args, d.transport)
                if isinstance(cmd, str):
                    out[name] = cmd
                    continue
                procs[name] = subprocess.Popen(cmd[0], env=cmd[1], cwd=DRIVERS,
                                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
            for name, p in procs.items():
                stdout, stderr = p.communicate(timeout=300)
                assert p.returncode == 0, f"{name}: {stderr.decode()[-3000:]}"
                out[name] = json.loads(stdout.decode().strip().splitlines()[-1])
        yield srv, out
    finally:
        srv.stop()


def _stored(srv: ServerProcess, service: str, span_ids: set[str]) -> dict[str, dict[str, Any]]:
    """The stored rows of these spans, once all arrived (bounded wait)."""
    deadline = time.monotonic() + 60
    while True:
        r = httpx.get(f"{srv.url}/v1/llm/spans", params={"service": service, "limit": 1000},
                      timeout=30)  # fmt: skip
        assert r.status_code == 200, r.text
        rows = {s["span_id"]: s for s in r.json()["spans"]}
        if span_ids <= rows.keys() or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _text(span: dict[str, Any], logs: list[dict[str, Any]]) -> str:
    """Everything the library exported about one span (its attributes and its log records)."""
    mine = [x for x in logs if x["span_id"] == span["span_id"]]
    return json.dumps([span["attributes"], mine])


def _case(span: dict[str, Any], text: str) -> str | None:
    """The case of a span: the last ``case:`` marker it carries (a turn also carries the
    earlier turns), or ``embed`` for an embedding without content."""
    marks = re.findall(r"case:([a-z0-9-]+)", text)
    if marks:
        return str(marks[-1])
    a = span["attributes"]
    if "mbedding" in span["name"] or a.get("gen_ai.operation.name") in ("embeddings", "embedding"):
        return "embed"
    return None


def _reported(field: str, span: dict[str, Any], by_id: dict[str, dict[str, Any]]) -> Any:
    """What the library reported for ``field`` on this span or, for user and session, on the
    nearest ancestor span that carries it (the app's conversation span)."""
    s: dict[str, Any] | None = span
    while s is not None:
        for key in REPORTED[field]:
            v = s["attributes"].get(key)
            if v is not None and v != "":
                return v
        params = s["attributes"].get("llm.invocation_parameters")  # OpenInference's request
        if field == "model" and params:
            return json.loads(params).get("model")
        if field not in ("user_id", "session_id"):
            return None
        s = by_id.get(s["parent_span_id"] or "")
    return None


def _finish(
    v: Any, span: dict[str, Any], logs: list[dict[str, Any]], *, logs_win: bool
) -> str | None:
    """The finish reasons on the span, or in its output messages (openai-v2 sends a stream's
    only there, in its log record). Texts joined from log records bring the records' finish
    reason (``logs_win``): Traceloop's events say ``tool_calls`` where its span says
    ``tool_call``."""
    mine = [x for x in logs if x["span_id"] == span["span_id"]]
    from_logs = [str(x["body"]["finish_reason"]) for x in mine
                 if x["event_name"] == "gen_ai.choice" and isinstance(x["body"], dict)
                 and x["body"].get("finish_reason")]  # fmt: skip
    if logs_win and from_logs:
        return ",".join(from_logs)
    if v is None:
        for x in [span, *mine]:
            out = x["attributes"].get("gen_ai.output.messages")
            out = json.loads(out) if isinstance(out, str) else out
            reasons = [m["finish_reason"] for m in out or [] if m.get("finish_reason")]
            if reasons:
                return ",".join(reasons)
    if isinstance(v, str) and v.startswith("["):
        v = json.loads(v)
    if isinstance(v, list):
        return ",".join(str(x) for x in v) or None
    return v


def _first_token_ms(span: dict[str, Any]) -> float | None:
    seconds = span["attributes"].get("gen_ai.response.time_to_first_chunk")  # mlwarden's SDK
    if seconds is not None:
        return float(seconds) * 1000.0
    times = [e["time_ns"] for e in span["events"] if e["name"] in FIRST_TOKEN_EVENTS]
    return (min(times) - span["start_ns"]) / 1e6 if times else None


@pytest.mark.parametrize("library", list(DRIVERS_RUN))
def test_every_stored_field_is_what_the_library_sent(
    runs: tuple[ServerProcess, dict[str, Any]], library: str
) -> None:
    srv, out = runs
    driver, sent = DRIVERS_RUN[library], out[library]
    if isinstance(sent, str):
        pytest.skip(sent)
    if driver.project:
        assert sent["sdk_errors"] == 0
        assert sent["versions"]["openai"].startswith("1.") == driver.openai1
    assert sent["blocked"] == []  # nothing but loopback was reached for
    assert set(sent["exports"]) == {"SUCCESS"}, sent["exports"]
    assert set(sent.get("log_exports", ["SUCCESS"])) == {"SUCCESS"}
    assert sent["seen"]["chat"] == ANSWER and sent["seen"]["tool"][0] == "get_weather"
    by_id = {s["span_id"]: s for s in sent["spans"]}
    cases: dict[str, dict[str, Any]] = {}
    for s in sent["spans"]:
        text = _text(s, sent["logs"])
        case = _case(s, text)
        if case is not None and (case not in cases or s["name"] != "raw_gen_ai_request"):
            cases[case] = {**s, "text": text}
    assert set(cases) == CASES - driver.missing, sorted(cases)
    rows = _stored(srv, sent.get("service", driver.service), set(by_id))
    assert set(by_id) <= rows.keys(), "spans the library sent are missing"
    prices = load_prices()
    for case, span in sorted(cases.items()):
        row, where = rows[span["span_id"]], f"{library}/{case}"
        got = {f: row[f] for f in REPORTED}
        want = {f: _reported(f, span, by_id) for f in REPORTED}
        want["provider"] = want["provider"].lower() if want["provider"] else None
        want["finish_reason"] = _finish(
            want["finish_reason"], span, sent["logs"], logs_win=row["content_source"] == "logs"
        )
        for f in ("input_tokens", "output_tokens", "cache_read_tokens"):
            want[f] = int(want[f]) if want[f] is not None else None
        if want["cost"] is not None:
            want["cost"] = pytest.approx(float(want["cost"]))
            assert row["cost_source"] == "reported", where
        else:
            priced = prices.cost(row["model"], input_tokens=row["input_tokens"],
                                 output_tokens=row["output_tokens"],
                                 cache_read_tokens=row["cache_read_tokens"],
                                 cache_write_tokens=row["cache_write_tokens"],
                                 reasoning_tokens=row["reasoning_tokens"])  # fmt: skip
            want["cost"] = pytest.approx(float(priced.amount)) if priced else None
            assert row["cost_source"] == ("price_table" if priced else None), where
        assert got == want, where
        # the fake's usage, where the library reported usage at all
        if case in ("chat", "turn0", "tool") and row["input_tokens"] is not None:
            assert (row["input_tokens"], row["output_tokens"]) == (120, 8), where
        # content: stored wherever the library exported it
        user_text = {"embed": "case:embed first"}.get(case, f"case:{case} ")
        if user_text in span["text"] and case not in driver.unjoined:
            assert user_text.strip() in (row["prompt"] or ""), where
        else:
            assert row["prompt"] is None, where
        if case == "tool-result" and "temperature_c" in span["text"]:
            assert TOOL_RESULT in row["prompt"], where
        if case == "tool":
            assert "get_weather" in row["response"] and "Paris" in row["response"], where
        elif case in ("embed", "error"):  # no vectors, no empty text
            assert row["response"] is None, where
        elif ANSWER in span["text"]:
            assert row["response"] == ANSWER, where
        # time to first token: from the library's first-token event, or none
        ttft = _first_token_ms(span)
        assert row["ttft_ms"] == (pytest.approx(ttft, abs=1e-3) if ttft is not None else None)
        # the error: its status, and the library's message
        if case == "error":
            assert span["status"] == "ERROR" and row["status_code"] == "error", where
            assert "overloaded" in row["status_message"], where
        else:
            assert row["status_code"] != "error", where
    # the session: every turn attributed to its session and user where the library said so
    for turn in ("turn0", "turn1", "turn2"):
        row = rows[cases[turn]["span_id"]]
        assert row["user_id"] == USER, (library, turn)
        if library != "litellm":  # LiteLLM exports no session id (metadata is not exported)
            assert row["session_id"] == SESSION, (library, turn)


def test_the_metrics_stored_are_what_the_libraries_recorded(
    runs: tuple[ServerProcess, dict[str, Any]],
) -> None:
    """openai-v2 (OTLP HTTP) and LiteLLM (gRPC) export GenAI client metrics: token usage,
    operation duration and LiteLLM's time to first token, cost and durations."""
    srv, out = runs
    recorded = [
        m for sent in out.values() if isinstance(sent, dict) for m in sent.get("metrics", [])
    ]
    if not recorded:
        pytest.skip("no driver recording metrics ran")
    want: dict[tuple[str, str | None, str | None], list[float]] = {}
    for m in recorded:
        a = m["attributes"]
        key = (m["name"], a.get("gen_ai.response.model") or a.get("gen_ai.request.model"),
               a.get("gen_ai.token.type"))  # fmt: skip
        count_sum = want.setdefault(key, [0, 0.0])
        count_sum[0] += m["count"]
        count_sum[1] += m["sum"]
    assert ("gen_ai.server.time_to_first_token", "gpt-4o-mini", None) in want  # LiteLLM's
    deadline = time.monotonic() + 60
    while True:
        rows = httpx.get(f"{srv.url}/v1/llm/metrics", timeout=30).json()
        got = {(r["name"], r["model"], r["token_type"]): [r["count"], r["sum"]] for r in rows}
        if got.keys() >= want.keys() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got.keys() == want.keys()
    for key, (count, total) in want.items():
        assert got[key] == [count, pytest.approx(total)], key
