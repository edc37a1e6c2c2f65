"""A batch report: results, a verdict, JSON, and a self-contained HTML page with charts."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mlwarden._version import __version__
from mlwarden.monitors.base import Result, Status
from mlwarden.monitors.suite import MonitorSuite
from mlwarden.schema.spec import ModelSpec

__all__ = ["Report"]

ORDER = [Status.OK, Status.NO_DATA, Status.INSUFFICIENT_DATA, Status.WARN, Status.ALERT]
COLORS = {
    "ok": "#1a7f37",
    "warn": "#9a6700",
    "alert": "#cf222e",
    "no_data": "#57606a",
    "insufficient_data": "#57606a",
}


@dataclass
class Report:
    spec: ModelSpec
    suite: MonitorSuite
    results: list[Result]
    n_reference: int
    n_current: int

    @property
    def status(self) -> Status:
        """Alert if any whole-model monitor alerts, else warn, else ok (no_data when no monitor
        had data)."""
        seen = {r.status for r in self.results if r.segment is None}
        for s in (Status.ALERT, Status.WARN, Status.OK):
            if s in seen:
                return s
        return Status.INSUFFICIENT_DATA if Status.INSUFFICIENT_DATA in seen else Status.NO_DATA

    @property
    def alerts(self) -> list[Result]:
        return [r for r in self.results if r.status is Status.ALERT and r.segment is None]

    def failed(self, fail_on: str = "alert") -> bool:
        """Whether a CI gate fails: any whole-model result at or above ``fail_on``."""
        level = ORDER.index(Status(fail_on))
        return any(ORDER.index(r.status) >= level for r in self.results if r.segment is None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mlwarden": __version__,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "model": self.spec.name,
            "status": self.status.value,
            "rows": {"reference": self.n_reference, "current": self.n_current},
            "false_alarm_budget": self.suite.budget,
            "results": [r.to_dict() for r in self.results],
            "skipped": [s.__dict__ for s in self.suite.skipped],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for r in self.results:
            if r.segment is None:
                counts[r.status.value] = counts.get(r.status.value, 0) + 1
        parts = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        return f"{self.spec.name}: {self.status.value.upper()} ({parts})"

    def _repr_html_(self) -> str:
        return self.to_html(full=False)

    def to_html(self, *, full: bool = True) -> str:
        whole = sorted(
            (r for r in self.results if r.segment is None),
            key=lambda r: (-ORDER.index(r.status), r.monitor),
        )
        rows = "\n".join(_row(r) for r in whole)
        charts = "\n".join(_chart(r) for r in whole if r.details.get("chart"))
        novel = "\n".join(_novel(r) for r in whole if r.details.get("novel"))
        seg = [r for r in self.results if r.segment is not None and r.status is Status.ALERT]
        seg_rows = "\n".join(
            _row(r) for r in sorted(seg, key=lambda r: (r.segment or "", r.monitor))
        )
        body = f"""
<header><h1>mlwarden report: {html.escape(self.spec.name)}</h1>
<p class="verdict" style="background:{COLORS[self.status.value]}">{html.escape(self.summary())}</p>
<p>Reference: {self.n_reference:,} rows. Current: {self.n_current:,} rows. Thresholds calibrated to
at most {html.escape(self.suite.budget)} false failing report(s), over {len(self.suite.monitors)} monitors.</p></header>
<section><h2>Monitors</h2><table><thead><tr><th>status</th><th>monitor</th><th>value</th>
<th>threshold</th><th>why</th></tr></thead><tbody>{rows}</tbody></table></section>
{f"<section><h2>Segments with alerts</h2><table><tbody>{seg_rows}</tbody></table></section>" if seg_rows else ""}
<section><h2>Distributions: reference vs current</h2><div class="charts">{charts}</div></section>
{f"<section><h2>Texts least like the reference</h2>{novel}</section>" if novel else ""}
"""
        if not full:
            return f"<div class='mlwarden-report'>{_STYLE}{body}</div>"
        return (
            f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>mlwarden report: {html.escape(self.spec.name)}</title>{_STYLE}</head>"
            f"<body>{body}</body></html>"
        )


_STYLE = """<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1f2328;max-width:1200px}
h1{font-size:1.4rem} h2{font-size:1.1rem;margin-top:2rem}
.verdict{color:#fff;padding:.5rem .8rem;border-radius:6px;display:inline-block;font-weight:600}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}
.st{font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1rem}
figure{margin:0;border:1px solid #d0d7de;border-radius:6px;padding:.5rem}
figcaption{font-size:.85rem;margin-bottom:.3rem}
.legend span{display:inline-block;width:.8rem;height:.8rem;margin:0 .2rem 0 .6rem;vertical-align:middle}
</style>"""


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:.4g}"


def _row(r: Result) -> str:
    color = COLORS[r.status.value]
    seg = f" [{html.escape(r.segment)}]" if r.segment else ""
    return (
        f"<tr><td class='st' style='color:{color}'>{r.status.value}</td>"
        f"<td>{html.escape(r.monitor)}{seg}</td><td>{_fmt(r.value)}</td><td>{_fmt(r.threshold)}</td>"
        f"<td>{html.escape(r.reason)}</td></tr>"
    )


def _novel(r: Result) -> str:
    """A text-drift result's window texts least like any reference text (personal data
    masked), with the cosine similarity to their nearest reference text."""
    items = "".join(
        f"<tr><td>{html.escape(str(text))}</td><td>{float(sim):.2f}</td></tr>"
        for text, sim in r.details["novel"].items()
    )
    return (
        f"<h3>{html.escape(r.monitor)}</h3><table><thead><tr><th>text</th>"
        f"<th>similarity to the nearest reference text</th></tr></thead><tbody>{items}</tbody></table>"
    )


def _chart(r: Result) -> str:
    """Paired bars of reference and current shares, as inline SVG (no scripts, no CDN)."""
    c = r.details["chart"]
    ref, cur, labels = c["reference"], c["current"], c["labels"]
    k = len(ref)
    if not k:
        return ""
    w, h, pad = 320, 140, 20
    top = max(max(ref), max(cur), 1e-9)
    bw = (w - 2 * pad) / k
    bars = []
    for i in range(k):
        x = pad + i * bw
        for j, (v, color) in enumerate(((ref[i], "#8c959f"), (cur[i], COLORS[r.status.value]))):
            bh = (h - 2 * pad) * v / top
            bars.append(
                f"<rect x='{x + j * bw / 2:.1f}' y='{h - pad - bh:.1f}' width='{max(bw / 2 - 1, 1):.1f}' "
                f"height='{bh:.1f}' fill='{color}'><title>{html.escape(str(labels[i]))}: "
                f"{'reference' if j == 0 else 'current'} {v:.1%}</title></rect>"
            )
    svg = (
        f"<svg viewBox='0 0 {w} {h}' role='img' aria-label='reference vs current of "
        f"{html.escape(r.monitor)}'>{''.join(bars)}</svg>"
    )
    return (
        f"<figure><figcaption>{html.escape(r.monitor)}: {html.escape(r.reason)}"
        f"<div class='legend'><span style='background:#8c959f'></span>reference"
        f"<span style='background:{COLORS[r.status.value]}'></span>current</div></figcaption>{svg}</figure>"
    )
