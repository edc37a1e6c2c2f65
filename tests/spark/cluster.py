"""A Spark standalone cluster on loopback for the tests: one master and two workers started
from the jars the ``pyspark`` package bundles (``bin/spark-class``), with Debian's Java.

Nothing is downloaded: the JVMs run the package's own Spark. Each daemon gets small heaps,
one core per worker, and ports found free on 127.0.0.1; :meth:`SparkCluster.start` waits
(bounded) until the master's status page says it is alive, and
:meth:`SparkCluster.wait_for_workers` until it lists both workers (the first session's
driver starts meanwhile).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO, Any

#: JVM options of every daemon, executor and the driver: a quick start over peak speed (the
#: client compiler only, one GC thread) on a machine whose cores run the rest of the suite
JVM_OPTS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -XX:CICompilerCount=1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


class SparkCluster:
    """A master and ``workers`` workers; :attr:`url` is the ``spark://`` master URL."""

    def __init__(self, workdir: Path, *, workers: int = 2, worker_memory: str = "1g") -> None:
        self.workdir = workdir
        self.workers = workers
        self.worker_memory = worker_memory
        self.port = _free_port()
        self.ui_port = _free_port()
        self.url = f"spark://127.0.0.1:{self.port}"
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            SPARK_LOCAL_IP="127.0.0.1",
            SPARK_DAEMON_MEMORY="256m",
            SPARK_LOCAL_DIRS=str(self.workdir / "local"),
            SPARK_NO_DAEMONIZE="1",
            SPARK_DAEMON_JAVA_OPTS=JVM_OPTS,
        )
        return env

    def _spawn(self, name: str, *args: str) -> None:
        log = open(self.workdir / f"{name}.log", "wb")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        cmd = [str(spark_home() / "bin" / "spark-class"), *args]
        self._procs.append(
            subprocess.Popen(cmd, env=self._env(), stdout=log, stderr=subprocess.STDOUT)
        )

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=2) as r:
            out: dict[str, Any] = json.loads(r.read())
            return out

    def start(self, *, timeout: float = 90.0) -> SparkCluster:
        if shutil.which("java") is None:
            raise RuntimeError("No java on PATH: install default-jre-headless (make install).")
        (self.workdir / "local").mkdir(parents=True, exist_ok=True)
        self._spawn(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", str(self.port)),
            *("--webui-port", str(self.ui_port)),
        )
        for i in range(self.workers):
            work = self.workdir / f"worker{i}"
            work.mkdir(exist_ok=True)
            self._spawn(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                *("--host", "127.0.0.1", "--port", str(_free_port())),
                *("--webui-port", str(_free_port()), "--cores", "1"),
                *("--memory", self.worker_memory, "--work-dir", str(work)),
                self.url,
            )
        self._wait(lambda s: s.get("status") == "ALIVE", "master", timeout)
        return self

    def wait_for_workers(self, *, timeout: float = 120.0) -> None:
        """Until the master lists every worker alive (workers start beside a first session)."""
        self._wait(lambda s: s.get("aliveworkers", 0) >= self.workers, "workers", timeout)

    def _wait(self, ready: Any, what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            dead = [p for p in self._procs if p.poll() is not None]
            if dead:
                self.stop()
                raise RuntimeError(f"A Spark daemon exited: see {self.workdir}/*.log")
            try:
                if ready(self.status()):
                    return
            except OSError:
                pass  # the master's page is not up yet
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The Spark {what} did not come up in {timeout:.0f} s")
            time.sleep(0.25)

    def stop(self) -> None:
        for p in reversed(self._procs):  # workers first, then the master
            if p.poll() is None:
                p.terminate()
        for p in self._procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        for log in self._logs:
            log.close()
        self._procs.clear()
        self._logs.clear()
