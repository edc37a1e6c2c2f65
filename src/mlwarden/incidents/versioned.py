"""Writes of incidents that lose nothing: read, change, compare-and-set; on conflict, again.

Two kinds of writers change an incident: the machine (the lifecycle folding results in, the
root cause analysis, which may take seconds) and people (acknowledge, resolve, snooze, with
their notes). Each write names the version of the row it read; the store refuses it when the
row moved on meanwhile (:meth:`mlwarden.store.base.IncidentStorage.put_incidents`), and the
writer reads the row again and re-applies *its own* change to it. So a person's action taken
while the analysis ran is kept: the analysis lands on top of it instead of erasing it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from mlwarden.errors import ConflictError
from mlwarden.incidents.record import Incident, from_row, to_row

if TYPE_CHECKING:
    from mlwarden.store.protocols import IncidentRepository

__all__ = ["ATTEMPTS", "change", "commit"]

#: Tries of one write before giving up (each conflict means another writer got in between;
#: more than a few in a row means something writes the incident in a loop).
ATTEMPTS = 20


def commit(
    store: IncidentRepository, attempt: Callable[[], Sequence[Incident]], *, what: str
) -> list[Incident]:
    """Run ``attempt`` (read what it needs, return the changed incidents) and store its answer
    unless a row it read moved on since; then run it again, up to :data:`ATTEMPTS` times.
    Returns the incidents as stored (with their new versions).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> from mlwarden.incidents.record import IncidentState
    >>> from mlwarden.store import DuckDBStore
    >>> store = DuckDBStore()
    >>> t = datetime(2026, 1, 1, tzinfo=UTC)
    >>> new = Incident(1, "p", "m", "model", "drift", "t", "high", IncidentState.OPEN,
    ...                t, t, t, t)
    >>> [i.version for i in commit(store, lambda: [new], what="opening")]
    [1]
    >>> stale = new.evolve(title="stale")  # still version 0: the row is at 1 now
    >>> store.put_incidents([to_row(stale)])
    [1]
    >>> store.close()
    """
    for _ in range(ATTEMPTS):
        incidents = list(attempt())
        if not store.put_incidents([to_row(i) for i in incidents]):
            return [i.evolve(version=i.version + 1) for i in incidents]
    raise ConflictError(
        f"Storing {what} failed: the incidents kept changing under it ({ATTEMPTS} attempts); "
        "try again."
    )


def change(
    store: IncidentRepository,
    project: str,
    incident_id: int,
    fn: Callable[[Incident], Incident],
    *,
    what: str,
) -> Incident:
    """Apply ``fn`` to the stored incident and store the result, re-reading and re-applying
    on conflict (``fn`` may raise, e.g. a :class:`ConflictError` when the state it needs is
    gone by the time it runs again)."""

    def attempt() -> list[Incident]:
        return [fn(from_row(store.get_incident(project, incident_id)))]

    (inc,) = commit(store, attempt, what=what)
    return inc
