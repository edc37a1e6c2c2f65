"""The CLI's client of the server API (errors become one clear line: see :mod:`.api_client`)."""

from __future__ import annotations

from typing import ClassVar

from mlwarden.sdk.api_client import DEFAULT_URL
from mlwarden.sdk.api_client import ApiClient as _SdkApiClient

__all__ = ["DEFAULT_URL", "ApiClient"]


class ApiClient(_SdkApiClient):
    unreachable_hint: ClassVar[str] = "Start it with 'mlwarden serve' or pass --url."
