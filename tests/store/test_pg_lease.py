"""The scheduler's lease on PostgreSQL: one holder among the servers on a database; a holder
that closes, or whose process is killed with SIGKILL, frees it for the next one at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from mlwarden.store import PostgresStore
from mlwarden.store.protocols import SchedulerLease
from pgserver import PostgresServer

HOLDER = """
import sys, time
from mlwarden.store import PostgresStore
store = PostgresStore(sys.argv[1])
assert store.hold_scheduler()
print("held", flush=True)
time.sleep(600)
"""


def test_one_holder_and_takeover(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("lease")
    a, b = PostgresStore(url), PostgresStore(url)
    try:
        assert isinstance(a, SchedulerLease)
        assert a.hold_scheduler() and a.hold_scheduler()  # held, and kept
        assert not b.hold_scheduler()
        a.close()
        assert b.hold_scheduler()
    finally:
        a.close()
        b.close()


def test_a_killed_holder_frees_the_lease(pg_server: PostgresServer) -> None:
    url = pg_server.create_database("lease_kill")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url], stdout=subprocess.PIPE, text=True, env=env
    )
    other = PostgresStore(url)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert not other.hold_scheduler()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not other.hold_scheduler() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other.hold_scheduler()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
        other.close()
