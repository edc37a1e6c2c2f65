"""A Flask model server monitored by mlwarden: the two marked lines are the whole integration.

    MLWARDEN_URL=http://127.0.0.1:8000 gunicorn -w 2 --preload --chdir examples flask_app:app

Works with pre-fork servers: each worker gets its own queue, thread and spool after the fork.
"""

from __future__ import annotations

import math

from flask import Flask, request

import mlwarden

app = Flask(__name__)


def churn_score(features: dict[str, float | str]) -> float:
    """The "model": a fixed logistic function of age and plan."""
    age = float(features.get("age", 40))
    plan = 0.8 if features.get("plan") == "free" else -0.4
    return 1.0 / (1.0 + math.exp(-(0.05 * (age - 45) + plan)))


@app.post("/predict")
def predict() -> dict[str, float | int]:
    score = churn_score(request.get_json()["features"])
    return {"prediction": int(score > 0.5), "score": round(score, 4)}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


monitor = mlwarden.init(model="churn", task="binary", create=True)  # server from MLWARDEN_URL
app.wsgi_app = mlwarden.WSGIMiddleware(
    app.wsgi_app, monitor=monitor, prediction="prediction", score="score", features="features"
)
