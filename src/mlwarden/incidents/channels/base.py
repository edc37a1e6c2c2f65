"""What a channel is: configuration in, one :class:`Delivery` per notification out.

A channel kind is one class in one file, registered in :data:`CHANNELS` by its ``kind``.
Constructor arguments are the configuration (stored verbatim, no logic in ``__init__``):
they round-trip through :meth:`Channel.to_dict` / :meth:`Channel.from_dict`, which is how
channels live in the monitoring spec under ``channels:``. :meth:`Channel.validate` checks
them; :meth:`Channel.from_dict` calls it.

``${NAME}`` references to environment variables in string parameters (a URL, a secret) are
expanded when a notification is sent, never when the configuration is read, so a secret is
never written back to the spec. Only the variables the server's
:class:`~mlwarden.incidents.channels.policy.AlertingPolicy` allows are expanded. A variable
that is not set, or not allowed, fails that delivery with a clear reason; it does not crash
the notifier.
"""

from __future__ import annotations

import inspect
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, NoReturn

from mlwarden._registry import Registry
from mlwarden.errors import ConfigError, expected
from mlwarden.incidents.channels.policy import DEFAULT_POLICY, AlertingPolicy
from mlwarden.incidents.record import SEVERITIES, IncidentEvent, Notification

__all__ = ["CHANNELS", "Channel", "Configurable", "Delivery", "DeliveryStatus", "expand_env"]

_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
#: Parameters whose value is never shown in a repr.
_SECRET_PARAMS = frozenset({"secret"})


class DeliveryStatus(StrEnum):
    DELIVERED = "delivered"
    FAILED = "failed"
    #: Not sent: this channel delivered the notification's key already.
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Delivery:
    """The outcome of handing one notification to one channel (retries included)."""

    channel: str
    kind: str
    key: str
    incident_id: int
    event: str
    status: DeliveryStatus
    attempts: int
    started_at: datetime
    finished_at: datetime
    #: The last HTTP status code received, if the channel speaks HTTP and got an answer.
    http_status: int | None = None
    #: Why it failed (or was skipped); empty when delivered.
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel": self.channel,
            "kind": self.kind,
            "key": self.key,
            "incident_id": self.incident_id,
            "event": self.event,
            "status": self.status.value,
            "attempts": self.attempts,
            "http_status": self.http_status,
            "error": self.error,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
        }


def expand_env(value: str, *, param: str, where: str, policy: AlertingPolicy) -> str:
    """Replace ``${NAME}`` with the environment variable ``NAME``, if ``policy`` allows it.

    Raises :class:`ConfigError` naming the variable and the parameter when it is not set or
    not allowed (then it is not read at all).

    Examples
    --------
    >>> os.environ["MLWARDEN_DOC_HOST"] = "hooks.example.com"
    >>> ops = {"where": "webhook channel 'ops'", "policy": AlertingPolicy()}
    >>> expand_env("https://${MLWARDEN_DOC_HOST}/x", param="url", **ops)
    'https://hooks.example.com/x'
    >>> expand_env("${MLWARDEN_DOC_UNSET}", param="secret", **ops)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The environment variable 'MLWARDEN_DOC_UNSET' used by ... is not set.
    >>> expand_env("${HOME}", param="secret", **ops)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    mlwarden.errors.ConfigError: The 'secret' parameter of webhook channel 'ops' refers to ... 'HOME', ...
    """

    def one(match: re.Match[str]) -> str:
        name = match[1]
        if not _ENV_NAME.fullmatch(name):
            raise ConfigError(
                expected(f"parameter of {where}", param, "use ${NAME} with a variable name", value)
            )
        if not policy.env_allowed(name):
            raise ConfigError(policy.refused_env(name, param=param, where=where))
        found = os.environ.get(name)
        if found is None:
            raise ConfigError(
                f"The environment variable {name!r} used by the {param!r} parameter of "
                f"{where} is not set."
            )
        return found

    return _ENV_REF.sub(one, value)


def has_env_ref(value: str) -> bool:
    return _ENV_REF.search(value) is not None


def now_utc() -> datetime:
    return datetime.now(UTC)


class Configurable:
    """Constructor arguments are the configuration: introspected, checked, shown, compared.

    Shared by channels and actions (both live in the monitoring spec). Subclasses take their
    parameters in ``__init__`` and store them verbatim under the same names; ``where`` names
    the object in messages (``webhook channel 'ops'``).
    """

    name: str

    @property
    def where(self) -> str:
        raise NotImplementedError

    @classmethod
    def param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    @classmethod
    def check_keys(cls, params: Mapping[str, Any], label: str) -> None:
        """Refuse unknown parameters and missing required ones of ``cls`` in ``params``."""
        allowed = cls.param_names()
        unknown = sorted(str(k) for k in set(params) - set(allowed))
        if unknown:
            raise ConfigError(
                f"The {label} has no parameter {unknown[0]!r}; its parameters are "
                f"{', '.join(sorted(allowed))}."
            )
        sig = inspect.signature(cls.__init__)
        for n, p in sig.parameters.items():
            if n != "self" and p.default is inspect.Parameter.empty and n not in params:
                raise ConfigError(f"The {label} needs the {n!r} parameter.")

    def get_params(self) -> dict[str, Any]:
        return {p: getattr(self, p) for p in self.param_names()}

    def to_dict(self) -> dict[str, Any]:
        """The configuration as written (``${NAME}`` references are kept, not expanded)."""
        return {
            k: list(v) if isinstance(v, list | tuple) else dict(v) if isinstance(v, dict) else v
            for k, v in self.get_params().items()
        }

    def bad(self, param: str, must: str, got: object) -> NoReturn:
        raise ConfigError(expected(f"parameter of {self.where}", param, must, got))

    def check_name(self, what: str) -> None:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            must = "be a name of letters, digits, '_', '.' or '-' (at most 64)"
            raise ConfigError(expected(f"parameter of {what}", "name", must, self.name))

    def check_str_list(self, param: str, value: object, *, choices: Sequence[str] | None) -> None:
        """``value`` (of ``param``) is None or a list of strings (among ``choices``)."""
        if value is None:
            return
        must = "be a list of " + (f"values among {', '.join(choices)}" if choices else "names")
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            self.bad(param, must, value)
        if choices is not None and any(v not in choices for v in value):
            self.bad(param, must, value)

    def check_headers(self, headers: Any, *, reserved: str, mlwarden_headers: bool) -> None:
        """``headers`` is None or a mapping of header names to strings, none of them
        Content-Type or Host (nor ``X-Mlwarden-*`` when ``mlwarden_headers``: the channel sets
        those); ``reserved`` says which, in the error."""
        ok = headers is None or (
            isinstance(headers, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
        )
        if not ok:
            self.bad("headers", "be a mapping of header names to strings", headers)
        taken = [
            k
            for k in headers or {}
            if k.lower() in ("content-type", "host")
            or (mlwarden_headers and k.lower().startswith("x-mlwarden-"))
        ]
        if taken:
            self.bad("headers", f"not set {reserved}", taken[0])

    def check_number(
        self, param: str, *, integer: bool = False, minimum: float = 0.0, positive: bool = False
    ) -> None:
        """Check that parameter ``param`` is a number ``>= minimum`` (``> minimum`` if positive)."""
        value = getattr(self, param)
        kinds: tuple[type, ...] = (int,) if integer else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool)
        ok = ok and (value > minimum if positive else value >= minimum)
        if not ok:
            what = "an integer" if integer else "a number"
            self.bad(param, f"be {what} {'>' if positive else '>='} {minimum:g}", value)

    def expand(self, param: str, value: str, *, policy: AlertingPolicy) -> str:
        """``value`` (of parameter ``param``) with its ``${NAME}`` references expanded."""
        return expand_env(value, param=param, where=self.where, policy=policy)

    def check_env(self, policy: AlertingPolicy) -> None:
        """Raise :class:`ConfigError` for the first ``${NAME}`` that ``policy`` does not allow
        (what the server checks before it stores a config)."""
        for param, value in self.get_params().items():
            policy.check_env(value, param=param, where=self.where)

    def __repr__(self) -> str:
        def shown(k: str, v: Any) -> str:
            hidden = k in _SECRET_PARAMS and isinstance(v, str) and not has_env_ref(v)
            return "'***'" if hidden else repr(v)

        args = ", ".join(f"{k}={shown(k, v)}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Configurable)
            and type(other) is type(self)
            and self.to_dict() == other.to_dict()
        )

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.name))


class Channel(Configurable, ABC):
    """Base of every channel kind.

    Subclasses set ``kind``, repeat the routing parameters (``objectives``,
    ``min_severity``, ``events``) in their keyword-only constructor, extend :meth:`validate`
    and implement :meth:`send`.
    """

    kind: ClassVar[str]

    def __init__(
        self,
        name: str,
        *,
        objectives: list[str] | None = None,
        min_severity: str = "low",
        events: list[str] | None = None,
    ) -> None:
        self.name = name
        self.objectives = objectives
        self.min_severity = min_severity
        self.events = events

    # -- configuration ----------------------------------------------------------------------
    @property
    def where(self) -> str:
        """How messages name this channel: ``webhook channel 'ops'``."""
        return f"{self.kind} channel {self.name!r}"

    def to_dict(self) -> dict[str, Any]:
        """The configuration as written (``${NAME}`` references are kept, not expanded)."""
        return {"kind": self.kind, **super().to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Channel:
        """Build and validate a channel from its configuration (a ``channels:`` entry).

        Examples
        --------
        >>> ch = Channel.from_dict({"kind": "webhook", "name": "ops", "url": "https://h.example/x"})
        >>> Channel.from_dict(ch.to_dict()) == ch
        True
        >>> Channel.from_dict({"kind": "webhook", "name": "ops", "uri": "https://h.example/x"})
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        mlwarden.errors.ConfigError: The webhook channel 'ops' has no parameter 'uri'; its parameters are ...
        """
        if not isinstance(data, Mapping):
            raise ConfigError(expected("entry", "channels", "be a mapping with a 'kind'", data))
        params = dict(data)
        kind = params.pop("kind", None)
        name = params.get("name")
        label = f"channel {name!r}" if isinstance(name, str) else "channel"
        if not isinstance(kind, str):
            raise ConfigError(
                expected(f"parameter of {label}", "kind", f"be one of {', '.join(CHANNELS)}", kind)
            )
        klass = CHANNELS.get(kind)
        klass.check_keys(params, f"{kind} {label}")
        channel = klass(**params)
        channel.validate()
        return channel

    def validate(self) -> None:
        """Check the configuration; raise :class:`ConfigError` naming the bad parameter."""
        self.check_name(f"{self.kind} channel")
        self.check_str_list("objectives", self.objectives, choices=None)
        self.check_str_list("events", self.events, choices=[e.value for e in IncidentEvent])
        if self.min_severity not in SEVERITIES:
            self.bad("min_severity", f"be one of {', '.join(SEVERITIES)}", self.min_severity)

    # -- routing ---------------------------------------------------------------------------
    def accepts(self, note: Notification) -> bool:
        """Whether this channel wants ``note``: its event, severity and objectives pass.

        A notification whose severity is not a known one passes the severity filter (an
        alert is never dropped for a bad label); with an ``objectives`` filter, a notification
        that names no objective does not pass.

        Examples
        --------
        >>> from dataclasses import replace
        >>> from mlwarden.incidents.channels.webhook import WebhookChannel
        >>> pager = WebhookChannel("pager", url="https://h.example/x", min_severity="high")
        >>> note = Notification(
        ...     incident_id=1, project="default", model="churn", event=IncidentEvent.OPENED,
        ...     severity="medium", title="Drift in income", text="", url="",
        ... )
        >>> pager.accepts(note), pager.accepts(replace(note, severity="high"))
        (False, True)
        """
        if self.events is not None and note.event.value not in self.events:
            return False
        if note.severity in SEVERITIES and SEVERITIES.index(note.severity) < SEVERITIES.index(
            self.min_severity
        ):
            return False
        if self.objectives is not None and not set(self.objectives) & set(note.objectives):
            return False
        return True

    # -- delivery --------------------------------------------------------------------------
    @abstractmethod
    def send(self, note: Notification, *, policy: AlertingPolicy = DEFAULT_POLICY) -> Delivery:
        """Deliver ``note`` (with this channel's retries); never raises for a delivery failure.

        ``policy`` bounds the variables expanded and the hosts reached (default: only
        ``MLWARDEN_*`` variables, only public addresses)."""

    def delivery(
        self,
        note: Notification,
        status: DeliveryStatus,
        *,
        started_at: datetime,
        attempts: int,
        http_status: int | None = None,
        error: str = "",
    ) -> Delivery:
        return Delivery(
            channel=self.name,
            kind=self.kind,
            key=note.key,
            incident_id=note.incident_id,
            event=note.event.value,
            status=status,
            attempts=attempts,
            started_at=started_at,
            finished_at=now_utc(),
            http_status=http_status,
            error=error,
        )


CHANNELS: Registry[type[Channel]] = Registry("channel")
