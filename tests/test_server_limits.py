"""The extension socket's limits (issue 10, items 2 and 14), on an in-process server over a
real UNIX socket: mode 0600, what may sit at the socket path, idle and non-reading
clients, the connection cap (pings always served), reply slots, and fd exhaustion.

No timed assertions: small limits make each one bite at once, and the tests wait (with
generous bounds) for what must happen."""

from __future__ import annotations

import errno
import os
import socket
import threading
import time

import pytest

from osq_esf.extension import server as server_mod
from osq_esf.extension.server import ExtensionServer, SocketPathError, prepare_socket_path, remove_stale_sockets
from tests.idl_peer import call, ping


class BigTable:
    """A table whose rows are as many and as long as asked; ``gate`` holds generate until set."""

    name = "t_big"

    def __init__(self, rows: int = 10, width: int = 10):
        self.rows, self.width = rows, width
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()

    def routes(self):
        return [{"id": "column", "name": "v", "type": "TEXT", "op": "0"}]

    def generate(self, plan):
        """The Table protocol: (count, encoded chunks)."""
        from osq_esf.extension.encode import encode_dict_rows

        self.entered.set()
        self.gate.wait(30)
        rows = [{"v": "x" * self.width} for _ in range(self.rows)]
        return len(rows), (encode_dict_rows(rows),)


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def serve(tmp_path):
    made = []

    def make(table=None, **limits) -> ExtensionServer:
        srv = ExtensionServer([table or BigTable()], **limits)
        srv.socket_path = str(tmp_path / f"em.{len(made) + 1}")
        srv.uuid = len(made) + 1
        srv.listen()
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop("test over")


def closed_by_peer(conn: socket.socket, timeout: float = 15.0) -> bool:
    conn.settimeout(timeout)
    try:
        return conn.recv(1) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def connect(path: str) -> socket.socket:
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    c.connect(path)
    return c


# -- the socket file ----------------------------------------------------------------------

def test_socket_is_0600_whatever_the_umask(serve):
    old = os.umask(0)
    try:
        srv = serve()
    finally:
        os.umask(old)
    assert os.stat(srv.socket_path).st_mode & 0o777 == 0o600


@pytest.mark.parametrize("what", ["directory", "file"])
def test_something_else_at_the_socket_path_is_refused(tmp_path, what):
    path = tmp_path / "em.5"
    path.mkdir() if what == "directory" else path.write_text("not a socket")
    with pytest.raises(SocketPathError, match=f"cannot serve on {path}"):
        prepare_socket_path(str(path))
    assert path.exists()  # never removed


def test_a_socket_someone_listens_on_is_refused_and_a_stale_one_removed(tmp_path):
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    live.bind(str(tmp_path / "em.7"))
    live.listen(1)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(tmp_path / "em.8"))
    stale.close()  # what kill -9 leaves: the file, nobody listening
    try:
        with pytest.raises(SocketPathError, match="listening"):
            prepare_socket_path(str(tmp_path / "em.7"))
        prepare_socket_path(str(tmp_path / "em.8"))
        assert not (tmp_path / "em.8").exists()
    finally:
        live.close()


def test_stale_sockets_of_dead_extensions_are_removed_at_registration(tmp_path):
    socks = {}
    for uuid in (3, 4, 5):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(str(tmp_path / f"em.{uuid}"))
        socks[uuid] = s
    socks[5].listen(1)  # alive though unregistered: kept
    socks[3].close()  # stale and unregistered: removed
    socks[4].close()  # stale but osquery still lists it: kept
    (tmp_path / "em.6").write_text("a file")  # not a socket: kept
    try:
        removed = remove_stale_sockets(str(tmp_path / "em"), {4})
        assert removed == [str(tmp_path / "em.3")]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["em.4", "em.5", "em.6"]
    finally:
        socks[5].close()


def test_registered_but_unable_to_serve_deregisters_and_exits_cleanly(tmp_path):
    """A directory at <manager>.<uuid>: refused with a clear error, deregistered, no traceback."""
    import subprocess
    import sys

    from tests.idl_peer import IdlManager

    manager = IdlManager(str(tmp_path / "em")).start()
    try:
        (tmp_path / "em.1001").mkdir()  # the uuid the peer hands out first
        r = subprocess.run([sys.executable, "-m", "osq_esf", "run", "--socket", str(tmp_path / "em"),
                            "--timeout", "5", "--source", "replay:/dev/null"], capture_output=True, timeout=60)
        err = r.stderr.decode()
        assert r.returncode == 1 and "a directory is there" in err and "Traceback" not in err
        assert manager.handler.infos == {}  # deregistered
    finally:
        manager.stop()


# -- connections --------------------------------------------------------------------------

def test_an_idle_connection_is_closed_after_the_io_timeout(serve):
    srv = serve(io_timeout=0.3)
    c = connect(srv.socket_path)
    try:
        assert closed_by_peer(c)
        assert wait_for(lambda: srv.connection_count() == 0)
        assert srv.limits["timeout"].hits >= 1
    finally:
        c.close()


def test_the_connection_cap_closes_the_longest_idle_and_pings_get_through(serve):
    srv = serve(max_connections=4)
    idle = [connect(srv.socket_path) for _ in range(10)]
    try:
        for _ in range(5):
            assert ping(srv.socket_path).code == 0
        assert srv.connection_count() <= 4
        assert all(closed_by_peer(c, 5) for c in idle[:6])  # the oldest went first
        assert srv.limits["connections"].hits >= 6
        threads = [t for t in threading.enumerate() if t.name == "ext-conn"]
        assert len(threads) <= 4 + 1  # the cap, plus one thread that may still be closing
    finally:
        for c in idle:
            c.close()


def test_a_client_that_never_reads_is_closed_and_frees_its_reply_slot(serve):
    srv = serve(BigTable(rows=4000, width=4000), io_timeout=0.5, max_calls=1)  # a 16 MB reply
    from osquery.extensions import Extension
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport

    sock = TSocket.TSocket(unix_socket=srv.socket_path)
    trans = TTransport.TBufferedTransport(sock)
    trans.open()
    Extension.Client(TBinaryProtocol.TBinaryProtocol(trans)).send_call("table", "t_big", {"action": "generate"})
    try:
        assert closed_by_peer_after_stall(sock.handle)
        # The only reply slot is free again: the next call is answered in full.
        r = call(srv.socket_path, "t_big", {"action": "generate"})
        assert r.status.code == 0 and len(r.response) == 4000
    finally:
        trans.close()


def closed_by_peer_after_stall(conn: socket.socket) -> bool:
    """Read nothing until the server gave up on us, then drain: the stream ends (EOF or reset)."""
    time.sleep(1.5)  # not a measurement: we just stay silent longer than io_timeout
    conn.settimeout(15)
    try:
        while conn.recv(1 << 20):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def test_calls_beyond_the_reply_slots_wait_then_fail_busy_while_pings_are_served(serve):
    table = BigTable()
    table.gate.clear()
    srv = serve(table, max_calls=1, call_wait=0.2)
    first = threading.Thread(target=call, args=(srv.socket_path, "t_big", {"action": "generate"}))
    first.start()
    try:
        assert table.entered.wait(10)
        r = call(srv.socket_path, "t_big", {"action": "generate"})
        assert r.status.code == 1 and "busy" in r.status.message
        assert ping(srv.socket_path).code == 0
        assert srv.limits["busy"].hits == 1
    finally:
        table.gate.set()
        first.join(10)


# -- file descriptors ----------------------------------------------------------------------

class _Listener:
    """Raises EMFILE ``n`` times, then hands out one real connection, then blocks like accept()."""

    def __init__(self, n: int, conn: socket.socket):
        self.n, self.conn, self.done = n, conn, threading.Event()

    def accept(self):
        if self.n:
            self.n -= 1
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        if self.conn is not None:
            conn, self.conn = self.conn, None
            return conn, ""
        self.done.wait(30)
        raise OSError(errno.EBADF, "closed")

    def shutdown(self, how=None):
        self.done.set()

    close = shutdown


def test_running_out_of_fds_while_accepting_is_waited_out(serve):
    srv = serve()
    ours, theirs = socket.socketpair()
    fake = _Listener(3, ours)
    real, srv._listener = srv._listener, fake
    t = threading.Thread(target=srv._accept_loop)
    t.start()
    try:
        # After three EMFILEs the loop is still accepting: the connection it got is served.
        from osquery.extensions import Extension
        from thrift.protocol import TBinaryProtocol
        from thrift.transport import TSocket, TTransport

        sock = TSocket.TSocket()
        sock.handle = theirs
        theirs.settimeout(10)
        trans = TTransport.TBufferedTransport(sock)
        assert Extension.Client(TBinaryProtocol.TBinaryProtocol(trans)).ping().code == 0
        assert srv.limits["fds"].hits == 3 and not srv.stopped.is_set()
    finally:
        srv.stopped.set()
        fake.done.set()
        t.join(10)
        theirs.close()
        real.shutdown(socket.SHUT_RDWR)  # the real listener's accept thread ends too
        real.close()


def test_running_out_of_fds_is_not_taken_for_osquery_going_away(serve, monkeypatch):
    srv = serve()
    srv.manager_path = "/nonexistent/em"
    attempts = []

    def manager_client(path, timeout):
        attempts.append(1)
        if len(attempts) <= 3:
            raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))
        raise ConnectionRefusedError(errno.ECONNREFUSED, "refused")

    monkeypatch.setattr(server_mod, "manager_client", manager_client)
    srv.watch_manager(0.01)  # returns once osquery is really gone
    assert len(attempts) == 4 and srv.limits["fds"].hits == 3
    assert srv.stop_reason == "osquery went away (ConnectionRefusedError)"


def _encoded_call(table: str = "t_big") -> bytes:
    from osquery.extensions import Extension
    from thrift.protocol import TBinaryProtocol
    from thrift.Thrift import TMessageType
    from thrift.transport import TTransport

    buf = TTransport.TMemoryBuffer()
    prot = TBinaryProtocol.TBinaryProtocol(buf)
    prot.writeMessageBegin("call", TMessageType.CALL, 1)
    Extension.call_args(registry="table", item=table, request={"action": "generate"}).write(prot)
    prot.writeMessageEnd()
    return buf.getvalue()


def test_clients_that_send_half_a_request_cannot_keep_a_ping_out(serve):
    """A connection waiting for the rest of a request is waiting on its client, like an idle one:
    the connection cap may close it, so a ping always gets through."""
    srv = serve(max_connections=4)
    call_bytes = _encoded_call()
    slow = []
    try:
        for _ in range(4):
            c = connect(srv.socket_path)
            c.sendall(call_bytes[: len(call_bytes) // 2])  # the message header and part of the call
            slow.append(c)
        assert wait_for(lambda: srv.connection_count() == 4)
        time.sleep(0.2)  # let each connection thread read what it was sent
        for _ in range(3):
            assert ping(srv.socket_path).code == 0
        assert closed_by_peer(slow[0], 5)  # the one that waited longest made room
    finally:
        for c in slow:
            c.close()


def test_calls_waiting_for_a_reply_slot_are_bounded_so_pings_get_through(serve):
    """Calls queue for the reply slots only up to a bound; past it they are answered busy at once,
    so waiting calls can never fill the connection cap and keep a ping out."""
    table = BigTable()
    table.gate.clear()
    srv = serve(table, max_connections=6, max_calls=1, call_wait=30)
    callers = [threading.Thread(target=call, args=(srv.socket_path, "t_big", {"action": "generate"}))
               for _ in range(8)]
    try:
        callers[0].start()
        assert table.entered.wait(10)
        for t in callers[1:]:
            t.start()
        assert wait_for(lambda: srv.limits["busy"].hits >= 1)
        for _ in range(3):
            assert ping(srv.socket_path).code == 0
    finally:
        table.gate.set()
        for t in callers:
            if t.is_alive() or t.ident:
                t.join(30)


def test_a_burst_of_connections_never_closes_one_whose_request_is_waiting(serve, monkeypatch):
    """The cap closes the longest-idle connection; one whose ping already sits in its socket
    (its thread not yet scheduled, as in a burst of connections) is not idle, it is next."""
    srv = serve(max_connections=4)
    gate = threading.Event()
    real = srv._serve

    def late(conn):  # every connection thread starts late, as when hundreds arrive at once
        gate.wait(10)
        real(conn)

    monkeypatch.setattr(srv, "_serve", late)
    from osquery.extensions import Extension
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TSocket, TTransport

    sock = TSocket.TSocket(unix_socket=srv.socket_path)
    sock.setTimeout(15000)
    trans = TTransport.TBufferedTransport(sock)
    trans.open()
    client = Extension.Client(TBinaryProtocol.TBinaryProtocol(trans))
    client.send_ping()  # the request is in the socket before the burst
    idle = []
    try:
        assert wait_for(lambda: srv.connection_count() == 1)
        idle = [connect(srv.socket_path) for _ in range(8)]  # silent ones: twice the cap
        assert wait_for(lambda: srv.limits["connections"].hits >= 5)
        gate.set()
        assert client.recv_ping().code == 0
    finally:
        gate.set()
        trans.close()
        for c in idle:
            c.close()


def test_a_ping_being_answered_is_busy_and_not_closed_by_the_cap(serve, monkeypatch):
    """Once its request is read, a ping is being answered: a burst of connections arriving then
    closes idle ones, never the ping (its reply would be lost)."""
    srv = serve(max_connections=2)
    answering, release = threading.Event(), threading.Event()
    real = srv._processor._handler.ping

    def slow_ping():
        answering.set()
        release.wait(10)
        return real()

    monkeypatch.setattr(srv._processor._handler, "ping", slow_ping)
    result = []
    t = threading.Thread(target=lambda: result.append(ping(srv.socket_path)))
    t.start()
    idle = []
    try:
        assert answering.wait(10)
        idle = [connect(srv.socket_path) for _ in range(4)]
        assert wait_for(lambda: srv.limits["connections"].hits + srv.limits["refused"].hits >= 3)
    finally:
        release.set()
        t.join(15)
        for c in idle:
            c.close()
    assert result and result[0].code == 0


def test_a_full_cap_of_unread_requests_delays_a_new_connection_instead_of_refusing_it(serve, monkeypatch):
    """Every connection at the cap has a request its thread has not read yet (a burst): the new
    one waits a moment for one of them to become idle or finish, rather than being refused."""
    srv = serve(max_connections=4)
    gate = threading.Event()
    real = srv._serve

    def late(conn):
        gate.wait(10)
        real(conn)

    monkeypatch.setattr(srv, "_serve", late)
    call_bytes = _encoded_call()
    slow = []
    result = []
    t = threading.Thread(target=lambda: result.append(ping(srv.socket_path)))
    try:
        for _ in range(4):
            c = connect(srv.socket_path)
            c.sendall(call_bytes[: len(call_bytes) // 2])
            slow.append(c)
        assert wait_for(lambda: srv.connection_count() == 4)
        t.start()
        time.sleep(0.2)  # not a measurement: the ping is at the door while every request is unread
        gate.set()  # the threads read their half requests: now idle, the cap may close one
        t.join(15)
        assert result and result[0].code == 0
        assert srv.limits["refused"].hits == 0
    finally:
        gate.set()
        if t.is_alive():
            t.join(15)
        for c in slow:
            c.close()


def test_a_burst_of_connections_waits_in_the_backlog_instead_of_being_turned_away(serve):
    """While the accept loop is held up (a burst, a full cap), connections queue in the listen
    backlog; with osquery's non-blocking connect a full backlog would fail its ping at once."""
    srv = serve()
    held = []
    try:
        with srv._conns_lock:  # the accept loop stops in _admit: nothing more is accepted
            for _ in range(101):
                c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                c.settimeout(5)  # a non-blocking connect underneath, as osquery's client makes
                held.append(c)
                c.connect(srv.socket_path)
        assert ping(srv.socket_path).code == 0
    finally:
        for c in held:
            c.close()


def test_a_request_map_past_the_entry_limit_is_refused_and_pings_still_work(serve):
    """A client streaming a huge request map is cut off at the entry limit instead of growing the
    connection thread's memory; the extension keeps answering."""
    from osq_esf.extension.server import MAX_REQUEST_ENTRIES

    srv = serve()
    request = {"action": "generate", **{f"k{i}": "v" for i in range(MAX_REQUEST_ENTRIES + 1)}}
    with pytest.raises(Exception):
        call(srv.socket_path, "t_big", request)
    ok = call(srv.socket_path, "t_big", {"action": "generate"})
    assert ok.status.code == 0
    assert ping(srv.socket_path).code == 0
