"""What alerting may reach and read on the server: the operator's policy.

An alerting config is written by an API key holder, but channels and actions run *on the
server*: what they may expand and where they may connect is the operator's decision, given
on the server's command line and held in an :class:`AlertingPolicy`.

* **Environment variables.** ``${NAME}`` expands only names starting with ``MLWARDEN_`` and
  the names the operator lists (``mlwarden serve --alerting-env NAME``). Any other reference
  is refused when the config is stored and never expanded when sending, so ``${HOME}`` or
  ``${AWS_SECRET_ACCESS_KEY}`` cannot be sent to a key holder's collector.
* **Destinations.** A notification goes only to public addresses: loopback, link-local
  (the cloud metadata address 169.254.169.254 included), private (RFC 1918, ULA), shared,
  unspecified, multicast and reserved addresses are refused unless the operator allows the
  host name or a network holding the address (``--alerting-allow-host HOST_OR_CIDR``). Every
  address a host name resolves to is checked; the caller then connects to an address it
  checked (see :func:`mlwarden.incidents.channels.webhook.post_json`), so a DNS answer that
  changes between the check and the connection cannot move the request.

The default policy (``AlertingPolicy()``) allows no extra variable and no private host.

Examples
--------
>>> policy = AlertingPolicy(env=("SLACK_TOKEN",), allow_hosts=("10.1.0.0/16",))
>>> policy.validate()
>>> policy.env_allowed("MLWARDEN_HOOK_SECRET"), policy.env_allowed("SLACK_TOKEN")
(True, True)
>>> policy.env_allowed("HOME")
False
>>> [str(a) for a in policy.addresses("10.1.2.3", 443)]
['10.1.2.3']
>>> AlertingPolicy().addresses("169.254.169.254", 80)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
mlwarden.errors.ConfigError: Not delivered: '169.254.169.254' is refused by the server's destination policy ...
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from mlwarden.errors import ConfigError, expected

__all__ = [
    "DEFAULT_POLICY",
    "ENV_FLAG",
    "HOST_FLAG",
    "AlertingPolicy",
    "IPAddress",
    "env_refs",
    "no_answer",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: The ``mlwarden serve`` flags an operator uses to widen the policy (named in refusals).
ENV_FLAG = "--alerting-env"
HOST_FLAG = "--alerting-allow-host"
ENV_PREFIX = "MLWARDEN_"

_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,252})?")


def env_refs(value: Any) -> Iterator[str]:
    """Every ``${NAME}`` name in ``value`` (strings inside lists and mappings included)."""
    if isinstance(value, str):
        for m in _ENV_REF.finditer(value):
            yield m[1]
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from env_refs(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from env_refs(v)


def _public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a unicast address on the public internet."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_unspecified
    )


@dataclass(frozen=True)
class AlertingPolicy:
    """The operator's limits on alerting configs (see the module docstring).

    ``env``: names of environment variables ``${NAME}`` may expand besides ``MLWARDEN_*``;
    ``allow_hosts``: host names, addresses or networks (CIDR) a channel may reach although
    they are not public.
    """

    env: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()

    def validate(self) -> None:
        for name in self.env:
            if not isinstance(name, str) or not _ENV_NAME.fullmatch(name):
                raise ConfigError(
                    expected(
                        "option", ENV_FLAG.lstrip("-"), "be an environment variable name", name
                    )
                )
        for host in self.allow_hosts:
            if self._network(host) is None and not (
                isinstance(host, str) and _HOST_NAME.fullmatch(host)
            ):
                raise ConfigError(
                    expected(
                        "option",
                        HOST_FLAG.lstrip("-"),
                        "be a host name, an IP address or a network like 10.0.0.0/8",
                        host,
                    )
                )

    # -- environment ---------------------------------------------------------------------
    def env_allowed(self, name: str) -> bool:
        return name.startswith(ENV_PREFIX) or name in self.env

    def refused_env(self, name: str, *, param: str, where: str) -> str:
        """The message refusing ``${name}`` in parameter ``param`` of ``where``."""
        return (
            f"The {param!r} parameter of {where} refers to the environment variable {name!r}, "
            f"which the server does not expose to alerting configs: only {ENV_PREFIX}* "
            f"variables and those the operator allows with 'mlwarden serve {ENV_FLAG} {name}' "
            "can be used."
        )

    def check_env(self, value: Any, *, param: str, where: str) -> None:
        """Raise :class:`ConfigError` for the first reference in ``value`` not allowed."""
        for name in env_refs(value):
            if _ENV_NAME.fullmatch(name) and not self.env_allowed(name):
                raise ConfigError(self.refused_env(name, param=param, where=where))

    # -- destinations --------------------------------------------------------------------
    @staticmethod
    def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        try:
            return ipaddress.ip_network(entry, strict=False)
        except (TypeError, ValueError):
            return None

    def host_allowed(self, host: str) -> bool:
        """Whether the operator named ``host`` itself (any address it resolves to goes)."""
        wanted = host.lower().rstrip(".")
        return any(wanted == h.lower().rstrip(".") for h in self.allow_hosts)

    def address_allowed(self, ip: IPAddress) -> bool:
        if _public(ip):
            return True
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        networks = (self._network(h) for h in self.allow_hosts)
        return any(n is not None and ip.version == n.version and ip in n for n in networks)

    def refused_host(self, host: str) -> str:
        return (
            f"Not delivered: {host!r} is refused by the server's destination policy (alerting "
            "reaches only public addresses; loopback, private, link-local and other internal "
            f"addresses need the operator's 'mlwarden serve {HOST_FLAG} HOST_OR_CIDR')."
        )

    def addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses of ``host`` to connect to, every one of them allowed.

        Raises :class:`ConfigError` when one address is refused (saying which flag allows it)
        or when the name does not resolve (``Not delivered: no answer from ...``, the words of
        a closed port: a caller cannot tell them apart).
        """
        found = _resolve(host, port)
        if not found:
            raise ConfigError(no_answer(host, port))
        if self.host_allowed(host):
            return found
        if not all(self.address_allowed(ip) for ip in found):
            raise ConfigError(self.refused_host(host))
        return found


def _resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses of ``host`` (itself if it is one), in the resolver's order; [] if none."""
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        return []
    found: list[IPAddress] = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if ip not in found:
            found.append(ip)
    return found


#: What the library uses unless told otherwise: ``MLWARDEN_*`` variables, public hosts.
DEFAULT_POLICY = AlertingPolicy()


def no_answer(host: str, port: int) -> str:
    """What a caller learns of a destination that did not answer, whatever the reason."""
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"Not delivered: no answer from {shown}:{port} (no connection, or timed out)."
