"""OTLP ingest throughput: spans/s into the real server over HTTP protobuf and over gRPC.

Builds ``--requests`` protobuf ``ExportTraceServiceRequest`` bodies of ``--spans`` spans each
(agent traces: a root with user and session, then LLM calls with GenAI attributes, a short
prompt and response unless ``--no-content``, tokens), encodes them up front, and sends them from ``--clients``
concurrent clients to a server process on loopback with a fresh DuckDB file: once to
``POST /v1/traces`` and once to the gRPC receiver (``--otlp-grpc-port``). Each span is decoded,
normalised, priced, checked (PII, injection, refusal) and stored before its request is
acknowledged; the rate is spans acknowledged over first send to last acknowledgement.

Beside the wall-clock rate it prints the CPU seconds the server process and the sending
clients used (from ``/proc``): on a shared machine the wall clock counts other processes'
time, the CPU seconds per span do not, and ``2 cores / server CPU per span`` is what two
idle cores could ingest with the clients elsewhere. The checks keep each distinct text of a
request once: ``--distinct-texts`` gives every span its own question (no repeats), the
worst case for that.

Phoenix (Arize), the closest open-source tool, publishes no ingest throughput figures (its
support answer: "There are no official load test benchmarks published",
https://community.arize.com/x/phoenix-support/v81ruyvzaiks/post-on-sep-09-2025); its HTTP
receiver acknowledges a request before storing its spans (a background task), mlwarden after.

The server runs with ``--ingest-workers 2`` (worker processes decoding and checking the
exports, beside the server's process) unless ``--ingest-workers`` says otherwise; the CPU
seconds are the server process's and its workers' apart.

    PYTHONPATH=src python bench/otlp.py [--requests 200] [--spans 512] [--clients 8]
        [--ingest-workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from serverproc import ServerProcess, free_port  # noqa: E402

T0 = 1_767_225_600_000_000_000
SPANS_PER_TRACE = 4
QUESTIONS = ["What is the capital of France?", "Summarise this ticket for me please.",
             "Translate 'good morning' to German.", "How do I reset my password?"]  # fmt: skip


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def body(k: int, spans: int, *, content: bool = True, distinct: bool = False) -> bytes:
    """Request ``k``: ``spans`` spans, traces of a root and three LLM calls (``distinct``:
    each LLM call's question is its own)."""
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(_kv("service.name", "bench-bot"))
    ss = rs.scope_spans.add()
    ss.scope.name = "bench"
    for i in range(spans):
        n = k * spans + i
        trace, pos = divmod(n, SPANS_PER_TRACE)
        s = ss.spans.add()
        s.trace_id = trace.to_bytes(16, "big")
        s.span_id = (n + 1).to_bytes(8, "big")
        start = T0 + n * 1_000_000
        s.start_time_unix_nano, s.end_time_unix_nano = start, start + 800_000_000
        if pos == 0:
            s.name = "agent"
            s.attributes.extend([_kv("user.id", f"u-{trace % 500}"),
                                 _kv("session.id", f"s-{trace % 2000}")])  # fmt: skip
            continue
        s.parent_span_id = (trace * SPANS_PER_TRACE + 1).to_bytes(8, "big")
        s.name, s.kind = "chat gpt-4o-mini", 3
        q = QUESTIONS[n % len(QUESTIONS)]
        if distinct:
            q = f"{q} (ticket {n}, user u-{trace % 500})"
        msgs = json.dumps([{"role": "user", "parts": [{"type": "text", "content": q}]}])
        out = json.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Sure."}]}])
        s.attributes.extend([
            _kv("gen_ai.operation.name", "chat"), _kv("gen_ai.provider.name", "openai"),
            _kv("gen_ai.request.model", "gpt-4o-mini"), _kv("gen_ai.usage.input_tokens", 40),
            _kv("gen_ai.usage.output_tokens", 9),
        ])  # fmt: skip
        if content:  # the texts, which the PII, injection and refusal checks read
            s.attributes.extend([_kv("gen_ai.input.messages", msgs),
                                 _kv("gen_ai.output.messages", out)])  # fmt: skip
    return req.SerializeToString()


def http_sender(url: str) -> Callable[[bytes], None]:
    http = httpx.Client(base_url=url, timeout=300)

    def send(b: bytes) -> None:
        r = http.post("/v1/traces", content=b, headers={"content-type": "application/x-protobuf"})
        r.raise_for_status()

    return send


def grpc_sender(port: int) -> Callable[[bytes], None]:
    import grpc

    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")

    def send(b: bytes) -> None:
        export(b, timeout=300)

    return send


def _stat(pid: int | str) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """User + system CPU seconds used so far by process ``pid`` (all its threads), and by its
    live child processes (the ingest workers)."""
    own = children = 0
    for p in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            fields = _stat(p)
        except OSError:  # gone meanwhile
            continue
        if p == str(pid):
            own += int(fields[11]) + int(fields[12])
        elif fields[1] == str(pid):
            children += int(fields[11]) + int(fields[12])
    tick = os.sysconf("SC_CLK_TCK")
    return own / tick, children / tick


def own_cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run(send: Callable[[bytes], None], bodies: list[bytes], clients: int) -> float:
    t = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(send, bodies))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--spans", type=int, default=512, help="spans per request (OTel's batch)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--no-content", action="store_true", help="spans without prompt/response")
    ap.add_argument("--distinct-texts", action="store_true", help="no two questions alike")
    ap.add_argument("--transports", default="http,grpc", help="comma-separated: http, grpc")
    ap.add_argument(
        "--ingest-workers",
        type=int,
        default=2,
        help="the server's --ingest-workers (processes decoding and checking)",
    )
    args = ap.parse_args()
    n = args.requests * args.spans
    print(
        f"{args.requests} requests x {args.spans} spans, {args.clients} clients, "
        f"{args.ingest_workers} ingest workers",
        flush=True,
    )
    results = {}
    for transport in args.transports.split(","):
        offset = 0 if transport == "http" else args.requests  # fresh ids each run
        bodies = [body(offset + k, args.spans, content=not args.no_content,
                       distinct=args.distinct_texts) for k in range(args.requests)]  # fmt: skip
        tmp = Path(tempfile.mkdtemp(prefix="mlw-otlp-bench-"))
        port = free_port()
        workers = ["--ingest-workers", str(args.ingest_workers)] if args.ingest_workers else []
        srv = ServerProcess(tmp / "data", "--otlp-grpc-port", str(port),
                            "--rate-limit-ingest", "0", "--evaluate-every", "0",
                            *workers).start()  # fmt: skip
        try:
            send = http_sender(srv.url) if transport == "http" else grpc_sender(port)
            send(body(10_000_000, 10))  # warm up (imports, prices, checks)
            assert srv.proc is not None
            cpu0, own0 = cpu_seconds(srv.proc.pid), own_cpu_seconds()
            elapsed = run(send, bodies, args.clients)
            cpu1 = cpu_seconds(srv.proc.pid)
            main_cpu, workers_cpu = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
            server_cpu = main_cpu + workers_cpu
            client_cpu = own_cpu_seconds() - own0
            results[transport] = (n / elapsed, 2 * n / server_cpu)
            usage = httpx.get(f"{srv.url}/v1/llm/usage", params={"window": "all", "by": "service"},
                              timeout=300)  # fmt: skip
            usage.raise_for_status()
            stored = sum(r["spans"] for r in usage.json())
            print(f"{transport:5s} {n:,} spans in {elapsed:.2f} s: {n / elapsed:,.0f} spans/s "
                  f"({stored:,} stored); server CPU {server_cpu:.2f} s "
                  f"({1e6 * server_cpu / n:.0f} us/span: {1e6 * main_cpu / n:.0f} in the server "
                  f"process, {1e6 * workers_cpu / n:.0f} in its workers), "
                  f"clients' CPU {client_cpu:.2f} s, "
                  f"load average {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
        finally:
            srv.stop()
            shutil.rmtree(tmp, ignore_errors=True)
    target = 20_000
    for transport, (rate, capacity) in results.items():
        verdict = "meets" if rate >= target else "below"
        print(f"{transport}: {rate:,.0f} spans/s ({verdict} the {target:,} spans/s target); "
              f"2 cores / server CPU per span: {capacity:,.0f} spans/s")  # fmt: skip
    print("Phoenix: no published ingest throughput figures (see this file's docstring).")


if __name__ == "__main__":
    main()
