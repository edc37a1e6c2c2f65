"""The journeys' Chromium: the UI tests' package-scoped browser fixture, registered here too
(Playwright's sync API holds an event loop while open, so one per package, closed after it)."""

from __future__ import annotations

from ui.conftest import browser

__all__ = ["browser"]
