"""``mlwarden.init``: one call from arguments or environment variables to a running monitor."""

from __future__ import annotations

import os
from pathlib import Path

from mlwarden.errors import ConfigError, expected
from mlwarden.schema.spec import Task
from mlwarden.sdk.http import HTTPTransport
from mlwarden.sdk.local import LocalTransport
from mlwarden.sdk.monitor import Monitor
from mlwarden.sdk.transport import Transport

__all__ = ["DEFAULT_URL", "ENV", "init"]

DEFAULT_URL = "http://127.0.0.1:8000"

#: Environment variables read by :func:`init` (an argument given in code wins).
ENV: dict[str, str] = {
    "MLWARDEN_URL": "server URL (default http://127.0.0.1:8000)",
    "MLWARDEN_PATH": "a data directory to write to directly instead of a server",
    "MLWARDEN_API_KEY": "API key sent as 'Authorization: Bearer ...'",
    "MLWARDEN_MODEL": "model name",
    "MLWARDEN_VERSION": "model version",
    "MLWARDEN_SPOOL_DIR": "spool directory (default <tmp>/mlwarden-spool-<uid>)",
    "MLWARDEN_SPOOL_MAX_MB": "spool cap per process in MiB (default 256)",
    "MLWARDEN_TIMEOUT": "seconds per request to the server (default 10)",
    "MLWARDEN_FLUSH_INTERVAL": "seconds between batches at low traffic (default 1)",
    "MLWARDEN_MAX_BACKOFF": "longest wait between retries in seconds (default 30)",
    "MLWARDEN_RESOURCE_INTERVAL": "sample CPU, memory, GPU every N seconds (default off)",
}


def _env_float(name: str) -> float | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigError(expected("environment variable", name, "be a number", raw)) from None


def init(
    model: str | None = None,
    *,
    version: str | None = None,
    url: str | None = None,
    path: str | Path | None = None,
    api_key: str | None = None,
    transport: Transport | None = None,
    task: Task | str | None = None,
    create: bool = False,
    batch_size: int = 1000,
    flush_interval: float | None = None,
    max_queue: int = 20_000,
    timeout: float | None = None,
    spool_dir: str | Path | None = None,
    spool_max_mb: float | None = None,
    max_backoff: float | None = None,
    exit_timeout: float = 5.0,
    resource_interval: float | None = None,
) -> Monitor:
    """Start monitoring a model and return its :class:`Monitor`.

    Where events go: ``url`` (an mlwarden server), ``path`` (a data directory
    written directly, for notebooks and batch jobs), or ``transport`` (e.g.
    :class:`InMemoryTransport` in tests); by default ``MLWARDEN_URL``, then
    ``MLWARDEN_PATH``, then ``http://127.0.0.1:8000``. Every argument not given
    falls back to its environment variable (see :data:`ENV`).

    The model must exist at the destination: a name it does not have raises
    :class:`~mlwarden.errors.ConfigError` here, at start-up (naming the models
    it has), so a typo never starts a new model. ``create=True`` with ``task``
    registers a missing model instead (spec from the first batch; features are
    added as they appear). When the destination cannot be asked (down, an
    ingest-only API key), events for a missing model are dropped and explained,
    never registered without ``create=True``.

    Examples
    --------
    >>> import mlwarden
    >>> monitor = mlwarden.init(model="churn", transport=mlwarden.InMemoryTransport())
    >>> monitor
    Monitor(model='churn', transport='InMemoryTransport')
    >>> monitor.close()
    """
    model = model or os.environ.get("MLWARDEN_MODEL")
    if not model:
        raise ConfigError(
            "The 'model' argument is required (or set MLWARDEN_MODEL). Got None instead."
        )
    version = version or os.environ.get("MLWARDEN_VERSION") or None
    made_here = transport is None
    if transport is None:
        if url is not None and path is not None:
            raise ConfigError("Pass either url= (a server) or path= (a local store), not both.")
        if url is None and path is None:
            url = os.environ.get("MLWARDEN_URL") or None
            path = os.environ.get("MLWARDEN_PATH") or None
            if url is not None and path is not None:
                raise ConfigError("Set either MLWARDEN_URL or MLWARDEN_PATH, not both.")
        if path is not None:
            transport = LocalTransport(path)
        else:
            transport = HTTPTransport(
                url or DEFAULT_URL,
                api_key=api_key or os.environ.get("MLWARDEN_API_KEY") or None,
                timeout=timeout if timeout is not None else _env_float("MLWARDEN_TIMEOUT") or 10.0,
            )
    spool_mb = spool_max_mb if spool_max_mb is not None else _env_float("MLWARDEN_SPOOL_MAX_MB")
    sample = resource_interval
    if sample is None:
        sample = _env_float("MLWARDEN_RESOURCE_INTERVAL")
    try:
        return Monitor(
            model,
            transport=transport,
            version=version,
            task=task,
            create=create,
            batch_size=batch_size,
            flush_interval=_pick(flush_interval, "MLWARDEN_FLUSH_INTERVAL", 1.0),
            max_queue=max_queue,
            spool_dir=spool_dir or os.environ.get("MLWARDEN_SPOOL_DIR") or None,
            spool_max_bytes=int((spool_mb if spool_mb is not None else 256.0) * 1024 * 1024),
            max_backoff=_pick(max_backoff, "MLWARDEN_MAX_BACKOFF", 30.0),
            exit_timeout=exit_timeout,
            resource_interval=sample,
        )
    except BaseException:
        if made_here:  # refused (say, a model that does not exist): release what we opened
            transport.close()
        raise


def _pick(value: float | None, env: str, default: float) -> float:
    if value is not None:
        return value
    from_env = _env_float(env)
    return from_env if from_env is not None else default
