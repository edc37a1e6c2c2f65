"""Run a driver (``argv[1]``, with the rest of ``argv``) with the network kept to loopback.

The libraries reach for the internet on their own (LiteLLM's model cost map, Traceloop's
endpoint, tokenizer downloads): every name lookup or connection to anything but loopback is
refused and noted in :data:`BLOCKED`, which the drivers report (the test wants it empty).
"""

from __future__ import annotations

import ipaddress
import runpy
import socket
import sys
from typing import Any

BLOCKED: list[str] = []
_getaddrinfo = socket.getaddrinfo
_connect = socket.socket.connect


def _loopback(host: Any) -> bool:
    if host is None or host in ("localhost", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(host.decode() if isinstance(host, bytes) else host).is_loopback
    except ValueError:
        return False


def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if not _loopback(host):
        BLOCKED.append(f"lookup {host}")
        raise socket.gaierror(socket.EAI_NONAME, "the interop drivers stay on loopback")
    return _getaddrinfo(host, *args, **kwargs)


def connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
        BLOCKED.append(f"connect {address[0]}")
        raise OSError("the interop drivers stay on loopback")
    _connect(self, address)


socket.getaddrinfo = getaddrinfo
socket.socket.connect = connect  # type: ignore[method-assign]
sys.modules["_netguard"] = sys.modules[__name__]
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
