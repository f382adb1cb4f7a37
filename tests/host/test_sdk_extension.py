"""A real osquery-python extension (child process) against the embedded host."""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest

from osq_esf.host import EmbeddedSession, QueryError
from osq_esf.host.protocol import manager_client
from tests.host.conftest import REPO

SDK_ARGV = [sys.executable, "-m", "tests.host.sdk_extension"]


@pytest.fixture(scope="module")
def session():
    with EmbeddedSession(SDK_ARGV, extension_name="sdk_test", interval=60, cwd=REPO) as s:
        yield s


def test_registers_and_is_listed(session):
    rows = session.query("SELECT uuid, name, version, sdk_version, type FROM osquery_extensions "
                         "ORDER BY uuid").rows
    assert rows == [(0, "core", "5.16.0", "0.0.0", "core"),
                    # osquery's getExtensions swaps in min_sdk_version here.
                    (session.uuid, "sdk_test", "0.1.0", "1.8.0", "extension")]
    info = session.host.extensions()[session.uuid]
    assert (info.sdk_version, info.min_sdk_version) == ("3.0.7", "1.8.0")


def test_rows_hidden_column_and_empty_numbers(session):
    result = session.query("SELECT * FROM sdk_procs")
    assert result.columns == ["pid", "name", "ctx"]  # token is HIDDEN
    assert [row[:2] for row in result.rows] == [(1, "launchd"), (None, "")]
    assert session.query("SELECT token FROM sdk_procs").rows == [("t1",), ("t2",)]


def test_sdk_receives_the_context(session):
    (ctx,) = {row[0] for row in session.query(
        "SELECT ctx FROM sdk_procs WHERE name = 'launchd' AND pid > 0").rows}
    context = json.loads(ctx)
    lists = {c["name"]: c["list"] for c in context["constraints"]}
    assert lists == {"ctx": [], "name": [{"op": 2, "expr": "launchd"}],
                     "pid": [{"op": 4, "expr": "0"}], "token": []}
    assert context["colsUsed"] == ["pid", "name", "ctx"] and context["colsUsedBitset"] == 7


def test_exception_in_generate_is_an_sql_error(session):
    with pytest.raises(QueryError, match="^Extension call failed: Internal error$"):
        session.query("SELECT * FROM sdk_procs WHERE name = 'boom'")


def test_sdk_writes_fail_like_in_osquery(session):
    # osquery-python builds ExtensionResponse(code=1, ...) -> TypeError -> INTERNAL_ERROR.
    with pytest.raises(QueryError, match="Extension call failed"):
        session.query("INSERT INTO sdk_procs VALUES (1, 'x', '{}')")


def test_one_missed_ping_deregisters(socket_dir):
    session = EmbeddedSession(SDK_ARGV, extension_name="sdk_test", interval=1, timeout=1,
                              thrift_timeout=0.5, cwd=REPO, stop_grace=0.5).start()
    host, pid = session.host, session.process.pid
    try:
        host.interval = 0.2  # ping fast (the child still got --interval 1)
        assert session.query("SELECT count(*) FROM sdk_procs").rows == [(2,)]
        os.kill(pid, signal.SIGSTOP)
        deadline = time.monotonic() + 5
        while session.uuid in host.extensions() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert session.uuid not in host.extensions()
        with pytest.raises(QueryError, match="^no such table: sdk_procs$"):
            session.query("SELECT * FROM sdk_procs")
        assert session.query("SELECT name FROM osquery_extensions").rows == [("core",)]
    finally:
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGKILL)
        session.close()
    assert session.process.returncode is not None


def test_host_stop_sends_shutdown(socket_dir):
    session = EmbeddedSession(SDK_ARGV, extension_name="sdk_test", interval=60, cwd=REPO,
                              stop_grace=5).start()
    process = session.process
    started = time.monotonic()
    session.close()
    # osquery-python exits ~1 s after shutdown(); without it, only the
    # 60 s ping interval would notice the host is gone.
    assert process.returncode == 0
    assert time.monotonic() - started < 4
    assert not os.path.exists(os.path.dirname(session.host.socket_path))


def test_manager_socket_speaks_the_idl(session):
    with manager_client(session.host.socket_path, 5) as client:
        status = client.ping()
        assert (status.code, status.message, status.uuid) == (0, "pong", 0)
        assert list(client.extensions()) == [session.uuid]
