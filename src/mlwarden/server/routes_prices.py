"""Model prices without a restart: read the price table, set or remove a model's price, recost.

``GET /v1/llm/prices`` (read) shows the table's version and the overrides set here;
``PUT /v1/llm/prices/{model}`` and ``DELETE`` (admin) set or remove one model's price, used
for the next span received (:mod:`mlwarden.server.price_overrides`). Spans already stored keep
their cost until ``POST /v1/llm/recost`` (admin) prices a time range again with the
current table. Every change is in the audit log.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import pyarrow as pa
from fastapi import APIRouter, Path, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from mlwarden.errors import NotFoundError, ValidationError
from mlwarden.schema.pricing import PriceTable
from mlwarden.server.audit import audit
from mlwarden.server.auth import Admin, Read
from mlwarden.server.params import clamp_instant
from mlwarden.server.price_overrides import PriceOverrides
from mlwarden.server.routes_otlp import prices_of
from mlwarden.server.services import Services, Svc
from mlwarden.store.protocols import SpanLog
from mlwarden.store.times import utc_naive

__all__ = ["PriceIn", "forget_prices", "recost", "router"]

router = APIRouter(prefix="/v1/llm", tags=["llm"])
MILLION = Decimal(1_000_000)
#: Most spans one recost request prices again.
MAX_RECOST = 1_000_000
ModelP = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"\S", description="The model name.")
]
_FIELDS = ("input", "output", "cache_read", "cache_write", "reasoning")
#: A JSON number (strict: true / false and strings are refused, as the schema says).
_Price = Annotated[float, Field(ge=0, le=1_000_000_000, allow_inf_nan=False, strict=True)]


class PriceIn(BaseModel):
    """A model's prices in USD, per token or per million tokens (``unit``, required)."""

    model_config = ConfigDict(extra="forbid")

    unit: Literal["per_million_tokens", "per_token"] = Field(
        description="What the prices are per: 'per_million_tokens' or 'per_token'."
    )
    input: _Price
    output: _Price
    cache_read: _Price | None = None
    cache_write: _Price | None = None
    reasoning: _Price | None = None

    def per_million(self) -> dict[str, str]:
        """The prices per million tokens, as decimal strings (the price table's unit)."""
        scale = MILLION if self.unit == "per_token" else Decimal(1)
        return {f: format((Decimal(repr(v)) * scale).normalize(), "f") for f in _FIELDS
                if (v := getattr(self, f)) is not None}  # fmt: skip


class PricesOut(BaseModel):
    version: str = Field(description="The price table's version, stored with each new cost.")
    overrides: dict[str, dict[str, str]] = Field(
        description="Prices set through this API (USD per million tokens), by model."
    )


class PriceOut(BaseModel):
    model: str
    prices: dict[str, str] = Field(description="USD per million tokens.")
    version: str = Field(description="The price table's new version.")


class RecostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Annotated[datetime, BeforeValidator(clamp_instant)] = Field(
        description="ISO 8601: spans started at or after this."
    )
    end: Annotated[datetime, BeforeValidator(clamp_instant)] = Field(
        description="ISO 8601: spans started before this."
    )
    model: str | None = Field(default=None, max_length=200, description="Only this model's.")


class RecostOut(BaseModel):
    checked: int = Field(description="Spans with token counts in the range (reported costs "
                         "excluded).")  # fmt: skip
    changed: int = Field(description="Spans whose cost or price version changed.")
    version: str


def overrides_of(sv: Services) -> PriceOverrides:
    """The app's price overrides (made at start-up, :func:`mlwarden.server.app.create_app`)."""
    return sv.price_overrides


def forget_prices(sv: Services, project: str) -> PriceTable:
    """Build ``project``'s price table again (after a change of its overrides) and return it."""
    return sv.prices.forget(project)


@router.get("/prices", response_model=PricesOut)
def get_prices(sv: Svc, project: Read) -> dict[str, Any]:
    """The project's price table version and the per-model prices it set through this API."""
    return {
        "version": prices_of(sv, project).version,
        "overrides": overrides_of(sv).models(project),
    }


@router.put("/prices/{model}", response_model=PriceOut)
def put_price(
    model: ModelP, body: PriceIn, request: Request, sv: Svc, project: Admin
) -> dict[str, Any]:
    """Set a model's prices (they win over every other source) for the next spans received.
    Stored spans keep their cost: ``POST /v1/llm/recost`` prices a range again."""
    name = model.strip().lower()
    if not name:
        raise ValidationError("The 'model' path parameter must not be blank.")
    before = overrides_of(sv).models(project).get(name)
    prices = body.per_million()
    overrides_of(sv).put(project, name, prices)
    table = forget_prices(sv, project)
    audit(request, "prices.update", name, before, prices, project=project)
    return {"model": name, "prices": prices, "version": table.version}


@router.delete("/prices/{model}", response_model=PricesOut)
def delete_price(model: ModelP, request: Request, sv: Svc, project: Admin) -> dict[str, Any]:
    """Remove a model's price set through this API (the other sources price it again)."""
    name = model.strip().lower()
    before = overrides_of(sv).models(project).get(name)
    if before is None or not overrides_of(sv).remove(project, name):
        raise NotFoundError(f"There is no price override for model {name!r}.")
    table = forget_prices(sv, project)
    audit(request, "prices.remove", name, before, None, project=project)
    return {"version": table.version, "overrides": overrides_of(sv).models(project)}


def recost(
    store: SpanLog, project: str, table: PriceTable, *, start: datetime, end: datetime,
    model: str | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Price the project's spans started in ``[start, end)`` again with ``table`` (spans that
    reported their own cost keep it); returns (spans checked, spans changed). An empty range
    (``end`` not after ``start``) checks nothing."""
    if end <= start:
        return 0, 0
    t = store.spans(project)
    t = t.filter(
        t.start_time >= utc_naive(start),
        t.start_time < utc_naive(end),
        t.cost_source.isnull() | (t.cost_source != "reported"),
        t.input_tokens.notnull() | t.output_tokens.notnull(),
    )
    if model is not None:
        t = t.filter(t.model == model)
    cols = ["trace_id", "span_id", "model", "input_tokens", "output_tokens", "cache_read_tokens",
            "cache_write_tokens", "reasoning_tokens"]  # fmt: skip
    rows = t.select(*cols).limit(MAX_RECOST + 1).to_pyarrow().to_pylist()
    if len(rows) > MAX_RECOST:
        raise ValidationError(
            f"A recost prices at most {MAX_RECOST} spans; this range holds more. Send a "
            "shorter range."
        )
    out: dict[str, list[Any]] = {c: [] for c in
                                 ("trace_id", "span_id", "cost", "price_version", "cost_source")}  # fmt: skip
    for r in rows:
        c = table.cost(r["model"], **{k: r[k] for k in cols[3:]})
        out["trace_id"].append(r["trace_id"])
        out["span_id"].append(r["span_id"])
        out["cost"].append(None if c is None else float(c.amount))
        out["price_version"].append(None if c is None else c.version)
        out["cost_source"].append(None if c is None else "price_table")
    batch = pa.table(
        {
            **{k: pa.array(v, pa.string()) for k, v in out.items() if k != "cost"},
            "cost": pa.array(out["cost"], pa.float64()),
        }  # fmt: skip
    )
    changed = store.set_span_costs(project, batch).result() if rows else 0
    return len(rows), changed


@router.post("/recost", response_model=RecostOut)
async def post_recost(body: RecostIn, request: Request, sv: Svc, project: Admin) -> dict[str, Any]:
    """Price the project's stored spans of a time range again with the current prices
    (after a change): each span's cost and price version are replaced, except costs the spans
    reported themselves."""
    start, end = body.start, body.end
    table = prices_of(sv, project)
    checked, changed = await asyncio.to_thread(
        recost, sv.store, project, table, start=start, end=end, model=body.model
    )
    after = {"start": start.isoformat(), "end": end.isoformat(), "model": body.model,
             "checked": checked, "changed": changed, "version": table.version}  # fmt: skip
    audit(request, "prices.recost", body.model or "*", None, after, project=project)
    return {"checked": checked, "changed": changed, "version": table.version}
