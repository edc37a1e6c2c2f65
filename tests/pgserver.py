"""A real PostgreSQL server for the tests: Debian's binaries, a throw-away cluster in a
temporary directory, listening on a free loopback port and on a unix socket in that directory.

``initdb`` refuses to run as root; CI runs as root, so there the cluster belongs to the
``postgres`` system user (which Debian's package creates) and the server runs as that user
through ``runuser``. As any other user it runs as that user. Authentication is ``trust`` on
loopback only: the cluster lives for one test session.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from serverproc import free_port


def bindir() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``pg_config --bindir``, else Debian's layout."""
    found = shutil.which("pg_config")
    if found:
        out = subprocess.run([found, "--bindir"], capture_output=True, text=True, check=False)
        d = Path(out.stdout.strip())
        if (d / "initdb").exists():
            return d
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(d) / "initdb").exists():
            return Path(d)
    return None


def _as_owner(cmd: list[str]) -> list[str]:
    """Run ``cmd`` as the cluster's owner: ``postgres`` when we are root, else ourselves."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


class PostgresServer:
    def __init__(self, bin_dir: Path) -> None:
        self.bin = bin_dir
        self.port = free_port()
        # not under pytest's tmp dirs: those are 0700 root's, which the postgres user cannot
        # enter; a unix socket path must also stay under ~100 bytes
        self.dir = Path(tempfile.mkdtemp(prefix="mlw-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self, timeout: float = 180.0) -> PostgresServer:
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            _as_owner(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -c port={self.port} "
            f"-c unix_socket_directories={self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        started = subprocess.run(
            _as_owner(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.log),
                    "-o",
                    opts,
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ]
            ),
            check=False,
            capture_output=True,
            text=True,
        )
        if started.returncode != 0:
            log = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {started.stderr.strip()}\n{log}")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
                check=False,
            )
            if ready.returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"postgres did not get ready: {self.log.read_text()[-2000:]}")

    def create_database(self, name: str) -> str:
        """A fresh database on this server; its URL."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self) -> None:
        subprocess.run(
            _as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"]),
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def running_postgres() -> Iterator[PostgresServer]:
    """A started server, stopped and removed on exit; raises when the binaries are missing
    (``make test`` installs Debian's ``postgresql``)."""
    found = bindir()
    if found is None:
        raise RuntimeError(
            "PostgreSQL's server binaries were not found (pg_config --bindir, "
            "/usr/lib/postgresql/*/bin); install Debian's 'postgresql' package (make pgtools)."
        )
    srv = PostgresServer(found)
    try:
        yield srv.start()
    finally:
        srv.stop()
