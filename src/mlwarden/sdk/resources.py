"""Sample the model server's resource use (CPU, memory, file descriptors, GPU) on an interval.

Each sample is one operational event of the companion model
``<model>.resources`` (registered by the SDK on first use; task ``llm`` only
because it is the one task whose events need no prediction). Features:

* ``process_cpu_percent`` (may exceed 100 on several cores), ``process_rss_bytes``,
  ``process_open_fds``, ``process_threads``;
* ``host_cpu_percent``, ``host_memory_percent``, ``host_memory_available_bytes``;
* per GPU ``i`` (NVML via ``pynvml``, when installed and a GPU is present):
  ``gpu<i>_utilization_percent``, ``gpu<i>_memory_used_bytes``, ``gpu<i>_memory_total_bytes``.

Segment ``host``; ``client_id`` is ``<host>:<pid>`` (each pre-fork worker samples itself).
No GPU, no ``pynvml``, or a failing driver are not errors: the GPU fields are left out.
"""

from __future__ import annotations

import importlib
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from mlwarden.schema.spec import Feature, FeatureKind, ModelSpec, Task

if TYPE_CHECKING:
    from mlwarden.sdk.monitor import Monitor

__all__ = ["ResourceSampler", "resources_spec"]

log = logging.getLogger("mlwarden.sdk")

FEATURES = (
    "process_cpu_percent",
    "process_rss_bytes",
    "process_open_fds",
    "process_threads",
    "host_cpu_percent",
    "host_memory_percent",
    "host_memory_available_bytes",
)


def resources_spec(model: str) -> ModelSpec:
    """The spec of ``<model>.resources`` (GPU features are added as they appear).

    Examples
    --------
    >>> resources_spec("churn").name
    'churn.resources'
    """
    return ModelSpec(
        name=f"{model}.resources",
        task=Task.LLM,
        prediction=None,
        features=tuple(Feature(name=f, kind=FeatureKind.NUMERIC) for f in FEATURES),
        segments=("host",),
        description=f"Resource use of the processes serving model {model!r} (mlwarden SDK).",
    )


class _Gpus:
    """NVML handles, or none (no pynvml, no driver, no GPU)."""

    def __init__(self) -> None:
        self.nvml: Any = None
        self.handles: list[Any] = []
        try:
            nvml = importlib.import_module("pynvml")
            nvml.nvmlInit()
            self.handles = [
                nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())
            ]
            self.nvml = nvml
        except Exception:  # noqa: BLE001 - ImportError, NVMLError_LibraryNotFound, ...
            self.handles = []

    def sample(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for i, h in enumerate(self.handles):
            try:
                util = self.nvml.nvmlDeviceGetUtilizationRates(h)
                mem = self.nvml.nvmlDeviceGetMemoryInfo(h)
            except Exception:  # noqa: BLE001 - a GPU that stops answering is left out
                continue
            out[f"gpu{i}_utilization_percent"] = float(util.gpu)
            out[f"gpu{i}_memory_used_bytes"] = float(mem.used)
            out[f"gpu{i}_memory_total_bytes"] = float(mem.total)
        return out


class ResourceSampler:
    """Logs a resource sample every ``interval`` seconds on a daemon thread.

    Examples
    --------
    >>> import mlwarden
    >>> monitor = mlwarden.init(model="churn", transport=mlwarden.InMemoryTransport())
    >>> sample = ResourceSampler(monitor, interval=60).sample()
    >>> sample["process_rss_bytes"] > 0 and "host_cpu_percent" in sample
    True
    >>> monitor.close()
    """

    def __init__(self, monitor: Monitor, *, interval: float = 15.0) -> None:
        self.monitor = monitor
        self.interval = interval
        self._dest = monitor._companion(resources_spec(monitor.model))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None
        self._gpus: _Gpus | None = None
        self._host = socket.gethostname()

    def sample(self) -> dict[str, float]:
        """One sample now (the first CPU figures cover the time since the sampler was made)."""
        import psutil

        if self._process is None:
            self._process = psutil.Process()
            self._process.cpu_percent(None)
            psutil.cpu_percent(None)
            self._gpus = _Gpus()
        p = self._process
        out: dict[str, float] = {}
        with p.oneshot():
            out["process_cpu_percent"] = float(p.cpu_percent(None))
            out["process_rss_bytes"] = float(p.memory_info().rss)
            out["process_threads"] = float(p.num_threads())
            if hasattr(p, "num_fds"):
                out["process_open_fds"] = float(p.num_fds())
        vm = psutil.virtual_memory()
        out["host_cpu_percent"] = float(psutil.cpu_percent(None))
        out["host_memory_percent"] = float(vm.percent)
        out["host_memory_available_bytes"] = float(vm.available)
        if self._gpus is not None:
            out.update(self._gpus.sample())
        return out

    def log_sample(self) -> None:
        m = self.monitor
        m._log_item(
            (
                self._dest,
                m._new_id(),
                time.time(),
                self.sample(),
                None,
                None,
                None,
                {"host": self._host},
                None,
                "ok",
                None,
                f"{self._host}:{os.getpid()}",
                None,
            )
        )

    def start(self) -> ResourceSampler:
        self.sample()  # prime the CPU counters
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"mlwarden-resources-{self.monitor.model}"
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.log_sample()
            except Exception as exc:  # noqa: BLE001 - sampling must never hurt the server
                log.warning("mlwarden: resource sampling failed: %r", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
