"""The LLM SDK never breaks the app: faults of its own are logged once and counted, the app's
result or exception passes through untouched; a real app in a fresh interpreter, with the
installed openai and with the oldest supported one (``make openai1``)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from fake_openai import FakeOpenAI

import mlwarden
from mlwarden.sdk.llm import (
    InMemoryExporter,
    OTLPExporter,
    SpanExporter,
    configure,
    sdk_errors,
    start_span,
    trace,
    wrap_openai,
)
from serverproc import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
#: Where ``make openai1`` installs the oldest supported openai (1.x) for these tests.
OPENAI1 = Path(os.environ.get("MLWARDEN_OPENAI1_DIR") or ROOT / ".venv-openai1")
MESSAGES = [{"role": "user", "content": "Capital of France?"}]


def _run_app(fake: FakeOpenAI, extra_path: Path | None) -> dict[str, Any]:
    paths = [str(p) for p in (extra_path, ROOT / "src", HERE, ROOT / "tests") if p is not None]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
    sink = f"http://127.0.0.1:{free_port()}"  # nobody listens: spans are dropped, as when down
    out = subprocess.run(
        [sys.executable, str(HERE / "openai_app.py"), fake.base_url, sink],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _check_app(result: dict[str, Any]) -> None:
    paris = "The capital of France is Paris."
    assert result["answers"][:6] == [paris] * 6
    assert result["answers"][6] == "chatcmpl-1"
    assert result["answers"][7] == [0.5, -0.25, 0.125, 1.0]
    assert result["answers"][8:] in ([], [paris])
    assert result["imports_on_exporter_thread"] == []  # nothing to race the app's imports
    assert result["spans"] == result["expected_spans"]  # with_options' client is traced too
    assert result["sdk_errors"] == 0


def test_a_real_app_with_the_installed_openai(fake: FakeOpenAI) -> None:
    pytest.importorskip("openai")
    _check_app(_run_app(fake, None))


def test_a_real_app_with_the_oldest_supported_openai(fake: FakeOpenAI) -> None:
    if not (OPENAI1 / "openai").is_dir():
        pytest.skip(f"no openai 1.x at {OPENAI1}: run `make openai1`")
    result = _run_app(fake, OPENAI1)
    assert result["openai"].startswith("1.")
    _check_app(result)


# -- faults of the SDK's own ------------------------------------------------------------------
class _Completions:
    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def create(self, **kwargs: Any) -> Any:
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def _duck(answer: Any) -> Any:
    """A client of the OpenAI shape (``wrap_openai`` takes any) answering ``answer``."""
    return SimpleNamespace(chat=SimpleNamespace(completions=_Completions(answer)))


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


def test_an_unserialisable_response_reaches_the_app_and_is_counted_once(
    exporter: InMemoryExporter, caplog: pytest.LogCaptureFixture
) -> None:
    odd = {"type": "text", "text": _Unprintable()}
    answer = {"model": "m", "choices": [{"message": {"role": "assistant", "content": [odd]}}]}
    c = wrap_openai(_duck(answer))
    before = sdk_errors()
    with caplog.at_level(logging.DEBUG, logger="mlwarden.sdk.llm"):
        assert c.chat.completions.create(model="m", messages=MESSAGES) is answer
        assert c.chat.completions.create(model="m", messages=MESSAGES) is answer
    assert sdk_errors() == before + 2
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "chat.completions.create" in warnings[0].getMessage()
    assert len(exporter.spans) == 2  # the spans still end, with what could be recorded
    assert exporter.spans[0].attributes["gen_ai.response.model"] == "m"


def test_a_stream_with_odd_chunks_reaches_the_app_whole(exporter: InMemoryExporter) -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": "fine"}}]},
        {"choices": [{"index": "not a number", "delta": {"content": "odd"}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    ]
    c = wrap_openai(_duck(iter(chunks)), include_usage=False)
    before = sdk_errors()
    assert list(c.chat.completions.create(model="m", messages=MESSAGES, stream=True)) == chunks
    assert sdk_errors() == before + 1
    (span,) = exporter.spans
    assert json.loads(span.attributes["gen_ai.output.messages"])[0]["parts"][0]["content"] == (
        "fine"
    )


def test_a_request_the_sdk_cannot_record_goes_out_as_written(exporter: InMemoryExporter) -> None:
    answer = {"model": "m", "choices": []}
    c = wrap_openai(_duck(answer))
    before = sdk_errors()
    odd = [{"role": "user", "content": [{"type": "text", "text": _Unprintable()}]}]
    assert c.chat.completions.create(model="m", messages=odd) is answer
    assert sdk_errors() == before + 1 and exporter.spans == []


class _Broken(SpanExporter):
    def export(self, span: Any) -> None:
        raise OSError("disk full")


def test_a_broken_exporter_costs_spans_not_answers() -> None:
    configure(exporter=_Broken())
    try:
        before = sdk_errors()
        failure = ValueError("the app's own")
        c = wrap_openai(_duck(failure))
        with pytest.raises(ValueError) as info:
            c.chat.completions.create(model="m", messages=MESSAGES)
        assert info.value is failure  # the app's exception, untouched

        @trace
        def unprintable() -> _Unprintable:
            return _Unprintable()

        out = unprintable()
        assert isinstance(out, _Unprintable)
        with start_span("step") as span:
            span.set("k", 1)
        assert sdk_errors() >= before + 3
    finally:
        configure(exporter=InMemoryExporter())


def test_a_client_of_another_shape_is_returned_unwrapped() -> None:
    odd = SimpleNamespace(chat=None)
    assert wrap_openai(odd) is odd


def test_a_real_client_answers_while_the_span_server_is_down(fake: FakeOpenAI) -> None:
    openai = pytest.importorskip("openai")
    ex = OTLPExporter(f"http://127.0.0.1:{free_port()}", retries=0, interval=0.01)
    configure(exporter=ex)
    try:
        c = wrap_openai(openai.OpenAI(base_url=fake.base_url, api_key="t", max_retries=0))
        r = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        assert r.choices[0].message.content == "The capital of France is Paris."
        assert ex.flush(30) and ex.dropped_ == 1
    finally:
        configure(exporter=InMemoryExporter())
        ex.shutdown()


def test_monitor_log_survives_an_unusable_spool_dir(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monitor = mlwarden.init(
        model="churn",
        url=f"http://127.0.0.1:{free_port()}",
        spool_dir=not_a_dir / "spool",
        flush_interval=0.05,
        exit_timeout=1.0,
    )
    try:
        assert monitor.log({"age": 41}, 1)  # an event id, no exception
        assert monitor.flush(30)
        stats = monitor.stats()
        assert stats.dropped == 1 and any("spool" in r for r in stats.drop_reasons)
    finally:
        monitor.close()
