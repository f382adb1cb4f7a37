"""Production behaviour under osqueryd: graceful stops, standalone across them, no child left, logs, licence.

orbit SIGKILLs osqueryd 10 s after asking it to stop (fleetdm/fleet orbit/pkg/osquery/osquery.go), so an
autoloaded extension must be gone well within that: the bounds below are that contract, not speed targets.
"""

from __future__ import annotations

import logging
import os
import time
import zipfile

import pytest

from osq_esf.logs import LOG_FILE_BACKUPS, SyslogHandler, configure
from tests.conftest import REPO, standalone_replay
from tests.idl_peer import extension_client
from tests.test_eslogger import alive, config, fake_env, msg, pids, wait_for  # noqa: F401 - fixture

EXIT_WITHIN = 8.0  # seconds; orbit's SIGKILL comes at 10


def shutdown(ext) -> None:
    """What osqueryd's ExtensionManagerWatcher sends each extension when it stops."""
    client, trans = extension_client(ext.path, 5)
    try:
        client.shutdown()
    finally:
        trans.close()


def test_shutdown_stops_every_eslogger_child_and_exits_in_time(tmp_path, fake_env, extension_factory):
    state, inp = fake_env
    inp.write_text(msg("exec", 1) + "\n")
    ext = extension_factory("--source", "eslogger", "--config", str(config(tmp_path)))
    children = wait_for(lambda: len(pids(state)) >= 3 and pids(state), what="three clients")
    started = time.monotonic()
    shutdown(ext)
    assert ext.proc.wait(EXIT_WITHIN) == 0
    assert time.monotonic() - started < EXIT_WITHIN
    assert not any(alive(pid) for pid in children)  # reaped by the extension itself, none orphaned


def test_sigterm_stops_every_eslogger_child_and_exits_in_time(tmp_path, fake_env, extension_factory):
    state, inp = fake_env
    inp.write_text(msg("exec", 1) + "\n")
    ext = extension_factory("--source", "eslogger", "--config", str(config(tmp_path)))
    children = wait_for(lambda: len(pids(state)) >= 3 and pids(state), what="three clients")
    ext.proc.terminate()
    assert ext.proc.wait(EXIT_WITHIN) == 0
    assert not any(alive(pid) for pid in children)


def test_standalone_keeps_its_events_across_a_graceful_osquery_stop(extension_factory):
    ext, before = standalone_replay(extension_factory)
    assert before
    shutdown(ext)  # osqueryd stops gracefully...
    ext.manager.stop()
    time.sleep(1.0)
    assert ext.proc.poll() is None  # ...and the standalone extension stays, with its rings
    ext.reregister()
    assert sorted(r["eid"] for r in ext.generate("es_exec")) == before


class HangingUpManager:
    """A socket at the manager's path that accepts each connection and closes it unanswered:
    an osqueryd stopping or crashing while an extension registers."""

    def __init__(self, path: str):
        import socket
        import threading

        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(8)
        self.path, self.accepted = path, 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            conn.recv(1 << 16)  # the start of a call, never answered
            conn.close()

    def stop(self) -> None:
        import socket

        try:
            self.listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.listener.close()
        self.thread.join(10)
        os.unlink(self.path)


def test_a_manager_that_hangs_up_during_registration_is_a_registration_error(tmp_path):
    from osq_esf.extension.server import ExtensionServer, RegistrationError

    gone = HangingUpManager(str(tmp_path / "em"))
    try:
        with pytest.raises(RegistrationError, match="cannot register with the extension manager"):
            ExtensionServer([]).register(gone.path, 0.5)
        assert gone.accepted >= 2  # retried until the timeout, as while its socket is missing
    finally:
        gone.stop()


def test_standalone_survives_an_osquery_that_goes_away_while_it_registers_again(extension_factory):
    ext, before = standalone_replay(extension_factory)
    ext.manager.stop()  # osqueryd crashed ...
    gone = HangingUpManager(ext.socket)  # ... and the next one dies while the extension registers
    try:
        wait_for(lambda: gone.accepted >= 2, what="registration attempts")
    finally:
        gone.stop()
    assert ext.proc.poll() is None, ext.proc.stderr.read().decode()[-2000:]
    ext.reregister()
    assert sorted(r["eid"] for r in ext.generate("es_exec")) == before


def test_log_lines_carry_utc_timestamps_and_the_file_rotates_with_a_bound(tmp_path):
    import io

    stream = io.StringIO()
    path = tmp_path / "osq-esf.log"
    handlers = configure(verbose=True, log_file=str(path), syslog=False, stream=stream)
    try:
        rotating = handlers[1]
        rotating.maxBytes = 2000  # the real bound is 10 MiB; the rotation logic is the same
        for i in range(400):
            logging.getLogger("osq_esf.test").info("line %d", i)
    finally:
        for h in handlers:
            logging.getLogger("osq_esf").removeHandler(h)
            h.close()
    first = stream.getvalue().splitlines()[0]
    assert first[:4].isdigit() and first[10] == "T" and first[23] == "Z" and "INFO osq_esf.test: line 0" in first
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["osq-esf.log"] + ["osq-esf.log.%d" % i for i in range(1, LOG_FILE_BACKUPS + 1)]
    assert all(p.stat().st_size <= 2000 for p in tmp_path.iterdir())


def test_syslog_handler_maps_levels_to_priorities():
    sent = []
    handler = SyslogHandler(lambda priority, line: sent.append((priority, line)))
    log = logging.getLogger("osq_esf.syslogtest")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        log.warning("lost %d events", 3)
        log.error("boom")
    finally:
        log.removeHandler(handler)
    assert sent == [(4, "WARNING osq_esf.syslogtest: lost 3 events"), (3, "ERROR osq_esf.syslogtest: boom")]


def test_run_refuses_an_unwritable_log_file(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "osq_esf", "run", "--socket", str(tmp_path / "s"), "--log-file",
                        str(tmp_path / "missing" / "x.log"), "--source", "replay:" + os.devnull],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--log-file" in r.stderr


def test_the_licence_is_in_the_repository_and_the_wheel(tmp_path):
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(r.stderr[-2000:])
    wheel = next(tmp_path.glob("osq_esf-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        metadata = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith(".dist-info/LICENSE") for n in names), names
    assert "Requires-Dist: cffi" in metadata and "extra == \"native\"" in metadata.split("Requires-Dist: cffi")[1].split("\n")[0]
