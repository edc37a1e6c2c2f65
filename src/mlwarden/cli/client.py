"""The CLI's client of the server API (errors become one clear line: see :mod:`mlwarden.api_client`)."""

from __future__ import annotations

from typing import ClassVar

from mlwarden.api_client import DEFAULT_URL
from mlwarden.api_client import ApiClient as _ApiClient

__all__ = ["DEFAULT_URL", "ApiClient"]


class ApiClient(_ApiClient):
    unreachable_hint: ClassVar[str] = "Start it with 'mlwarden serve' or pass --url."
