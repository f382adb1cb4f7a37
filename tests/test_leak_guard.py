"""The suite-wide leak guard (tests/conftest.py) sees leaked threads, children and fds."""

from __future__ import annotations

import os
import subprocess
import threading

from tests.conftest import _children, _fds, _leaks


def test_the_guard_reports_each_kind_of_leak():
    before = ({t.ident for t in threading.enumerate()}, _children(), _fds())
    stop = threading.Event()
    t = threading.Thread(target=stop.wait, name="leaky", daemon=True)
    t.start()
    proc = subprocess.Popen(["sleep", "30"])
    r, w = os.pipe()
    try:
        found = " ".join(_leaks(before))
        assert "leaky" in found and str(proc.pid) in found and "pipe:" in found
    finally:
        stop.set()
        t.join()
        proc.kill()
        proc.wait()
        os.close(r)
        os.close(w)
    assert _leaks(before) == []


def test_the_idl_peer_leaves_no_thread_behind(tmp_path):
    from tests.idl_peer import IdlManager, ping

    before = ({t.ident for t in threading.enumerate()}, _children(), _fds())
    m = IdlManager(str(tmp_path / "em")).start()
    assert ping(m.path).code == 0
    m.stop()
    assert _leaks(before) == []
