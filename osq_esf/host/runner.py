"""Run SQL against an extension child process, the way osqueryd autoloads it.

`EmbeddedSession` starts a `Host` on a fresh socket, launches the extension
with exactly the flags osqueryd appends (`[--verbose] --socket S --timeout T
--interval I`, env `OSQUERY_EXTENSION=<pid>`; reference §7.3), waits for it
to register and answer on `<S>.<uuid>`, runs SQL, and tears everything down.
`run_query` / `run_shell` are the entry points for `osq-esf query|shell`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Mapping, Sequence, TextIO

import apsw

from . import calls, osqueryi
from .database import Result
from .errors import ExtensionStartError, QueryError
from .manager import Host
from .output import OutputOptions
from .shell import Shell

MAX_SOCKET_PATH = 97  # osquery-go's MaxSocketPathCharacters (macOS sun_path is 104)
STDERR_TAIL_LINES = 20
ENGINES = ("embedded", "osqueryi")

QueryResult = Result  # .columns: list[str], .rows: list[tuple]


def _socket_dir() -> str:
    for base in (None, "/tmp"):
        directory = tempfile.mkdtemp(prefix="osq-esf-", dir=base)
        if len(os.path.join(directory, "osquery.em.65535")) <= MAX_SOCKET_PATH:
            return directory
        os.rmdir(directory)
    raise ExtensionStartError("no temporary directory gives a socket path under %d characters"
                              % MAX_SOCKET_PATH)


class EmbeddedSession:
    """An embedded host plus one extension child process.

    `argv_prefix` is the extension command (e.g. `[sys.executable, "-m",
    "osq_esf", "run", "--source", "replay:x.jsonl"]`); the osqueryd flags are
    appended. `timeout`/`interval` are whole seconds, as osqueryd passes them
    (osquery-python parses both with int()). `extension_name`, if given, is
    the name the child must register under. `clock` replaces the system
    clock of the host's `time` table and SQLite's 'now'.
    """

    def __init__(
        self,
        argv_prefix: Sequence[str],
        *,
        extension_name: str | None = None,
        timeout: int = 3,
        interval: int = 3,
        verbose: bool = False,
        start_timeout: float = 15.0,
        stop_grace: float = 3.0,
        thrift_timeout: float = 300.0,
        options: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        clock: Callable[[], float] | None = None,
    ):
        self.argv_prefix = list(argv_prefix)
        self.extension_name = extension_name
        self.timeout = int(timeout)
        self.interval = int(interval)
        self.verbose = verbose
        self.start_timeout = start_timeout
        self.stop_grace = stop_grace
        self.thrift_timeout = thrift_timeout
        self.options = dict(options or {})
        self.env = env
        self.cwd = cwd
        self.clock = clock
        self.host: Host | None = None
        self.process: subprocess.Popen | None = None
        self.uuid: int | None = None
        self.argv: list[str] = []
        self._dir: str | None = None
        self._stderr = None

    # -- lifecycle -------------------------------------------------------

    def start(self) -> "EmbeddedSession":
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        self._dir = _socket_dir()
        socket_path = os.path.join(self._dir, "osquery.em")
        self.host = Host(socket_path, interval=self.interval, timeout=self.timeout,
                         thrift_timeout=self.thrift_timeout, options=self.options, clock=self.clock).start()
        self.argv = [*self.argv_prefix, *(["--verbose"] if self.verbose else []),
                     "--socket", socket_path, "--timeout", str(self.timeout),
                     "--interval", str(self.interval)]
        env = dict(os.environ if self.env is None else self.env)
        env["OSQUERY_EXTENSION"] = str(os.getpid())
        self._stderr = open(os.path.join(self._dir, "extension.stderr"), "w+b")
        try:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=self._stderr, env=env, cwd=self.cwd,
                # Own process group: a Ctrl-C in the shell must not kill it.
                start_new_session=True,
            )
        except OSError as exc:
            raise ExtensionStartError("cannot start extension %r: %s" % (self.argv[0], exc)) from None
        self._wait_registered(time.monotonic() + self.start_timeout)

    def _wait_registered(self, deadline: float) -> None:
        assert self.host is not None and self.process is not None
        while self.uuid is None:
            self.uuid = self.host.wait_for_extension(self.extension_name, timeout=0.05)
            if self.uuid is not None:
                break
            self._check_alive("before registering")
            if time.monotonic() > deadline:
                raise self._start_error("did not register within %.1f s" % self.start_timeout)
        # osquery's extensions_require also waits for the extension's socket.
        path = self.host.extension_socket(self.uuid)
        while not calls.path_active(path):
            self._check_alive("before serving its socket")
            if time.monotonic() > deadline:
                raise self._start_error("registered but %s never answered" % path)
            time.sleep(calls.POLL_INTERVAL)

    def _check_alive(self, when: str) -> None:
        code = self.process.poll()
        if code is not None:
            raise self._start_error("exited with status %d %s" % (code, when))

    def _start_error(self, what: str) -> ExtensionStartError:
        message = "extension %s" % what
        refused = self.host.registry.last_error if self.host else None
        if refused is not None:
            message += "\nregistration of %r refused: %s" % refused
        tail = self.stderr_tail()
        if tail:
            message += "\n--- extension stderr (last lines) ---\n" + tail
        return ExtensionStartError(message)

    def stderr_tail(self, lines: int = STDERR_TAIL_LINES) -> str:
        """The last `lines` lines the child wrote to stderr."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.flush()
        self._stderr.seek(0)
        text = self._stderr.read().decode("utf-8", "replace")
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def close(self) -> None:
        """shutdown() to the extension, then SIGTERM, then SIGKILL; reap; clean up."""
        if self.host is not None:
            self.host.stop()  # sends shutdown(), removes the sockets
        if self.process is not None:
            self._reap(self.process)
        if self._stderr is not None:
            self._stderr.close()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def _reap(self, process: subprocess.Popen) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(self.stop_grace)
            return
        for sig, wait in ((signal.SIGTERM, self.stop_grace), (signal.SIGKILL, None)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(wait)
                return

    def __enter__(self) -> "EmbeddedSession":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # -- SQL -------------------------------------------------------------

    def query(self, sql: str) -> Result:
        """Run `sql`; the last statement's columns and rows."""
        results = self.query_all(sql)
        return results[-1] if results else Result([], [])

    def query_all(self, sql: str) -> list[Result]:
        """Every statement's result; a QueryError carries the earlier ones as `partial_results`."""
        try:
            return self.host.query_all(sql)
        except apsw.Error as exc:
            error = QueryError(str(exc))
            error.partial_results = getattr(exc, "partial_results", [])
            raise error from None

    def wait_ready(self, predicate: Callable[["EmbeddedSession"], bool], timeout: float = 30.0,
                   poll: float = 0.1) -> None:
        """Poll `predicate(session)` (which runs SQL) until it is true.

        A QueryError inside the predicate counts as "not ready yet".
        """
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            try:
                if predicate(self):
                    return
            except QueryError as exc:
                last_error = exc
            self._check_alive("while waiting for readiness")
            if time.monotonic() > deadline:
                detail = " (last error: %s)" % last_error if last_error else ""
                raise ExtensionStartError("extension not ready within %.1f s%s" % (timeout, detail))
            time.sleep(poll)

    def table_names(self) -> list[str]:
        return self.host.table_names()

    def table_schema(self, name: str) -> str | None:
        return self.host.table_schema(name)


def resolve_engine(engine: str = "embedded") -> str:
    """Check the engine choice: the embedded host (the default) or an osqueryi on PATH."""
    if engine not in ENGINES:
        raise ValueError("engine must be one of %s" % ", ".join(ENGINES))
    if engine == "osqueryi" and not osqueryi.find_osqueryi():
        raise QueryError("osqueryi is not on PATH (install osquery, or use --engine embedded)")
    return engine


def run_query_all(
    argv_prefix: Sequence[str],
    sql: str,
    *,
    engine: str = "embedded",
    extension_name: str | None = None,
    ready: Callable[[EmbeddedSession], bool] | None = None,
    ready_timeout: float = 30.0,
    **session_options,
) -> list[Result]:
    """Start the extension, optionally wait for `ready`, run `sql`, tear down;
    every statement's result (osqueryi --json gathers them into one).

    The osqueryi engine needs `extension_name` (for --extensions_require) and
    cannot evaluate `ready` (each osqueryi run is one process): the
    extension itself must be ready by the time it registers.
    """
    if resolve_engine(engine) == "osqueryi":
        if extension_name is None:
            raise ValueError("the osqueryi engine needs extension_name")
        if session_options.get("clock") is not None:
            raise QueryError("osqueryi keeps its own clock: a pinned or rebased 'now' needs --engine embedded")
        return osqueryi.run_query(argv_prefix, sql, extension_name=extension_name,
                                  timeout=session_options.get("timeout", 3),
                                  interval=session_options.get("interval", 3))
    with EmbeddedSession(argv_prefix, extension_name=extension_name, **session_options) as session:
        if ready is not None:
            session.wait_ready(ready, ready_timeout)
        return session.query_all(sql)


def run_query(argv_prefix: Sequence[str], sql: str, **options) -> Result:
    """`run_query_all`, the last statement's result."""
    results = run_query_all(argv_prefix, sql, **options)
    return results[-1] if results else Result([], [])


def run_shell(
    argv_prefix: Sequence[str],
    *,
    engine: str = "embedded",
    extension_name: str | None = None,
    mode="pretty",
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
    ready: Callable[[EmbeddedSession], bool] | None = None,
    ready_timeout: float = 30.0,
    **session_options,
) -> int:
    """Interactive shell over the extension; returns an exit status."""
    if resolve_engine(engine) == "osqueryi":
        if extension_name is None:
            raise ValueError("the osqueryi engine needs extension_name")
        if session_options.get("clock") is not None:
            raise QueryError("osqueryi keeps its own clock: a pinned or rebased 'now' needs --engine embedded")
        return osqueryi.shell(argv_prefix, extension_name=extension_name,
                              timeout=session_options.get("timeout", 3),
                              interval=session_options.get("interval", 3),
                              output=mode if isinstance(mode, OutputOptions) else OutputOptions(mode))
    with EmbeddedSession(argv_prefix, extension_name=extension_name, **session_options) as session:
        if ready is not None:
            session.wait_ready(ready, ready_timeout)
        shell = Shell(session, stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr, mode)
        return shell.run()
