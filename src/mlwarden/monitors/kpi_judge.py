"""How a KPI monitor (an expression, ``kpi``; a Python function, ``kpi_function``) is judged:
its name, its directions, the bounds around the value expected at a window's size, and the
result a window's value gets against them."""

from __future__ import annotations

import math
import re
from typing import Any

from mlwarden.errors import ConfigError, expected
from mlwarden.monitors.base import Result, Status
from mlwarden.monitors.context import Calibration, WindowData
from mlwarden.stats.tails import norm_isf

__all__ = ["DIRECTIONS", "MAX_SKEW", "check_kpi_name", "judge", "kpi_bounds"]

DIRECTIONS = ("up", "down", "both")


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


def check_kpi_name(name: object, *, where: str) -> None:
    """A KPI's name: 1-64 letters, digits, '_', '.', '-', starting with a letter (it is part
    of the monitor's id, ``kpi:<name>``)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(
            expected(
                "field",
                where,
                "be 1-64 letters, digits, '_', '.', '-', starting with a letter",
                name,
            )
        )


#: Largest skewness the Cornish-Fisher correction of :func:`kpi_bounds` takes (beyond it the
#: expansion stops being monotone; a law that skewed needs a fixed threshold).
MAX_SKEW = 1.0


def kpi_bounds(center: float, sd: float, *, mon: Any, skew: float = 0.0) -> dict[str, float | None]:
    """The (alert, warn) bounds below and above a KPI expected at ``center`` with spread ``sd``
    and skewness ``skew`` in windows of this size: ``z * sd`` for the monitor's share of the
    false-alarm budget (half each side for 'both'), ``z`` moved by the Cornish-Fisher term
    ``(z^2 - 1) * skew / 6`` (a right-skewed KPI, a rare event's rate, has the longer upper
    tail), at least ``min_change`` of the expected value; a fixed ``threshold`` replaces the
    bound on its side."""
    alpha = Calibration(**mon.calibration_).alpha
    if mon.direction == "both":
        alpha /= 2
    g = max(-MAX_SKEW, min(MAX_SKEW, skew)) if math.isfinite(skew) else 0.0
    z_a, z_w = norm_isf(alpha), norm_isf(min(10 * alpha, 0.5))
    up_a, down_a = z_a + (z_a**2 - 1) * g / 6, z_a - (z_a**2 - 1) * g / 6
    up_w, down_w = z_w + (z_w**2 - 1) * g / 6, z_w - (z_w**2 - 1) * g / 6
    effect = mon.min_change * abs(center) if math.isfinite(center) else 0.0
    out: dict[str, float | None] = {
        "expected": center if math.isfinite(center) else None,
        "sd": sd,
        "low": center - max(down_a * sd, effect),
        "high": center + max(up_a * sd, effect),
        "low_warn": center - max(down_w * sd, effect / 2),
        "high_warn": center + max(up_w * sd, effect / 2),
    }
    if mon.threshold is not None:
        side = "high" if mon.direction == "up" else "low"
        out[side] = float(mon.threshold)
    return out


def judge(
    mon: Any, data: WindowData, value: float, n: int, *, what: str, details: dict[str, Any]
) -> Result:
    """The result of a KPI monitor (``Kpi``, ``KpiFunction``) whose window gave ``value`` over
    ``n`` rows, against its bounds at that size."""
    b = mon.bounds(n)
    high, low = b["high"], b["low"]
    assert high is not None and low is not None
    expect = b["expected"]
    up = mon.direction == "up" or (mon.direction == "both" and value >= (expect or 0.0))
    bound, warn = (high, b["high_warn"]) if up else (low, b["low_warn"])
    assert warn is not None
    status = Status.OK
    sign = 1.0 if up else -1.0
    if sign * (value - bound) > 0:
        status = Status.ALERT
    elif sign * (value - warn) > 0:
        status = Status.WARN
    change = (value - expect) / abs(expect) if expect else None
    details = {**details, "expected": expect, "change": change, "sd": b["sd"]}
    details |= {"low": low, "high": high}
    moved = "up" if value >= (expect or 0.0) else "down"
    pct = f" {abs(change):.0%}" if change is not None else ""
    return mon.result(  # type: ignore[no-any-return]
        data,
        status,
        value=value,
        threshold=bound,
        warn=warn,
        n=n,
        direction="above" if up else "below",
        details=details,
        reason=f"{mon.label} {moved}{pct}; {value:.4g} against {expect or 0.0:.4g} "
        f"expected at {n:,} {what} (alert {'above' if up else 'below'} {bound:.4g})",
    )
