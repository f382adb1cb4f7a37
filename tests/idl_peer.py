"""A minimal osquery peer written from the thrift IDL alone (not the project's host).

It plays osquery's part as tests need it: an ExtensionManager that accepts
registrations and answers pings, and a client that calls an extension's
``<socket>.<uuid>`` exactly as osquery core does (fresh connection, buffered
transport, binary protocol).  Deliberately independent of osq_esf.host.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading

from osquery.extensions import Extension, ExtensionManager
from osquery.extensions.ttypes import ExtensionResponse, ExtensionStatus, InternalExtensionInfo
from thrift.protocol import TBinaryProtocol
from thrift.transport import TSocket, TTransport


class ManagerHandler:
    def __init__(self):
        # Named apart from the service methods extensions()/options() they back.
        self.infos: dict[int, InternalExtensionInfo] = {}
        self.registries: dict[int, dict] = {}
        self.option_values: dict = {}
        self.next_uuid = 1000
        self.registered = threading.Event()
        self.lock = threading.Lock()

    def ping(self):
        return ExtensionStatus(code=0, message="pong", uuid=0)

    def call(self, registry, item, request):
        return ExtensionResponse(status=ExtensionStatus(code=1, message="no core plugins"), response=[])

    def shutdown(self):
        pass

    def extensions(self):
        return dict(self.infos)

    def options(self):
        return dict(self.option_values)

    def registerExtension(self, info, registry):
        with self.lock:
            self.next_uuid += 1
            uuid = self.next_uuid
            self.infos[uuid] = info
            self.registries[uuid] = registry
        self.registered.set()
        return ExtensionStatus(code=0, message="OK", uuid=uuid)

    def deregisterExtension(self, uuid):
        self.infos.pop(uuid, None)
        return ExtensionStatus(code=0, message="OK", uuid=uuid)

    def query(self, sql):
        return ExtensionResponse(status=ExtensionStatus(code=1, message="no SQL here"), response=[])

    def getQueryColumns(self, sql):
        return self.query(sql)


class IdlManager:
    """A threaded ExtensionManager on a UNIX socket (one thread per connection, like osquery).

    Its own accept loop instead of TThreadedServer.serve: that one logs and retries
    forever once the listener is closed, which left a thread spinning on a closed
    socket after every test (180k exceptions in 2 s).  Here ``stop`` closes the
    listener and every open connection, and joins the threads.
    """

    def __init__(self, path: str):
        self.path = path
        self.handler = ManagerHandler()
        self.processor = ExtensionManager.Processor(self.handler)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self.thread = threading.Thread(target=self._serve, name="idl-manager", daemon=True)

    def _serve(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                if self._stopping.is_set():
                    conn.close()
                    return
                self._conns.add(conn)
                t = threading.Thread(target=self._handle, args=(conn,), name="idl-manager-conn", daemon=True)
                self._threads = [x for x in self._threads if x.is_alive()] + [t]
            t.start()

    def _handle(self, conn: socket.socket):
        sock = TSocket.TSocket()
        sock.handle = conn
        trans = TTransport.TBufferedTransport(sock)
        prot = TBinaryProtocol.TBinaryProtocol(trans)
        try:
            while not self._stopping.is_set():
                self.processor.process(prot, prot)
        except Exception:
            pass  # the client closed, or stop() did
        finally:
            with self._lock:
                self._conns.discard(conn)
            conn.close()

    def start(self):
        self._listener.bind(self.path)
        self._listener.listen(64)
        self.thread.start()
        return self

    def stop(self):
        self._stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes accept() on Linux
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            conns, threads = list(self._conns), list(self._threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in [self.thread, *threads]:
            if t.is_alive() and t is not threading.current_thread():
                t.join(10)
        try:
            os.unlink(self.path)
        except OSError:
            pass


def extension_client(path: str, timeout: float = 30.0):
    sock = TSocket.TSocket(unix_socket=path)
    sock.setTimeout(int(timeout * 1000))
    trans = TTransport.TBufferedTransport(sock)
    trans.open()
    return Extension.Client(TBinaryProtocol.TBinaryProtocol(trans)), trans


def call(path: str, table: str, request: dict, timeout: float = 30.0):
    """One call on a fresh connection, as osquery core makes it."""
    client, trans = extension_client(path, timeout)
    try:
        return client.call("table", table, request)
    finally:
        trans.close()


def ping(path: str, timeout: float = 10.0):
    client, trans = extension_client(path, timeout)
    try:
        return client.ping()
    finally:
        trans.close()


def stop_child(proc: subprocess.Popen, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaped (no zombie)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
