"""A project's alerting config: its channels and actions, read from and written to YAML.

Each project has one alerting config (YAML, stored by the engine): ``channels:`` (where
notifications go, see :mod:`mlwarden.incidents.channels`) and ``actions:`` (what runs, see
:mod:`mlwarden.incidents.actions`). Reading one validates every entry; what the server lets a
config do on top of that is :meth:`mlwarden.incidents.alerting.Alerting.check`.

Examples
--------
>>> cfg = AlertingConfig.from_yaml('''
... channels:
...   - {kind: webhook, name: ops, url: "https://hooks.example.com/x", min_severity: high}
... actions:
...   - {name: retrain, "on": {kinds: [drift]}, webhook: "https://ci.example.com/retrain"}
... ''')
>>> [c.name for c in cfg.channels], [a.name for a in cfg.actions]
(['ops'], ['retrain'])
>>> AlertingConfig.from_yaml(cfg.to_yaml()) == cfg
True
>>> AlertingConfig.from_yaml("channel: []")
Traceback (most recent call last):
...
mlwarden.errors.ConfigError: The alerting config has an unknown key 'channel'; keys are channels, actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from mlwarden.errors import ConfigError
from mlwarden.incidents.actions import Action
from mlwarden.incidents.channels.base import Channel

__all__ = ["AlertingConfig"]

_KEYS = ("channels", "actions")


@dataclass(frozen=True)
class AlertingConfig:
    """A project's channels and actions (validated; names unique within each)."""

    channels: tuple[Channel, ...] = ()
    actions: tuple[Action, ...] = ()

    @classmethod
    def from_dict(cls, data: Any) -> AlertingConfig:
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ConfigError(
                f"The alerting config must be a mapping with 'channels' and 'actions'. "
                f"Got {type(data).__name__} instead."
            )
        unknown = sorted(str(k) for k in set(data) - set(_KEYS))
        if unknown:
            raise ConfigError(
                f"The alerting config has an unknown key {unknown[0]!r}; keys are "
                f"{', '.join(_KEYS)}."
            )
        channels = tuple(
            Channel.from_dict(_entry(item, "channels", i))
            for i, item in enumerate(_list(data, "channels"))
        )
        actions = tuple(
            Action.from_dict(_entry(item, "actions", i))
            for i, item in enumerate(_list(data, "actions"))
        )
        for what, items in (("channel", channels), ("action", actions)):
            names = [x.name for x in items]
            dupes = sorted({n for n in names if names.count(n) > 1})
            if dupes:
                raise ConfigError(
                    f"Two {what}s are named {dupes[0]!r}; {what} names must be unique."
                )
        return cls(channels, actions)

    @classmethod
    def from_yaml(cls, text: str) -> AlertingConfig:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise ConfigError(f"The alerting config is not valid YAML{where}: {problem}.") from exc
        return cls.from_dict(data)

    def to_dict(self) -> dict[str, Any]:
        return {
            "channels": [c.to_dict() for c in self.channels],
            "actions": [a.to_dict() for a in self.actions],
        }

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)

    def summary(self) -> dict[str, Any]:
        """What the API shows: the YAML and one line per channel and action."""
        return {
            "spec_yaml": self.to_yaml(),
            "channels": [
                {
                    "name": c.name,
                    "kind": c.kind,
                    "min_severity": c.min_severity,
                    "events": c.events,
                    "objectives": c.objectives,
                }
                for c in self.channels
            ],
            "actions": [
                {"name": a.name, "does": a.describe(), "dry_run": a.dry_run} for a in self.actions
            ],
        }


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    items = data.get(key)
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(
            f"The '{key}' of the alerting config must be a list. Got {type(items).__name__} "
            "instead."
        )
    return items


def _entry(item: Any, key: str, i: int) -> Any:
    if not isinstance(item, Mapping):
        raise ConfigError(
            f"Entry #{i + 1} of '{key}' in the alerting config must be a mapping. "
            f"Got {type(item).__name__} instead."
        )
    return item
