"""The osquery side: register with the extension manager and serve Extension calls.

Wire format is osquery's (osquery-extensions.md §2.4): UNIX socket, buffered (not
framed) transport, strict binary protocol.  The server is threaded like osquery's
own TThreadedServer, one thread per connection, so a ping is never queued behind a
long generate.  ``generate`` replies are written with the direct encoder; ping,
shutdown and anything unusual go through the generated thrift code.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from itertools import chain
from typing import Iterable

from osquery.extensions import Extension, ExtensionManager
from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus, InternalExtensionInfo
from thrift.protocol import TBinaryProtocol

import osq_esf.thrift_compat  # noqa: F401  (accelerated protocol on osquery-python code)
from thrift.Thrift import TApplicationException, TMessageType, TType
from thrift.transport import TSocket, TTransport

from osq_esf.extension.constraints import plan_from_context
from osq_esf.extension.encode import encode_dict_rows, reply_call

log = logging.getLogger(__name__)

EXT_SUCCESS, EXT_FAILED = 0, 1
SDK_VERSION = "5.0.0"  # what we speak: osquery's IDL as of 5.x
MIN_SDK_VERSION = "1.7.7"


class RegistrationError(RuntimeError):
    """The manager refused us or could not be reached."""


def manager_client(path: str, timeout: float):
    """A connected ExtensionManager client and its transport."""
    sock = TSocket.TSocket(unix_socket=path)
    sock.setTimeout(int(timeout * 1000))
    trans = TTransport.TBufferedTransport(sock)
    prot = TBinaryProtocol.TBinaryProtocolAccelerated(trans)
    trans.open()
    return ExtensionManager.Client(prot), trans


class _Handler:
    """ping and shutdown for the generated processor; calls are answered in :meth:`reply`."""

    def __init__(self, server: "ExtensionServer"):
        self.server = server

    def ping(self):
        return ExtensionStatus(code=EXT_SUCCESS, message="pong", uuid=self.server.uuid)

    def shutdown(self):
        log.info("the extension manager asked us to shut down")
        # Stopping now would race the reply; the connection thread stops after sending it.
        self.server.shutdown_requested = True

    def call(self, registry, item, request):  # only reached if dispatch falls through
        return ExtensionResponse(status=ExtensionStatus(code=EXT_FAILED, message="unsupported"), response=[])


class ExtensionServer:
    """Registers ``tables`` (osq_esf.extension.tables.Table: name, routes(), generate(plan)) and serves them."""

    def __init__(self, tables, name: str = "osq_esf", version: str = "0"):
        self.tables = {t.name: t for t in tables}
        self.name = name
        self.version = version
        self.uuid = 0
        self.socket_path = ""
        self.stopped = threading.Event()
        self.stop_reason = ""
        self.shutdown_requested = False
        self._stop_lock = threading.Lock()
        self._stopping = False
        self.manager_lost = False  # osquery went away (as opposed to: we were told to stop)
        self._listener: socket.socket | None = None
        self._processor = Extension.Processor(_Handler(self))

    # -- registration -------------------------------------------------------------------

    def register(self, manager_path: str, timeout: float) -> int:
        """Register with the manager, retrying until ``timeout`` (as the SDKs do)."""
        deadline = time.monotonic() + max(timeout, 0.2)
        last = None
        while True:
            try:
                client, trans = manager_client(manager_path, max(timeout, 1.0))
                break
            except Exception as e:  # socket not there yet
                last = e
                if time.monotonic() >= deadline:
                    raise RegistrationError(f"cannot reach the extension manager at {manager_path}: {last}") from None
                time.sleep(0.2)
        try:
            info = InternalExtensionInfo(name=self.name, version=self.version, sdk_version=SDK_VERSION,
                                         min_sdk_version=MIN_SDK_VERSION)
            registry = {"table": {t.name: t.routes() for t in self.tables.values()}}
            status = client.registerExtension(info, registry)
        finally:
            trans.close()
        if status.code != EXT_SUCCESS:
            raise RegistrationError(f"the extension manager refused registration: {status.message}")
        self.uuid = status.uuid
        self.manager_path = manager_path
        self.socket_path = f"{manager_path}.{self.uuid}"
        return self.uuid

    def deregister(self) -> None:
        try:
            client, trans = manager_client(self.manager_path, 1.0)
            try:
                client.deregisterExtension(self.uuid)
            finally:
                trans.close()
        except Exception:
            pass  # the manager is gone already

    # -- serving ----------------------------------------------------------------------

    def listen(self) -> None:
        """Bind ``<manager socket>.<uuid>`` and accept connections on a thread."""
        try:
            os.unlink(self.socket_path)
        except FileNotFoundError:
            pass
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(self.socket_path)
        s.listen(64)
        self._listener = s
        threading.Thread(target=self._accept_loop, name="ext-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), name="ext-conn", daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        sock = TSocket.TSocket()
        sock.handle = conn
        trans = TTransport.TBufferedTransport(sock, rbuf_size=65536)
        prot = TBinaryProtocol.TBinaryProtocolAccelerated(trans)
        try:
            while not self.stopped.is_set():
                try:
                    name, _mtype, seqid = prot.readMessageBegin()
                except (TTransport.TTransportException, EOFError, OSError):
                    return  # peer closed
                if name == "call":
                    args = Extension.call_args()
                    args.read(prot)
                    prot.readMessageEnd()
                    pieces = self.reply(seqid, args.registry, args.item, args.request or {})
                    trans.flush()
                    try:
                        for p in pieces:
                            conn.sendall(p)
                    except OSError:
                        raise
                    except Exception:  # a lazily encoded chunk failed: the reply is torn, so close
                        log.exception("encoding rows of %s failed mid-reply; closing the connection", args.item)
                        return
                elif name in self._processor._processMap:
                    self._processor._processMap[name](self._processor, seqid, prot, prot)
                    if self.shutdown_requested:
                        self.stop("shutdown requested by osquery")
                else:
                    prot.skip(TType.STRUCT)
                    prot.readMessageEnd()
                    x = TApplicationException(TApplicationException.UNKNOWN_METHOD, f"Unknown function {name}")
                    prot.writeMessageBegin(name, TMessageType.EXCEPTION, seqid)
                    x.write(prot)
                    prot.writeMessageEnd()
                    trans.flush()
        except Exception as e:  # a broken client must not hurt the others
            log.debug("connection ended: %s", e)
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def reply(self, seqid: int, registry: str, item: str, request: dict) -> Iterable[bytes]:
        """The encoded reply to ``call``, as pieces to send in order: always a status, never an exception.

        A generate's row chunks are encoded lazily while sending; should one fail (a bug,
        not bad input), the connection is closed and osquery sees a failed call.
        """

        def status(code, message, rows=()):
            rows = list(rows)
            return reply_call(seqid, code, message, self.uuid, len(rows), encode_dict_rows(rows))

        if registry != "table":
            return status(EXT_FAILED, f"osq_esf serves only the table registry, not {registry!r}")
        table = self.tables.get(item)
        if table is None:
            return status(EXT_FAILED, f"unknown table {item!r}")
        action = request.get("action", "")
        try:
            if action == "generate":
                # The constraint context is parsed once, here; tables get the typed plan.
                count, chunks = table.generate(plan_from_context(request.get("context", "")))
                # Rows are encoded chunk by chunk while earlier chunks are being sent.
                head, _, tail = reply_call(seqid, EXT_SUCCESS, "OK", self.uuid, count, b"")
                return chain((head,), chunks, (tail,))
            if action == "columns":
                return status(EXT_SUCCESS, "OK", table.routes())
            if action in ("insert", "update", "delete"):
                return status(EXT_SUCCESS, "OK", [{"status": "readonly"}])
            return status(EXT_FAILED, f"unknown action {action!r}")
        except Exception as e:
            log.exception("%s on %s failed", action, item)
            return status(EXT_FAILED, f"{action} failed: {type(e).__name__}: {e}")

    # -- liveness ---------------------------------------------------------------------

    def watch_manager(self, interval: float) -> None:
        """Ping the manager every ``interval``; stop when it is gone or has dropped us.

        Checking our uuid in ``extensions()`` follows the C++ SDK (osquery PR #6374): a
        restarted osquery answers pings while no longer knowing us.
        """
        interval = max(interval, 0.2)
        while not self.stopped.wait(interval):
            try:
                client, trans = manager_client(self.manager_path, max(interval, 1.0) * 3)
                try:
                    st = client.ping()
                    known = client.extensions()
                finally:
                    trans.close()
            except Exception as e:
                self.stop(f"osquery went away ({type(e).__name__})", manager_lost=True)
                return
            if st.code == EXT_FAILED:
                self.stop("osquery's ping failed", manager_lost=True)
                return
            if self.uuid not in known:
                self.stop("osquery no longer lists this extension", manager_lost=True)
                return

    def rearm(self) -> None:
        """Make a stopped server ready to register again (standalone mode, after osquery restarts)."""
        self.stopped = threading.Event()
        self._stopping = False
        self.stop_reason = ""
        self.manager_lost = False
        self.shutdown_requested = False
        self._listener = None
        self.uuid = 0

    def stop(self, reason: str, manager_lost: bool = False) -> None:
        """Close the listener, remove the socket, then signal ``stopped``.

        ``stopped`` is set last: the main thread exits as soon as it sees it, and the
        socket file must be gone by then.
        """
        with self._stop_lock:
            if self._stopping:
                return
            self._stopping = True
            self.stop_reason = reason
            self.manager_lost = manager_lost
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes a blocked accept() on Linux
            except OSError:
                pass
            try:
                self._listener.close()
            except OSError:
                pass
        try:
            os.unlink(self.socket_path)
        except OSError:
            pass
        self.stopped.set()
