"""Log predictions and labels by hand, from any Python code (a worker, a notebook, a CLI).

MLWARDEN_URL=http://127.0.0.1:8000 python examples/log_by_hand.py
MLWARDEN_PATH=./mlwarden-data python examples/log_by_hand.py
"""

from __future__ import annotations

import random
import sys
import time

import mlwarden


def fraud_score(features: dict[str, float | str]) -> float:
    """The "model": large foreign amounts look suspicious."""
    foreign = 0.3 if features["country"] != "home" else 0.0
    return min(1.0, float(features["amount"]) / 5000.0 + foreign)


def main(n: int = 1000) -> int:
    rng = random.Random(0)
    monitor = mlwarden.init(model="fraud", version="v1", task="binary", create=True)
    for i in range(n):
        features = {
            "amount": round(rng.expovariate(1 / 800), 2),
            "country": rng.choice(["home", "abroad"]),
        }
        started = time.perf_counter()
        score = fraud_score(features)
        latency_ms = (time.perf_counter() - started) * 1000

        prediction, channel = int(score > 0.5), "web" if i % 3 else "app"
        event_id = monitor.log(
            features, prediction, score=score, latency_ms=latency_ms, segments={"channel": channel}
        )

        if i % 4 == 0:  # some labels come back: a chargeback, or none
            monitor.log_actual(event_id, int(rng.random() < score))
    monitor.close()
    print(monitor.stats())
    return 0 if monitor.stats().dropped == 0 else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
