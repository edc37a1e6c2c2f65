"""Open the store a server runs on: a private data directory and the settings' write policy."""

from __future__ import annotations

import logging
import os

from mlwarden.server.settings import ServerSettings
from mlwarden.store import Store, open_store

__all__ = ["open_server_store"]

log = logging.getLogger("mlwarden.server")


def _private_dir(settings: ServerSettings) -> None:
    """The data directory holds every event and the API key hashes: 0700, whatever the umask."""
    d = settings.data_dir
    if d is None:
        return
    try:
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        st = d.stat()
        if st.st_uid == os.geteuid() and st.st_mode & 0o077:
            os.chmod(d, 0o700)
            log.info("made the data directory %s private (mode 0700)", d)
    except OSError:
        # prepare() in the store names the problem (read-only disk, permissions) exactly
        pass


def open_server_store(settings: ServerSettings) -> Store:
    """The store of ``settings``; raises :class:`~mlwarden.errors.StoreOpenError` with a message
    naming the file and what to do when it cannot be opened."""
    _private_dir(settings)
    if settings.store_url is not None:
        return open_store(
            settings.store_url, events=settings.events_url, retention_days=settings.retention_days
        )
    return open_store(
        settings.data_dir,
        events=settings.events_url,
        commit_interval=settings.commit_interval_ms / 1000.0,
        retention_days=settings.retention_days,
        checkpoint_after_s=settings.checkpoint_after_s or None,
    )
