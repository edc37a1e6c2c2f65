"""The operator's actions file: per-project actions defined on the server, commands allowed.

A command action runs a program on the server, so only the operator defines one, in a YAML
file the server reads at start-up (``mlwarden serve --actions-file PATH``); the API refuses
them. The file maps project names to lists of actions, written as in an alerting config
(see :mod:`mlwarden.incidents.actions`)::

    projects:
      default:
        - name: retrain
          "on": {kinds: [drift], min_severity: high}
          command: [/opt/ml/bin/retrain, --model, "${MLWARDEN_MODEL_DIR}"]
          dry_run: false
          max_runs: 1
          per: 1d

These actions run beside the project's own (API-defined) channels and webhook actions; the
API shows them read-only and cannot replace them. ``${NAME}`` references follow the same
:class:`~mlwarden.incidents.channels.policy.AlertingPolicy` as the API's.

Examples
--------
>>> import tempfile, pathlib
>>> tmp = tempfile.TemporaryDirectory()
>>> d = pathlib.Path(tmp.name)
>>> _ = (d / "ok.yaml").write_text(
...     'projects:\\n  default:\\n    - {name: page, "on": {kinds: [drift]}, command: ["true"]}\\n')
>>> {p: [a.name for a in acts] for p, acts in load_server_actions(d / "ok.yaml").items()}
{'default': ['page']}
>>> _ = (d / "bad.yaml").write_text('projects:\\n  default:\\n    - {name: page, command: ["true"]}\\n')
>>> load_server_actions(d / "bad.yaml")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mlwarden.errors.ConfigError: The actions file '.../bad.yaml', project 'default', entry #1: ... needs the 'on' parameter.
>>> tmp.cleanup()
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import yaml

from mlwarden.errors import ConfigError
from mlwarden.incidents.actions import Action
from mlwarden.incidents.channels.policy import DEFAULT_POLICY, AlertingPolicy

__all__ = ["load_server_actions"]


def load_server_actions(
    path: Path, *, policy: AlertingPolicy = DEFAULT_POLICY
) -> dict[str, tuple[Action, ...]]:
    """The actions of each project in the operator's file at ``path``, validated.

    Raises :class:`ConfigError` naming the file, and the project and entry at fault.
    """
    where = f"The actions file {str(path)!r}"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} cannot be read: {exc}.") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{where} is not valid YAML{at}: {problem}.") from exc
    if data is None:
        return {}
    if not isinstance(data, Mapping) or set(data) - {"projects"}:
        raise ConfigError(
            f"{where} must be a mapping with one key, 'projects' (project name: list of actions)."
        )
    projects = data.get("projects") or {}
    if not isinstance(projects, Mapping):
        raise ConfigError(f"{where}: 'projects' must map project names to lists of actions.")
    out: dict[str, tuple[Action, ...]] = {}
    for project, items in projects.items():
        if not isinstance(project, str) or not isinstance(items, list):
            raise ConfigError(
                f"{where}: project {project!r} must be a project name with a list of actions."
            )
        actions: list[Action] = []
        for i, item in enumerate(items):
            try:
                action = Action.from_dict(item)
                action.check_env(policy)
            except ConfigError as exc:
                raise ConfigError(f"{where}, project {project!r}, entry #{i + 1}: {exc}") from exc
            if any(a.name == action.name for a in actions):
                raise ConfigError(
                    f"{where}, project {project!r}, entry #{i + 1}: two actions are named "
                    f"{action.name!r}; names must be unique."
                )
            actions.append(action)
        out[project] = tuple(actions)
    return out
