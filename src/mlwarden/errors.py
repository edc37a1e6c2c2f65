"""The one exception tree of mlwarden.

Every error a user can see is one of these; third-party errors are translated
at the boundary with ``raise ... from exc`` so nothing foreign leaks out::

    MlwardenError
    ├── ConfigError            bad configuration (constructor argument, file, CLI flag)
    ├── ValidationError        bad input data (a request, a row, a spec); carries .errors
    │   └── SchemaError        a model spec or data frame that cannot be turned into a schema
    ├── NotFoundError          unknown project, model, version, reference, key
    ├── ConflictError          something that already exists or a version mismatch
    ├── AuthError              missing, unknown or revoked API key
    │   └── ForbiddenError     a valid key without the scope (or origin) the request needs
    ├── PayloadTooLargeError   a request body over the configured limit
    ├── RequestTimeoutError    a request body that did not arrive within the deadline
    ├── RateLimitError         too many requests from one API key or address; .retry_after
    ├── StorageError           the engine failed (DuckDB, ClickHouse, ...)
    │   ├── StoreOpenError     the database cannot be opened (damaged, read-only, no permission)
    │   └── UnsupportedByEngineError  the engine does not implement this part of the store yet
    ├── StatisticsError        a statistic cannot be computed from what was given
    └── TransportError         the SDK could not reach the server

Messages follow one wording everywhere: they name the field, the value, and
what was expected, e.g. ``The 'task' field of model 'churn' must be one of
binary, multiclass, regression, llm. Got 'clasification' instead.``
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AuthError",
    "ConfigError",
    "ConflictError",
    "FieldError",
    "ForbiddenError",
    "MlwardenError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RequestTimeoutError",
    "RateLimitError",
    "SchemaError",
    "StatisticsError",
    "StorageError",
    "StoreOpenError",
    "TransportError",
    "UnsupportedByEngineError",
    "ValidationError",
    "expected",
]


class MlwardenError(Exception):
    """Base class of every error raised by mlwarden."""


class ConfigError(MlwardenError):
    """A configuration value (argument, file, flag, environment variable) is invalid."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one field of one input row (``index`` is None for the whole input)."""

    field: str
    reason: str
    index: int | None = None


class ValidationError(MlwardenError):
    """Input data is invalid; ``errors`` lists every problem found, not just the first."""

    def __init__(self, message: str, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(message)
        self.errors: tuple[FieldError, ...] = tuple(errors)


class SchemaError(ValidationError):
    """A model spec, or data from which one is inferred, is not usable."""


class NotFoundError(MlwardenError):
    """A named thing (project, model, version, reference, key) does not exist."""


class ConflictError(MlwardenError):
    """The thing being created exists already, or conflicts with what is stored."""


class AuthError(MlwardenError):
    """An API key is missing, unknown or revoked."""


class ForbiddenError(AuthError):
    """The caller is known but may not do this (the key lacks the scope, a foreign origin)."""


class PayloadTooLargeError(MlwardenError):
    """A request body exceeds the configured limit."""


class RequestTimeoutError(MlwardenError):
    """A request body did not arrive within the server's deadline (a stalled upload)."""


class RateLimitError(MlwardenError):
    """A caller sent more requests than its rate limit allows; ``retry_after`` in seconds."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StorageError(MlwardenError):
    """The storage engine failed; the original engine error is chained as ``__cause__``."""


class StoreOpenError(StorageError):
    """The database cannot be opened: it is damaged, its disk is read-only, or permissions
    forbid it. The message names the file and what to do; ``mlwarden serve`` exits with 4."""


class UnsupportedByEngineError(StorageError, NotImplementedError):
    """The store's engine does not implement this method (yet); the message names both, e.g.
    ``The postgres engine does not implement 'rollup' yet.``"""


class StatisticsError(MlwardenError):
    """A statistic cannot be computed from the given input."""


class TransportError(MlwardenError):
    """The SDK could not deliver data to the server."""


def expected(what: str, name: str, must: str, got: object) -> str:
    """Build the one wording used for bad-input messages.

    Examples
    --------
    >>> expected("field", "task", "be one of binary, regression", "clasification")
    "The 'task' field must be one of binary, regression. Got 'clasification' instead."
    """
    return f"The {name!r} {what} must {must}. Got {got!r} instead."
