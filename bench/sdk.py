"""What the SDK costs a model server: log() on the calling thread, the middleware's added
latency, and the SDK's memory at steady state.

* ``log()``: 1M calls with 20 features, timed in groups of 100 with perf_counter_ns (per-call
  figures are group means), once with the delivery threads idle (the call alone) and once with
  them batching and converting beside it (their work competes for the GIL). Target: median
  <= 5 µs.
* middleware: a FastAPI endpoint served by uvicorn (subprocess), mounted bare, behind the
  ASGI middleware, and behind it with JSON extraction, in one process; a load generator on
  loopback alternates between the three (keep-alive, sequential), and the SDK delivers to a
  real mlwarden server. Also the middleware's CPU per request, calling the ASGI app directly.
  Target: added p99 <= 0.2 ms.
* memory: RSS of a fresh process before ``init`` and at steady state (20k events/s to a real
  server), and with the queue full (50k events of 20 features).

    python bench/sdk.py [--calls 1000000] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
import mlwarden  # noqa: E402
from mlwarden.sdk import Outcome, Result, Transport  # noqa: E402
from serverproc import ServerProcess, free_port  # noqa: E402

N_FEATURES = 20
GROUP = 100
PACED_RATE = 100_000


class Discard(Transport):
    """Takes every batch and keeps nothing: the SDK's own cost, no receiver's."""

    def send_events(self, model: str, table: pa.Table) -> Outcome:
        return Outcome(Result.OK, accepted=table.num_rows)

    def send_actuals(self, model: str, table: pa.Table) -> Outcome:
        return Outcome(Result.OK, accepted=table.num_rows)


def feature_rows(n: int = 1000) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    return [
        {f"f{i}": float(x) for i, x in enumerate(rng.normal(size=N_FEATURES))} for _ in range(n)
    ]


def time_log(monitor: mlwarden.Monitor, calls: int, *, between: Any = None) -> np.ndarray:
    """Per-call ns of ``log``, one figure per group of GROUP calls."""
    rows = feature_rows()
    log = monitor.log
    out = np.empty(calls // GROUP)
    clock = time.perf_counter_ns
    k = 0
    for g in range(calls // GROUP):
        t0 = clock()
        for _ in range(GROUP):
            log(rows[k], 1, score=0.5)
            k = (k + 1) % 1000
        out[g] = (clock() - t0) / GROUP
        if between is not None:
            between()
    return out


def bench_log(calls: int, spool: Path) -> list[tuple[str, np.ndarray, float]]:
    # a) delivery idle: the batcher never wakes (interval and batch size out of reach); the
    #    queue is emptied between groups, outside the timed region, so nothing is dropped
    idle = mlwarden.init(model="bench", transport=Discard(), flush_interval=3600,
                         batch_size=10**9, max_queue=10**6, spool_dir=spool)  # fmt: skip
    idle._pipeline.warm.wait(60)  # pyarrow's first conversion imports pandas: not in the timing
    time_log(idle, 20_000, between=idle._events.clear)  # warm up
    alone = time_log(idle, calls, between=idle._events.clear)
    idle._events.clear()
    idle.close()
    # b) delivery running: 100k calls/s (paced between groups, outside the timed region),
    #    the batcher converting batches of 1000 to Arrow beside the caller
    busy = mlwarden.init(model="bench", transport=Discard(), spool_dir=spool)
    busy._pipeline.warm.wait(60)
    pace = Pacer(GROUP / PACED_RATE)
    time_log(busy, 20_000, between=pace)
    running = time_log(busy, calls, between=pace)
    busy.flush(60)
    dropped = busy.stats().dropped / (calls + 20_000)
    busy.close()
    return [
        ("log() alone (delivery idle)", alone, 0.0),
        (f"log() at {PACED_RATE:,}/s, delivery running", running, dropped),
    ]


class Pacer:
    """Sleep until the next slot: calls at a steady rate, not as fast as possible."""

    def __init__(self, period: float) -> None:
        self.period = period
        self.next = time.perf_counter()

    def __call__(self) -> None:
        self.next += self.period
        delay = self.next - time.perf_counter()
        if delay > 0:
            time.sleep(delay)


def request_latency(port: int, paths: list[str], n: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    bodies = [
        json.dumps({"features": {f"f{i}": float(x) for i, x in enumerate(rng.normal(size=20))}})
        for _ in range(200)
    ]
    conn = http.client.HTTPConnection("127.0.0.1", port)
    headers = {"content-type": "application/json"}
    out: dict[str, list[int]] = {p: [] for p in paths}
    clock = time.perf_counter_ns
    for i in range(n):
        order = paths[i % len(paths) :] + paths[: i % len(paths)]  # rotate: no position bias
        for p in order:
            t0 = clock()
            conn.request("POST", p, body=bodies[i % 200], headers=headers)
            r = conn.getresponse()
            r.read()
            out[p].append(clock() - t0)
            assert r.status == 200
    conn.close()
    return {p: np.array(v) / 1e6 for p, v in out.items()}


def bench_middleware(requests: int, tmp: Path) -> dict[str, np.ndarray]:
    srv = ServerProcess(tmp / "data").start()
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "MLWARDEN_URL": srv.url,
        "MLWARDEN_SPOOL_DIR": str(tmp / "spool"),
    }
    cmd = [sys.executable, "-m", "uvicorn", "sdk_app:app", "--app-dir", str(ROOT / "bench")]
    cmd += ["--port", str(port), "--log-level", "warning"]
    app = subprocess.Popen(cmd, env=env)
    try:
        paths = ["/bare/predict", "/monitored/predict", "/extracting/predict"]
        deadline = time.monotonic() + 60
        while True:
            try:
                request_latency(port, paths, 1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        request_latency(port, paths, 500)  # warm up (and the model gets registered)
        return request_latency(port, paths, requests)
    finally:
        app.terminate()
        app.wait(30)
        srv.stop()


def middleware_cpu(n: int = 20_000) -> tuple[float, float]:
    """µs per request of the bare ASGI app and of the same app behind the middleware."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b'{"prediction": 1}'})

    monitor = mlwarden.init(model="cpu", transport=Discard(), spool_dir=tempfile.mkdtemp())
    wrapped = mlwarden.ASGIMiddleware(app, monitor=monitor)
    scope = {"type": "http", "method": "POST", "path": "/predict", "headers": []}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        pass

    async def run(target: Any) -> float:
        for _ in range(2000):
            await target(dict(scope), receive, send)
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await target(dict(scope), receive, send)
        return (time.perf_counter_ns() - t0) / n / 1000

    bare = asyncio.run(run(app))
    with_mw = asyncio.run(run(wrapped))
    monitor.close()
    return bare, with_mw


def memory_probe(url: str, spool: str) -> None:
    """Run in a fresh process: RSS before init, after it, at steady state, and per queued event."""
    import psutil

    proc = psutil.Process()
    rows = feature_rows()
    rss0 = proc.memory_info().rss
    monitor = mlwarden.init(model="bench", url=url, task="binary", create=True, spool_dir=spool)
    monitor._pipeline.warm.wait(60)
    rss_init = proc.memory_info().rss
    peak_queue = 0
    end = time.monotonic() + 8.0
    k = 0
    while time.monotonic() < end:  # ~20k events/s in bursts of 20 per ms
        for _ in range(20):
            monitor.log(rows[k % 1000], 1, score=0.5)
            k += 1
        peak_queue = max(peak_queue, len(monitor._events))
        time.sleep(0.001)
    steady = proc.memory_info().rss
    sent_ok = monitor.flush(30)
    stats = monitor.stats()
    monitor.close()
    full = mlwarden.init(model="bench", url=url, flush_interval=3600, batch_size=10**9,
                         spool_dir=spool)  # fmt: skip
    rng = np.random.default_rng(2)
    names = [f"f{i}" for i in range(N_FEATURES)]
    before_full = proc.memory_info().rss
    for _ in range(full.max_queue):  # fresh float objects, owned by the queue alone
        full.log(dict(zip(names, rng.normal(size=N_FEATURES).tolist(), strict=True)), 1)
    full_rss = proc.memory_info().rss
    full.close(timeout=30)
    print(
        json.dumps(
            {
                "events": k,
                "rate": k / 8.0,
                "init_mb": (rss_init - rss0) / 2**20,
                "steady_mb": (steady - rss_init) / 2**20,
                "peak_queue": peak_queue,
                "delivered": sent_ok and stats.dropped == 0,
                "max_queue": full.max_queue,
                "full_queue_mb": (full_rss - before_full) / 2**20,
            }
        )
    )


def bench_memory(tmp: Path) -> dict[str, Any]:
    srv = ServerProcess(tmp / "mem-data").start()
    try:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        }
        out = subprocess.run(
            [sys.executable, __file__, "--memory-probe", srv.url, str(tmp / "mem-spool")],
            env=env, capture_output=True, text=True, timeout=300, check=True,
        )  # fmt: skip
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result
    finally:
        srv.stop()


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--memory-probe", nargs=2, metavar=("URL", "SPOOL"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_probe:
        memory_probe(*args.memory_probe)
        return
    tmp = Path(tempfile.mkdtemp(prefix="mlw-bench-sdk-"))
    try:
        print(f"sdk: log() with {N_FEATURES} features, {args.calls:,} calls, groups of {GROUP}")
        print(f"{'':38} {'median µs':>10} {'p99 µs':>8} {'target':>8} {'dropped':>8}")
        for name, ns, dropped in bench_log(args.calls, tmp / "spool"):
            med, p99 = np.percentile(ns, [50, 99]) / 1000
            print(f"{name:38} {med:10.2f} {p99:8.2f} {'<= 5':>8} {dropped:8.1%}")

        bare_cpu, mw_cpu = middleware_cpu()
        lat = bench_middleware(args.requests, tmp)
        base = lat["/bare/predict"]
        print(f"\nmiddleware: FastAPI on uvicorn, loopback, {args.requests:,} requests per variant")
        print(f"{'':34} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'target':>8}")
        for path, name in (
            ("/bare/predict", "bare endpoint"),
            ("/monitored/predict", "with middleware"),
            ("/extracting/predict", "with middleware + extraction"),
        ):
            p50, p99 = np.percentile(lat[path], [50, 99])
            b50, b99 = np.percentile(base, [50, 99])
            target = "<= 0.2" if path != "/bare/predict" else "-"
            print(
                f"{name:34} {p50:8.3f} {p99:8.3f} {p50 - b50:+8.3f} {p99 - b99:+8.3f} {target:>8}"
            )
        print(f"middleware CPU per request (direct ASGI call): {mw_cpu - bare_cpu:.1f} µs "
              f"({bare_cpu:.1f} µs bare app, {mw_cpu:.1f} µs wrapped)")  # fmt: skip

        mem = bench_memory(tmp)
        print(f"\nmemory: {mem['events']:,} events at {mem['rate']:,.0f}/s to a real server")
        print(f"RSS growth from init() (threads, HTTP client, pyarrow's lazy imports): "
              f"{mem['init_mb']:.1f} MiB")  # fmt: skip
        print(f"RSS growth from then to steady state: {mem['steady_mb']:.1f} MiB "
              f"(peak queue {mem['peak_queue']} events; all delivered: {mem['delivered']})")  # fmt: skip
        full_mb, cap = mem["full_queue_mb"], mem["max_queue"]
        print(f"RSS growth with the queue full ({cap:,} events x {N_FEATURES} features): "
              f"{full_mb:.1f} MiB ({full_mb * 2**20 / cap:,.0f} bytes per queued event)")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
