"""Core -> extension calls, as `callExtension` / `extensionPathActive` do them.

Every call checks the extension socket, pings it on a fresh connection with a
10 s timeout, then opens another fresh connection for the `call` itself
(reference §4.7; `osquery/extensions/extensions.cpp`).
"""

from __future__ import annotations

import time
from typing import Callable

from .protocol import extension_client, is_socket, manager_client
from .vtable import TableError

PING_TIMEOUT = 10.0  # ExtensionManagerClient(path, 10) in extensionPathActive
POLL_INTERVAL = 0.02  # kExtensionInitializeLatency
MIN_WAIT = 0.2  # applyExtensionDelay waits at least 10 polls


def extension_socket(manager_path: str, uuid: int) -> str:
    """getExtensionSocket: uuid 0 is the manager itself."""
    return manager_path if uuid == 0 else "%s.%d" % (manager_path, uuid)


def path_active(path: str, wait: float = 0.0) -> bool:
    """extensionPathActive: socket exists and answers a ping.

    With `wait` > 0 it polls every 20 ms for up to max(wait, 0.2) s
    (applyExtensionDelay); otherwise it tries once. Any reply counts.
    """
    deadline = time.monotonic() + (max(wait, MIN_WAIT) if wait > 0 else 0.0)
    while True:
        if is_socket(path):
            try:
                with manager_client(path, PING_TIMEOUT) as client:
                    client.ping()
                return True
            except Exception:
                pass  # the path may exist without a listener
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL)


def call_extension(path: str, registry: str, item: str, request: dict[str, str],
                   timeout: float) -> list[dict[str, str]]:
    """Send one `call`; raise TableError with osquery's message on failure."""
    if not path_active(path):
        raise TableError("Extension socket not available: " + path)
    try:
        with extension_client(path, timeout) as client:
            reply = client.call(registry, item, request)
    except Exception as exc:  # transport errors, TApplicationException, decode errors
        raise TableError("Extension call failed: " + _what(exc)) from None
    status = reply.status
    code = status.code if status is not None and status.code is not None else 0
    if code != 0:
        raise TableError(status.message or "")
    return list(reply.response or [])


def ping_extension(path: str, timeout: float) -> bool:
    """The watcher's ping: fresh client; only EXT_FAILED (1) or an error fails."""
    try:
        with extension_client(path, timeout) as client:
            status = client.ping()
    except Exception:
        return False
    return status is None or status.code != 1


def shutdown_extension(path: str, timeout: float) -> None:
    """Ask an extension to shut down; failures are ignored (osquery: VLOG)."""
    try:
        with extension_client(path, timeout) as client:
            client.shutdown()
    except Exception:
        pass


def _what(exc: Exception) -> str:
    message = getattr(exc, "message", None)
    return str(message) if message else (str(exc) or type(exc).__name__)


class ExtensionTable:
    """A `TableSource` whose rows come from an extension over thrift."""

    is_extension = True

    def __init__(self, name: str, path: str, timeout: Callable[[], float]):
        self.name = name
        self.path = path
        self.timeout = timeout

    def columns(self) -> list[dict[str, str]]:
        return call_extension(self.path, "table", self.name, {"action": "columns"}, self.timeout())

    def generate(self, request: dict[str, str]) -> list[dict[str, str]]:
        return call_extension(self.path, "table", self.name, request, self.timeout())

    def write(self, request: dict[str, str]) -> list[dict[str, str]]:
        return call_extension(self.path, "table", self.name, request, self.timeout())
