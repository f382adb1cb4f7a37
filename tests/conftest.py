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

    def close(self) -> None:
        from tests.idl_peer import stop_child

        stop_child(self.proc)
        self.manager.stop()


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
