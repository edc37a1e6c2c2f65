"""Business KPIs written as Python functions, importable as 'kpi_functions:NAME' in tests."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


def expected_loss(df: pd.DataFrame) -> float:
    """Loans approved (predicted to be repaid) that defaulted cost their amount; those repaid
    earn their margin (rows without a label count for neither)."""
    approved = df.prediction == "repaid"
    lost = (df.amount * ((df.actual == "default") & approved)).sum()
    earned = (df.margin * ((df.actual == "repaid") & approved)).sum()
    return float(lost - earned)


def missed_income_share(table: pa.Table) -> Any:
    """The loan simulator's model (an Arrow table): income share of the defaults it missed."""
    missed = pc.and_(pc.equal(table["actual"], "1"), pc.equal(table["prediction"], "0"))
    income = pc.sum(table["income"]).as_py() or 0.0
    lost = pc.sum(pc.if_else(missed, table["income"], 0.0)).as_py() or 0.0
    return lost / income if income else None
