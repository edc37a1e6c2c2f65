"""``monitor.annotate(...)``: mark a deploy, a note or an incident on the model's charts.

One small request on the calling thread (bounded by the transport's timeout), sent at once
rather than queued: a pipeline marks a deploy when it happens, and learns whether it was
stored. Like the rest of the SDK it never raises into the application: bad input, a server
that is away or refuses is logged and answered with ``False``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import pydantic

from mlwarden.schema.annotation import AnnotationIn
from mlwarden.sdk.transport import Result, Transport

__all__ = ["send_annotation"]

log = logging.getLogger("mlwarden.sdk")


def send_annotation(
    transport: Transport,
    model: str,
    text: str,
    *,
    kind: str = "note",
    at: datetime | None = None,
    end: datetime | None = None,
    author: str = "",
) -> bool:
    """Send one annotation of ``model``; True when the receiver stored it.

    Examples
    --------
    >>> from mlwarden.sdk.transport import InMemoryTransport
    >>> memory = InMemoryTransport()
    >>> send_annotation(memory, "churn", "deploy v2", kind="deploy")
    True
    >>> send_annotation(memory, "churn", "", kind="deploy")  # logged, not raised
    False
    >>> [(m, a.kind.value, a.text) for m, a in memory.annotations]
    [('churn', 'deploy', 'deploy v2')]
    """
    fields: dict[str, Any] = {"text": text, "kind": kind, "time": at, "end": end}
    if author:
        fields["author"] = author
    try:
        body = AnnotationIn(**fields)
    except pydantic.ValidationError as exc:
        log.warning("mlwarden: annotation of %r not sent: %s", model, exc.errors()[0]["msg"])
        return False
    try:
        outcome = transport.annotate(model, body)
    except Exception:  # noqa: BLE001 - the SDK never raises into the application
        log.exception("mlwarden: sending an annotation of %r failed", model)
        return False
    if outcome.result is not Result.OK:
        log.warning(
            "mlwarden: annotation of %r not stored by %s: %s",
            model,
            transport.describe(),
            outcome.reason or outcome.result.value,
        )
        return False
    return True
