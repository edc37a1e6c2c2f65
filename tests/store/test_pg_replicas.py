"""Issue 18: several ``mlwarden serve`` processes on one PostgreSQL database.

Two real servers share a database: events ingested through both at once are stored exactly
once; exactly one of them (``GET /v1/health`` says ``scheduler: leader``) evaluates monitors,
and when it is killed with SIGKILL mid-evaluation the other takes over and every window of
every monitor ends up evaluated exactly once, with no gap; results written by two servers at
once for the same windows are stored once; and an acknowledgement made through the API of
one server while another runs the analysis of the same incident survives.

The last test kills a server: it runs last in this module.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from mlwarden.incidents import service
from mlwarden.incidents.record import Incident, IncidentState
from mlwarden.monitors.base import Result, Status
from mlwarden.monitors.leadership import Leadership
from mlwarden.monitors.service import results_table
from mlwarden.schema import Feature, ModelSpec
from mlwarden.schema.version_links import MLFLOW_KEY
from mlwarden.server.mlflow_sync import MlflowSync
from mlwarden.store import PostgresStore
from pgserver import PostgresServer
from serverproc import ServerProcess

PROJECT = "default"  # the project of a server without keys
SPEC = {"name": "m", "task": "regression", "features": [{"name": "x", "kind": "numeric"}]}
CADENCE = timedelta(minutes=15)
#: generous bounds on a loaded 2-core machine; every wait is on a condition
BOUND = 240.0


def wait_for(what: str, cond: Callable[[], Any], *, timeout: float = BOUND) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def pg_url(pg_server: PostgresServer) -> str:
    return pg_server.create_database("replicas")


def ours(srv: ServerProcess, pg_url: str) -> bool:
    """Whether the server answering on ``srv``'s port is ``srv`` on our database: on a machine
    shared with other test runs, another run's server may take the port between its probe and
    our bind, and answer our health check while ours exits (port in use)."""
    name = f"whoami{srv.port}"
    spec = {**SPEC, "name": name}
    try:
        created = httpx.post(f"{srv.url}/v1/models", json=spec, timeout=BOUND).status_code
    except httpx.HTTPError:
        return False
    found = scalar(pg_url, "SELECT count(*) FROM models WHERE name = %s", (name,))
    return created == 201 and found == 1 and srv.proc is not None and srv.proc.poll() is None


def start_replica(data_dir: Path, pg_url: str) -> ServerProcess:
    # the scheduler asks for the lease every second: a takeover within a couple of seconds
    for _ in range(3):
        srv = ServerProcess(data_dir, "--store", pg_url, "--evaluate-every", "1").start()
        if ours(srv, pg_url):
            return srv
        srv.stop()
    pytest.fail(f"no free port for a server after 3 tries: {srv.log.read_text()[-500:]}")


@pytest.fixture(scope="module")
def servers(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    dirs = [tmp_path_factory.mktemp(f"replica-{n}") for n in ("a", "b")]
    pair: list[ServerProcess] = []
    try:
        with ThreadPoolExecutor(2) as pool:  # both start at once: their imports overlap
            for started in [pool.submit(start_replica, d, pg_url) for d in dirs]:
                pair.append(started.result())
        yield pair
    finally:
        for srv in pair:
            srv.stop()


def scalar(url: str, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with psycopg.connect(url) as con:
        row = con.execute(sql, params).fetchone()
    return None if row is None else row[0]


def row(i: int, at: datetime) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "timestamp": at.isoformat(),
        "features": {"x": (i * 37 % 101) / 101},
        "prediction": (i * 53 % 97) / 97,
    }


def test_concurrent_ingest_through_both_stores_each_acknowledged_event_once(
    servers: list[ServerProcess], pg_url: str
) -> None:
    spec = {**SPEC, "name": "ingested"}
    with httpx.Client(base_url=servers[0].url, timeout=BOUND) as c:
        assert c.post("/v1/models", json=spec).status_code == 201
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    # four threads, two per server; each thread's ids overlap its neighbours' and each thread
    # sends its first batch twice: overlapping batches and re-sends through both servers
    plans = [
        [list(range(k, k + 300)) for k in range(t * 600, t * 600 + 1200, 150)] for t in range(4)
    ]
    plans = [p + p[:1] for p in plans]
    acked: set[int] = set()
    inserted = [0]
    errors: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(len(plans))

    def send(t: int) -> None:
        with httpx.Client(base_url=servers[t % 2].url, timeout=BOUND) as c:
            barrier.wait(timeout=60)
            for ids in plans[t]:
                batch = [row(i, t0 + timedelta(seconds=i)) for i in ids]
                r = c.post("/v1/models/ingested/events", json=batch)
                with lock:
                    if r.status_code >= 300:
                        errors.append(f"{r.status_code}: {r.text[:300]}")
                        continue
                    body = r.json()
                    acked.update(ids)
                    inserted[0] += body["received"] - body["duplicates"]

    threads = [threading.Thread(target=send, args=(t,)) for t in range(len(plans))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=BOUND)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert acked == {i for plan in plans for ids in plan for i in ids}  # every one
    uid = scalar(pg_url, "SELECT uid FROM models WHERE name = 'ingested'")
    with psycopg.connect(pg_url) as con:
        count, distinct = con.execute(
            f'SELECT count(*), count(DISTINCT event_id) FROM "events_{uid}"'
        ).fetchone() or (0, 0)
    assert count == distinct == len(acked)
    assert inserted[0] == len(acked)  # what the servers said they inserted adds up


def test_results_written_by_two_servers_at_once_are_stored_once(pg_url: str) -> None:
    """The same windows evaluated by two servers at once (the scheduler's holder and an
    explicit ``POST .../evaluate`` on the other, or a holder that lost its lease mid-run):
    each (monitor, segment, window) is stored once, not once per writer."""
    a, b = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        spec = ModelSpec(
            name="twice", task="regression", features=[Feature(name="x", kind="numeric")]
        )
        a.create_model(PROJECT, spec)
        t0 = datetime(2026, 3, 1, tzinfo=UTC)
        table = results_table(
            [
                Result(
                    monitor=f"feature_drift:x{k}",
                    kind="feature_drift",
                    window_start=t0 + w * CADENCE,
                    window_end=t0 + (w + 1) * CADENCE,
                    status=Status.OK,
                    value=0.01,
                    threshold=0.1,
                    n=10,
                )
                for k in range(5)
                for w in range(40)
            ]
        )
        errors: list[BaseException] = []

        def write(store: PostgresStore, barrier: threading.Barrier) -> None:
            try:
                barrier.wait(timeout=60)
                store.write_results(PROJECT, "twice", table)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        for _ in range(8):
            barrier = threading.Barrier(2)
            threads = [threading.Thread(target=write, args=(s, barrier)) for s in (a, b)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=BOUND)
        assert errors == []
        stored = scalar(pg_url, "SELECT count(*) FROM results WHERE model = 'twice'")
        assert stored == table.num_rows
    finally:
        a.close()
        b.close()


def test_an_acknowledgement_through_the_api_during_another_servers_analysis_survives(
    servers: list[ServerProcess], pg_url: str
) -> None:
    """Issue 18's race across processes: the analysing server (a store of its own, as the
    scheduler's holder has) folds a result into an incident and, while its analysis runs, a
    person acknowledges the incident through the other server's API."""
    spec = ModelSpec(name="raced", task="regression", features=[Feature(name="x", kind="numeric")])
    store = PostgresStore(pg_url)
    try:
        store.create_model(PROJECT, spec)
        now = datetime.now(UTC).replace(microsecond=0)
        w = now - 2 * timedelta(days=1)
        fired = Result(
            monitor="feature_drift:x",
            kind="feature_drift",
            window_start=w,
            window_end=w + timedelta(days=1),
            status=Status.ALERT,
            value=0.3,
            threshold=0.1,
            n=500,
            column="x",
            reason="drift",
        )
        acks: list[httpx.Response] = []

        def acknowledge_through_the_api(inc: Incident) -> None:
            with httpx.Client(base_url=servers[1].url, timeout=BOUND) as c:
                acks.append(c.post(f"/v1/incidents/{inc.id}/acknowledge", json={"by": "alice"}))

        (change,) = service.process(
            store, PROJECT, "raced", [fired], cadence=timedelta(days=1), slices=False,
            now=now, on_analysed=acknowledge_through_the_api,
        )  # fmt: skip
        assert [r.status_code for r in acks] == [200], [r.text for r in acks]
        assert change.incident.state is IncidentState.ACKNOWLEDGED
        with httpx.Client(base_url=servers[0].url, timeout=BOUND) as c:
            got = c.get(f"/v1/incidents/{change.incident.id}").json()
        assert got["state"] == "acknowledged"  # was "open": the ack was overwritten
        assert [e["event"] for e in got["timeline"]] == ["opened", "acknowledged"]
        assert got["timeline"][1]["by"] == "alice"
    finally:
        store.close()


class _MlflowCalls(BaseHTTPRequestHandler):
    """An MLflow tracking server that records the paths it is called on (and answers 500)."""

    calls: list[str] = []

    def _answer(self) -> None:
        type(self).calls.append(self.path.split("?")[0])
        body = b'{"error_code": "INTERNAL_ERROR", "message": "no"}'
        self.send_response(500)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


def test_a_once_per_deployment_job_runs_on_the_leaseholder_only(pg_server: PostgresServer) -> None:
    """The MLflow job of a server that does not hold the lease makes no call; when the holder
    is gone it takes over (the judge, probe and retention jobs ask the same way)."""
    pg_url = pg_server.create_database("replicas_job")  # not the servers': one of them leads
    holder, standby = PostgresStore(pg_url), PostgresStore(pg_url)
    mlflow = ThreadingHTTPServer(("127.0.0.1", 0), _MlflowCalls)
    threading.Thread(target=mlflow.serve_forever, daemon=True).start()
    job = None
    try:
        spec = ModelSpec(
            name="synced", task="regression", features=[Feature(name="x", kind="numeric")]
        )
        holder.create_model(PROJECT, spec)
        link = {MLFLOW_KEY: {"name": "synced", "version": "1"}}
        holder.create_version(PROJECT, "synced", "1", metadata=link)
        assert holder.hold_scheduler()
        leadership = Leadership.of(standby)
        job = MlflowSync(
            standby,
            tracking_uri=f"http://127.0.0.1:{mlflow.server_port}",
            every=0.05,
            timeout=5,
            leading=leadership,
        ).start()
        wait_for("five rounds of the standby's job", lambda: leadership.asked_ >= 5)
        assert _MlflowCalls.calls == [] and leadership.role == "standby"
        holder.close()  # the holder is gone: its lease with it
        wait_for("the standby's job to call MLflow", lambda: _MlflowCalls.calls)
        assert leadership.role == "leader"
    finally:
        if job is not None:
            job.stop()
        mlflow.shutdown()
        mlflow.server_close()
        holder.close()
        standby.close()


def roles(servers: list[ServerProcess]) -> list[str | None]:
    out: list[str | None] = []
    for srv in servers:
        try:
            out.append(httpx.get(f"{srv.url}/v1/health", timeout=30).json()["scheduler"])
        except httpx.HTTPError:
            out.append(None)
    return out


def test_killing_the_schedulers_holder_mid_evaluation_the_other_takes_over(
    servers: list[ServerProcess], pg_url: str
) -> None:
    """Runs last: it kills one of the module's servers."""
    wait_for(
        "one leader and one standby",
        lambda: sorted(r or "" for r in roles(servers)) == ["leader", "standby"],
    )
    (holder,) = [s for s, r in zip(servers, roles(servers), strict=True) if r == "leader"]
    (other,) = [s for s in servers if s is not holder]
    # five days of events every 5 minutes, ending in a closed window: 480 windows of 15 min,
    # 15 chunks of the scheduler's, each chunk's mark stored when it is done
    now = datetime.now(UTC)
    end = now.replace(minute=now.minute // 15 * 15, second=0, microsecond=0)  # of the data
    first = end - timedelta(days=5)
    n = int((end - first) / timedelta(minutes=5))
    rows = [row(i, first + i * timedelta(minutes=5)) for i in range(n)]
    with httpx.Client(base_url=other.url, timeout=BOUND) as c:
        assert c.post("/v1/models", json={**SPEC, "name": "w"}).status_code == 201
        for k in range(0, n, 500):  # through both servers
            via = servers[(k // 500) % 2].url
            r = httpx.post(f"{via}/v1/models/w/events", json=rows[k : k + 500], timeout=BOUND)
            assert r.status_code == 200, r.text
        window = {"start": first.isoformat(), "end": (first + timedelta(days=1)).isoformat()}
        assert c.post("/v1/models/w/reference/from-window", json=window).status_code == 201
        setup = c.post("/v1/models/w/monitors/setup", json={"cadence": "15m"})
        assert setup.status_code == 200, setup.text
    mark = "SELECT evaluated_until FROM monitor_suites WHERE model = 'w'"
    wait_for("the first chunk's mark", lambda: scalar(pg_url, mark))
    holder.kill()  # SIGKILL: no shutdown; its transaction and its lease die with it
    left = utc(scalar(pg_url, mark))
    assert left < end, "the evaluation ended before the kill: evaluate a longer range"
    wait_for("the other server to lead", lambda: roles([other]) == ["leader"])
    wait_for("the new leader to evaluate the rest", lambda: utc(scalar(pg_url, mark)) >= end)
    with psycopg.connect(pg_url) as con:
        stored = con.execute(
            "SELECT monitor, coalesce(segment, ''), window_start FROM results "
            "WHERE model = 'w' AND window_end <= %s",
            (end.replace(tzinfo=None),),
        ).fetchall()
    per_monitor: dict[tuple[str, str], list[datetime]] = defaultdict(list)
    for monitor, segment, start in stored:
        per_monitor[(monitor, segment)].append(utc(start))
    assert len(per_monitor) >= 3, per_monitor.keys()
    expected = {first + i * CADENCE for i in range(int((end - first) / CADENCE))}
    assert len(expected) == 480
    for key, starts in per_monitor.items():
        twice = [w for w, k in Counter(starts).items() if k > 1]
        assert twice == [], f"{key}: windows evaluated twice: {twice[:5]}"
        missing = sorted(expected - set(starts))
        assert missing == [], f"{key}: {len(missing)} windows skipped: {missing[:3]}, ..."


def utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
