"""The FastAPI app bench/sdk.py loads: one endpoint, mounted bare, behind the middleware, and
behind the middleware with extraction on (same process, so the three are compared fairly)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

import mlwarden

monitor = mlwarden.init(model="bench", task="binary", create=True)


def endpoint(**middleware: Any) -> FastAPI:
    sub = FastAPI()

    @sub.post("/predict")
    def predict(body: dict[str, Any]) -> dict[str, Any]:
        score = min(1.0, abs(sum(v for v in body["features"].values())) / 20.0)
        return {"prediction": int(score > 0.5), "score": score}

    if middleware.pop("on", False):
        sub.add_middleware(mlwarden.ASGIMiddleware, monitor=monitor, **middleware)
    return sub


app = FastAPI()
app.mount("/bare", endpoint())
app.mount("/monitored", endpoint(on=True))
app.mount(
    "/extracting",
    endpoint(on=True, features="features", prediction="prediction", score="score"),
)
