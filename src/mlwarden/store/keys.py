"""API keys, kept hashed in a small JSON file beside the database.

Keys live outside the engine on purpose: DuckDB allows one writer process per
file, and ``mlwarden keys create`` must work while the server runs. The file
is replaced atomically under a lock; the server re-reads it when it changes.

A key is ``mlw_<id>_<secret>``; only ``sha256(secret)`` is stored, and the key
is printed once, at creation.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from mlwarden.errors import AuthError, ConfigError, NotFoundError
from mlwarden.schema.spec import check_name

__all__ = ["ApiKey", "KeyStore"]

PREFIX = "mlw_"


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    project: str
    hash: str
    created_at: str
    revoked_at: str | None = None
    description: str = ""


class KeyStore:
    """File-backed key store.

    Examples
    --------
    >>> import tempfile
    >>> ks = KeyStore(tempfile.mkdtemp() + "/keys.json")
    >>> key = ks.create("fraud")
    >>> ks.authenticate(key)
    'fraud'
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._cache: tuple[float, dict[str, ApiKey]] | None = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _read(self) -> dict[str, ApiKey]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return {}
        if self._cache is not None and self._cache[0] == mtime:
            return self._cache[1]
        try:
            raw = json.loads(self.path.read_text())
            keys = {k["key_id"]: ApiKey(**k) for k in raw.get("keys", [])}
        except (ValueError, TypeError, KeyError) as exc:
            raise ConfigError(f"The key file {str(self.path)!r} is not valid: {exc}") from exc
        self._cache = (mtime, keys)
        return keys

    def _write(self, keys: dict[str, ApiKey]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"keys": [asdict(k) for k in keys.values()]}, indent=2))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        self._cache = None

    def create(self, project: str, *, description: str = "") -> str:
        """Create a key for ``project`` and return it (the only time it is shown)."""
        check_name(project, "project name")
        key_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(24)
        with self._locked():
            keys = dict(self._read())
            keys[key_id] = ApiKey(
                key_id=key_id,
                project=project,
                hash=_digest(secret),
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                description=description,
            )
            self._write(keys)
        return f"{PREFIX}{key_id}_{secret}"

    def revoke(self, key_id: str) -> None:
        with self._locked():
            keys = dict(self._read())
            if key_id not in keys:
                raise NotFoundError(f"There is no API key with id {key_id!r}.")
            k = keys[key_id]
            keys[key_id] = ApiKey(
                **{**asdict(k), "revoked_at": datetime.now(UTC).isoformat(timespec="seconds")}
            )
            self._write(keys)

    def list(self) -> list[ApiKey]:
        return sorted(self._read().values(), key=lambda k: k.created_at)

    def any_active(self) -> bool:
        return any(k.revoked_at is None for k in self._read().values())

    def authenticate(self, key: str) -> str:
        """Return the project of a valid key; raise :class:`AuthError` otherwise."""
        if not key.startswith(PREFIX) or key.count("_") < 2:
            raise AuthError("The API key is malformed; keys look like 'mlw_<id>_<secret>'.")
        key_id, _, secret = key[len(PREFIX) :].partition("_")
        k = self._read().get(key_id)
        if k is None or not hmac.compare_digest(k.hash, _digest(secret)):
            raise AuthError("The API key is not valid.")
        if k.revoked_at is not None:
            raise AuthError(f"The API key {key_id!r} was revoked at {k.revoked_at}.")
        return k.project


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
