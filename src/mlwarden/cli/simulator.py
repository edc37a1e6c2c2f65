"""A simulated credit-default model in production ("loan-default").

The story
---------
A lender scores loan applications with a logistic-regression model that
predicts whether the borrower will default (``prediction`` 1, with the
probability in ``score``). It was trained on historical applications; a held-out
sample of them, with the model's predictions and the true outcomes, is the
*reference*. Each application carries twelve model inputs: ``age``,
``income`` (log-normal), ``loan_amount`` (grows with income),
``debt_to_income``, ``credit_score`` (300-850), ``num_open_accounts``,
``months_employed``, ``interest_rate`` (priced from the credit score),
``region`` (five regions of uneven size, also the segment tag),
``employment_type``, ``loan_purpose`` and ``has_mortgage``. ``gender`` is logged
as a sensitive attribute; the model never sees it, but it leans on income, so
the model flags slightly more women than men.

From day 0 the model serves ``events_per_day`` applications a day, busiest in
the early afternoon (UTC) and quietest at night. Latency is about 20 ms with
a thin tail; about 0.5% of calls fail over to a fallback (``status`` "error")
that still returns a prediction. Defaults become known ``label_delay_days``
after each application (for a ``label_fraction`` of them).

Then things change, counted from the drift onset day D (default day 40):

* **Day D: covariate shift, one region first.** A credit bureau changes its
  scoring method in the north: ``credit_score`` there drops by about half a
  standard deviation (~35 points). Interest rates, priced from the score, rise
  with it. The serving cluster gets busier: latency grows a heavier tail and the
  model servers' CPU use rises by about 70%.
* **Day D+3: concept shift.** A downturn hits self-employed borrowers in the
  north, whose default odds jump about eightfold, and rising rates make
  indebted borrowers default more everywhere (the debt-to-income effect almost
  doubles, the base default rate rises). The model's coefficients are fixed,
  so its accuracy drops by a few points overall and by tens of points in the
  north / self-employed segment.
* **Day D+7: the covariate shift goes national.** Every region's
  ``credit_score`` is now about half a standard deviation lower.

The two model servers (``srv-a``, ``srv-b``) report their resource use every ten
minutes (``resources()``, the layout of the SDK's sampler, ``<model>.resources``):
process CPU follows the intraday traffic, memory is steady.

Optionally an **upstream break** from a chosen day: one feature (``income``
by default) arrives null for ~40% of the events; the model imputes its
training mean and carries on silently. With ``drift_start_day=None`` (or
``drift=False``) the stream is stationary: the same draws, no change.

Everything is deterministic in the seed and generated lazily day by day, so
any day range can be produced on its own and ``events(0, 60)`` equals the
concatenation of the per-day tables. The drift and no-drift streams of one
seed share their random draws, so they differ only by the planted changes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from sklearn.linear_model import LogisticRegression

from mlwarden.errors import ConfigError, expected

__all__ = ["Scenario", "Simulation"]

Array = npt.NDArray[Any]

REGIONS = ("north", "south", "east", "west", "central")
EMPLOYMENT = ("salaried", "self-employed", "contract", "retired")
PURPOSES = ("debt_consolidation", "home_improvement", "car", "business", "education", "medical")
GENDERS = ("female", "male", "nonbinary")
CATEGORIES: dict[str, tuple[str, ...]] = {
    "region": REGIONS,
    "employment_type": EMPLOYMENT,
    "loan_purpose": PURPOSES,
    "gender": GENDERS,
}
NUMERIC = (
    "age",
    "income",
    "loan_amount",
    "debt_to_income",
    "credit_score",
    "num_open_accounts",
    "months_employed",
    "interest_rate",
)
INTEGER = frozenset({"age", "credit_score", "num_open_accounts", "months_employed"})
#: Logged columns in table order; every one but ``gender`` is a model input.
FEATURES = (*NUMERIC, "region", "employment_type", "loan_purpose", "has_mortgage", "gender")
SEGMENTS = ("region",)
SENSITIVE = ("gender",)

#: Drift timeline, in days after the onset D.
CONCEPT_LAG_DAYS = 3
BROAD_LAG_DAYS = 7
#: Credit-score shift in points (about half of its ~70-point standard deviation).
CREDIT_SHIFT = -35.0
ERROR_RATE = 0.005
#: Model server hosts and their sampling interval (the SDK's resource sampler).
HOSTS = ("srv-a", "srv-b")
SAMPLE_EVERY_S = 600
#: CPU load after the drift onset, relative to before ("the serving cluster gets busier").
BUSY_CPU = 1.7
_DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Intraday volume: density 1 + 0.7 cos(2pi (h - 14) / 24), sampled by inverse CDF.
_HOURS = np.linspace(0.0, 24.0, 24 * 60 + 1)
_CDF = _HOURS + 0.7 * 24 / (2 * np.pi) * (
    np.sin(2 * np.pi * (_HOURS - 14) / 24) - np.sin(2 * np.pi * -14 / 24)
)
_CDF /= _CDF[-1]


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """Configuration of a simulated stream; see the module docstring for the story."""

    seed: int = 0
    days: int = 60
    events_per_day: int = 2000
    start: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    #: Drift onset day D; None (or ``drift=False``) for a stationary stream.
    drift_start_day: int | None = 40
    drift: bool = True
    upstream_break_day: int | None = None
    upstream_break_feature: str = "income"
    upstream_null_share: float = 0.4
    label_delay_days: float = 3.0
    label_fraction: float = 1.0
    reference_rows: int = 20_000

    def __post_init__(self) -> None:
        def bad(name: str, must: str) -> ConfigError:
            return ConfigError(expected("argument of Scenario", name, must, getattr(self, name)))

        for name, low in (("days", 1), ("events_per_day", 1), ("reference_rows", 100)):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < low:
                raise bad(name, f"be an integer >= {low}")
        for name in ("drift_start_day", "upstream_break_day"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise bad(name, "be None or an integer >= 0")
        if self.start.tzinfo is None:
            raise bad("start", "be a timezone-aware datetime")
        if self.upstream_break_feature not in FEATURES:
            raise bad("upstream_break_feature", f"be one of {', '.join(FEATURES)}")
        for name in ("upstream_null_share", "label_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(name, "be a float in the range [0, 1]")
        if self.label_delay_days < 0:
            raise bad("label_delay_days", "be a number >= 0")

    @property
    def onset(self) -> int | None:
        """The day the drift starts, or None when the stream does not drift."""
        return self.drift_start_day if self.drift else None


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(u: Array, probs: Array) -> Array:
    """Category codes from uniforms ``u`` and per-row (or shared) probabilities."""
    cum = np.cumsum(np.broadcast_to(probs, (len(u), probs.shape[-1])), axis=1)
    codes: Array = (u[:, None] >= cum[:, :-1] / cum[:, -1:]).sum(axis=1)
    return codes


def _draw(
    rng: np.random.Generator, n: int, shift: tuple[float, float] = (0.0, 0.0)
) -> dict[str, Array]:
    """Draw n applicants; ``shift`` (north, elsewhere) moves the credit score (0 = no drift).

    The draws are the same whatever the shift, so streams with and without
    drift share their randomness.
    """
    u = rng.random((n, 5))
    age = np.clip(np.rint(rng.normal(41, 12, n)), 21, 75)
    gender = _pick(u[:, 0], np.array([0.49, 0.49, 0.02]))
    region = _pick(u[:, 1], np.array([0.28, 0.24, 0.20, 0.16, 0.12]))
    emp_p = np.where((age >= 60)[:, None], [0.25, 0.15, 0.05, 0.55], [0.62, 0.20, 0.14, 0.04])
    emp = _pick(u[:, 2], emp_p)
    months = np.where(emp == 3, 0, np.minimum(np.rint(rng.gamma(2.0, 28.0, n)), (age - 18) * 12))
    log_inc = (
        10.85
        + 0.25 * np.tanh((age - 25) / 15)
        + np.array([0.0, 0.05, -0.15, -0.3])[emp]
        + np.array([-0.05, -0.1, 0.05, 0.08, 0.15])[region]
        + 0.15 * (gender == 1)
        + rng.normal(0, 0.42, n)
    )
    z_inc = (log_inc - 10.85) / 0.45
    credit = np.clip(
        np.rint(
            685
            + 28 * z_inc
            + 1.1 * (age - 40)
            - 25 * (emp == 2)
            + rng.normal(0, 62, n)
            + np.where(region == 0, *shift)
        ),
        300,
        850,
    )
    mortgage = u[:, 3] < _sigmoid(-1.0 + 0.05 * (age - 35) + 0.8 * z_inc)
    pur_p = np.where(
        (emp == 1)[:, None],
        [0.25, 0.12, 0.13, 0.32, 0.06, 0.12],
        [0.36, 0.19, 0.19, 0.05, 0.10, 0.11],
    )
    purpose = _pick(u[:, 4], pur_p)
    loan = np.clip(
        50
        * np.rint(
            np.exp(
                9.2
                + 0.55 * (log_inc - 10.85)
                + np.array([0.1, 0.3, 0.0, 0.5, -0.1, -0.4])[purpose]
                + rng.normal(0, 0.45, n)
            )
            / 50
        ),
        1000,
        100_000,
    )
    accounts = rng.poisson(np.exp(1.0 + 0.15 * z_inc + 0.35 * mortgage))
    income = np.rint(np.exp(log_inc))
    dti = np.clip(
        0.05 + 0.025 * accounts + 0.25 * rng.beta(2, 5, n) + 0.08 * mortgage + 0.3 * loan / income,
        0.0,
        1.5,
    ).round(3)
    rate = np.clip(
        5.0
        + 0.032 * (850 - credit)
        + np.array([0, 0, -1, 1, -0.5, 1.5])[purpose]
        + rng.normal(0, 1.2, n),
        3.0,
        29.99,
    ).round(2)
    return {
        "age": age,
        "income": income,
        "loan_amount": loan,
        "debt_to_income": dti,
        "credit_score": credit,
        "num_open_accounts": accounts.astype(np.float64),
        "months_employed": months,
        "interest_rate": rate,
        "region": region,
        "employment_type": emp,
        "loan_purpose": purpose,
        "has_mortgage": mortgage,
        "gender": gender,
    }


def _truth(x: dict[str, Array], rng: np.random.Generator, concept: Array) -> Array:
    """Draw defaults from the ground truth; ``concept`` marks rows after the concept shift."""
    emp, purpose = x["employment_type"], x["loan_purpose"]
    logit = (
        -1.7
        - 0.014 * (x["credit_score"] - 680)
        + np.where(concept, 5.0, 3.5) * (x["debt_to_income"] - 0.3)
        + 0.7 * np.log(x["loan_amount"] / x["income"] / 0.2)
        + 0.05 * (x["interest_rate"] - 12)
        - 0.003 * (x["months_employed"] - 50)
        - 0.012 * (x["age"] - 40)
        + np.array([0.0, 0.35, 0.45, 0.1])[emp]
        + np.array([0.15, 0.0, 0.0, 0.45, 0.25, 0.3])[purpose]
        - 0.25 * x["has_mortgage"]
        + 0.06 * (x["num_open_accounts"] - 3)
        + concept * (0.1 + 1.8 * ((x["region"] == 0) & (emp == 1)))
        + rng.normal(0, 0.3, len(emp))
    )
    return (rng.random(len(emp)) < _sigmoid(logit)).astype(np.int64)


def _design(x: dict[str, Array], null: dict[str, Array]) -> Array:
    """The model's inputs: logs of money amounts, one-hot categories; NaN where null."""
    cols = []
    for name in (*NUMERIC, "has_mortgage"):
        v = x[name].astype(np.float64)
        v = np.log(v) if name in ("income", "loan_amount") else v
        cols.append(np.where(null.get(name, False), np.nan, v))
    for name in ("region", "employment_type", "loan_purpose"):
        for code in range(len(CATEGORIES[name])):
            cols.append(np.where(null.get(name, False), 0.0, x[name] == code))
    return np.column_stack(cols)


class Simulation:
    """The loan-default model and its simulated production stream.

    ``__init__`` trains the model (scikit-learn ``LogisticRegression`` on
    standardised numeric and one-hot categorical inputs) on a training sample;
    ``reference()`` is a separate held-out sample. Learned state ends in ``_``.

    Examples
    --------
    >>> sim = Simulation(Scenario(days=2, events_per_day=100, reference_rows=2000))
    >>> sim.events().num_rows, sim.events(0, 1).num_rows
    (200, 100)
    >>> sim.events(0, 1).column("event_id")[0].as_py()
    'ev-0-0000-00000'
    >>> sim.spec_columns["segments"], sim.spec_columns["sensitive"]
    (['region'], ['gender'])
    >>> row = Simulation.to_json_rows(sim.events(0, 1), ["income"], ["region"])[0]
    >>> sorted(row)
    ['event_id', 'features', 'latency_ms', 'prediction', 'score', 'segments', 'status', 'timestamp', 'version']
    """  # noqa: E501

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        rng = np.random.default_rng(np.random.SeedSequence([scenario.seed, 1]))
        train = _draw(rng, scenario.reference_rows)
        target = _truth(train, rng, np.zeros(1, dtype=bool))
        design = _design(train, {})
        self.mean_ = design.mean(axis=0)
        self.scale_ = np.where(design.std(axis=0) > 0, design.std(axis=0), 1.0)
        self.model_ = LogisticRegression(C=1.0, max_iter=1000)
        self.model_.fit((design - self.mean_) / self.scale_, target)
        self._days: dict[int, tuple[pa.Table, Array, Array]] = {}

    def _score(self, x: dict[str, Array], null: dict[str, Array]) -> Array:
        z = np.nan_to_num((_design(x, null) - self.mean_) / self.scale_)  # mean imputation
        return _sigmoid(z @ self.model_.coef_[0] + self.model_.intercept_[0])

    def _table(self, x: dict[str, Array], null: dict[str, Array]) -> dict[str, pa.Array]:
        cols: dict[str, pa.Array] = {}
        for name in FEATURES:
            mask = null.get(name)
            if name in CATEGORIES:
                arr = pa.array(CATEGORIES[name]).take(pa.array(x[name]))
                cols[name] = arr if mask is None else pc.if_else(pa.array(mask), None, arr)
            else:
                dtype = (
                    np.int64 if name in INTEGER else bool if name == "has_mortgage" else np.float64
                )
                cols[name] = pa.array(x[name].astype(dtype), mask=mask)
        return cols

    @property
    def spec_columns(self) -> dict[str, Any]:
        """The model's spec, in the shape ``mlwarden.schema.ModelSpec`` validates."""

        def kind(name: str) -> str:
            return (
                "categorical"
                if name in CATEGORIES
                else "boolean"
                if name == "has_mortgage"
                else "numeric"
            )

        return {
            "name": "loan-default",
            "task": "binary",
            "classes": ["0", "1"],
            "positive_class": "1",
            "features": [
                {"name": f, "kind": kind(f)}
                | (
                    {"description": "sensitive attribute, not a model input"}
                    if f in SENSITIVE
                    else {}
                )
                for f in FEATURES
            ],
            "prediction": "prediction",
            "score": "score",
            "target": "target",
            "timestamp": "timestamp",
            "segments": list(SEGMENTS),
            "sensitive": list(SENSITIVE),
        }

    def reference(self) -> pa.Table:
        """Held-out training-time data: features, prediction, score, target, timestamp.

        Timestamps are spread over the 28 days before ``scenario.start``.
        """
        s = self.scenario
        rng = np.random.default_rng(np.random.SeedSequence([s.seed, 2]))
        x = _draw(rng, s.reference_rows)
        target = _truth(x, rng, np.zeros(1, dtype=bool))
        score = self._score(x, {})
        start_us = (s.start - _EPOCH) // timedelta(microseconds=1)
        ts = start_us - np.sort(rng.integers(1, 28 * _DAY_US, s.reference_rows))[::-1]
        return pa.table(
            self._table(x, {})
            | {
                "prediction": pa.array((score >= 0.5).astype(np.int64)),
                "score": pa.array(score),
                "target": pa.array(target),
                "timestamp": pa.array(ts, pa.timestamp("us", "UTC")),
            }
        )

    def _day(self, day: int) -> tuple[pa.Table, Array, Array]:
        """One day of events, with each event's true label and whether it gets one."""
        if day in self._days:
            return self._days[day]
        s, n = self.scenario, self.scenario.events_per_day
        rng_x, rng_y, rng_ops = (
            np.random.default_rng(g) for g in np.random.SeedSequence([s.seed, 3, day]).spawn(3)
        )
        onset = s.onset
        since = day - onset if onset is not None and day >= onset else -1
        drifting = since >= 0
        x = _draw(rng_x, n, (CREDIT_SHIFT * drifting, CREDIT_SHIFT * (since >= BROAD_LAG_DAYS)))
        concept = np.full(n, since >= CONCEPT_LAG_DAYS)
        target = _truth(x, rng_y, concept)
        labelled = rng_y.random(n) < s.label_fraction

        ops = rng_ops.random((n, 5))
        offsets = np.interp(np.sort(ops[:, 0]), _CDF, _HOURS) * 3_600_000_000
        start_us = (s.start - _EPOCH) // timedelta(microseconds=1)
        ts = start_us + day * _DAY_US + offsets.astype(np.int64)
        null: dict[str, Array] = {}
        if s.upstream_break_day is not None and day >= s.upstream_break_day:
            null[s.upstream_break_feature] = ops[:, 1] < s.upstream_null_share
        score = self._score(x, null)
        failed = ops[:, 2] < ERROR_RATE
        error = np.array(["timeout_fallback", "feature_store_unavailable"])[
            (ops[:, 3] * 2).astype(int)
        ]
        tail_p, sigma = (0.03, 0.45) if drifting else (0.008, 0.3)
        latency = np.exp(np.log(20.0) + sigma * rng_ops.standard_normal(n))
        latency *= np.where(ops[:, 4] < tail_p, 1 + 4 * rng_ops.pareto(2.5, n), 1.0)
        latency = np.where(failed, 250 + latency, latency).round(3)
        table = pa.table(
            {
                "event_id": pa.array(
                    [f"ev-{s.seed}-{day:04d}-{i:05d}" for i in range(n)], pa.string()
                ),
                "timestamp": pa.array(ts, pa.timestamp("us", "UTC")),
                "version": pa.array(["v1"] * n, pa.string()),
                "prediction": pa.array((score >= 0.5).astype(np.int64)),
                "score": pa.array(score),
                "latency_ms": pa.array(latency),
                "status": pa.array(np.where(failed, "error", "ok").tolist(), pa.string()),
                "error": pa.array(error.tolist(), pa.string(), mask=~failed),
            }
            | self._table(x, null)
        )
        self._days[day] = (table, target, labelled)
        return self._days[day]

    def resources(self, day_from: float = 0, day_to: float | None = None) -> pa.Table:
        """Resource samples of the serving hosts in ``[start + day_from, start + day_to)``,
        in time order, one row per host every ``SAMPLE_EVERY_S`` (columns as the SDK's sampler
        logs them to ``<model>.resources``; ``host`` is its segment).

        Examples
        --------
        >>> sim = Simulation(Scenario(days=2, events_per_day=100, reference_rows=2000))
        >>> t = sim.resources(0, 1)
        >>> t.num_rows, sorted(set(t.column("host").to_pylist()))
        (288, ['srv-a', 'srv-b'])
        """
        lo, to, days = self._range(day_from, day_to)
        parts = [self._slice(self._resource_day(d), lo, to, d) for d in days]
        return pa.concat_tables(parts) if parts else self._resource_day(0).slice(0, 0)

    def _resource_day(self, day: int) -> pa.Table:
        s = self.scenario
        rng = np.random.default_rng(np.random.SeedSequence([s.seed, 7, day]))
        per_host = 86_400 // SAMPLE_EVERY_S
        n = per_host * len(HOSTS)
        offsets_s = np.repeat(np.arange(per_host) * SAMPLE_EVERY_S, len(HOSTS))
        hours = offsets_s / 3600.0
        busy = BUSY_CPU if s.onset is not None and day >= s.onset else 1.0
        load = 1 + 0.7 * np.cos(2 * np.pi * (hours - 14) / 24)  # the traffic's intraday shape
        cpu = np.clip(busy * 28.0 * load + rng.normal(0, 3, n), 0.5, None)
        memory = 52 + 2 * load + rng.normal(0, 0.8, n)
        start_us = (s.start - _EPOCH) // timedelta(microseconds=1)
        ts = start_us + day * _DAY_US + offsets_s.astype(np.int64) * 1_000_000
        hosts = np.tile(np.array(HOSTS), per_host)
        return pa.table(
            {
                "event_id": pa.array(
                    [f"res-{s.seed}-{day:04d}-{i:04d}" for i in range(n)], pa.string()
                ),
                "timestamp": pa.array(ts, pa.timestamp("us", "UTC")),
                "process_cpu_percent": pa.array(cpu.round(2)),
                "process_rss_bytes": pa.array((1.2 * 2**30 + rng.normal(0, 20 * 2**20, n)).round()),
                "process_open_fds": pa.array(np.full(n, 64.0)),
                "process_threads": pa.array(np.full(n, 16.0)),
                "host_cpu_percent": pa.array(
                    np.clip(cpu + 6 + rng.normal(0, 2, n), 0, 100).round(2)
                ),
                "host_memory_percent": pa.array(memory.round(2)),
                "host_memory_available_bytes": pa.array(
                    ((100 - memory) / 100 * 16 * 2**30).round()
                ),
                "host": pa.array(hosts.tolist(), pa.string()),
                "status": pa.array(["ok"] * n, pa.string()),
            }
        )

    def _range(self, day_from: float, day_to: float | None) -> tuple[float, float, range]:
        if day_to is not None and day_to < day_from:
            raise ConfigError(expected("argument", "day_to", f"be >= day_from, {day_from}", day_to))
        to = self.scenario.days if day_to is None else min(day_to, self.scenario.days)
        lo = min(max(day_from, 0.0), to)
        return lo, to, range(int(np.floor(lo)), int(np.ceil(to)))

    def _slice(self, table: pa.Table, lo: float, to: float, day: int) -> pa.Table:
        if lo <= day and day + 1 <= to:
            return table
        us = table.column("timestamp").cast(pa.int64()).to_numpy()
        start_us = (self.scenario.start - _EPOCH) // timedelta(microseconds=1)
        a, b = (np.searchsorted(us, start_us + round(t * _DAY_US)) for t in (lo, to))
        return table.slice(int(a), int(b - a))

    def events(self, day_from: float = 0, day_to: float | None = None) -> pa.Table:
        """Events with a timestamp in ``[start + day_from, start + day_to)`` days, in time order."""
        lo, to, days = self._range(day_from, day_to)
        parts = [self._slice(self._day(d)[0], lo, to, d) for d in days]
        return pa.concat_tables(parts) if parts else self._day(0)[0].slice(0, 0)

    def iter_batches(
        self, *, batch_size: int = 1000, day_from: float = 0, day_to: float | None = None
    ) -> Iterator[pa.Table]:
        """``events(day_from, day_to)`` in time order, ``batch_size`` rows at a time."""
        if batch_size < 1:
            raise ConfigError(
                expected("argument of iter_batches", "batch_size", "be >= 1", batch_size)
            )
        lo, to, days = self._range(day_from, day_to)
        pending: list[pa.Table] = []
        rows = 0
        for d in days:
            pending.append(self._slice(self._day(d)[0], lo, to, d))
            rows += pending[-1].num_rows
            if rows >= batch_size:
                table = pa.concat_tables(pending).combine_chunks()
                cut = rows - rows % batch_size
                for i in range(0, cut, batch_size):
                    yield table.slice(i, batch_size)
                pending, rows = [table.slice(cut)], rows - cut
        if rows:
            yield pa.concat_tables(pending).combine_chunks()

    def actuals(self, *, available_at: datetime | None = None) -> pa.Table:
        """True labels: event_id, actual, and timestamp (when the label became available).

        A label arrives ``label_delay_days`` after its event, for a
        ``label_fraction`` of the events; with ``available_at`` only the labels
        that have arrived by then are returned.
        """
        s = self.scenario
        delay = round(s.label_delay_days * _DAY_US)
        parts = []
        for d in range(s.days):
            table, target, labelled = self._day(d)
            ts = table.column("timestamp").cast(pa.int64()).to_numpy() + delay
            parts.append(
                pa.table(
                    {
                        "event_id": table.column("event_id").filter(pa.array(labelled)),
                        "actual": pa.array(target[labelled]),
                        "timestamp": pa.array(ts[labelled], pa.timestamp("us", "UTC")),
                    }
                )
            )
        out = pa.concat_tables(parts)
        if available_at is not None:
            if available_at.tzinfo is None:
                raise ConfigError(
                    expected("argument", "available_at", "be timezone-aware", available_at)
                )
            out = out.filter(
                pc.less_equal(
                    out.column("timestamp"), pa.scalar(available_at, pa.timestamp("us", "UTC"))
                )
            )
        return out

    @staticmethod
    def to_json_rows(
        table: pa.Table, features: Sequence[str], segments: Sequence[str]
    ) -> list[dict[str, Any]]:
        """Turn a flat events table into mlwarden's JSON events (null status / error left out)."""
        rows = []
        for r in table.to_pylist():
            row = {
                "event_id": r["event_id"],
                "timestamp": r["timestamp"].isoformat(),
                "version": r["version"],
                "features": {f: r[f] for f in features},
                "prediction": r["prediction"],
                "score": r["score"],
                "latency_ms": r["latency_ms"],
                "segments": {g: r[g] for g in segments},
            }
            row |= {k: r[k] for k in ("status", "error") if r.get(k) is not None}
            rows.append(row)
        return rows
