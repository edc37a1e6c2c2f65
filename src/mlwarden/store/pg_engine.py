"""PostgreSQL as a second engine: ``mlwarden serve --store postgresql://...``.

Several server processes may share one database. Writes are plain SQL on one connection per
store, each call one transaction (:meth:`PostgresStore._call`); events arrive by binary
``COPY`` into a staging table, then ``INSERT ... ON CONFLICT (event_id, version) DO NOTHING`` makes a
re-sent event a no-op whichever process stored it first. Reads hand out ibis tables over a
connection per thread, so the aggregates of :mod:`mlwarden.store.aggregates` run unchanged.

It implements every protocol of :mod:`mlwarden.store.protocols` in full
(:attr:`PostgresStore.protocols`), each with its contract suite passing; the parts live in
mixins, one file each (``pg_ingest``, ``pg_spans``, ``pg_slo``, ...).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar

import pyarrow as pa

from mlwarden._lazy import ibis
from mlwarden.errors import (
    ConfigError,
    ConflictError,
    NotFoundError,
    StorageError,
    StoreOpenError,
    expected,
)
from mlwarden.schema.batch import canonical_schema
from mlwarden.schema.spec import ModelSpec, check_name
from mlwarden.store import pg_schema
from mlwarden.store.base import (
    ENGINES,
    ModelRecord,
    ReferenceRecord,
    Store,
    VersionRecord,
)
from mlwarden.store.duckdb_annotations import AnnotationTables
from mlwarden.store.duckdb_engine import _naive
from mlwarden.store.keyed_locks import KeyedLocks
from mlwarden.store.pg_connection import (
    QmarkCursor,
    copy_in,
    psycopg_module,
    table_columns,
    utcnow,
    where,
)
from mlwarden.store.pg_evals import PgEvalTables
from mlwarden.store.pg_incidents import PgIncidentTables
from mlwarden.store.pg_ingest import PgIngest
from mlwarden.store.pg_monitoring import PgMonitoring
from mlwarden.store.pg_quantiles import compiler
from mlwarden.store.pg_removal import PgRemoval
from mlwarden.store.pg_rollups import PgRollups
from mlwarden.store.pg_schema import q, qmark, sql_type
from mlwarden.store.pg_slo import PgSloTables
from mlwarden.store.pg_spans import PgSpans
from mlwarden.store.pg_stats import Staleness
from mlwarden.store.pg_volumes import window_volumes
from mlwarden.store.protocols import (
    ActionLog,
    AggregateSource,
    Annotations,
    Catalog,
    DeliveryLog,
    EvalRepository,
    EventLog,
    IncidentRepository,
    Probes,
    Results,
    RollupStore,
    SpanLog,
    Suites,
)
from mlwarden.store.sql_event_times import EventTimes
from mlwarden.store.traffic import traffic

__all__ = ["PostgresStore"]

#: The advisory lock key of the scheduler's lease (any constant other keys do not use).
_LEASE_KEY = 0x6D6C7773  # "mlws"
#: The lease connection's keep-alives: a vanished holder's session ends within ~25 s.
_KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}

T = TypeVar("T")


@ENGINES.register
class PostgresStore(
    EventTimes,
    PgIngest,
    PgMonitoring,
    PgIncidentTables,
    AnnotationTables,
    PgEvalTables,
    PgRollups,
    PgRemoval,
    PgSpans,
    PgSloTables,
    Store,
):
    """A PostgreSQL database, given by its URL (``postgresql://user@host:port/db``).

    Examples
    --------
    Opening needs a server; the URL is checked first:

    >>> try:
    ...     PostgresStore("mysql://localhost/x")
    ... except ConfigError as exc:
    ...     print(exc)
    The 'url' option of the postgres engine must be a postgresql:// URL. Got 'mysql://localhost/x' instead.
    """

    kind: ClassVar[str] = "postgres"
    protocols: ClassVar[frozenset[type]] = frozenset(
        {
            Catalog,
            EventLog,
            AggregateSource,
            Suites,
            Results,
            RollupStore,
            Annotations,
            EvalRepository,
            IncidentRepository,
            DeliveryLog,
            ActionLog,
            SpanLog,
            Probes,
        }
    )

    def __init__(
        self,
        url: str,
        *,
        retention_days: float | None = None,
        commit_interval: float = 0.05,
        checkpoint_after_s: float | None = None,
    ) -> None:
        self.url = str(url)
        self.retention_days = retention_days
        # accepted for the server's settings; PostgreSQL commits each call itself
        self.commit_interval = commit_interval
        self.checkpoint_after_s = checkpoint_after_s
        if not self.url.startswith(("postgresql://", "postgres://")):
            raise ConfigError(
                expected("option of the postgres engine", "url", "be a postgresql:// URL", self.url)
            )
        psycopg = psycopg_module()
        self._errors: type[BaseException] = psycopg.Error
        try:
            self._wcon = psycopg.connect(self.url, autocommit=True)
            pg_schema.open_schema(self._wcon, where=where(self.url))
        except StoreOpenError:
            raise
        except psycopg.Error as exc:
            raise StoreOpenError(  # one line: libpq adds its hint on a line of its own
                f"Cannot open the PostgreSQL database {where(self.url)}: "
                + " ".join(str(exc).split())
            ) from exc
        self._wlock = threading.Lock()
        self._local = threading.local()
        self._readers: list[Any] = []
        self._rlock = threading.Lock()
        self._specs: dict[tuple[str, str], tuple[str, ModelSpec]] = {}
        self._columns: dict[str, set[str]] = {}
        #: the writing connection's staging tables, by layout (see _stage)
        self._stages: dict[tuple[tuple[str, str], ...], str] = {}
        self._stage_seq = itertools.count()
        self._closed = False
        self._incident_locks = KeyedLocks()
        self._lease_lock = threading.Lock()
        self._lease_con: Any = None
        self._lease_held = False
        self._staleness = Staleness()

    # -- connections ---------------------------------------------------------------------------
    def _reader(self) -> Any:
        con = getattr(self._local, "con", None)
        if con is None or con.closed:
            con = psycopg_module().connect(self.url, autocommit=True)
            with self._rlock:
                self._readers.append(con)
            self._local.con = con
            self._local.ibis = None
        return con

    def warm_up(self) -> None:
        self.backend()

    def backend(self) -> Any:
        """This thread's ibis backend over the database."""
        con = self._reader()
        be = getattr(self._local, "ibis", None)
        if be is None:
            be = ibis.postgres.from_connection(con)
            # continuous quantiles as DuckDB computes them (mlwarden.store.pg_quantiles)
            be.compiler = compiler()
            self._local.ibis = be
        return be

    def _cursor(self) -> Any:
        """A cursor taking ``?`` placeholders (the incidents mixin's ``_dicts`` uses it)."""
        return QmarkCursor(self._reader())

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            rows: list[tuple[Any, ...]] = (
                self._reader().execute(qmark(sql), list(params)).fetchall()
            )
        except self._errors as exc:
            raise StorageError(f"A read failed: {exc}") from exc
        return rows

    def _call(self, fn: Callable[[Any], T]) -> T:
        """Run ``fn`` in one transaction on the writing connection (``?`` placeholders)."""
        with self._wlock:
            try:
                with self._wcon.transaction():
                    return fn(QmarkCursor(self._wcon))
            except BaseException as exc:
                # rolled back: what this transaction created or learned may not exist
                self._columns.clear()
                self._stages.clear()
                if isinstance(exc, self._errors):
                    raise StorageError(f"A write failed: {exc}") from exc
                raise

    def _stage(self, con: QmarkCursor, schema: pa.Schema) -> str:
        """A staging table of the writing connection for rows of ``schema``: temporary,
        emptied at each commit, created once per layout (creating one per batch cost more
        than the batch's COPY)."""
        layout = tuple((f.name, sql_type(f.type)) for f in schema)
        name = self._stages.get(layout)
        if name is None:
            name = f"stage_{next(self._stage_seq)}"
            cols = ", ".join(f"{q(c)} {t}" for c, t in layout)
            con.execute(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols}) ON COMMIT DELETE ROWS")
            self._stages[layout] = name
        return name

    # -- catalog -------------------------------------------------------------------------------
    def create_model(self, project: str, spec: ModelSpec, *, replace: bool = False) -> ModelRecord:
        check_name(project, "project name")

        def fn(con: QmarkCursor) -> ModelRecord:
            # one creator at a time across processes: the model's row is the lock
            con.execute("SELECT pg_advisory_xact_lock(hashtext(?))", [f"{project}/{spec.name}"])
            row = con.execute(
                "SELECT uid, spec FROM models WHERE project = ? AND name = ?",
                [project, spec.name],
            ).fetchone()
            now = utcnow()
            if row is not None:
                old = self._parsed_spec(project, spec.name, row[1])
                if old == spec:
                    return self._get_model_tx(con, project, spec.name)
                if not replace:
                    raise ConflictError(
                        f"A model named {spec.name!r} exists already in project {project!r} with a "
                        "different spec; pass replace=True (API: ?replace=true) to update it."
                    )
                from mlwarden.store.duckdb_engine import DuckDBStore

                DuckDBStore._check_compatible(old, spec)
                uid = int(row[0])
                con.execute(
                    "UPDATE models SET spec = ?, updated_at = ? WHERE project = ? AND name = ?",
                    [spec.model_dump_json(), now, project, spec.name],
                )
            else:
                uid = con.scalar("SELECT nextval('uid_seq')")
                con.execute(
                    "INSERT INTO models VALUES (?, ?, ?, ?, ?, ?)",
                    [project, spec.name, uid, spec.model_dump_json(), now, now],
                )
            self._ensure_tables(con, uid, spec)
            return self._get_model_tx(con, project, spec.name)

        return self._call(fn)

    def _ensure_tables(self, con: QmarkCursor, uid: int, spec: ModelSpec) -> None:
        events = f"events_{uid}"
        schema = canonical_schema(spec)
        have = table_columns(con, events)
        if not have:
            cols = ", ".join(f"{q(f.name)} {sql_type(f.type)}" for f in schema)
            # an event is one version's prediction for one request: shadow logging stores a
            # challenger's prediction under the champion's event id (as the DuckDB engine)
            con.execute(
                f"CREATE TABLE {q(events)} ({cols}, received_at TIMESTAMP, "
                "PRIMARY KEY (event_id, version))"
            )
            con.execute(f"CREATE INDEX {q(events + '_ts')} ON {q(events)} (ts)")
            con.execute(
                f"CREATE TABLE {q(f'actuals_{uid}')} (event_id TEXT PRIMARY KEY, "
                "actual TEXT, actual_value DOUBLE PRECISION, ts TIMESTAMP, received_at TIMESTAMP)"
            )
        else:
            for f in schema:
                if f.name not in have:
                    con.execute(
                        f"ALTER TABLE {q(events)} ADD COLUMN {q(f.name)} {sql_type(f.type)}"
                    )
        self._columns.pop(events, None)

    def _get_model_tx(self, con: QmarkCursor, project: str, name: str) -> ModelRecord:
        row = con.execute(
            "SELECT uid, spec, created_at, updated_at FROM models WHERE project = ? AND name = ?",
            [project, name],
        ).fetchone()
        if row is None:
            raise NotFoundError(f"There is no model named {name!r} in project {project!r}.")
        return ModelRecord(
            project, name, int(row[0]), self._parsed_spec(project, name, row[1]), row[2], row[3]
        )

    def get_model(self, project: str, name: str) -> ModelRecord:
        # never cached: another server process may change or delete the model
        rows = self._read(
            "SELECT uid, spec, created_at, updated_at FROM models WHERE project = ? AND name = ?",
            [project, name],
        )
        if not rows:
            raise NotFoundError(f"There is no model named {name!r} in project {project!r}.")
        uid, spec, created, updated = rows[0]
        return ModelRecord(
            project, name, int(uid), self._parsed_spec(project, name, spec), created, updated
        )

    def list_models(self, project: str | None = None) -> list[ModelRecord]:
        sql = "SELECT project, name, uid, spec, created_at, updated_at FROM models"
        params: list[Any] = []
        if project is not None:
            sql += " WHERE project = ?"
            params.append(project)
        rows = self._read(sql + " ORDER BY project, name", params)
        return [
            ModelRecord(p, n, int(u), self._parsed_spec(p, n, s), c, up)
            for p, n, u, s, c, up in rows
        ]

    def _parsed_spec(self, project: str, name: str, text: str) -> ModelSpec:
        key = (project, name)
        hit = self._specs.get(key)
        if hit is not None and hit[0] == text:
            return hit[1]
        spec = ModelSpec.model_validate_json(text)
        self._specs[key] = (text, spec)
        return spec

    def create_version(
        self,
        project: str,
        model: str,
        version: str,
        *,
        description: str = "",
        metadata: dict[str, Any] | None = None,
    ) -> VersionRecord:
        self.get_model(project, model)
        check_name(version, "version name")
        meta = json.dumps(metadata or {})
        self._call(
            lambda con: con.execute(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT "
                "(project, model, version) DO UPDATE SET "
                "description = excluded.description, metadata = excluded.metadata",
                [project, model, version, utcnow(), description, meta],
            )
        )
        return next(v for v in self.list_versions(project, model) if v.version == version)

    def list_versions(self, project: str, model: str) -> list[VersionRecord]:
        self.get_model(project, model)
        rows = self._read(
            "SELECT version, created_at, description, metadata FROM versions "
            "WHERE project = ? AND model = ? ORDER BY created_at, version",
            [project, model],
        )
        return [
            VersionRecord(project, model, v, c, d or "", json.loads(m or "{}"))
            for v, c, d, m in rows
        ]

    def put_reference(
        self,
        project: str,
        model: str,
        data: pa.Table,
        *,
        version: str | None = None,
        name: str = "",
    ) -> ReferenceRecord:
        self.get_model(project, model)
        if version is not None:
            check_name(version, "version name")
        data = _naive(data)

        def fn(con: QmarkCursor) -> int:
            uid = con.scalar("SELECT nextval('uid_seq')")
            table = f"ref_{uid}"
            cols = ", ".join(f"{q(f.name)} {sql_type(f.type)}" for f in data.schema)
            con.execute(f"CREATE TABLE {q(table)} ({cols})")
            copy_in(con.raw, table, data)
            con.execute(
                "INSERT INTO refs VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    uid,
                    project,
                    model,
                    version,
                    name,
                    data.num_rows,
                    json.dumps(data.column_names),
                    utcnow(),
                ],
            )
            return uid

        uid = self._call(fn)
        return next(r for r in self.list_references(project, model) if r.uid == uid)

    def list_references(self, project: str, model: str) -> list[ReferenceRecord]:
        rows = self._read(
            "SELECT uid, version, rows, columns, created_at, name FROM refs "
            "WHERE project = ? AND model = ? ORDER BY uid",
            [project, model],
        )
        return [
            ReferenceRecord(int(u), project, model, v, int(r), tuple(json.loads(c)), ca, n or "")
            for u, v, r, c, ca, n in rows
        ]

    def get_reference(
        self, project: str, model: str, *, version: str | None = None
    ) -> tuple[ReferenceRecord, pa.Table]:
        refs = [
            r
            for r in self.list_references(project, model)
            if version is None or r.version in (version, None)
        ]
        if version is not None and any(r.version == version for r in refs):
            refs = [r for r in refs if r.version == version]
        if not refs:
            raise NotFoundError(
                f"Model {model!r} in project {project!r} has no reference"
                + (f" for version {version!r}." if version else ".")
            )
        ref = refs[-1]
        try:
            table = self.backend().table(f"ref_{ref.uid}").to_pyarrow()
        except self._errors as exc:
            raise StorageError(f"Reading reference {ref.uid} failed: {exc}") from exc
        return ref, table.select(list(ref.columns))

    def delete_reference(self, project: str, model: str, reference_id: int) -> None:
        def fn(con: QmarkCursor) -> int:
            n = con.execute(
                "DELETE FROM refs WHERE project = ? AND model = ? AND uid = ?",
                [project, model, reference_id],
            ).rowcount
            if n:
                con.execute(f"DROP TABLE IF EXISTS {q(f'ref_{int(reference_id)}')}")
            return int(n)

        if not self._call(fn):
            raise NotFoundError(
                f"Model {model!r} in project {project!r} has no reference {reference_id}."
            )

    def delete_model(self, project: str, name: str) -> dict[str, int]:
        model = self.get_model(project, name)
        service = model.spec.span_service
        shared = any(  # another model of the project reads the same spans: they stay
            m.spec.span_service == service for m in self.list_models(project) if m.uid != model.uid
        )

        def fn(con: QmarkCursor) -> dict[str, int]:
            removed: dict[str, int] = {} if shared else self._delete_spans(con, project, service)
            for table in (f"events_{model.uid}", f"actuals_{model.uid}"):
                removed[table.split("_")[0]] = con.scalar(f"SELECT count(*) FROM {q(table)}")
                con.execute(f"DROP TABLE IF EXISTS {q(table)}")
            refs = con.execute(
                "DELETE FROM refs WHERE project = ? AND model = ? RETURNING uid", [project, name]
            ).fetchall()
            for (uid,) in refs:
                con.execute(f"DROP TABLE IF EXISTS {q(f'ref_{int(uid)}')}")
            removed["references"] = len(refs)
            for table in (
                "versions",
                "results",
                "monitor_suites",
                "incidents",
                "quarantine",
                "annotations",
                "probes",
                "probe_results",
                "slo_specs",
            ):
                removed[table] = con.execute(
                    f"DELETE FROM {table} WHERE project = ? AND model = ?", [project, name]
                ).rowcount
            con.execute("DELETE FROM models WHERE project = ? AND name = ?", [project, name])
            return removed

        out = self._call(fn)
        self._columns.pop(f"events_{model.uid}", None)
        self._specs.pop((project, name), None)
        return out

    # -- reads ---------------------------------------------------------------------------------
    def events(self, model: ModelRecord, *, shadow: bool = False) -> Any:
        t = self.backend().table(f"events_{model.uid}")
        return t if shadow else traffic(t)

    def actuals(self, model: ModelRecord) -> Any:
        return self.backend().table(f"actuals_{model.uid}")

    def quarantine_table(self) -> Any:
        return self.backend().table("quarantine")

    def volumes(
        self, model: ModelRecord, run: Any, segment: dict[str, str] | None, *, light: bool
    ) -> dict[int, dict[str, Any]] | None:
        """Window volumes with DuckDB's latency quantiles (:mod:`.pg_volumes`)."""
        from mlwarden.store.aggregates import _filtered

        filtered = _filtered(self.events(model), run, segment)
        return window_volumes(self.backend(), filtered, light=light, read=self._read)

    def quarantined(self, project: str, model: str | None = None, *, limit: int = 100) -> pa.Table:
        t = self.quarantine_table()
        t = t.filter(t.project == project)
        if model is not None:
            t = t.filter(t.model == model)
        out: pa.Table = (
            t.order_by([ibis.desc("received_at"), "row_index"]).limit(limit).to_pyarrow()
        )
        return out

    # -- the scheduler's lease -------------------------------------------------------------
    def hold_scheduler(self) -> bool:
        """Take the scheduler's lease if it is free; whether this store holds it.

        The lease is a session advisory lock on a connection of its own: PostgreSQL frees it
        when that connection ends, so a holder killed (``kill -9``) frees it at once, and one
        whose host vanished within ~25 s (TCP keep-alives below); the next call of another
        server's scheduler then takes it. :class:`~mlwarden.store.protocols.SchedulerLease`.
        """
        with self._lease_lock:
            con = self._lease_con
            try:
                if con is None or con.closed:
                    con = self._lease_con = psycopg_module().connect(self.url, autocommit=True)
                    for setting, value in _KEEPALIVE.items():
                        con.execute(f"SET {setting} = {value}")
                    self._lease_held = False
                if self._lease_held:
                    con.execute("SELECT 1")  # still connected: still held
                    return True
                row = con.execute("SELECT pg_try_advisory_lock(%s)", [_LEASE_KEY]).fetchone()
                self._lease_held = bool(row and row[0])
            except self._errors:
                # the connection broke: whatever it held is gone; the next call reconnects
                self._lease_held = False
                if con is not None:
                    con.close()
                self._lease_con = None
            return self._lease_held

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lease_lock:
            if self._lease_con is not None:
                if self._lease_held:
                    # freed before close returns: closing the connection alone frees it only
                    # once the server has noticed, after another server may have asked
                    with contextlib.suppress(self._errors):
                        self._lease_con.execute("SELECT pg_advisory_unlock(%s)", [_LEASE_KEY])
                self._lease_held = False
                self._lease_con.close()  # frees the lease for another server
                self._lease_con = None
        with self._wlock:
            self._wcon.close()
        with self._rlock:
            for con in self._readers:
                try:
                    con.close()
                except self._errors:  # pragma: no cover
                    pass
            self._readers.clear()
