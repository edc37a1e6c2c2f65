"""The UI's colour pairs meet WCAG 2.1 AA contrast (4.5:1 for text), computed from app.css."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

CSS = Path(__file__).resolve().parents[2] / "src/mlwarden/server/ui/static/app.css"


def _vars(scheme: str = "light") -> dict[str, str]:
    text = CSS.read_text()
    if scheme == "dark":  # the block inside @media (prefers-color-scheme: dark)
        text = text[text.index("prefers-color-scheme: dark") :]
    root = re.search(r":root\s*\{(.*?)\}", text, flags=re.S)
    assert root is not None
    found = re.findall(r"--([a-z-]+):\s*#([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\b", root.group(1))
    return {k: "#" + (h if len(h) == 6 else "".join(c * 2 for c in h)) for k, h in found}


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_contrast_formula_matches_wcag_examples() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#767676", "#ffffff") == pytest.approx(4.54, abs=0.01)  # the AA grey


@pytest.mark.parametrize(
    ("fg", "bg"),
    [
        ("fg", "bg"),
        ("muted", "bg"),
        ("muted", "panel"),
        ("link", "bg"),
        ("link", "panel"),
        ("fg", "panel"),
        ("alert-fg", "alert-bg"),
        ("warn-fg", "warn-bg"),
        ("ok-fg", "ok-bg"),
        ("thin-fg", "thin-bg"),
        ("none-fg", "none-bg"),
    ],
)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_text_colour_pairs_meet_aa(fg: str, bg: str, scheme: str) -> None:
    v = _vars(scheme)
    assert contrast(v[fg], v[bg]) >= 4.5, (scheme, fg, bg, round(contrast(v[fg], v[bg]), 2))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_cards_and_errors_meet_aa(scheme: str) -> None:
    v = _vars(scheme)
    assert contrast(v["fg"], v["card"]) >= 4.5 and contrast(v["link"], v["card"]) >= 4.5
    assert contrast(v["error-fg"], v["error-bg"]) >= 4.5
