"""Write batches straight into an embedded DuckDB store: notebooks and batch jobs, no server.

The batch is validated exactly as the server would (:func:`mlwarden.schema.validate_table`),
good rows are appended, bad rows go to quarantine. The store is opened on
first use and held until :meth:`LocalTransport.close` (DuckDB allows one
writing process per file: close the monitor before ``mlwarden serve`` opens
the same directory).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from mlwarden.errors import ConflictError, MlwardenError, NotFoundError, StorageError
from mlwarden.schema.annotation import AnnotationIn
from mlwarden.schema.batch import validate_actuals_table, validate_table
from mlwarden.schema.spec import ModelSpec
from mlwarden.schema.version_links import VersionLink
from mlwarden.sdk.transport import Outcome, Result, Transport

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["LocalTransport"]


class LocalTransport(Transport):
    """Events into the store at ``path``: a data directory (as for ``mlwarden serve
    --data-dir``) or a ``.duckdb`` file."""

    def __init__(self, path: str | Path, *, project: str = "default") -> None:
        self.path = path
        self.project = project
        # the engine now, not at interpreter exit (a first flush there may not import it)
        import mlwarden.store.duckdb_engine  # noqa: F401

        self._store: Store | None = None
        self._lock = threading.Lock()
        self._forked = False

    def describe(self) -> str:
        return str(self.path)

    def store(self) -> Store:
        """The store, opened on first use (``mlwarden.store`` is imported only then)."""
        with self._lock:
            if self._forked:
                raise StorageError(
                    "The local transport cannot be used in a forked process (DuckDB allows one "
                    "writing process); use a server (url=...) with pre-fork model servers."
                )
            if self._store is None:
                from mlwarden.store import open_store, open_store_file

                p = Path(self.path)
                self._store = open_store_file(p) if p.suffix == ".duckdb" else open_store(p)
            return self._store

    def send_events(self, model: str, table: pa.Table) -> Outcome:
        return self._send(model, table, "events")

    def send_actuals(self, model: str, table: pa.Table) -> Outcome:
        return self._send(model, table, "actuals")

    def _send(self, model: str, table: pa.Table, kind: str) -> Outcome:
        try:
            store = self.store()
            record = store.get_model(self.project, model)
            if kind == "events":
                result = validate_table(record.spec, table)
                future = (
                    store.append_events(record, result.table) if result.table.num_rows else None
                )
            else:
                result = validate_actuals_table(record.spec, table)
                future = (
                    store.append_actuals(record, result.table) if result.table.num_rows else None
                )
            stored = future.result() if future is not None else None
            if result.rejected:
                store.quarantine(self.project, model, kind, result.rejected).result()
        except NotFoundError as exc:
            return Outcome(Result.MISSING_MODEL, reason=str(exc))
        except StorageError as exc:
            return Outcome(Result.RETRY, reason=str(exc))
        except MlwardenError as exc:
            return Outcome(Result.FAILED, reason=f"{type(exc).__name__}: {exc}")
        return Outcome(
            Result.OK,
            accepted=result.table.num_rows,
            rejected=len(result.rejected),
            duplicates=stored.duplicates if stored is not None else 0,
        )

    def model_names(self) -> list[str] | None:
        try:
            return [m.name for m in self.store().list_models(self.project)]
        except MlwardenError:
            return None

    def annotate(self, model: str, annotation: AnnotationIn) -> Outcome:
        try:
            self.store().put_annotation(self.project, model, annotation)
        except NotFoundError as exc:
            return Outcome(Result.MISSING_MODEL, reason=str(exc))
        except StorageError as exc:
            return Outcome(Result.RETRY, reason=str(exc))
        except MlwardenError as exc:
            return Outcome(Result.FAILED, reason=f"{type(exc).__name__}: {exc}")
        return Outcome(Result.OK, accepted=1)

    def link_version(self, model: str, link: VersionLink) -> Outcome:
        from mlwarden.schema.version_links import with_links

        meta = with_links({}, run_url=link.run_url, aliases=link.aliases)
        try:
            self.store().create_version(
                self.project, model, link.version, description=link.description, metadata=meta
            )
        except NotFoundError as exc:
            return Outcome(Result.MISSING_MODEL, reason=str(exc))
        except StorageError as exc:
            return Outcome(Result.RETRY, reason=str(exc))
        except MlwardenError as exc:
            return Outcome(Result.FAILED, reason=f"{type(exc).__name__}: {exc}")
        return Outcome(Result.OK, accepted=1)

    def register_model(self, spec: ModelSpec) -> Outcome:
        try:
            self.store().create_model(self.project, spec)
        except ConflictError:
            pass  # registered already with another spec: fine, send to it
        except StorageError as exc:
            return Outcome(Result.RETRY, reason=str(exc))
        except MlwardenError as exc:
            return Outcome(Result.FAILED, reason=f"{type(exc).__name__}: {exc}")
        return Outcome(Result.OK)

    def after_fork(self) -> None:
        self._store = None  # the parent's connection must not be used here
        self._lock = threading.Lock()
        self._forked = True

    def close(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is not None:
            store.close()
