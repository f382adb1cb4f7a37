"""The runner: child process lifecycle, flags, readiness, errors; end to end."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest

from osq_esf.host import (
    EmbeddedSession,
    ExtensionStartError,
    QueryError,
    resolve_engine,
    run_query,
    run_query_all,
    run_shell,
)
from osq_esf.host import osqueryi as osqueryi_engine
from tests.host.conftest import REPO
from tests.host.raw_extension import column

RAW_ARGV = [sys.executable, "-m", "tests.host.raw_extension"]
TABLES = {"events": {"routes": [column("pid", "BIGINT"), column("path", "TEXT")],
                     "rows": [{"pid": "1", "path": "/sbin/launchd"}, {"pid": "2", "path": ""}]}}


@pytest.fixture
def spec(socket_dir):
    """Write a raw-extension spec; returns (env, record path)."""
    def write(**fields):
        record = os.path.join(socket_dir, "record.json")
        data = {"name": "raw", "tables": TABLES, "record": record, **fields}
        path = os.path.join(socket_dir, "spec.json")
        with open(path, "w") as f:
            json.dump(data, f)
        return dict(os.environ, RAW_EXT_SPEC=path), record
    return write


def session(env, **kwargs) -> EmbeddedSession:
    kwargs.setdefault("interval", 1)
    kwargs.setdefault("timeout", 2)
    return EmbeddedSession(RAW_ARGV, env=env, cwd=REPO, **kwargs)


def assert_reaped(s: EmbeddedSession):
    assert s.process.returncode is not None
    with pytest.raises(ChildProcessError):
        os.waitpid(s.process.pid, os.WNOHANG)  # no zombie left behind
    assert not os.path.exists(os.path.dirname(s.host.socket_path))


def test_child_gets_exactly_the_autoload_flags(spec):
    env, record = spec()
    with session(env, extension_name="raw") as s:
        socket_path = s.host.socket_path
        assert len(socket_path) < 97
        assert s.query("SELECT pid, path FROM events").rows == [(1, "/sbin/launchd"), (2, "")]
    with open(record) as f:
        seen = json.load(f)
    assert seen == {"argv": ["--socket", socket_path, "--timeout", "2", "--interval", "1"],
                    "env": str(os.getpid())}
    assert_reaped(s)


def test_verbose_comes_first(spec):
    env, record = spec()
    with session(env, verbose=True):
        pass
    with open(record) as f:
        assert json.load(f)["argv"][:2] == ["--verbose", "--socket"]


def test_child_exiting_early_reports_its_stderr(spec):
    env, _ = spec(fail="cannot open /dev/esf: permission denied")
    s = session(env)
    with pytest.raises(ExtensionStartError) as err:
        s.start()
    message = str(err.value)
    assert "exited with status 3 before registering" in message
    assert "cannot open /dev/esf: permission denied" in message
    assert_reaped(s)


def test_refused_registration_is_explained(spec):
    env, _ = spec(tables={"time": TABLES["events"]})
    with pytest.raises(ExtensionStartError) as err:
        session(env).start()
    assert "registration of 'raw' refused: Failed adding registry: Registry item time conflicts" in str(
        err.value)
    assert "registration failed" in str(err.value)  # the child's own stderr line


def test_registration_timeout(spec):
    env, _ = spec(delay=5)
    s = session(env, start_timeout=0.5, stop_grace=0.2)
    with pytest.raises(ExtensionStartError, match="did not register within 0.5 s"):
        s.start()
    assert_reaped(s)


def test_wait_for_the_named_extension_only(spec):
    env, _ = spec()
    s = session(env, extension_name="someone_else", start_timeout=0.8, stop_grace=0.2)
    with pytest.raises(ExtensionStartError, match="did not register"):
        s.start()


def test_readiness_predicate_polls_sql(spec):
    env, _ = spec()
    calls = []

    def ready(sess):
        calls.append(sess.query("SELECT count(*) FROM events").rows[0][0])
        return len(calls) >= 3

    with session(env) as s:
        s.wait_ready(ready, timeout=5, poll=0.01)
        assert calls == [2, 2, 2]
        with pytest.raises(ExtensionStartError, match="not ready within 0.1 s .last error: no such table"):
            s.wait_ready(lambda sess: sess.query("SELECT * FROM missing") and False, timeout=0.1,
                         poll=0.01)


def test_query_errors_are_query_errors(spec):
    env, _ = spec()
    with session(env) as s:
        with pytest.raises(QueryError, match="no such table: nope"):
            s.query("SELECT * FROM nope")


def test_run_query_embedded(spec):
    env, _ = spec()
    result = run_query(RAW_ARGV, "SELECT path FROM events WHERE pid = 1", engine="embedded",
                       env=env, cwd=REPO, interval=1, timeout=2,
                       ready=lambda s: bool(s.query("SELECT 1 FROM events").rows))
    assert (result.columns, result.rows) == (["path"], [("/sbin/launchd",)])


def test_run_shell_embedded(spec):
    env, _ = spec()
    stdin = io.StringIO(".tables\nSELECT pid,\n  path FROM events\n  WHERE pid = 1;\n.mode json\n"
                        "SELECT pid FROM events;\nSELECT * FROM nope;\n.quit\nSELECT 1;\n")
    stdout, stderr = io.StringIO(), io.StringIO()
    status = run_shell(RAW_ARGV, engine="embedded", env=env, cwd=REPO, interval=1, timeout=2,
                       stdin=stdin, stdout=stdout, stderr=stderr)
    assert status == 1  # the last statement failed
    assert stdout.getvalue() == (
        "  => events\n  => osquery_extensions\n  => time\n"
        "+-----+---------------+\n"
        "| pid | path          |\n"
        "+-----+---------------+\n"
        "| 1   | /sbin/launchd |\n"
        "+-----+---------------+\n"
        '[\n  {"pid":"1"},\n  {"pid":"2"}\n]\n')
    assert stderr.getvalue() == "Error: no such table: nope\n"


def test_engine_resolution(monkeypatch):
    monkeypatch.setattr(osqueryi_engine.shutil, "which", lambda name: None)
    assert resolve_engine() == "embedded"
    with pytest.raises(QueryError, match="osqueryi is not on PATH"):
        resolve_engine("osqueryi")
    for other in ("sqlite", "auto"):  # osqueryi on PATH no longer takes over: it is an explicit choice
        with pytest.raises(ValueError):
            resolve_engine(other)
    monkeypatch.setattr(osqueryi_engine.shutil, "which", lambda name: "/usr/local/bin/osqueryi")
    assert resolve_engine() == "embedded"
    assert resolve_engine("osqueryi") == "osqueryi"


FAKE_OSQUERYI = os.path.join(REPO, "tests", "fakes")


def test_osqueryi_engine_through_the_test_double(spec, monkeypatch):
    env, _ = spec()
    # The double's "#!/usr/bin/env python3" must find this interpreter (it needs apsw).
    monkeypatch.setenv("PATH", os.pathsep.join([FAKE_OSQUERYI, os.path.dirname(sys.executable), os.environ["PATH"]]))
    monkeypatch.setenv("RAW_EXT_SPEC", env["RAW_EXT_SPEC"])
    argv = ["/usr/bin/env", "PYTHONPATH=" + REPO, *RAW_ARGV]
    results = run_query_all(argv, "SELECT pid FROM events ORDER BY pid; SELECT path FROM events WHERE pid = 1;",
                            engine="osqueryi", extension_name="raw", timeout=10)
    # osqueryi --json gathers every statement's rows into one array.
    assert [(r.columns, r.rows) for r in results] == [(["path", "pid"], [("", "1"), ("", "2"), ("/sbin/launchd", "")])]
    with pytest.raises(QueryError, match="Error: no such table: nope"):
        run_query_all(argv, "SELECT * FROM nope", engine="osqueryi", extension_name="raw", timeout=10)
    with pytest.raises(QueryError, match="Required extension not found or not loaded: other"):
        run_query_all(argv, "SELECT 1", engine="osqueryi", extension_name="other", timeout=2)


def test_osqueryi_refuses_an_unsafe_wrapper_and_so_do_we(tmp_path):
    wrapper = osqueryi_engine.write_wrapper(["/bin/true"], str(tmp_path), "x")
    assert osqueryi_engine.unsafe_reason(wrapper) is None
    os.chmod(wrapper, 0o777)
    assert osqueryi_engine.unsafe_reason(wrapper) == "it is world-writable"
    os.chmod(wrapper, 0o755)
    os.chmod(tmp_path, 0o1777)
    assert "sticky bit" in osqueryi_engine.unsafe_reason(wrapper)
    r = subprocess.run([sys.executable, os.path.join(FAKE_OSQUERYI, "osqueryi"), "--extension", wrapper,
                        "--extensions_require=x", "--extensions_timeout=1", "SELECT 1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Extension binary has unsafe permissions" in r.stderr


def test_missing_executable(spec):
    with pytest.raises(ExtensionStartError, match="cannot start extension '/nonexistent/ext'"):
        EmbeddedSession(["/nonexistent/ext"]).start()
