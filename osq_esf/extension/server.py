"""The osquery side: register with the extension manager and serve Extension calls.

Wire format is osquery's (`osquery/extensions/impl_thrift.cpp`): UNIX socket, buffered (not
framed) transport, strict binary protocol.  The server is threaded like osquery's
own TThreadedServer, one thread per connection, so a ping is never queued behind a
long generate.  ``generate`` replies are written with the direct encoder; ping,
shutdown and anything unusual go through the generated thrift code.

Any local process that can open the socket is a client, so every resource is bounded
(docs/reliability.md, "Limits"): the socket is 0600; a connection that sends nothing
for ``io_timeout`` or does not read its reply is closed; at most ``max_connections``
are open (a new one closes the longest-idle one, so a ping always gets through); at
most ``max_calls`` replies are built and sent at once, which bounds the memory held
by unsent replies, and at most ``max_waiting`` calls wait for them (the rest are
answered "busy" at once), so busy connections never fill the cap; running out of
file descriptors is logged and waited out, never fatal.  A connection counts as idle
(closable by the cap) whenever it waits on its client for a request, even one that
has sent half of it.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import socket
import stat
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

# osquery opens a fresh connection per ping and per call and reads replies at once, so
# these only ever bite clients that are not osquery (osquery core: extensionPathActive, callExtension).
IO_TIMEOUT = 30.0  # seconds a connection may send nothing, or a reply chunk may wait to be read
MAX_CONNECTIONS = 64  # open connections (threads); past it the longest-idle one is closed
MAX_CALLS = 4  # replies built and being sent at once: bounds the memory of unsent replies
# Each call slot keeps one buffer the compiled encoder writes chunks into (a fresh multi-MB
# bytes per chunk cost page faults: ~2.4x the encoding time of a 10k-row reply); one that grew
# past this (a chunk of very wide rows) is let go after its reply.
REPLY_BUFFER_KEEP = 8 << 20
CALL_WAIT = 60.0  # seconds a call waits for one of those slots before it fails with "busy"
ADMIT_WAIT = 1.0  # seconds a new connection waits, at the cap, for one it may close
MAX_REQUEST_ENTRIES = 1024  # entries in a request's map (osquery sends two or three)
BACKLOG = 1024  # connections the kernel queues for accept (it may allow fewer: somaxconn)
_FD_ERRORS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


class _ReadWhole:
    """An input protocol that calls ``done`` once the request has been read to its end."""

    def __init__(self, prot, done):
        self._prot, self._done = prot, done

    def __getattr__(self, name):
        return getattr(self._prot, name)

    def readMessageEnd(self):
        self._prot.readMessageEnd()
        self._done()


class RegistrationError(RuntimeError):
    """The manager refused us or could not be reached."""


class SocketPathError(RuntimeError):
    """Something that is not our stale socket sits where our socket must be."""


class _Limit:
    """Logs that a limit was hit: once when it starts, then at most every ``every`` seconds."""

    def __init__(self, what: str, every: float = 60.0):
        self.what, self.every, self.last, self.hits = what, every, 0.0, 0

    def hit(self, detail: str = "") -> None:
        self.hits += 1
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            log.warning("%s%s (%d times so far)", self.what, f": {detail}" if detail else "", self.hits)


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

    def __init__(self, tables, name: str = "osq_esf", version: str = "0", io_timeout: float = IO_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS, max_calls: int = MAX_CALLS, call_wait: float = CALL_WAIT,
                 max_waiting: int | None = None):
        self.tables = {t.name: t for t in tables}
        self.io_timeout = io_timeout
        self.max_connections = max_connections
        self.call_wait = call_wait
        self._calls = threading.BoundedSemaphore(max_calls)
        self._buffers = [bytearray() for _ in range(max_calls)]  # one per call slot
        self._buffers_lock = threading.Lock()
        if max_waiting is None:  # calls waiting for a slot: with the slots, at most half the cap is
            max_waiting = max(1, max_connections // 2 - max_calls)  # busy, and a ping finds one to close
        self._waiting = threading.BoundedSemaphore(max_waiting)
        self._conns: dict[socket.socket, list] = {}  # connection -> [idle since (monotonic) or None when busy]
        self._conns_lock = threading.Lock()
        self.limits = {k: _Limit(w) for k, w in (
            ("connections", f"connection limit ({max_connections}) reached: closed the longest-idle connection"),
            ("refused", f"connection limit ({max_connections}) reached with every connection busy for "
                        f"{ADMIT_WAIT:.0f} s: refused one"),
            ("calls", f"{max_calls} replies in progress: a call waited for a slot"),
            ("busy", f"a call waited {call_wait:.0f} s for a reply slot, or {max_waiting} calls already waited: "
                     "answered 'busy'"),
            ("timeout", f"closed a connection idle or not reading for {io_timeout:.0f} s"),
            ("fds", "out of file descriptors: accepting paused, the longest-idle connection closed"),
        )}
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
        """Register with the manager, retrying until ``timeout`` (as the SDKs do): while its socket
        is not there yet, and when it hangs up mid-call (an osquery stopping or crashing)."""
        deadline = time.monotonic() + max(timeout, 0.2)
        info = InternalExtensionInfo(name=self.name, version=self.version, sdk_version=SDK_VERSION,
                                     min_sdk_version=MIN_SDK_VERSION)
        registry = {"table": {t.name: t.routes() for t in self.tables.values()}}
        while True:
            try:
                client, trans = manager_client(manager_path, max(timeout, 1.0))
                try:
                    status = client.registerExtension(info, registry)
                    live = _live_uuids(client) if status.code == EXT_SUCCESS else set()
                finally:
                    trans.close()
                break
            except Exception as e:  # socket not there yet, or the manager went away mid-call
                if time.monotonic() >= deadline:
                    raise RegistrationError(f"cannot register with the extension manager at {manager_path}: "
                                            f"{type(e).__name__}: {e}") from None
                time.sleep(0.2)
        if status.code != EXT_SUCCESS:
            raise RegistrationError(f"the extension manager refused registration: {status.message}")
        self.uuid = status.uuid
        self.manager_path = manager_path
        self.socket_path = f"{manager_path}.{self.uuid}"
        if live is not None:  # only when the manager said which extensions are alive
            for path in remove_stale_sockets(manager_path, live | {self.uuid}):
                log.info("removed the stale extension socket %s (left by a killed process)", path)
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
        """Bind ``<manager socket>.<uuid>`` (mode 0600 whatever the umask) and accept on a thread."""
        prepare_socket_path(self.socket_path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket is born 0600: no window where others may connect
        try:
            s.bind(self.socket_path)
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)
        # A burst of connections waits here while accept catches up: osquery connects without
        # blocking, and a full backlog would fail its ping at once (the kernel caps the number).
        s.listen(BACKLOG)
        self._listener = s
        threading.Thread(target=self._accept_loop, name="ext-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        # This thread's own listener and event: rearm() replaces both (standalone re-registration)
        # while the old loop may still be between accept() and its check.
        listener, stopped = self._listener, self.stopped
        while not stopped.is_set():
            try:
                conn, _ = listener.accept()
            except OSError as e:
                if stopped.is_set() or e.errno not in _FD_ERRORS:
                    return
                # Out of descriptors: free one and wait; never give up serving (issue 10).
                self.limits["fds"].hit(os.strerror(e.errno))
                self._evict_idle()
                time.sleep(0.05)
                continue
            self._admit(conn)

    def _admit(self, conn: socket.socket) -> None:
        # At the cap with nothing to close (every connection busy, or its request not read yet, as
        # in a burst), wait a moment for one to become idle or end; others queue in the backlog.
        deadline = time.monotonic() + ADMIT_WAIT
        while True:
            with self._conns_lock:
                if len(self._conns) < self.max_connections or self._evict_idle_locked():
                    self._conns[conn] = [time.monotonic()]
                    break
            if time.monotonic() >= deadline or self.stopped.is_set():
                self.limits["refused"].hit()
                conn.close()
                return
            time.sleep(0.005)
        conn.settimeout(self.io_timeout)
        try:
            threading.Thread(target=self._serve, args=(conn,), name="ext-conn", daemon=True).start()
        except RuntimeError:  # no thread could be started: the connection is dropped, we go on
            self._forget(conn)
            conn.close()

    def _evict_idle(self) -> bool:
        with self._conns_lock:
            return self._evict_idle_locked()

    def _evict_idle_locked(self) -> bool:
        """Close the connection that has waited longest for a request; False when all are busy.

        One whose request already waits in its socket (its thread not scheduled yet, as in a
        burst of connections) is not idle: it is about to be served, and may be osquery's ping."""
        idle = sorted((since[0], id(c), c) for c, since in self._conns.items() if since[0] is not None)
        victim = next((c for _, _, c in idle if not _has_input(c)), None)
        if victim is None:
            return False
        self._conns.pop(victim, None)
        try:
            victim.shutdown(socket.SHUT_RDWR)  # its thread's read fails now and it closes it
        except OSError:
            pass
        self.limits["connections"].hit()
        return True

    def _forget(self, conn: socket.socket) -> None:
        with self._conns_lock:
            self._conns.pop(conn, None)

    def _mark(self, conn: socket.socket, idle: bool) -> None:
        with self._conns_lock:
            state = self._conns.get(conn)
            if state is not None:
                state[0] = time.monotonic() if idle else None

    def connection_count(self) -> int:
        with self._conns_lock:
            return len(self._conns)

    def _serve(self, conn: socket.socket) -> None:
        sock = TSocket.TSocket()
        sock.handle = conn
        trans = TTransport.TBufferedTransport(sock, rbuf_size=65536)
        # A request's map holds a handful of keys (action, context); a client streaming millions
        # of entries would otherwise grow this thread's memory until the io timeout.
        prot = TBinaryProtocol.TBinaryProtocolAccelerated(trans, container_length_limit=MAX_REQUEST_ENTRIES)
        try:
            while not self.stopped.is_set():
                self._mark(conn, idle=True)
                try:
                    name, _mtype, seqid = prot.readMessageBegin()
                except TTransport.TTransportException as e:
                    if e.type == TTransport.TTransportException.TIMED_OUT:
                        self.limits["timeout"].hit()
                    return  # peer closed, timed out, or evicted
                except (EOFError, OSError):
                    return
                if name == "call":
                    args = Extension.call_args()
                    args.read(prot)
                    prot.readMessageEnd()
                    # Busy only now: until the whole request is in, the connection waits on its
                    # client like an idle one, and the cap may close it.
                    self._mark(conn, idle=False)
                    if not self._send_call(conn, trans, seqid, args):
                        return
                elif name in self._processor._processMap:  # ping, shutdown: busy once read whole
                    request = _ReadWhole(prot, lambda: self._mark(conn, idle=False))
                    self._processor._processMap[name](self._processor, seqid, request, prot)
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
            if isinstance(e, socket.timeout) or "timed out" in str(e):
                self.limits["timeout"].hit()
            log.debug("connection ended: %s", e)
        finally:
            self._forget(conn)
            try:
                conn.close()
            except OSError:
                pass

    def _send_call(self, conn: socket.socket, trans, seqid: int, args) -> bool:
        """Build and send one call's reply inside a reply slot; False when the connection must close."""
        if not self._calls.acquire(blocking=False):
            self.limits["calls"].hit()
            got = False
            if self._waiting.acquire(blocking=False):  # else too many wait already: busy at once
                try:
                    got = self._calls.acquire(timeout=self.call_wait)
                finally:
                    self._waiting.release()
            if not got:
                self.limits["busy"].hit()
                busy = "osq_esf is busy: every reply slot is taken and calls are waiting for them; try again"
                for p in self._status(seqid, EXT_FAILED, busy):  # a few bytes, built without a slot
                    conn.sendall(p)
                return True
        with self._buffers_lock:
            buf = self._buffers.pop()
        sent = False
        try:
            pieces = self.reply(seqid, args.registry, args.item, args.request or {}, buf)
            trans.flush()
            for p in pieces:
                conn.sendall(p)  # times out (closing the connection) for a client that does not read
            sent = True
            return True
        except OSError:
            raise
        except Exception:  # a lazily encoded chunk failed: the reply is torn, so close
            log.exception("encoding rows of %s failed mid-reply; closing the connection", args.item)
            return False
        finally:
            # A reply cut short may still hold a view of the buffer: the slot gets a new one.
            keep = sent and len(buf) <= REPLY_BUFFER_KEEP
            with self._buffers_lock:
                self._buffers.append(buf if keep else bytearray())
            self._calls.release()

    def reply(self, seqid: int, registry: str, item: str, request: dict,
              buffer: bytearray | None = None) -> Iterable[bytes]:
        """The encoded reply to ``call``, as pieces to send in order: always a status, never an exception.

        A generate's row chunks are encoded lazily while sending; should one fail (a bug,
        not bad input), the connection is closed and osquery sees a failed call.
        """

        def status(code, message, rows=()):
            return self._status(seqid, code, message, rows)

        if registry != "table":
            return status(EXT_FAILED, f"osq_esf serves only the table registry, not {registry!r}")
        table = self.tables.get(item)
        if table is None:
            return status(EXT_FAILED, f"unknown table {item!r}")
        action = request.get("action", "")
        try:
            if action == "generate":
                # The constraint context is parsed once, here; tables get the typed plan.
                plan = plan_from_context(request.get("context", ""))
                plan.out = buffer  # chunks are written into the call slot's buffer (views valid until the next)
                count, chunks = table.generate(plan)
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

    def _status(self, seqid: int, code: int, message: str, rows=()):
        rows = list(rows)
        return reply_call(seqid, code, message, self.uuid, len(rows), encode_dict_rows(rows))

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
                if _out_of_fds(e):  # our own shortage, not osquery's absence: keep everything, try again
                    self.limits["fds"].hit("pinging osquery")
                    continue
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


def _has_input(conn: socket.socket) -> bool:
    """Whether ``conn`` has bytes (or its end) waiting to be read, without reading them."""
    try:
        poller = select.poll()
        poller.register(conn, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return False


def _live_uuids(client) -> set | None:
    try:
        return set(client.extensions() or {})
    except Exception:
        return None


def _out_of_fds(e: BaseException) -> bool:
    while e is not None:
        if isinstance(e, OSError) and e.errno in _FD_ERRORS:
            return True
        inner = getattr(e, "inner", None)  # thrift wraps the socket error
        e = inner if isinstance(inner, BaseException) else e.__cause__ or e.__context__
    return False


def prepare_socket_path(path: str) -> None:
    """Make ``path`` free for our socket: nothing there, or a stale socket of ours (removed).

    Anything else is refused with SocketPathError: a directory or a file, a socket owned
    by another user, or a socket someone still listens on.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    what = ("a directory" if stat.S_ISDIR(st.st_mode) else "a symbolic link" if stat.S_ISLNK(st.st_mode)
            else None if stat.S_ISSOCK(st.st_mode) else "a file that is not a socket")
    if what is None and st.st_uid not in (0, os.geteuid()):
        what = f"a socket owned by uid {st.st_uid}"
    if what is None and _listening(path):
        what = "a socket another process is listening on"
    if what is not None:
        raise SocketPathError(f"cannot serve on {path}: {what} is there; remove it or check what put it there")
    os.unlink(path)


def _listening(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
        return True
    except OSError:
        return False
    finally:
        probe.close()


def remove_stale_sockets(manager_path: str, live_uuids) -> list[str]:
    """Remove ``<manager>.<uuid>`` sockets of ours that no registered extension owns and no
    process listens on: what a kill -9 leaves behind.  Returns the paths removed."""
    directory, base = os.path.split(manager_path)
    removed = []
    try:
        names = os.listdir(directory or ".")
    except OSError:
        return removed
    live = {str(u) for u in live_uuids}
    for name in names:
        suffix = name[len(base) + 1:] if name.startswith(base + ".") else ""
        if not suffix.isdigit() or suffix in live:
            continue
        path = os.path.join(directory, name)
        try:
            st = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISSOCK(st.st_mode) and st.st_uid == os.geteuid() and not _listening(path):
            try:
                os.unlink(path)
                removed.append(path)
            except OSError:
                pass
    return removed
