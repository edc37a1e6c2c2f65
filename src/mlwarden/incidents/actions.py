"""Automated actions: run a command, call a webhook or start a pipeline when an incident matches.

An :class:`Action` says *when* (``on``: incident kinds and/or signature patterns, a minimum
severity, the events, ``opened`` by default) and *what*: exactly one of ``webhook`` (POST the
incident JSON, signed like the webhook channel), ``pipeline`` (start an Airflow DAG run, an Argo
workflow, a GitHub Actions workflow or a Kubeflow pipeline run with the incident as its
parameters: :mod:`mlwarden.incidents.pipelines`) or ``command`` (an argv list run without a
shell, the incident JSON on stdin, a minimal environment: ``PATH``, ``HOME``, ``LANG``, the
``MLWARDEN_*`` variables of the incident and the variables the operator allows, never the
whole server environment). Command actions come only from the server's own configuration
(``mlwarden serve --actions-file``), never from the API. Actions
are dry runs unless ``dry_run: false`` is written, and rate limited (``max_runs`` per
``per``, one a day by default), so a flapping incident cannot trigger ten retrainings.

Every run, dry or real, allowed or refused, is recorded in the :class:`AuditLog`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from mlwarden.errors import ConfigError, expected
from mlwarden.incidents.channels.base import Configurable, has_env_ref, now_utc
from mlwarden.incidents.channels.policy import DEFAULT_POLICY, ENV_PREFIX, AlertingPolicy
from mlwarden.incidents.channels.webhook import (
    check_http_url,
    post_json,
    redact_url,
    to_json,
    webhook_document,
)
from mlwarden.incidents.pipelines import check_pipeline, pipeline_call
from mlwarden.incidents.record import SEVERITIES, IncidentEvent, Notification

__all__ = ["Action", "ActionRun", "ActionRunner", "AuditLog", "MemoryAuditLog", "RunStatus"]

log = logging.getLogger("mlwarden.incidents")

_PER = re.compile(r"^(\d+)\s*(s|m|h|d|w)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_ON_KEYS = ("kinds", "signatures", "min_severity", "events")
#: Characters of a command's stderr kept in a run's detail.
STDERR_TAIL = 400
#: Variables of the server's environment a command gets (besides the policy's).
BASE_ENV = ("PATH", "HOME", "LANG")


class RunStatus(StrEnum):
    DONE = "done"
    FAILED = "failed"
    DRY_RUN = "dry_run"
    RATE_LIMITED = "rate_limited"


@dataclass(frozen=True)
class ActionRun:
    """One action considered for one notification, and what came of it."""

    action: str
    incident_id: int
    event: str
    dry_run: bool
    status: RunStatus
    #: Exit code and stderr tail, HTTP status, what a dry run would do, why it was refused.
    detail: str
    at: datetime
    #: The notification's key (``Notification.key``).
    key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "incident_id": self.incident_id,
            "event": self.event,
            "dry_run": self.dry_run,
            "status": self.status.value,
            "detail": self.detail,
            "at": self.at.isoformat(),
            "key": self.key,
        }


class AuditLog(Protocol):
    """Where action runs are recorded (the server's store; :class:`MemoryAuditLog` in tests)."""

    def record(self, run: ActionRun) -> None: ...

    def count_since(self, action: str, since: datetime) -> int:
        """Runs of ``action`` at or after ``since`` that ran or would have run (every status
        but ``rate_limited``): what the rate limit counts. Dry runs count, so a dry run shows
        what the limit would do."""
        ...


class MemoryAuditLog:
    """A thread-safe :class:`AuditLog` in memory."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: list[ActionRun] = []

    def record(self, run: ActionRun) -> None:
        with self._lock:
            self._runs.append(run)

    def count_since(self, action: str, since: datetime) -> int:
        with self._lock:
            return sum(
                1
                for r in self._runs
                if r.action == action and r.at >= since and r.status is not RunStatus.RATE_LIMITED
            )

    @property
    def runs(self) -> list[ActionRun]:
        with self._lock:
            return list(self._runs)


def parse_period(text: str) -> timedelta:
    """``'30m'``, ``'6h'``, ``'1d'``, ``'1w'`` to a duration; ValueError if it is not one."""
    m = _PER.match(str(text).strip().lower())
    if not m or int(m[1]) <= 0:
        raise ValueError(text)
    return timedelta(seconds=int(m[1]) * _UNITS[m[2]])


class Action(Configurable):
    """Run a command or call a webhook for matching incidents.

    Examples
    --------
    >>> retrain = Action.from_dict({
    ...     "name": "retrain",
    ...     "on": {"signatures": ["drift:*"], "min_severity": "high"},
    ...     "webhook": "https://ci.example.com/hooks/retrain",
    ...     "max_runs": 2, "per": "1d",
    ... })
    >>> retrain.dry_run, retrain.max_runs  # a dry run unless told otherwise
    (True, 2)
    >>> Action.from_dict({"name": "x", "on": {"kinds": ["drift"]}, "webhook": "https://h.example",
    ...                   "command": ["true"]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The action 'x' must set exactly one of 'webhook', ... it sets 'webhook' and 'command'.
    """

    def __init__(
        self,
        name: str,
        *,
        on: dict[str, Any],
        webhook: str | None = None,
        command: list[str] | None = None,
        pipeline: dict[str, Any] | None = None,
        secret: str | None = None,
        dry_run: bool = True,
        max_runs: int | None = 1,
        per: str = "1d",
        timeout_s: float = 60.0,
        retries: int = 2,
        backoff_s: float = 1.0,
    ) -> None:
        self.name = name
        self.on = on
        self.webhook = webhook
        self.command = command
        self.pipeline = pipeline
        self.secret = secret
        self.dry_run = dry_run
        self.max_runs = max_runs
        self.per = per
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s

    # -- configuration ----------------------------------------------------------------------
    @property
    def where(self) -> str:
        return f"action {self.name!r}"

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out["on"] = {k: list(v) if isinstance(v, list | tuple) else v for k, v in self.on.items()}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[Any, Any]) -> Action:
        """Build and validate an action from its configuration (an ``actions:`` entry).

        YAML 1.1 (PyYAML) reads an unquoted ``on:`` key as the boolean ``true``, as GitHub
        Actions users know; that key is taken as ``on``.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(expected("entry", "actions", "be a mapping with a 'name'", data))
        params = {("on" if k is True else k): v for k, v in data.items()}
        name = params.get("name")
        cls.check_keys(params, f"action {name!r}" if isinstance(name, str) else "action")
        action = cls(**params)
        action.validate()
        return action

    def validate(self) -> None:
        """Check the configuration; raise :class:`ConfigError` naming the bad parameter."""
        self.check_name("an action")
        self._validate_on()
        given = [k for k in ("webhook", "command", "pipeline") if getattr(self, k) is not None]
        if len(given) != 1:
            sets = " and ".join(repr(k) for k in given) if given else "none"
            raise ConfigError(
                f"The {self.where} must set exactly one of 'webhook', 'command' and 'pipeline'; "
                f"it sets {sets}."
            )
        if self.pipeline is not None:
            check_pipeline(self.pipeline, where=self.where)
        if self.webhook is not None:
            if not isinstance(self.webhook, str):
                self.bad("webhook", "be an http:// or https:// URL with a host", self.webhook)
            if not has_env_ref(self.webhook) and (problem := check_http_url(self.webhook)):
                self.bad("webhook", problem, self.webhook)
        if self.command is not None:
            ok = isinstance(self.command, list | tuple) and bool(self.command)
            if not ok or not all(isinstance(a, str) and a for a in self.command):
                self.bad("command", "be a non-empty list of strings (argv, no shell)", self.command)
        if self.secret is not None:
            if self.webhook is None:
                self.bad("secret", "be set only with 'webhook'", "***")
            if not isinstance(self.secret, str) or not self.secret:
                self.bad("secret", "be a non-empty string (or ${ENV_VAR})", "***")
        if not isinstance(self.dry_run, bool):
            self.bad("dry_run", "be true or false", self.dry_run)
        if self.max_runs is not None:
            self.check_number("max_runs", integer=True, minimum=1)
        try:
            parse_period(self.per)
        except ValueError:
            self.bad("per", "look like '30m', '6h', '1d' or '1w'", self.per)
        self.check_number("timeout_s", positive=True)
        self.check_number("retries", integer=True)
        self.check_number("backoff_s")

    def _validate_on(self) -> None:
        on = self.on
        if not isinstance(on, Mapping):
            self.bad("on", "be a mapping with 'kinds' and/or 'signatures'", on)
        unknown = sorted(set(on) - set(_ON_KEYS))
        if unknown:
            self.bad("on", f"have only the keys {', '.join(_ON_KEYS)}", unknown[0])
        if not on.get("kinds") and not on.get("signatures"):
            self.bad("on", "name incident 'kinds' and/or 'signatures' to match", dict(on))
        self.check_str_list("on.kinds", on.get("kinds"), choices=None)
        self.check_str_list("on.signatures", on.get("signatures"), choices=None)
        self.check_str_list("on.events", on.get("events"), choices=[e.value for e in IncidentEvent])
        sev = on.get("min_severity", "low")
        if sev not in SEVERITIES:
            self.bad("on.min_severity", f"be one of {', '.join(SEVERITIES)}", sev)

    # -- behaviour --------------------------------------------------------------------------
    def matches(self, note: Notification) -> bool:
        """Whether ``note`` is one this action is for (all given criteria hold)."""
        on = self.on
        events = on.get("events") or [IncidentEvent.OPENED.value]
        if note.event.value not in events:
            return False
        sev = on.get("min_severity", "low")
        if note.severity in SEVERITIES and SEVERITIES.index(note.severity) < SEVERITIES.index(sev):
            return False
        kind = note.payload.get("kind")
        signature = str(note.payload.get("signature", ""))
        if on.get("kinds") and kind not in on["kinds"]:
            return False
        if on.get("signatures") and not any(
            fnmatch.fnmatchcase(signature, p) for p in on["signatures"]
        ):
            return False
        return True

    def describe(self) -> str:
        """What a run does, for dry runs and logs (URLs redacted)."""
        if self.webhook is not None:
            return f"POST the incident JSON to {redact_url(self.webhook)}"
        if self.pipeline is not None:
            p = self.pipeline
            what = {"airflow": f"DAG {p.get('dag_id')!r}",
                    "argo": f"workflow template {p.get('template')!r}",
                    "github": f"workflow {p.get('workflow')!r} of {p.get('repository')!r}",
                    "kubeflow": f"pipeline {p.get('pipeline_id')!r}"}.get(str(p.get("kind")), "")  # fmt: skip
            return f"start the {p.get('kind')} {what} with the incident as its parameters"
        return f"run {list(self.command or [])!r} with the incident JSON on stdin"

    def execute(
        self, note: Notification, *, policy: AlertingPolicy = DEFAULT_POLICY
    ) -> tuple[RunStatus, str]:
        """Do it now (no dry run, no rate limit): the status and the detail."""
        try:
            body = to_json(webhook_document(note))
            if self.webhook is not None:
                return self._post(note, body, policy)
            if self.pipeline is not None:
                return self._start(note, policy)
            return self._run(note, body, policy)
        except ConfigError as exc:  # a ${VAR} that is not set
            return RunStatus.FAILED, str(exc)

    def _post(
        self, note: Notification, body: bytes, policy: AlertingPolicy
    ) -> tuple[RunStatus, str]:
        assert self.webhook is not None
        url = self.expand("webhook", self.webhook, policy=policy)
        if problem := check_http_url(url):
            raise ConfigError(f"The 'webhook' of {self.where} must {problem} once expanded.")
        out = post_json(
            url,
            body,
            headers={
                "User-Agent": "mlwarden",
                "Content-Type": "application/json",
                "X-Mlwarden-Event": note.event.value,
                "X-Mlwarden-Delivery": note.key,
                "X-Mlwarden-Action": self.name,
            },
            secret=(
                self.expand("secret", self.secret, policy=policy)
                if self.secret is not None
                else None
            ),
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_backoff_s=max(60.0, self.backoff_s),
            policy=policy,
        )
        if out.ok:
            return (
                RunStatus.DONE,
                f"HTTP {out.status_code} ({out.attempts} attempt{'s' * (out.attempts > 1)})",
            )
        return RunStatus.FAILED, out.error

    def _start(self, note: Notification, policy: AlertingPolicy) -> tuple[RunStatus, str]:
        assert self.pipeline is not None
        call = pipeline_call(
            self.pipeline,
            note,
            expand=lambda param, value: self.expand(param, value, policy=policy),
        )
        if problem := check_http_url(call.url):
            raise ConfigError(f"The 'pipeline.url' of {self.where} must {problem} once expanded.")
        out = post_json(
            call.url,
            to_json(call.body),
            headers={**call.headers, "X-Mlwarden-Delivery": note.key},
            secret=None,
            timeout_s=self.timeout_s,
            retries=self.retries,
            backoff_s=self.backoff_s,
            max_backoff_s=max(60.0, self.backoff_s),
            policy=policy,
        )
        kind = self.pipeline["kind"]
        if out.ok:
            return RunStatus.DONE, f"{kind}: started {call.run} (HTTP {out.status_code})"
        if call.conflict_is_done and out.status_code == 409:
            return RunStatus.DONE, f"{kind}: {call.run} was started already (HTTP 409)"
        return RunStatus.FAILED, f"{kind}: {out.error}"

    def _run(
        self, note: Notification, body: bytes, policy: AlertingPolicy
    ) -> tuple[RunStatus, str]:
        argv = [self.expand("command", a, policy=policy) for a in self.command or []]
        p = note.payload
        env = {
            k: v
            for k, v in os.environ.items()
            if k in BASE_ENV or k in policy.env or k.startswith(ENV_PREFIX)
        }
        env |= {
            "MLWARDEN_ACTION": self.name,
            "MLWARDEN_INCIDENT_ID": str(note.incident_id),
            "MLWARDEN_EVENT": note.event.value,
            "MLWARDEN_PROJECT": note.project,
            "MLWARDEN_MODEL": note.model,
            "MLWARDEN_SEVERITY": note.severity,
            "MLWARDEN_KIND": str(p.get("kind", "")),
            "MLWARDEN_SIGNATURE": str(p.get("signature", "")),
            "MLWARDEN_INCIDENT_URL": note.url,
            "MLWARDEN_DELIVERY": note.key,
        }
        try:
            done = subprocess.run(  # argv from the operator's config, no shell
                argv, input=body, capture_output=True, timeout=self.timeout_s, env=env, check=False
            )
        except subprocess.TimeoutExpired:
            return RunStatus.FAILED, f"timed out after {self.timeout_s:g}s (killed)"
        except OSError as exc:
            return RunStatus.FAILED, f"could not start {argv[0]!r}: {exc.strerror or exc}"
        err = done.stderr.decode("utf-8", "replace").strip()[-STDERR_TAIL:]
        detail = f"exit code {done.returncode}" + (f": {err}" if err else "")
        return (RunStatus.DONE if done.returncode == 0 else RunStatus.FAILED), detail


class ActionRunner:
    """Run the matching actions for each notification, dry runs and rate limits applied.

    Examples
    --------
    >>> from mlwarden.incidents.record import IncidentEvent, Notification
    >>> audit = MemoryAuditLog()
    >>> runner = ActionRunner([Action("page", on={"kinds": ["drift"]}, command=["true"])], audit)
    >>> note = Notification(4, "p", "churn", IncidentEvent.OPENED, "high", "Drift", "", "",
    ...                     payload={"kind": "drift", "signature": "drift:income"})
    >>> [(r.action, r.status.value) for r in runner.run(note)]
    [('page', 'dry_run')]
    """

    def __init__(
        self,
        actions: Sequence[Action],
        audit: AuditLog,
        *,
        clock: Callable[[], datetime] = now_utc,
        policy: AlertingPolicy = DEFAULT_POLICY,
    ) -> None:
        names: set[str] = set()
        for action in actions:
            action.validate()
            if action.name in names:
                raise ConfigError(f"Two actions are named {action.name!r}; names must be unique.")
            names.add(action.name)
        self.actions = list(actions)
        self.audit = audit
        self.clock = clock
        self.policy = policy
        self._lock = threading.Lock()  # count, run, record: one action run at a time

    def run(self, note: Notification) -> list[ActionRun]:
        """Consider every action for ``note``; the runs of those that match, recorded."""
        out = []
        for action in self.actions:
            if action.matches(note):
                with self._lock:
                    out.append(self._one(action, note))
        return out

    def _one(self, action: Action, note: Notification) -> ActionRun:
        at = self.clock()
        status, detail = RunStatus.DRY_RUN, ""
        if action.max_runs is not None:
            try:
                ran = self.audit.count_since(action.name, at - parse_period(action.per))
            except Exception as exc:  # the audit store failed: do not run blind
                ran, status = -1, RunStatus.FAILED
                detail = f"not run: the audit log could not be read ({exc})"
            if ran >= action.max_runs:
                status = RunStatus.RATE_LIMITED
                detail = f"{ran} runs in the last {action.per} (max_runs {action.max_runs})"
        if status is RunStatus.DRY_RUN:
            if action.dry_run:
                detail = f"dry run: would {action.describe()}"
                log.info(
                    "Action %r (dry run) for %s: would %s", action.name, note.key, action.describe()
                )
            else:
                status, detail = action.execute(note, policy=self.policy)
                log.info("Action %r for %s: %s, %s", action.name, note.key, status.value, detail)
        run = ActionRun(
            action=action.name,
            incident_id=note.incident_id,
            event=note.event.value,
            dry_run=action.dry_run,
            status=status,
            detail=detail,
            at=at,
            key=note.key,
        )
        try:
            self.audit.record(run)
        except Exception:
            log.exception("Could not record the run of action %r for %s", action.name, note.key)
        return run
