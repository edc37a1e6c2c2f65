"""API keys, kept hashed in a small JSON file beside the database.

Keys live outside the engine on purpose: DuckDB allows one writer process per
file, and ``mlwarden keys create`` must work while the server runs. The file
is replaced atomically under a lock; the server re-reads it when it changes.

A key is ``mlw_<id>_<secret>``; only ``sha256(secret)`` is stored, and the key
is printed once, at creation.

Each key carries *scopes*, least privilege first: ``ingest`` (write events, actuals and
traces: what an SDK in a model server needs, nothing more), ``read`` (query the API, the UI,
``/metrics``), ``operate`` (read, plus acknowledge / resolve / snooze incidents, evaluate now,
ping channels) and ``admin`` (everything: specs, monitors, references, alerting, versions).
Keys written before scopes existed hold ``ingest`` and ``read``.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from mlwarden.errors import AuthError, ConfigError, NotFoundError
from mlwarden.schema.spec import check_name

__all__ = ["LEGACY_SCOPES", "ApiKey", "KeyStore", "Scope", "key_id_of", "parse_scopes"]

PREFIX = "mlw_"


class Scope(StrEnum):
    """What a key may do. ``admin`` implies every scope, ``operate`` implies ``read``."""

    INGEST = "ingest"
    READ = "read"
    OPERATE = "operate"
    ADMIN = "admin"


_IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.INGEST: frozenset({Scope.INGEST}),
    Scope.READ: frozenset({Scope.READ}),
    Scope.OPERATE: frozenset({Scope.OPERATE, Scope.READ}),
    Scope.ADMIN: frozenset(Scope),
}
_BY_NAME = {s.value: implied for s, implied in _IMPLIED.items()}
#: The scopes of keys created before scopes existed (what they were used for: SDKs and reads).
LEGACY_SCOPES: tuple[str, ...] = (Scope.INGEST.value, Scope.READ.value)


def parse_scopes(values: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated scope names in a stable order.

    Examples
    --------
    >>> parse_scopes(["read", "ingest", "read"])
    ('ingest', 'read')
    >>> parse_scopes(["root"])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'scope' of an API key must be one of ingest, read, ... Got 'root' instead.
    """
    names = [str(v).strip().lower() for v in values]
    valid = [s.value for s in Scope]
    for n in names:
        if n not in valid:
            raise ConfigError(
                f"The 'scope' of an API key must be one of {', '.join(valid)}. Got {n!r} instead."
            )
    if not names:
        raise ConfigError("An API key needs at least one scope (ingest, read, operate, admin).")
    return tuple(v for v in valid if v in names)


def key_id_of(key: str | None) -> str | None:
    """The ``<id>`` of a presented key ``mlw_<id>_<secret>``, without validating it (for logs
    and rate limits); None when it is not shaped like a key.

    >>> key_id_of("mlw_1a2b3c4d_secret"), key_id_of("nope"), key_id_of(None)
    ('1a2b3c4d', None, None)
    """
    if not key or not key.startswith(PREFIX):
        return None
    key_id, sep, secret = key[len(PREFIX) :].partition("_")
    return key_id if sep and key_id and secret else None


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    project: str
    hash: str
    created_at: str
    revoked_at: str | None = None
    description: str = ""
    scopes: tuple[str, ...] = field(default=LEGACY_SCOPES)

    def __post_init__(self) -> None:  # JSON gives a list
        object.__setattr__(self, "scopes", tuple(self.scopes))

    def granted(self) -> frozenset[Scope]:
        """Every scope this key holds, implied ones included."""
        out: set[Scope] = set()
        for name in self.scopes:
            out |= _BY_NAME.get(name, frozenset())
        return frozenset(out)


class KeyStore:
    """File-backed key store.

    Examples
    --------
    >>> import tempfile
    >>> ks = KeyStore(tempfile.mkdtemp() + "/keys.json")
    >>> key = ks.create("fraud")
    >>> k = ks.authenticate(key)
    >>> k.project, k.scopes
    ('fraud', ('ingest',))
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

    def create(
        self,
        project: str,
        *,
        description: str = "",
        scopes: Iterable[str] = (Scope.INGEST.value,),
    ) -> str:
        """Create a key for ``project`` and return it (the only time it is shown).

        The default scope is ``ingest``: what an SDK needs, and nothing it can abuse."""
        check_name(project, "project name")
        granted = parse_scopes(scopes)
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
                scopes=granted,
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

    def get(self, key_id: str) -> ApiKey | None:
        """The key with this id if it exists and is not revoked."""
        k = self._read().get(key_id)
        return k if k is not None and k.revoked_at is None else None

    def authenticate(self, key: str) -> ApiKey:
        """Return the record of a valid key; raise :class:`AuthError` otherwise."""
        if not key.startswith(PREFIX) or key.count("_") < 2:
            raise AuthError("The API key is malformed; keys look like 'mlw_<id>_<secret>'.")
        key_id, _, secret = key[len(PREFIX) :].partition("_")
        k = self._read().get(key_id)
        if k is None or not hmac.compare_digest(k.hash, _digest(secret)):
            raise AuthError("The API key is not valid.")
        if k.revoked_at is not None:
            raise AuthError(f"The API key {key_id!r} was revoked at {k.revoked_at}.")
        return k


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
