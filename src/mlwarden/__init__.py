"""mlwarden: self-hosted observability for machine-learning and LLM systems in production."""

from mlwarden._version import __version__
from mlwarden.errors import MlwardenError
from mlwarden.schema import Feature, FeatureKind, ModelSpec, Task, infer_spec

__all__ = [
    "Feature",
    "FeatureKind",
    "MlwardenError",
    "ModelSpec",
    "Task",
    "__version__",
    "infer_spec",
]
