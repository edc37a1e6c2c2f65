"""mlwarden: self-hosted observability for machine-learning and LLM systems in production."""

from mlwarden._version import __version__
from mlwarden.errors import MlwardenError
from mlwarden.report import Report, report  # the function shadows the subpackage name on purpose
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
