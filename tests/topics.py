"""Short customer questions on two topics, for embedding-drift tests (shared by test folders)."""

from __future__ import annotations

import numpy as np

BANKING = ["debit card", "savings account", "standing order", "overdraft", "online banking"]
TRAVEL = ["flight booking", "hotel room", "rental car", "travel insurance", "train ticket"]


def questions(rng: np.random.Generator, n: int, objects: list[str]) -> list[str]:
    """``n`` questions about ``objects`` ("How do I cancel my overdraft?")."""
    verbs = ["change", "cancel", "renew", "check", "update", "close", "open", "block"]
    starts = ["How do I", "Can I", "Where can I", "Is it possible to", "Please help me"]
    return [
        f"{starts[rng.integers(len(starts))]} {verbs[rng.integers(len(verbs))]} my "
        f"{objects[rng.integers(len(objects))]}?"
        for _ in range(n)
    ]
