"""The embedded osquery core: ExtensionManager service, watcher and `Host`.

Wire: UNIX socket, buffered transport, strict binary protocol, one thread
per connection (osquery's TThreadedServer; reference §2.4). Semantics follow
`osquery/extensions/{interface,extensions,impl_thrift}.cpp`.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import socket
import itertools
import threading
from typing import Callable, Iterable, Mapping

from osquery.extensions import ExtensionManager
from osquery.extensions.ttypes import (
    ExtensionResponse,
    ExtensionStatus,
    InternalExtensionInfo,
    InternalOptionInfo,
)
from thrift.transport import TSocket, TTransport

from . import calls
from .core_tables import extensions_table, time_table
from .database import AttachError, ClockVFS, Database, Result
from .flags import Flags, number_text
from .osquery_names import DARWIN_PLUGINS, DARWIN_TABLES, OSQUERY_VERSION
from .protocol import FastBinaryProtocol, is_socket
from .registry import RegistrationError, Registry
from .vtable import Settings, TableError

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.2  # ExtensionWatcher: "a minimum of 200 milliseconds"
EXT_SUCCESS, EXT_FAILED = 0, 1
_vfs_ids = itertools.count(1)


class Host:
    """An osquery-compatible extension manager with its own SQLite.

    >>> with Host("/tmp/x/osquery.em", interval=3) as host:
    ...     host.query("SELECT * FROM time")
    """

    def __init__(
        self,
        socket_path: str,
        *,
        interval: float = 3.0,
        timeout: float = 3.0,
        thrift_timeout: float = 300.0,
        shutdown_timeout: float = 5.0,
        options: Mapping[str, str] | None = None,
        reserved_tables: Iterable[str] = DARWIN_TABLES,
        forward_limit: bool = False,
        clock: Callable[[], float] | None = None,
    ):
        """`interval`/`timeout` are extensions_interval/extensions_timeout in
        seconds; `thrift_timeout` bounds each core->extension call and ping.
        `shutdown_timeout` bounds each shutdown() sent when the host stops
        (osquery uses thrift_timeout there; a stopped child would stall us).
        `options` seeds flags and `custom_*` options. `clock` (UNIX
        seconds) replaces the system clock for the `time` table and for
        SQLite's 'now', e.g. to run queries in a recording's time.
        """
        self.socket_path = socket_path
        self.interval = max(float(interval), MIN_INTERVAL)
        self.timeout = float(timeout)
        self.shutdown_timeout = shutdown_timeout
        self.flags = Flags()
        self.flags.set("extensions_socket", socket_path)
        self.flags.set("extensions_interval", number_text(interval))
        self.flags.set("extensions_timeout", number_text(timeout))
        self.flags.set("thrift_timeout", number_text(thrift_timeout))
        for name, value in (options or {}).items():
            self.flags.set(name, value)
        self._core_tables = [time_table(clock), extensions_table(self._extension_rows)]
        self._clock_vfs = ClockVFS("osq-host-clock-%d" % next(_vfs_ids), clock) if clock else None
        core_items = {reg: set(items) for reg, items in DARWIN_PLUGINS.items()}
        core_items["table"] = set(reserved_tables) | {t.name for t in self._core_tables}
        self.settings = Settings(
            default_index=lambda: self.flags.get_bool("extensions_default_index"),
            events_disabled=lambda: self.flags.get_bool("disable_events"),
            forward_limit=forward_limit,
        )
        self.database = Database(self.settings, self._all_tables,
                                 self._clock_vfs.name if self._clock_vfs else None)
        for table in self._core_tables:
            self.database.attach(table)
        self.registry = Registry(core_items, self._attach_item, self._detach_item)
        self._server = _Server(socket_path, ExtensionManager.Processor(_Handler(self)))
        self._watcher = threading.Thread(target=self._watch, name="osq-host-watcher", daemon=True)
        self._stopping = threading.Event()
        self._started = False

    # -- lifecycle -------------------------------------------------------

    def start(self) -> "Host":
        self._server.start()
        self._watcher.start()
        self._started = True
        return self

    def stop(self) -> None:
        """Stop watching, send shutdown() to every extension, close the socket."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        if self._started:
            # A ping to a stopped extension can block for thrift_timeout.
            self._watcher.join(self.shutdown_timeout)
            for uuid in list(self.registry.extensions()):
                calls.shutdown_extension(self.extension_socket(uuid), self.shutdown_timeout)
            self._server.stop()
        # removeStalePaths(manager + ".*"): extension sockets go too.
        for path in [self.socket_path, *glob.glob(glob.escape(self.socket_path) + ".*")]:
            if is_socket(path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
        self.database.close()
        if self._clock_vfs is not None:
            self._clock_vfs.unregister()

    def __enter__(self) -> "Host":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- public API ------------------------------------------------------

    def query(self, sql: str) -> Result:
        """Run `sql`; the last statement's columns and rows (Python values)."""
        results = self.database.execute(sql)
        return results[-1] if results else Result([], [])

    def query_all(self, sql: str) -> list[Result]:
        """Run `sql`; one Result per statement."""
        return self.database.execute(sql)

    def set_option(self, name: str, value: str) -> None:
        """Change a flag or a `custom_*` option; `options()` reflects it at once."""
        self.flags.set(name, value)

    def extension_socket(self, uuid: int) -> str:
        return calls.extension_socket(self.socket_path, uuid)

    def extensions(self) -> dict[int, InternalExtensionInfo]:
        """Live extensions by uuid (what the thrift `extensions()` returns)."""
        return {uuid: record.info for uuid, record in self.registry.extensions().items()}

    def table_names(self) -> list[str]:
        """Attached tables, core and extension, sorted."""
        names = {t.name for t in self._core_tables} | set(self.registry.items("table"))
        return sorted(names)

    def table_schema(self, name: str) -> str | None:
        """`CREATE TABLE name(...)` as osquery declares it, or None."""
        spec = self.database.spec(name)
        if spec is None or name not in self.table_names():
            return None
        return spec.create_statement

    def wait_for_extension(self, name: str | None = None, timeout: float = 10.0) -> int | None:
        """Wait until an extension (named `name`, or any) is registered; its uuid."""
        def found():
            for uuid, record in self.registry.extensions().items():
                if name is None or record.info.name == name:
                    return uuid
            return None

        self.registry.wait(lambda: found() is not None, timeout)
        return found()

    def deregister(self, uuid: int) -> bool:
        """Remove an extension and detach its tables."""
        return self.registry.deregister(uuid) is not None

    # -- registry callbacks ----------------------------------------------

    def _attach_item(self, uuid: int, registry: str, item: str, routes: list) -> None:
        if registry != "table":
            return  # accepted and listed, as osquery does; nothing to serve
        source = calls.ExtensionTable(item, self.extension_socket(uuid), self._thrift_timeout)
        try:
            self.database.attach(source, routes)
        except AttachError as exc:
            raise RegistrationError(str(exc)) from None

    def _detach_item(self, uuid: int, registry: str, item: str) -> None:
        if registry == "table":
            self.database.detach(item)

    def _thrift_timeout(self) -> float:
        try:
            return max(float(self.flags.get("thrift_timeout")), 0.001)
        except ValueError:
            return 300.0

    def _all_tables(self):
        tables = list(self._core_tables)
        for name, uuid in sorted(self.registry.items("table").items()):
            tables.append(calls.ExtensionTable(name, self.extension_socket(uuid), self._thrift_timeout))
        return tables

    def _extension_rows(self) -> list[dict[str, str]]:
        # genOsqueryExtensions via getExtensions(), which fills ExtensionInfo
        # as {name, version, min_sdk_version, sdk_version}: the sdk_version
        # column therefore shows the extension's min_sdk_version. Core: uuid 0.
        rows = [{"uuid": "0", "name": "core", "version": OSQUERY_VERSION, "sdk_version": "0.0.0",
                 "path": self.socket_path, "type": "core"}]
        for uuid, record in sorted(self.registry.extensions().items()):
            info = record.info
            rows.append({"uuid": str(uuid), "name": info.name or "", "version": info.version or "",
                         "sdk_version": info.min_sdk_version or "",
                         "path": self.extension_socket(uuid), "type": "extension"})
        return rows

    # -- watcher ---------------------------------------------------------

    def _watch(self) -> None:
        """ExtensionManagerWatcher: ping every interval, drop on one failure."""
        checked: set[int] = set()
        while not self._stopping.wait(self.interval):
            for uuid in list(self.registry.extensions()):
                if self._stopping.is_set():
                    return
                path = self.extension_socket(uuid)
                exists = is_socket(path)
                if not exists and uuid not in checked:
                    # First check: let the extension start (extensions_timeout).
                    exists = calls.path_active(path, wait=self.timeout)
                checked.add(uuid)
                if exists and calls.ping_extension(path, self._thrift_timeout()):
                    continue
                if self._stopping.is_set():
                    return
                log.info("Extension UUID %d has gone away", uuid)
                self.registry.deregister(uuid)
                checked.discard(uuid)


class _Handler(ExtensionManager.Iface):
    """Thrift handler for the manager socket."""

    def __init__(self, host: Host):
        self.host = host

    def ping(self):
        return ExtensionStatus(code=EXT_SUCCESS, message="pong", uuid=0)

    def call(self, registry, item, request):
        request = dict(request or {})
        try:
            rows = self._call(registry, item, request)
        except TableError as exc:
            return ExtensionResponse(ExtensionStatus(EXT_FAILED, str(exc), 0), [])
        return ExtensionResponse(ExtensionStatus(EXT_SUCCESS, "OK", 0), rows)

    def _call(self, registry, item, request) -> list[dict[str, str]]:
        action = request.get("action", "")
        if registry == "table":
            for table in self.host._core_tables:
                if table.name == item:
                    if action == "columns":
                        return table.columns()
                    if action == "generate":
                        return table.generate(request)
            owner = self.host.registry.items("table").get(item)
            if owner is not None:  # another extension's table: forward the call
                return calls.call_extension(self.host.extension_socket(owner), registry, item,
                                            request, self.host._thrift_timeout())
            raise TableError("Cannot call registry item: " + item)
        if registry == "config":
            if action == "option":
                name = request.get("name")
                if name is None:
                    raise TableError("Missing option name")
                flags = self.host.flags.snapshot()
                value = flags[name].value if name in flags else ""
                return [{"name": name, "value": value}]
            if action == "genConfig":
                return [{}]
            raise TableError("Config plugin action unknown: " + action)
        raise TableError("Cannot call registry item: " + item)

    def shutdown(self):
        return None  # "does not apply to managers"

    def extensions(self):
        return {uuid: InternalExtensionInfo(info.name, info.version, info.sdk_version,
                                            info.min_sdk_version)
                for uuid, info in self.host.extensions().items()}

    def options(self):
        return {name: InternalOptionInfo(flag.value, flag.default_value, flag.type)
                for name, flag in self.host.flags.snapshot().items()}

    def registerExtension(self, info, registry):  # noqa: N802
        info = info or InternalExtensionInfo()
        try:
            uuid = self.host.registry.register(info, registry)
        except RegistrationError as exc:
            log.error("Could not add extension %s: %s", info.name, exc)
            return ExtensionStatus(code=EXT_FAILED, message=str(exc), uuid=0)
        log.info("Registering extension (%s, %d, version=%s, sdk=%s)",
                 info.name, uuid, info.version, info.sdk_version)
        return ExtensionStatus(code=EXT_SUCCESS, message="OK", uuid=uuid)

    def deregisterExtension(self, uuid):  # noqa: N802
        if not self.host.deregister(uuid):
            return ExtensionStatus(code=EXT_FAILED, message="No extension UUID found", uuid=0)
        return ExtensionStatus(code=EXT_SUCCESS, message="OK", uuid=0)

    def query(self, sql):
        try:
            rows = self.host.database.query(sql or "")
        except Exception as exc:
            return ExtensionResponse(ExtensionStatus(EXT_FAILED, _message(exc), 0), [])
        return ExtensionResponse(ExtensionStatus(EXT_SUCCESS, "OK", 0), rows)

    def getQueryColumns(self, sql):  # noqa: N802
        try:
            columns = self.host.database.query_columns(sql or "")
        except Exception as exc:
            return ExtensionResponse(ExtensionStatus(EXT_FAILED, _message(exc), 0), [])
        return ExtensionResponse(ExtensionStatus(EXT_SUCCESS, "OK", 0),
                                 [{name: ctype} for name, ctype in columns])


def _message(exc: Exception) -> str:
    # apsw messages read "SQLError: no such table: x"; SQLite's own text is
    # the part after the class name.
    text = str(exc)
    prefix = type(exc).__name__ + ": "
    return text[len(prefix):] if text.startswith(prefix) else text


class _Server:
    """Threaded thrift server on a UNIX socket that can be stopped."""

    def __init__(self, path: str, processor):
        self.path = path
        self.processor = processor
        self._listener: socket.socket | None = None
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._serve, name="osq-host-server", daemon=True)
        self._stopped = False

    def start(self) -> None:
        # Stale sockets are removed before serving (removeStalePaths).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.path)
        listener.listen(128)
        self._listener = listener
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            clients = list(self._clients)
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # listener closed
            with self._lock:
                if self._stopped:
                    conn.close()
                    return
                self._clients.add(conn)
            threading.Thread(target=self._handle, args=(conn,), daemon=True,
                             name="osq-host-conn").start()

    def _handle(self, conn: socket.socket) -> None:
        sock = TSocket.TSocket()
        sock.setHandle(conn)
        itrans = TTransport.TBufferedTransport(sock)
        otrans = TTransport.TBufferedTransport(sock)
        iprot, oprot = FastBinaryProtocol(itrans), FastBinaryProtocol(otrans)
        try:
            while True:
                self.processor.process(iprot, oprot)
        except TTransport.TTransportException:
            pass  # client hung up
        except Exception:
            log.exception("manager connection failed")
        finally:
            with self._lock:
                self._clients.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

