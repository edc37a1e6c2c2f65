"""A batch-scoring job: score a data frame, log it in one call, send labels when they arrive.

    MLWARDEN_URL=http://127.0.0.1:8000 python examples/batch_scoring.py   # to a server
    MLWARDEN_PATH=./mlwarden-data python examples/batch_scoring.py       # straight to a data dir

Prints the SDK's delivery counts and exits 1 if anything could not be delivered.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd

import mlwarden


def score_customers(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {
            "age": rng.integers(18, 80, n),
            "tenure_months": rng.gamma(2.0, 12.0, n).round(1),
            "plan": rng.choice(["free", "pro", "team"], n),
            "region": rng.choice(["eu", "us", "apac"], n),
        }
    )
    logit = 0.04 * (df["age"] - 45) - 0.03 * df["tenure_months"] + (df["plan"] == "free") * 0.8
    df["score"] = 1.0 / (1.0 + np.exp(-logit))
    df["prediction"] = (df["score"] > 0.5).astype(int)
    return df


def main(n: int = 5000) -> int:
    scored = score_customers(n)
    with mlwarden.init(
        model="churn-batch", version="2026-03", task="binary", create=True
    ) as monitor:
        event_ids = monitor.log_batch(scored, score="score", segments=["region"])

        # ... weeks later, the truth arrives; join it by event id
        churned = np.random.default_rng(1).random(n) < scored["score"]
        for event_id, actual in zip(event_ids, churned.astype(int), strict=True):
            monitor.log_actual(event_id, int(actual))

        delivered = monitor.flush(timeout=60)
        print(monitor.stats())
    return 0 if delivered else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000))
