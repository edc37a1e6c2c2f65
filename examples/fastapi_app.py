"""A FastAPI model server monitored by mlwarden: the two marked lines are the whole integration.

    MLWARDEN_URL=http://127.0.0.1:8000 uvicorn fastapi_app:app --app-dir examples --port 8080

Every request is logged to ``churn.requests`` (route, status, latency, sizes), and each
prediction, with the features it was made from, to ``churn``; the response header
``X-Mlwarden-Event-Id`` carries the id to send the label with later (``POST /feedback``).
"""

from __future__ import annotations

import math

from fastapi import FastAPI
from pydantic import BaseModel

import mlwarden

app = FastAPI(title="churn model")


class PredictRequest(BaseModel):
    features: dict[str, float | str]


class Feedback(BaseModel):
    event_id: str
    actual: int


def churn_score(features: dict[str, float | str]) -> float:
    """The "model": a fixed logistic function of age and plan."""
    age = float(features.get("age", 40))
    plan = 0.8 if features.get("plan") == "free" else -0.4
    return 1.0 / (1.0 + math.exp(-(0.05 * (age - 45) + plan)))


@app.post("/predict")
def predict(request: PredictRequest) -> dict[str, float | int]:
    score = churn_score(request.features)
    return {"prediction": int(score > 0.5), "score": round(score, 4)}


@app.post("/feedback")
def feedback(item: Feedback) -> dict[str, str]:
    monitor.log_actual(item.event_id, item.actual)  # the label, joined to its prediction
    return {"status": "ok"}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


monitor = mlwarden.init(model="churn", task="binary", create=True)  # server from MLWARDEN_URL
app.add_middleware(
    mlwarden.ASGIMiddleware,
    monitor=monitor,
    prediction="prediction",
    score="score",
    features="features",
    metrics_path="/metrics",  # Prometheus: requests, latency, errors, the SDK's delivery
)
