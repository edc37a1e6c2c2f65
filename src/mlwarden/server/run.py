"""Start the server: refuse unsafe binds, open the store, then run uvicorn (one process: one
DuckDB writer). A store that cannot be opened stops here, before uvicorn, with one message."""

from __future__ import annotations

import logging
import os
import threading
import time

import uvicorn

from mlwarden.errors import ConfigError
from mlwarden.server.app import create_app
from mlwarden.server.settings import ServerSettings, is_loopback
from mlwarden.server.storage import open_server_store
from mlwarden.store import KeyStore, Store

__all__ = ["BackgroundServer", "check_bind", "serve"]


def check_bind(settings: ServerSettings) -> None:
    """Keys are required whenever the server is reachable from other machines."""
    if is_loopback(settings.host) or settings.insecure:
        return
    keys = KeyStore(settings.keys_path) if settings.keys_path else None
    if keys is None or not keys.any_active():
        raise ConfigError(
            f"Refusing to serve on {settings.host} without API keys: anyone on the network could "
            "write and read your data. Create a key first ('mlwarden keys create --project NAME "
            "--data-dir ...'), or pass --insecure to serve without keys anyway."
        )


def _config(settings: ServerSettings, log_level: str, store: Store | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        create_app(settings, store=store),
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=10,
    )


def _log_to_stderr(log_level: str) -> None:
    """mlwarden's own messages (what start-up replayed, data loss) beside uvicorn's."""
    logger = logging.getLogger("mlwarden")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)-9s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(log_level.upper() if log_level.upper() != "TRACE" else "DEBUG")


def serve(settings: ServerSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted; on SIGINT/SIGTERM pending commits finish before exit.

    Raises :class:`~mlwarden.errors.StoreOpenError` (the CLI exits with 4) when the database
    cannot be opened."""
    settings = settings.validate()
    check_bind(settings)
    os.umask(0o077)  # this process's files (WAL, keys, ledger) are the user's alone
    _log_to_stderr(log_level)
    store = open_server_store(settings)
    try:
        uvicorn.Server(_config(settings, log_level, store)).run()
    finally:
        store.close()


class BackgroundServer:
    """The real server on a thread of this process (the demo, notebooks)."""

    def __init__(self, settings: ServerSettings, *, log_level: str = "warning") -> None:
        self.settings = settings.validate()
        check_bind(self.settings)
        self._server = uvicorn.Server(_config(self.settings, log_level))
        self._thread = threading.Thread(
            target=self._server.run, name="mlwarden-server", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConfigError(
                    f"The server could not start on {self.url} (is the port in use?)."
                )
            if time.monotonic() > deadline:
                raise ConfigError(f"The server did not start on {self.url} within {timeout:g} s.")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(30)
