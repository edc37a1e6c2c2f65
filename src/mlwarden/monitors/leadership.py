"""Which server of a deployment runs the work that must run once per deployment.

Several ``mlwarden serve`` processes may share one database (PostgreSQL). The scheduler, the
LLM judge job, synthetic probes and SLOs, MLflow logging and retention must run on one of them
only: the holder of the store's :class:`~mlwarden.store.protocols.SchedulerLease`. A store of
one process (DuckDB's) has no lease, and its server always leads.
"""

from __future__ import annotations

import threading
from typing import Literal

from mlwarden.store.protocols import SchedulerLease

__all__ = ["Leadership", "Role"]

Role = Literal["leader", "standby"]


class Leadership:
    """Ask ``leadership()`` before a round of once-per-deployment work: it takes the lease when
    it is free and says whether this server holds it. :attr:`role` is the last answer, for
    health (it makes no call to the database).

    Examples
    --------
    A store without a lease (one process) always leads:

    >>> one = Leadership(None)
    >>> one.role, one(), one.role
    ('leader', True, 'leader')

    >>> class Taken:
    ...     def hold_scheduler(self) -> bool:
    ...         return False
    >>> other = Leadership(Taken())
    >>> other(), other.role
    (False, 'standby')
    """

    def __init__(self, lease: SchedulerLease | None) -> None:
        self.lease = lease
        self._lock = threading.Lock()
        self._held = lease is None
        #: how many times this server asked (the jobs ask before each round)
        self.asked_ = 0

    def __call__(self) -> bool:
        with self._lock:  # one question to the database at a time (jobs run on threads)
            self.asked_ += 1
            if self.lease is not None:
                self._held = bool(self.lease.hold_scheduler())
            return self._held

    @property
    def role(self) -> Role:
        return "leader" if self._held else "standby"

    @classmethod
    def of(cls, store: object) -> Leadership:
        """The leadership of ``store``'s server: by its lease when it has one."""
        return cls(store if isinstance(store, SchedulerLease) else None)
