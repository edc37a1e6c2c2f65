"""Where a project's notifications go and what runs on them: the server's dispatcher.

Each project has one alerting config (YAML stored by the engine, read as an
:class:`~mlwarden.incidents.alerting_config.AlertingConfig`): its channels and actions.
:class:`Alerting` is the server's dispatcher: per project, a
:class:`~mlwarden.incidents.notifier.Notifier` over its channels and an
:class:`~mlwarden.incidents.actions.ActionRunner` over its actions, whose deliveries and runs
are logged in the engine. :meth:`Alerting.dispatch` only queues: neither an evaluation nor an
API request waits for a network or a command.

The operator bounds what a config may do (an
:class:`~mlwarden.incidents.channels.policy.AlertingPolicy`: the variables it may expand, the
hosts it may reach) and owns the command actions: a config set through
:meth:`Alerting.configure` (the API) may not hold one; they come from the server's actions
file (:mod:`mlwarden.incidents.server_actions`) and run beside the project's own.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mlwarden.errors import ConfigError, MlwardenError
from mlwarden.incidents.actions import Action, ActionRun, ActionRunner, RunStatus
from mlwarden.incidents.alerting_config import AlertingConfig
from mlwarden.incidents.channels.base import Delivery, DeliveryStatus, now_utc
from mlwarden.incidents.channels.policy import AlertingPolicy
from mlwarden.incidents.notifier import Notifier
from mlwarden.incidents.record import IncidentEvent, Notification

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["Alerting", "AlertingConfig", "StoreAuditLog", "StoreDeliveryLog", "ping_notification"]

log = logging.getLogger("mlwarden.incidents")
#: The ``mlwarden serve`` flag naming the operator's actions file (named in refusals).
ACTIONS_FILE_FLAG = "--actions-file"


class StoreDeliveryLog:
    """The notifier's :class:`~mlwarden.incidents.notifier.DeliveryLog` in the engine."""

    def __init__(self, store: Store, project: str) -> None:
        self.store = store
        self.project = project

    def delivered(self, channel: str, key: str) -> bool:
        return bool(self.store.delivered(self.project, channel, key))

    def record(self, delivery: Delivery) -> None:
        d = delivery.to_dict()
        d["code"] = d.pop("http_status")
        self.store.record_delivery(self.project, d)


class StoreAuditLog:
    """The actions' :class:`~mlwarden.incidents.actions.AuditLog` in the engine."""

    def __init__(self, store: Store, project: str) -> None:
        self.store = store
        self.project = project

    def record(self, run: ActionRun) -> None:
        self.store.record_action(self.project, run.to_dict())

    def count_since(self, action: str, since: datetime) -> int:
        return int(self.store.count_actions(self.project, action, since))


def ping_notification(project: str, *, by: str = "") -> Notification:
    """A notification that says it is only a check of the channels (no incident); each one has
    a key of its own, so a channel that delivered the last one still gets it."""
    who = f" by {by}" if by else ""
    return Notification(
        incident_id=0,
        project=project,
        model="mlwarden-ping",
        event=IncidentEvent.OPENED,
        severity="critical",
        title="[ping] mlwarden: checking this channel",
        text=f"A ping sent{who} from mlwarden to check this channel. There is no incident.",
        url="",
        payload={"ping": True, "project": project, "event": "opened"},
        sequence=time.time_ns(),
    )


class _Project:
    """One project's notifier and action runner."""

    def __init__(
        self,
        store: Store,
        project: str,
        config: AlertingConfig,
        *,
        workers: int,
        policy: AlertingPolicy,
        server_actions: Sequence[Action],
    ) -> None:
        self.config = config
        self.notifier = Notifier(
            config.channels, StoreDeliveryLog(store, project), workers=workers, policy=policy
        )
        self.runner = ActionRunner(
            [*server_actions, *config.actions], StoreAuditLog(store, project), policy=policy
        )


class Alerting:
    """The server's dispatcher: notifications to channels, incidents to actions, per project.

    Configs are read from the store on first use and replaced by :meth:`configure`. Actions
    run on one background thread (in order, so rate limits count exactly); channels on the
    notifier's ``workers`` threads per project.

    The operator's limits: ``env`` (variables ``${NAME}`` may expand besides ``MLWARDEN_*``),
    ``allow_hosts`` (non-public hosts or networks channels may reach) and ``server_actions``
    (per project, from the actions file: the only place command actions come from).
    """

    def __init__(
        self,
        store: Store,
        *,
        workers: int = 2,
        env: Sequence[str] = (),
        allow_hosts: Sequence[str] = (),
        server_actions: Mapping[str, Sequence[Action]] | None = None,
    ) -> None:
        self.store = store
        self.workers = workers
        self.policy = AlertingPolicy(env=tuple(env), allow_hosts=tuple(allow_hosts))
        self.policy.validate()
        self.server_actions = {p: tuple(a) for p, a in (server_actions or {}).items()}
        self._lock = threading.Lock()
        self._projects: dict[str, _Project] = {}
        self._actions: queue.SimpleQueue[tuple[ActionRunner, Notification] | None] = (
            queue.SimpleQueue()
        )
        self._pending = 0
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run_actions, name="mlwarden-actions")
        self._thread.daemon = True
        self._thread.start()

    # -- configuration -----------------------------------------------------------------------
    def config(self, project: str) -> AlertingConfig:
        return self._project(project).config

    def check(self, project: str, config: AlertingConfig) -> None:
        """Raise :class:`ConfigError` unless ``config`` may be set through the API: no command
        action, no action named like one of the server's, no ``${NAME}`` the policy refuses."""
        server = {a.name for a in self.server_actions.get(project, ())}
        for action in config.actions:
            if action.command is not None:
                raise ConfigError(
                    f"The action {action.name!r} runs a command: command actions belong in the "
                    "server's own configuration, not in an alerting config sent to the API. "
                    f"The operator defines them in the file given to 'mlwarden serve "
                    f"{ACTIONS_FILE_FLAG} PATH'; here, use a 'webhook' action."
                )
            if action.name in server:
                raise ConfigError(
                    f"The action {action.name!r} is defined in the server's actions file "
                    f"({ACTIONS_FILE_FLAG}) and cannot be replaced through the API; name yours "
                    "differently."
                )
        for item in (*config.channels, *config.actions):
            item.check_env(self.policy)

    def summary(self, project: str, config: AlertingConfig | None = None) -> dict[str, Any]:
        """What the API shows of ``config`` (default: the project's): its own channels and
        actions (``source: api``) and the server's actions (``source: server``, read-only)."""
        shown = (config or self.config(project)).summary()
        for a in shown["actions"]:
            a["source"] = "api"
        shown["actions"] += [
            {"name": a.name, "does": a.describe(), "dry_run": a.dry_run, "source": "server"}
            for a in self.server_actions.get(project, ())
        ]
        return shown

    def configure(self, project: str, config: AlertingConfig) -> AlertingConfig:
        """Check (:meth:`check`), store and apply a project's config; notifications queued
        under the old one finish."""
        self.check(project, config)
        fresh = self._make(project, config)
        self.store.put_alerting(project, config.to_yaml())
        with self._lock:
            old = self._projects.get(project)
            self._projects[project] = fresh
        if old is not None:
            threading.Thread(target=old.notifier.close, daemon=True).start()
        return config

    def _project(self, project: str) -> _Project:
        with self._lock:
            found = self._projects.get(project)
        if found is not None:
            return found
        text = self.store.get_alerting(project)
        try:
            config = AlertingConfig.from_yaml(text) if text else AlertingConfig()
        except MlwardenError as exc:  # stored by an older version: say so, alert nobody
            log.error("The stored alerting config of project %r is invalid: %s", project, exc)
            config = AlertingConfig()
        commands = [a.name for a in config.actions if a.command is not None]
        if commands:  # stored through the API by an older version: never run them
            log.error(
                "The stored alerting config of project %r has command actions (%s), which only "
                "the server's actions file (%s) may define: they are ignored.",
                project,
                ", ".join(commands),
                ACTIONS_FILE_FLAG,
            )
            config = AlertingConfig(
                config.channels, tuple(a for a in config.actions if a.command is None)
            )
        made = self._make(project, config)
        with self._lock:
            found = self._projects.setdefault(project, made)
        if found is not made:
            made.notifier.close()
        return found

    def _make(self, project: str, config: AlertingConfig) -> _Project:
        return _Project(
            self.store,
            project,
            config,
            workers=self.workers,
            policy=self.policy,
            server_actions=self.server_actions.get(project, ()),
        )

    # -- the Dispatcher protocol --------------------------------------------------------------
    def dispatch(self, project: str, notes: Sequence[Notification]) -> None:
        """Queue ``notes`` for the project's channels and actions; returns at once."""
        if self._closed:
            log.warning("alerting is closed: %d notifications of %r not sent", len(notes), project)
            return
        p = self._project(project)
        for note in notes:
            p.notifier.submit(note)
            if p.runner.actions:
                with self._cond:
                    self._pending += 1
                self._actions.put((p.runner, note))

    def ping(self, project: str, *, by: str = "") -> list[Delivery]:
        """Deliver a ping to every channel of the project now (routing ignored); the outcomes."""
        p = self._project(project)
        note = ping_notification(project, by=by)
        out = []
        for ch in p.config.channels:
            try:
                out.append(ch.send(note, policy=self.policy))
            except Exception as exc:  # noqa: BLE001 - a channel bug is a failed ping
                out.append(
                    ch.delivery(
                        note,
                        DeliveryStatus.FAILED,
                        started_at=now_utc(),
                        attempts=0,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
        return out

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued notification and action is handled; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending == 0, timeout):
                return False
        with self._lock:
            projects = list(self._projects.values())
        for p in projects:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not p.notifier.flush(left):
                return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Finish what is queued (up to ``timeout`` seconds) and stop."""
        self.flush(timeout)
        self._closed = True
        self._actions.put(None)
        with self._lock:
            projects = list(self._projects.values())
            self._projects.clear()
        for p in projects:
            p.notifier.close(timeout=1.0)

    def _run_actions(self) -> None:
        while True:
            item = self._actions.get()
            if item is None:
                return
            runner, note = item
            try:
                for run in runner.run(note):
                    if run.status is RunStatus.FAILED:
                        log.warning("action %r for %s failed: %s", run.action, run.key, run.detail)
            except Exception:  # noqa: BLE001 - one bad action must not stop the others
                log.exception("running the actions for %s failed", note.key)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()
