"""The MLflow job: results flow back to the registry a model was registered from.

For every model with a version registered from MLflow (``--from-mlflow``), every period, on a
thread of its own (like the judge job: a call out never holds the scheduler up, and a failure
is logged, never raised into it):

* **Monitor summaries as metrics** on a *monitoring run*: a run in the experiment
  :data:`EXPERIMENT`, tagged with the registered model version (``mlwarden.model_version`` =
  ``NAME/VERSION``) and named on the version by its tag ``mlwarden.monitoring_run``. Each
  closed window evaluated since the last pass is one step: per monitor its value
  (``<monitor>``) and status (``<monitor>.status``: 0 ok, 1 warn, 2 alert, -1 no data), and
  the window's ``mlwarden.alerts`` / ``mlwarden.warnings`` counts; a window evaluated again
  (a backfill, a changed suite) is logged again as a new step. Where the job got to (the
  results' evaluation time) is the run's tag ``mlwarden.synced_until``, so a restart neither
  repeats nor skips a window.
  Results go to the model's *serving* version: the one aliased ``champion``, else the one
  registered last.
* **Incidents as a version tag**: while the model has an incident open (or acknowledged), the
  serving version carries ``mlwarden.status = alert`` and ``mlwarden.incident = <its URL>``;
  otherwise (and every other linked version) ``mlwarden.status = ok``. Tags are set when they
  change (and once after start).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Self

from mlwarden.errors import MlwardenError
from mlwarden.incidents.record import from_row
from mlwarden.incidents.service import incident_url
from mlwarden.integrations.mlflow_rest import MlflowRest
from mlwarden.schema.version_links import alias_versions, mlflow_of
from mlwarden.store.times import utc_aware

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["EXPERIMENT", "MlflowSync", "STATUS_CODES"]

log = logging.getLogger("mlwarden.server")

EXPERIMENT = "mlwarden-monitoring"
STATUS_CODES = {"ok": 0.0, "warn": 1.0, "alert": 2.0}
SERVING_ALIAS = "champion"
_KEY_BAD = re.compile(r"[^\w.\-/ ]")


def metric_key(monitor: str) -> str:
    """A monitor id as an MLflow metric key (letters, digits, ``_ - . / space``; 250 at most).

    Examples
    --------
    >>> metric_key("drift:age")
    'drift_age'
    """
    return _KEY_BAD.sub("_", monitor)[:240]


@dataclass(frozen=True)
class _Linked:
    project: str
    model: str
    version: str  # mlwarden's
    name: str  # MLflow's registered model
    mlflow_version: str

    @property
    def label(self) -> str:
        return f"{self.name}/{self.mlflow_version}"


class MlflowSync:
    """Every ``every`` seconds, the results and incidents of models registered from MLflow, to
    the tracking server at ``tracking_uri``. ``stop`` returns within a call's timeout."""

    def __init__(
        self,
        store: Store,
        *,
        tracking_uri: str,
        token: str | None = None,
        every: float = 60.0,
        base_url: str = "",
        timeout: float = 10.0,
        leading: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.tracking_uri = tracking_uri
        self.token = token
        self.every = every
        self.base_url = base_url
        self.timeout = timeout
        #: asked before each round: several servers on one database, only the leader logs
        self.leading = leading
        self.tags_: dict[tuple[str, str, str], tuple[str, str]] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self.every > 0:
            self._thread = threading.Thread(target=self._loop, name="mlwarden-mlflow", daemon=True)
            self._thread.start()
        return self

    def stop(self, *, grace: float = 15.0) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(grace)

    def _loop(self) -> None:
        while not self._stopping.wait(self.every):
            try:
                if self.leading is not None and not self.leading():
                    continue
                self.run_once()
            except Exception:  # noqa: BLE001 - keep serving; the next round retries
                log.exception("the MLflow job failed")

    def run_once(self) -> int:
        """One pass: metrics logged plus tags set."""
        done = 0
        with MlflowRest(self.tracking_uri, token=self.token, timeout=self.timeout) as client:
            for (project, model), linked in self._linked().items():
                if self._stopping.is_set():
                    break
                try:
                    done += self._model(client, project, model, linked)
                except MlwardenError as exc:  # MLflow down or refusing: say so, go on
                    log.warning("MLflow job, model %s/%s: %s", project, model, exc)
        return done

    def _linked(self) -> dict[tuple[str, str], tuple[list[_Linked], _Linked]]:
        """Per model registered from MLflow: its linked versions and the serving one."""
        out: dict[tuple[str, str], tuple[list[_Linked], _Linked]] = {}
        for m in self.store.list_models():
            versions = [
                v for v in self.store.list_versions(m.project, m.name) if mlflow_of(v.metadata)
            ]
            if not versions:
                continue
            linked = {}
            for v in versions:
                src = mlflow_of(v.metadata) or {}
                linked[v.version] = _Linked(
                    m.project, m.name, v.version, str(src["name"]), str(src["version"])
                )
            last = max(versions, key=lambda v: v.created_at).version
            serving = alias_versions(versions).get(SERVING_ALIAS, last)
            out[(m.project, m.name)] = (list(linked.values()), linked[serving])
        return out

    def _model(
        self,
        client: MlflowRest,
        project: str,
        model: str,
        linked: tuple[list[_Linked], _Linked],
    ) -> int:
        versions, serving = linked
        done = self._metrics(client, serving)
        open_ = self.store.list_incidents(
            project, model=model, state=["open", "acknowledged"], limit=1
        )
        for v in versions:
            if v == serving and open_:
                url = incident_url(self.base_url, from_row(open_[0])) or f"#{open_[0]['id']}"
                want = ("alert", url)
            else:
                want = ("ok", "")
            key = (v.project, v.model, v.label)
            if self.tags_.get(key) == want:
                continue
            client.set_version_tag(v.name, v.mlflow_version, "mlwarden.status", want[0])
            client.set_version_tag(v.name, v.mlflow_version, "mlwarden.incident", want[1])
            self.tags_[key] = want
            done += 1
        return done

    def _run_of(self, client: MlflowRest, v: _Linked) -> tuple[str, datetime | None, int]:
        """The version's monitoring run (made on first use), where it got to, steps logged."""
        exp = client.experiment_id(EXPERIMENT, create=True)
        assert exp is not None
        found = client.search_runs(exp, f"tags.`mlwarden.model_version` = '{_quoted(v.label)}'")
        if found:
            run = found[0]
        else:
            run_id = client.create_run(
                exp,
                name=f"monitoring {v.label}",
                tags={
                    "mlwarden.model": v.model,
                    "mlwarden.model_version": v.label,
                    "mlwarden.version": v.version,
                },
                start_ms=int(time.time() * 1000),
            )
            client.set_version_tag(v.name, v.mlflow_version, "mlwarden.monitoring_run", run_id)
            run = client.run(run_id)
        tags = {t["key"]: t.get("value", "") for t in (run.get("data") or {}).get("tags") or []}
        until = tags.get("mlwarden.synced_until")
        at = datetime.fromisoformat(until) if until else None
        return str(run["info"]["run_id"]), at, int(tags.get("mlwarden.windows") or 0)

    def _metrics(self, client: MlflowRest, v: _Linked) -> int:
        run_id, until, steps = self._run_of(client, v)
        t = self.store.results()
        preds = [
            t.project == v.project,
            t.model == v.model,
            t.segment.isnull(),
            t.window_end <= datetime.now(UTC).replace(tzinfo=None),  # closed windows only
        ]
        if until is not None:
            preds.append(t.evaluated_at > until.astimezone(UTC).replace(tzinfo=None))
        rows = (
            t.filter(*preds)
            .select("monitor", "window_start", "window_end", "status", "value", "evaluated_at")
            .order_by(["window_start", "monitor"])
            .to_pyarrow()
            .to_pylist()
        )
        windows: dict[tuple[datetime, datetime], list[dict[str, Any]]] = {}
        for r in rows:
            windows.setdefault((r["window_start"], r["window_end"]), []).append(r)
        if not windows:
            return 0
        metrics: list[dict[str, Any]] = []
        for i, ((_, end), results) in enumerate(sorted(windows.items())):
            step = steps + i
            ms = int((utc_aware(end) or datetime.now(UTC)).timestamp() * 1000)
            statuses = [r["status"] for r in results]

            def metric(key: str, value: float, ms: int = ms, step: int = step) -> dict[str, Any]:
                return {"key": key, "value": value, "timestamp": ms, "step": step}

            metrics += [
                metric("mlwarden.alerts", float(statuses.count("alert"))),
                metric("mlwarden.warnings", float(statuses.count("warn"))),
            ]
            for r in results:
                key = metric_key(r["monitor"])
                metrics.append(metric(f"{key}.status", STATUS_CODES.get(r["status"], -1.0)))
                if r["value"] is not None and r["value"] == r["value"]:  # NaN: no value
                    metrics.append(metric(key, float(r["value"])))
        seen = utc_aware(max(r["evaluated_at"] for r in rows))
        assert seen is not None
        client.log_batch(
            run_id,
            metrics=metrics,
            tags={
                "mlwarden.synced_until": seen.isoformat(),
                "mlwarden.windows": str(steps + len(windows)),
            },
        )
        return len(metrics)


def _quoted(s: str) -> str:
    return s.replace("\\", "\\\\").replace("'", "\\'")
