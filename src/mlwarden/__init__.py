"""mlwarden: self-hosted observability for machine-learning and LLM systems in production.

The names below are imported on first use (PEP 562): ``import mlwarden`` in a model server
that only uses the SDK does not load the monitors, the statistics or the engine, and
``mlwarden report`` starts reading its files before it imports them.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

from mlwarden._version import __version__
from mlwarden.errors import MlwardenError

if _typing.TYPE_CHECKING:
    from mlwarden.reporting import Report, report
    from mlwarden.schema import Feature, FeatureKind, ModelSpec, Task, infer_spec
    from mlwarden.sdk import ASGIMiddleware, InMemoryTransport, Monitor, WSGIMiddleware, init

__all__ = [
    "ASGIMiddleware",
    "Feature",
    "FeatureKind",
    "InMemoryTransport",
    "MlwardenError",
    "ModelSpec",
    "Monitor",
    "Report",
    "Task",
    "WSGIMiddleware",
    "__version__",
    "infer_spec",
    "init",
    "report",
]

_LAZY = {
    "Report": "mlwarden.reporting",
    "report": "mlwarden.reporting",
    "Feature": "mlwarden.schema",
    "FeatureKind": "mlwarden.schema",
    "ModelSpec": "mlwarden.schema",
    "Task": "mlwarden.schema",
    "infer_spec": "mlwarden.schema",
    "ASGIMiddleware": "mlwarden.sdk",
    "InMemoryTransport": "mlwarden.sdk",
    "Monitor": "mlwarden.sdk",
    "WSGIMiddleware": "mlwarden.sdk",
    "init": "mlwarden.sdk",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mlwarden' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
