"""Business KPI monitors: the expression language's refusals, values from the engine against
pandas over the raw rows, late labels, and the false-alarm rate of the calibrated threshold."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlwarden.errors import ConfigError
from mlwarden.monitors import MonitorSuite, Status
from mlwarden.monitors.context import Calibration, FitContext, Window, WindowData
from mlwarden.monitors.kpi import Kpi
from mlwarden.monitors.kpi_rows import raw_terms
from mlwarden.schema import Feature, ModelSpec, validate_table
from mlwarden.schema.batch import validate_actuals_table
from mlwarden.schema.kpi import parse_kpi
from mlwarden.store import DuckDBStore
from mlwarden.store.aggregates import Volume, WindowRun, collect
from mlwarden.store.kpi_aggregates import KpiTerms

SPEC = ModelSpec(
    name="loans",
    task="binary",
    classes=["default", "repaid"],
    positive_class="default",
    features=[
        Feature(name="amount", kind="numeric"),
        Feature(name="margin", kind="numeric"),
        Feature(name="region", kind="categorical"),
        Feature(name="vip", kind="boolean"),
    ],
    prediction="prediction",
    score="score",
    target="target",
    segments=["region"],
)
COLUMNS = {"amount", "margin", "region", "vip"}
START = datetime(2026, 3, 2, tzinfo=UTC)
LOSS = (
    'sum(amount * (actual == "default") * (prediction == "repaid")) '
    '- sum(margin * (actual == "repaid") * (prediction == "repaid"))'
)


def loans(
    n: int,
    seed: int,
    *,
    default_rate: float = 0.1,
    north_shift: float = 0.0,
    north_amounts: float = 1.0,
) -> pd.DataFrame:
    """A loan book: ``north_shift`` more defaults in region north, whose amounts are
    ``north_amounts`` times larger."""
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], n)
    amount = rng.gamma(2.0, 500.0, n) * np.where(region == "north", north_amounts, 1.0)
    amount[rng.uniform(size=n) < 0.03] = np.nan  # some amounts missing
    score = rng.uniform(size=n)
    p_default = default_rate + north_shift * (region == "north")
    actual = np.where(rng.uniform(size=n) < p_default, "default", "repaid")
    return pd.DataFrame(
        {
            "amount": amount,
            "margin": 0.08 * np.nan_to_num(amount, nan=400.0),
            "region": region,
            "vip": rng.uniform(size=n) < 0.2,
            "score": score,
            "prediction": np.where(score < 0.15, "default", "repaid"),
            "target": actual,
        }
    )


# -- the language's refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("sum(amount.__class__)", ["no attribute access", "'amount.__class__'"]),
        ("__import__('os')", ["'__import__' is not a function", "Got '__import__' instead"]),
        ("__import__('os').system('true')", ["only calls of", "__import__('os').system"]),
        ("sum(income)", ["name only the model's columns", "amount", "Got 'income' instead"]),
        ("quantile(amount)", ["call quantile with 2 arguments, not 1", "'quantile(amount)'"]),
        ("sum(amount, margin)", ["call sum with 1 argument, not 2"]),
        ("if_else(count() > 0, 1)", ["call if_else with 3 arguments"]),
        ("quantile(amount, 2)", ["a number from 0 to 1"]),
        ("sum(sum(amount))", ["not nest an aggregate"]),
        ("amount + 1", ["read columns only inside an aggregate", "sum(amount)"]),
        ("sum(amount[0])", ["no subscripts"]),
        ("sum((lambda: 1)())", ["only calls of if_else, col and the aggregates"]),
        ("sum(amount ** 2)", ["arithmetic is + - * /", "'amount ** 2'"]),
        ("sum(x=amount)", ["sum takes no keyword arguments"]),
        ("1 + 2", ["use at least one aggregate"]),
        ("sum(amount", ["valid expression (syntax error"]),
        ("open('/etc/passwd')", ["'open' is not a function"]),
        # nesting deep enough to exhaust the parser's recursion: a clear refusal, not a 500
        ("-" * 3000 + "sum(amount)", ["have at most 400 parts"]),
    ],
)
def test_the_parser_refuses_with_the_path_the_token_and_what_is_allowed(
    text: str, needles: list[str]
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_kpi(text, columns=COLUMNS, where="monitors[3].expression")
    msg = str(err.value)
    assert msg.startswith("The 'monitors[3].expression' field must "), msg
    for needle in needles:
        assert needle in msg, msg


def test_a_spec_with_a_bad_kpi_is_refused_at_apply_with_its_path() -> None:
    suite = MonitorSuite.from_yaml(
        "model: loans\nmonitors:\n- kind: volume\n- kind: kpi\n  name: loss\n"
        "  expression: sum(amount) / sum(income)\n"
    )
    with pytest.raises(ConfigError, match=r"'monitors\[1\]\.expression'.*Got 'income'"):
        for i, mon in enumerate(suite.monitors):
            mon.check(SPEC, where=f"monitors[{i}]")
    with pytest.raises(ConfigError, match=r"'monitors\[0\]\.name' field must be 1-64"):
        Kpi("loss:v2", "sum(amount)").check(SPEC, where="monitors[0]")
    bad = Kpi("loss", "sum(amount)", direction="sideways")
    with pytest.raises(ConfigError, match=r"'monitors\[0\]\.direction' field must be one of"):
        bad.check(SPEC, where="monitors[0]")


# -- values from the engine against pandas ------------------------------------------------------

EXPRESSIONS = {
    "loss": LOSS,
    "per_1k": "1000 * sum(margin) / count()",
    "mixed": "quantile(amount, 0.9) - mean(score) + rate(region == 'north' and not vip) "
    "+ max(amount) / min(amount) + count(amount) / 100",
    "branch": "sum(if_else(vip, amount / (score - score), -margin)) + sum(vip) * 2 "
    "+ rate(actual == 'default')",
}


def _pandas(name: str, df: pd.DataFrame) -> float:
    a, y, p = df.amount, df.target, df.prediction
    if name == "loss":
        approve = p == "repaid"
        return float(
            (a * (y == "default") * approve).sum() - (df.margin * (y == "repaid") * approve).sum()
        )
    if name == "per_1k":
        return float(1000 * df.margin.sum() / len(df))
    if name == "mixed":
        share = ((df.region == "north") & ~df.vip).mean()
        return float(
            a.quantile(0.9) - df.score.mean() + share + a.max() / a.min() + a.count() / 100
        )
    # a division by zero in a row leaves it out of its aggregate (the vip rows here)
    rows = df[~df.vip]
    return float(-rows.margin.sum() + df.vip.sum() * 2 + (y == "default").mean())


@pytest.fixture(scope="module")
def engine() -> Iterator[tuple[DuckDBStore, object, pd.DataFrame]]:
    """Three days of events (labelled) in a real DuckDB store."""
    df = loans(3000, seed=7)
    df["event_id"] = [f"e{i}" for i in range(len(df))]
    df["timestamp"] = [START + timedelta(days=i % 3, seconds=i) for i in range(len(df))]
    store = DuckDBStore()
    model = store.create_model("p", SPEC)
    events = pa.Table.from_pandas(df.drop(columns=["target"]), preserve_index=False)
    r = validate_table(SPEC, events)
    assert not r.rejected
    store.append_events(model, r.table).result()
    act = pa.table({"event_id": df.event_id, "actual": df.target})
    store.append_actuals(model, validate_actuals_table(SPEC, act).table).result()
    try:
        yield store, model, df
    finally:
        store.close()


@pytest.mark.parametrize("name", sorted(EXPRESSIONS))
@pytest.mark.parametrize("segment", [None, "north"])
def test_kpi_values_from_the_engine_match_pandas_over_the_raw_rows(
    engine: tuple[DuckDBStore, object, pd.DataFrame], name: str, segment: str | None
) -> None:
    store, model, df = engine
    mon = Kpi(name, EXPRESSIONS[name])
    mon.fit(FitContext(SPEC, pa.Table.from_pandas(loans(2000, seed=1), preserve_index=False)))
    run = WindowRun(START, timedelta(days=1), 0, 2)
    aggs = collect(
        store, model, mon.requests(), run, segment=None if segment is None else {"region": segment}
    )
    for w in range(3):
        rows = df[[i % 3 == w for i in range(len(df))]]
        if segment is not None:
            rows = rows[rows.region == segment]
        data = WindowData(
            Window(START + timedelta(days=w), START + timedelta(days=w + 1)),
            {k: v.get(w) for k, v in aggs.items()},
        )
        result = mon.evaluate(data)
        assert result.status in (Status.OK, Status.WARN, Status.ALERT), result.reason
        assert result.value == pytest.approx(_pandas(name, rows), rel=1e-9), (name, w)


def test_the_numpy_oracle_agrees_with_the_engine_on_every_raw_number(
    engine: tuple[DuckDBStore, object, pd.DataFrame],
) -> None:
    store, model, df = engine
    e = parse_kpi(EXPRESSIONS["mixed"], columns=COLUMNS)
    got = collect(store, model, [KpiTerms(e)], WindowRun(START, timedelta(days=3), 0, 0))
    cols = {
        "amount": df.amount.to_numpy(),
        "score": df.score.to_numpy(),
        "region": df.region.to_numpy(dtype=object),
        "vip": df.vip.to_numpy(dtype=float),
    }
    want = raw_terms(e, cols, rows=len(df))
    assert got[KpiTerms(e)][0]["n"] == len(df)
    for a, b in zip(got[KpiTerms(e)][0]["terms"], want, strict=True):
        assert a == pytest.approx(b, rel=1e-9)


# -- late labels ----------------------------------------------------------------------------------


def test_a_kpi_of_the_label_is_partial_until_its_labels_arrive() -> None:
    ref = pa.Table.from_pandas(loans(2000, seed=1), preserve_index=False)
    mon = Kpi("loss", LOSS).fit(FitContext(SPEC, ref))
    df = loans(400, seed=3)
    df["event_id"] = [f"e{i}" for i in range(len(df))]
    df["timestamp"] = [START + timedelta(seconds=i) for i in range(len(df))]
    store = DuckDBStore()
    try:
        model = store.create_model("p", SPEC)
        events = pa.Table.from_pandas(df.drop(columns=["target"]), preserve_index=False)
        store.append_events(model, validate_table(SPEC, events).table).result()
        run = WindowRun(START, timedelta(days=1), 0, 0)
        window = Window(START, START + timedelta(days=1))

        def judged() -> object:
            aggs = collect(store, model, [Volume(), *mon.requests()], run)
            return mon.evaluate(WindowData(window, {k: v.get(0) for k, v in aggs.items()}))

        first = judged()
        assert first.status is Status.NO_DATA and first.details["partial"]
        # half the labels: partial, with the value so far, not judged
        half = pa.table({"event_id": df.event_id[:200], "actual": df.target[:200]})
        store.append_actuals(model, validate_actuals_table(SPEC, half).table).result()
        partial = judged()
        assert partial.status is Status.INSUFFICIENT_DATA and partial.details["partial"]
        assert partial.details["labelled_share"] == 0.5 and "judged when 90%" in partial.reason
        assert partial.threshold is None
        rest = pa.table({"event_id": df.event_id[200:], "actual": df.target[200:]})
        store.append_actuals(model, validate_actuals_table(SPEC, rest).table).result()
        done = judged()
        assert done.status in (Status.OK, Status.WARN, Status.ALERT)
        assert not done.details["partial"] and done.threshold is not None
        assert done.value == pytest.approx(_pandas("loss", df), rel=1e-9)
    finally:
        store.close()


# -- calibration ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expression"),
    [("per_1k", EXPRESSIONS["per_1k"]), ("loss", LOSS), ("p90", "quantile(amount, 0.9)")],
)
def test_false_alarms_on_stable_data_stay_within_the_budget(name: str, expression: str) -> None:
    """Windows drawn like the reference, at several sizes: the share that alerts stays near
    the per-window false-alarm probability (here 1%: a budget of 1 alert in 100 daily
    windows), with no practical-effect floor to hide behind. Heavier runs: bench/kpi.py."""
    cal = Calibration(budget="1 per 100 days", cadence_s=86400, monitors=1)
    ref = pa.Table.from_pandas(loans(5000, seed=11), preserve_index=False)
    mon = Kpi(name, expression, min_change=0.0).fit(FitContext(SPEC, ref, cal))
    e = parse_kpi(expression, columns=COLUMNS)
    request = KpiTerms(e, labelled=e.uses_label)
    rng = np.random.default_rng(5)
    alerts, windows = 0, 300
    for i in range(windows):
        df = loans(int(rng.choice([300, 800, 2000])), seed=1000 + i)
        cols = {c: df[c].to_numpy(dtype=object if c in ("region", "prediction") else None)
                for c in ("amount", "margin", "region", "score", "prediction")}  # fmt: skip
        cols["actual"] = df.target.to_numpy(dtype=object)
        terms = raw_terms(e, cols, rows=len(df))
        window = Window(START + timedelta(days=i), START + timedelta(days=i + 1))
        data = WindowData(
            window, {Volume(): {"n": len(df)}, request: {"n": len(df), "terms": terms}}
        )
        r = mon.evaluate(data)
        assert r.status in (Status.OK, Status.WARN, Status.ALERT), r.reason
        alerts += r.status is Status.ALERT
    # Binomial(300, 0.01): 3 expected; 8 or more has probability 0.0003
    assert alerts <= 8, alerts


def test_a_planted_change_alerts_and_the_plan_says_how() -> None:
    ref = pa.Table.from_pandas(loans(5000, seed=11), preserve_index=False)
    cal = Calibration(budget="1 per 30 days", cadence_s=86400, monitors=25)
    mon = Kpi("loss", LOSS, direction="up").fit(FitContext(SPEC, ref, cal))
    e = parse_kpi(LOSS, columns=COLUMNS)
    df = loans(2000, seed=99, default_rate=0.2)  # twice the defaults
    cols = {c: df[c].to_numpy(dtype=object if c in ("prediction", "target") else None)
            for c in ("amount", "margin", "prediction", "target")}  # fmt: skip
    cols["actual"] = cols.pop("target")
    request = KpiTerms(e, labelled=True)
    data = WindowData(
        Window(START, START + timedelta(days=1)),
        {Volume(): {"n": 2000}, request: {"n": 2000, "terms": raw_terms(e, cols, rows=2000)}},
    )
    r = mon.evaluate(data)
    assert r.status is Status.ALERT and r.direction == "above", r.reason
    assert r.reason.startswith("loss up ") and r.details["change"] > 0.5
    plan = mon.threshold_plan(2000)
    assert plan.threshold is not None and plan.reference is not None
    assert plan.reference < plan.threshold < r.value


# -- batch reports: expressions and Python functions -------------------------------------------


def test_batch_reports_judge_kpi_expressions_and_functions_alike() -> None:
    """``mlwarden.report(..., kpis=...)``: an expression, a function and its import path give
    the pandas value over the current rows, and all three see the planted rise in defaults."""
    from kpi_functions import expected_loss
    from mlwarden import report

    only = MonitorSuite("model", [], cadence="1d", budget="1 per 100 days")
    ref, cur = loans(4000, seed=11), loans(2000, seed=12, default_rate=0.25)
    kpis = {"loss": LOSS, "loss_fn": expected_loss, "loss_path": "kpi_functions:expected_loss"}
    rep = report(ref, cur, target="target", prediction="prediction", score="score", kpis=kpis)
    got = {r.monitor: r for r in rep.results if r.segment is None}
    want = _pandas("loss", cur)
    for mid in ("kpi:loss", "kpi_function:loss_fn", "kpi_function:loss_path"):
        r = got[mid]
        assert r.value == pytest.approx(want, rel=1e-9), mid
        assert r.status is Status.ALERT and r.reason.startswith(mid.split(":")[1].replace("_", " "))
    # the function's threshold at this size agrees with the expression's within its noise
    t_expr, t_fn = got["kpi:loss"].threshold, got["kpi_function:loss_fn"].threshold
    assert t_fn == pytest.approx(t_expr, rel=0.25)
    quiet = report(ref, loans(2000, seed=13), target="target", prediction="prediction",
                   score="score", kpis=kpis, monitors=only)  # fmt: skip
    assert {r.status for r in quiet.results if r.kind.startswith("kpi")} <= {Status.OK, Status.WARN}


def test_a_kpi_function_is_refused_by_the_server_side_check() -> None:
    from mlwarden.monitors.kpi_function import KpiFunction

    with pytest.raises(ConfigError, match=r"'monitors\[0\]\.kind' field must not be 'kpi_fun"):
        KpiFunction("loss", "kpi_functions:expected_loss").check(SPEC, where="monitors[0]")


def test_the_ci_gate_takes_kpis_on_the_command_line(tmp_path: Path) -> None:
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    loans(2000, seed=11).to_parquet(ref)
    loans(1500, seed=12, default_rate=0.25).to_parquet(cur)
    roles = ["--target", "target", "--prediction", "prediction", "--score", "score"]
    out = tmp_path / "check.json"
    args = ["check", str(ref), str(cur), *roles, "--kpi", f"loss={LOSS}", "--json", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "alert: kpi:loss: loss up " in r.stdout, r.stdout
    results = json.loads(out.read_text())["results"]
    assert any(x["monitor"] == "kpi:loss" and x["status"] == "alert" for x in results)
    bad = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", "check", str(ref), str(cur), "--kpi", "loss"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert bad.returncode != 0 and "must look like NAME=EXPRESSION" in bad.stderr, bad.stderr
    # a KPI asked for by name whose expression cannot run fails the gate with its reason: it
    # is not skipped while the check passes
    unknown = subprocess.run(
        [sys.executable, "-m", "mlwarden.cli.main", "check", str(ref), str(cur),
         "--kpi", "loss=sum(no_such_column)"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert unknown.returncode == 2, (unknown.stdout, unknown.stderr)
    assert "'kpis.loss.expression'" in unknown.stderr and "no_such_column" in unknown.stderr
