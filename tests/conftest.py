"""Shared test helpers: where ../shared is, and an extension running against an IDL-only manager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

# The native simulator's fixtures (sim_dir, sim): one build per session for every test module.
pytest_plugins = ["tests.native_sim"]

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_DATA = SHARED / "data"


def shared_file(rel: str) -> Path:
    """A file under ../shared/data, or skip the test when the folder is absent (e.g. a bare clone)."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"{p} is not here")
    return p


class RunningExtension:
    """`osq-esf run` as a child process, registered with tests/idl_peer.IdlManager."""

    def __init__(self, args: list[str], interval: float = 0.5):
        from tests.idl_peer import IdlManager

        self.dir = tempfile.mkdtemp(prefix="osqesf")
        self.socket = os.path.join(self.dir, "em")
        self.manager = IdlManager(self.socket).start()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "osq_esf", "run", "--socket", self.socket, "--interval", str(interval),
             "--timeout", "5", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        if not self.manager.handler.registered.wait(20):
            self.close()
            raise RuntimeError("extension did not register: " + self.proc.stderr.read().decode())
        self.uuid = max(self.manager.handler.infos)
        self.path = f"{self.socket}.{self.uuid}"
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.02)

    def call(self, table: str, request: dict):
        from tests.idl_peer import call

        return call(self.path, table, request)

    def generate(self, table: str, constraints: dict | None = None, cols_used=None) -> list[dict]:
        """Rows for a context built like osquery's (one entry per constrained column)."""
        ctx = {"constraints": [{"name": n, "list": [{"op": op, "expr": str(e)} for op, e in items],
                                "affinity": "BIGINT"} for n, items in (constraints or {}).items()]}
        if cols_used is not None:
            ctx["colsUsed"] = list(cols_used)
        r = self.call(table, {"action": "generate", "context": json.dumps(ctx)})
        assert r.status.code == 0, r.status.message
        return r.response

    def wait_drained(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.generate("es_sources")
            if rows and all(r["state"] in ("drained", "failed", "stopped") for r in rows):
                return
            time.sleep(0.05)
        raise TimeoutError("sources never drained")

    def reregister(self, timeout: float = 30.0) -> None:
        """osquery is back (a new manager at the same socket): wait until the extension serves it."""
        from tests.idl_peer import IdlManager

        self.manager = IdlManager(self.socket).start()
        assert self.manager.handler.registered.wait(timeout), "the extension did not register again"
        self.path = f"{self.socket}.{max(self.manager.handler.infos)}"
        deadline = time.monotonic() + 10
        while not os.path.exists(self.path) and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self) -> None:
        from tests.idl_peer import stop_child

        stop_child(self.proc)
        for pipe in (self.proc.stdout, self.proc.stderr):
            pipe.close()
        self.manager.stop()


def standalone_replay(extension_factory) -> tuple[RunningExtension, list]:
    """`osq-esf run --standalone` over the lineage fixture, drained: (the extension, its es_exec eids)."""
    ext = extension_factory("--standalone", "--source", f"replay:{shared_file('mac-monitor/eslogger-lineage.jsonl')}",
                            interval=0.2)
    ext.wait_drained()
    return ext, sorted(r["eid"] for r in ext.generate("es_exec"))


@pytest.fixture
def extension_factory():
    made: list[RunningExtension] = []

    def make(*args: str, interval: float = 0.5) -> RunningExtension:
        ext = RunningExtension(list(args), interval)
        made.append(ext)
        return ext

    yield make
    for e in made:
        e.close()


# -- the leak guard (issue 10 item 16): a test that leaves threads, child processes or
# file descriptors behind fails, so one test's leftovers never become another's flake.

LEAK_SETTLE = 10.0  # seconds to let daemon threads and children wind down before judging


def _children() -> set[int]:
    out: set[int] = set()
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/children") as f:
                out.update(int(p) for p in f.read().split())
        except OSError:
            pass
    return out


def _fds() -> set[int]:
    return {int(n) for n in os.listdir("/proc/self/fd")}


def _leaks(before) -> list[str]:
    import threading

    threads, children, fds = before
    out = []
    new_threads = [t.name for t in threading.enumerate() if t.ident not in threads and t.is_alive()]
    if new_threads:
        out.append(f"threads {sorted(new_threads)}")
    new_children = _children() - children
    if new_children:
        out.append(f"child processes {sorted(new_children)}")
    new_fds = _fds() - fds
    if new_fds:
        targets = []
        for fd in sorted(new_fds):
            try:
                targets.append(f"{fd}->{os.readlink(f'/proc/self/fd/{fd}')}")
            except OSError:
                pass
        if targets:
            out.append(f"file descriptors {targets}")
    return out


@pytest.fixture(autouse=True)
def no_leaks(request):
    if not os.path.isdir("/proc/self/task") or request.node.get_closest_marker("allow_leaks"):
        yield
        return
    import threading

    before = ({t.ident for t in threading.enumerate()}, _children(), _fds())
    yield
    deadline = time.monotonic() + LEAK_SETTLE
    leaks = _leaks(before)
    while leaks and time.monotonic() < deadline:
        time.sleep(0.05)
        leaks = _leaks(before)
    if leaks:
        pytest.fail("the test leaked " + "; ".join(leaks), pytrace=False)
