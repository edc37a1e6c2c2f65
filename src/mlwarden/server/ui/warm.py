"""What a user's first click needs, prepared when the server starts.

Measured on a fresh server with 10M events stored: the first page paid ~0.3 s to import the
engine's ibis backend, ~0.4 s to page the roll-ups in from disk, ~0.6 s to derive feature
importance from the reference, ~0.1 s to parse the monitor suite, and the compilation of its
template. :func:`prepare` does what every page shares before the server takes requests;
:func:`warm` does the rest in the background, model by model (bringing roll-ups up to date
too: the first start after an upgrade builds them here rather than in a page), and stops
early when the server shuts down.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from mlwarden.errors import MlwardenError, NotFoundError
from mlwarden.monitors import service
from mlwarden.server.ui import data
from mlwarden.server.ui.pages_monitors import rows_per_window
from mlwarden.server.ui.reference import model_importance, reference_moments
from mlwarden.server.ui.routing import templates
from mlwarden.server.ui.state import ViewState

if TYPE_CHECKING:
    from mlwarden.store.base import Store

__all__ = ["prepare", "warm"]

log = logging.getLogger("mlwarden.server.ui")


def prepare(store: Store) -> None:
    """What every page needs, done before the server takes requests (~0.3 s): the engine's
    ibis backend imported and the templates compiled."""
    for name in templates.env.list_templates(extensions=["html"]):
        templates.env.get_template(name)
    store.warm_up()


def warm(store: Store, stop: threading.Event) -> int:
    """Prepare every model's pages; return how many models were done. Errors are logged,
    never raised (pages work without)."""
    done = 0
    try:
        prepare(store)
        for record in store.list_models():
            if stop.is_set():
                break
            _model(store, record)
            done += 1
    except (MlwardenError, OSError) as exc:  # the store closing under us, a bad reference
        log.info("warming the UI stopped early: %s", exc)
    return done


def _model(store: Store, record: Any) -> None:
    store.refresh_rollups(record)
    _, hi = data.result_span(store, record.project, record.name)
    state = ViewState().with_range(hi)
    assert state.start is not None and state.end is not None
    store.rollup(record, start=state.start, end=state.end, labels=True)  # pages it in
    model_importance(store, record.project, record)
    reference_moments(store, record.project, record)
    try:
        suite = service.load_suite(store, record.project, record.name)
    except NotFoundError:  # no monitors yet
        return
    service.plan(suite, rows_per_window=rows_per_window(store, record.project, record.name))
