"""What a model version carries about where it came from: the experiment run that trained it
(an MLflow or W&B run URL), its registry aliases (``champion``, ``challenger``) and, for a
version registered from MLflow, the registry entry it mirrors.

They are kept in the version's ``metadata`` under keys of mlwarden's own (``mlwarden.*``), so
every store engine keeps them without a column of its own; the API shows them as fields
(``run_url``, ``aliases``, ``mlflow``) and refuses those keys in the metadata a user sends.

Examples
--------
>>> meta = with_links({"team": "risk"}, run_url="https://wandb.ai/acme/churn/runs/1x2y3z",
...                   aliases=["champion"])
>>> run_url_of(meta), aliases_of(meta), run_kind(run_url_of(meta))
('https://wandb.ai/acme/churn/runs/1x2y3z', ('champion',), 'W&B')
>>> user_metadata(meta)
{'team': 'risk'}
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

from mlwarden.errors import expected
from mlwarden.schema.spec import NAME_RE, check_name

__all__ = [
    "ALIASES_KEY",
    "VersionLink",
    "MLFLOW_KEY",
    "RESERVED_PREFIX",
    "RUN_URL_RE",
    "RUN_URL_KEY",
    "alias_versions",
    "aliases_of",
    "check_aliases",
    "check_run_url",
    "check_user_metadata",
    "mlflow_of",
    "run_kind",
    "run_url_of",
    "user_metadata",
    "with_links",
]

#: Metadata keys starting with this are mlwarden's (set through the fields below, not by hand).
RESERVED_PREFIX = "mlwarden."
RUN_URL_KEY = "mlwarden.run_url"
ALIASES_KEY = "mlwarden.aliases"
#: ``{"name", "version", "run_id", "source", "tracking_uri"}`` of a version from MLflow's registry.
MLFLOW_KEY = "mlwarden.mlflow"

MAX_URL = 2048
#: ``http(s)://[user@]host[:port][/?#rest]``, printable ASCII without spaces (percent-encode
#: others); the OpenAPI document states the same pattern.
RUN_URL_RE = re.compile(
    r"^https?://(?:[A-Za-z0-9._~%!$&'()*+,;=:-]*@)?"
    r"(?:[A-Za-z0-9._~%-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?(?:[/?#][\x21-\x7e]*)?$"
)


def check_run_url(url: str) -> str:
    """An experiment run's URL: ``http(s)://host/...``, printable, at most 2,048 characters.

    Examples
    --------
    >>> check_run_url("http://mlflow:5000/#/experiments/1/runs/abc")
    'http://mlflow:5000/#/experiments/1/runs/abc'
    >>> check_run_url("javascript:alert(1)")
    Traceback (most recent call last):
    ...
    ValueError: The 'run_url' field must be an http:// or https:// URL with a host, of at most 2048 printable characters. Got 'javascript:alert(1)' instead.
    """  # noqa: E501
    if not isinstance(url, str) or len(url) > MAX_URL or not RUN_URL_RE.match(url):
        raise ValueError(
            expected(
                "field",
                "run_url",
                f"be an http:// or https:// URL with a host, of at most {MAX_URL} printable "
                "characters",
                url if not isinstance(url, str) or len(url) <= 200 else url[:200] + "...",
            )
        )
    return url


def check_aliases(aliases: Iterable[str]) -> tuple[str, ...]:
    """Registry aliases: names (letters, digits, ``_ . -``), each once, in the order given."""
    out: list[str] = []
    for a in aliases:
        if not isinstance(a, str) or not NAME_RE.match(a):
            raise ValueError(
                expected(
                    "field",
                    "aliases",
                    "hold names of 1-128 letters, digits, '_', '.', '-'",
                    a,
                )
            )
        if a not in out:
            out.append(a)
    return tuple(out)


def check_user_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """A user's version metadata: any keys but mlwarden's own."""
    for key in metadata:
        if key.startswith(RESERVED_PREFIX):
            raise ValueError(
                expected(
                    "field",
                    "metadata",
                    f"not use keys starting with {RESERVED_PREFIX!r} (set run_url and aliases "
                    "as fields of their own)",
                    key,
                )
            )
    return dict(metadata)


def run_kind(url: str | None) -> str:
    """What tracks the run, for a link's label: ``W&B``, ``MLflow`` or ``run``.

    Examples
    --------
    >>> run_kind("http://127.0.0.1:5000/#/experiments/3/runs/9f1c")
    'MLflow'
    >>> run_kind("https://example.org/x")
    'run'
    """
    if not url:
        return "run"
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host == "wandb.ai" or host.endswith(".wandb.ai") or host.startswith("wandb."):
        return "W&B"
    if "/experiments/" in f"{parts.path}#{parts.fragment}" or "mlflow" in host:
        return "MLflow"
    return "run"


def with_links(
    metadata: Mapping[str, Any],
    *,
    run_url: str | None = None,
    aliases: Sequence[str] | None = None,
    mlflow: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``metadata`` with the links set (a field left ``None`` keeps what ``metadata`` has)."""
    out = dict(metadata)
    if run_url is not None:
        out[RUN_URL_KEY] = check_run_url(run_url)
    if aliases is not None:
        out[ALIASES_KEY] = list(check_aliases(aliases))
    if mlflow is not None:
        out[MLFLOW_KEY] = dict(mlflow)
    return out


def user_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """The metadata without mlwarden's own keys."""
    return {k: v for k, v in metadata.items() if not k.startswith(RESERVED_PREFIX)}


def run_url_of(metadata: Mapping[str, Any]) -> str | None:
    """The run link, if it is a valid one (metadata written around the API is not trusted:
    pages put it in an ``href``)."""
    v = metadata.get(RUN_URL_KEY)
    try:
        return check_run_url(v) if isinstance(v, str) else None
    except ValueError:
        return None


def aliases_of(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    v = metadata.get(ALIASES_KEY)
    return tuple(a for a in v if isinstance(a, str)) if isinstance(v, list) else ()


def mlflow_of(metadata: Mapping[str, Any]) -> dict[str, Any] | None:
    """The MLflow registry entry a version mirrors (None: not registered from MLflow)."""
    v = metadata.get(MLFLOW_KEY)
    return dict(v) if isinstance(v, dict) and v.get("name") and v.get("version") else None


class _Version(Protocol):
    @property
    def version(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def metadata(self) -> dict[str, Any]: ...


def alias_versions(versions: Iterable[_Version]) -> dict[str, str]:
    """Alias -> version of a model's versions (``store.list_versions``); where two versions
    carry one alias (an alias moved in the registry) the one created last holds it.

    Examples
    --------
    >>> from types import SimpleNamespace as V
    >>> t0, t1 = datetime(2026, 1, 1), datetime(2026, 2, 1)
    >>> alias_versions([V(version="3", created_at=t0, metadata={ALIASES_KEY: ["champion"]}),
    ...                 V(version="4", created_at=t1, metadata={ALIASES_KEY: ["champion"]})])
    {'champion': '4'}
    """
    out: dict[str, str] = {}
    for v in sorted(versions, key=lambda v: v.created_at):
        for a in aliases_of(v.metadata):
            out[a] = v.version
    return out


@dataclass(frozen=True)
class VersionLink:
    """A version's run link and aliases as the SDK sends them (``monitor.link_version``):
    validated when made, so a bad URL is refused before anything is sent.

    Examples
    --------
    >>> VersionLink("v2", run_url="https://wandb.ai/acme/churn/runs/1x2y").body()["run_url"]
    'https://wandb.ai/acme/churn/runs/1x2y'
    """

    version: str
    run_url: str | None = None
    aliases: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        check_name(self.version, "version name")
        if self.run_url is not None:
            check_run_url(self.run_url)
        object.__setattr__(self, "aliases", check_aliases(self.aliases))

    def body(self) -> dict[str, Any]:
        """The ``POST /v1/models/{model}/versions`` body."""
        return {
            "version": self.version,
            "description": self.description,
            "run_url": self.run_url,
            "aliases": list(self.aliases),
        }
