"""Reloading mutes/filters/redaction in a running `osq-esf run`, through the protocol:
SIGHUP with a good and a bad file, and osquery's custom_osq_esf_config option (TOML text,
a path, and a bad value).  Events are fed through a FIFO one batch at a time, so each
batch is judged by a known configuration; buffered rows survive every reload."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
from osquery.extensions.ttypes import InternalOptionInfo

from osq_esf.sources.base import BATCH
from tests.rules_events import open_line

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGHUP") or not hasattr(os, "mkfifo"), reason="POSIX only")

MUTE_A = '[mutes]\ndefaults = false\n[[mutes.rule]]\nname = "mute-a"\nprocess_path = "/opt/a"\n'
MUTE_B = '[mutes]\ndefaults = false\n[[mutes.rule]]\nname = "mute-b"\nprocess_path = "/opt/b"\n'


def wait_for(pred, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.05)
    raise TimeoutError(what)


class Feed:
    """A FIFO the extension replays; each send() is one full ingest batch."""

    def __init__(self, path):
        self.path = str(path)
        os.mkfifo(self.path)
        self.fd = os.open(self.path, os.O_RDWR)  # never blocks, and keeps the FIFO open between batches

    def send(self, paths: list[str]) -> None:
        lines = [open_line(path=p) for p in paths]
        lines += [open_line(path="/opt/filler") for _ in range(BATCH - len(lines))]  # own seq numbers each
        data = b"\n".join(lines) + b"\n"
        threading.Thread(target=os.write, args=(self.fd, data), daemon=True).start()

    def close(self) -> None:
        os.close(self.fd)


class Stderr:
    """Collects the extension's log lines as they come."""

    def __init__(self, proc):
        self.lines: list[str] = []
        threading.Thread(target=self._read, args=(proc.stderr,), daemon=True).start()

    def _read(self, f):
        for line in f:
            self.lines.append(line.decode(errors="replace"))

    def has(self, text: str) -> bool:
        return any(text in ln for ln in self.lines)


def lines_read(ext) -> int:
    return int(ext.generate("es_sources")[0]["lines"])


def mute_names(ext) -> set[str]:
    return {r["name"] for r in ext.generate("es_mutes") if r["kind"] == "mute"}


def paths(ext) -> list[str]:
    return [r["path"] for r in ext.generate("es_open") if r["path"] != "/opt/filler"]


def conserved(ext) -> None:
    for r in ext.generate("es_health"):
        assert int(r["received"]) == sum(int(r[k]) for k in ("buffered", "evicted", "muted", "filtered",
                                                                "decode_errors")), r


@pytest.fixture
def running(tmp_path, extension_factory):
    cfg = tmp_path / "osq-esf.toml"
    cfg.write_text(MUTE_A)
    os.chmod(cfg, 0o600)
    feed = Feed(tmp_path / "events.fifo")
    ext = extension_factory("--source", f"replay:{feed.path}", "--config", str(cfg), interval=0.2)
    log = Stderr(ext.proc)
    yield ext, feed, cfg, log
    feed.close()


def batch(ext, feed, paths_, n: int) -> None:
    feed.send(paths_)
    wait_for(lambda: lines_read(ext) >= n * BATCH, f"batch {n} ingested")


def test_sighup_reload_good_then_bad(running):
    ext, feed, cfg, log = running
    batch(ext, feed, ["/opt/a", "/opt/b"], 1)
    assert paths(ext) == ["/opt/b"] and mute_names(ext) == {"mute-a"}

    cfg.write_text(MUTE_B)
    ext.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: mute_names(ext) == {"mute-b"}, f"mute-b in force; log: {log.lines}")
    batch(ext, feed, ["/opt/a", "/opt/b"], 2)
    assert paths(ext) == ["/opt/b", "/opt/a"]  # the first batch's row is still buffered

    cfg.write_text(MUTE_B + 'events = ["opne"]\n')
    ext.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: log.has("refused"), "the bad config is logged")
    assert any("mutes.rule[0].events" in ln and "(line 6)" in ln for ln in log.lines)
    assert mute_names(ext) == {"mute-b"}
    batch(ext, feed, ["/opt/a", "/opt/b"], 3)
    assert paths(ext) == ["/opt/b", "/opt/a", "/opt/a"]
    hits = {r["name"]: int(r["hits"]) for r in ext.generate("es_mutes")}
    assert hits["mute-b"] == 2  # kept across the refused reload
    # The refusal is in a table, not only on stderr.
    (stage,) = [r for r in ext.generate("es_stages") if r["stage"] == "config"]
    assert stage["state"] == "refused" and "mutes.rule[0].events" in stage["last_error"]
    assert "(line 6)" in stage["last_error"] and stage["items"] == "1" and stage["errors"] == "1"
    conserved(ext)


def test_sighup_refuses_a_file_made_unsafe(running):
    ext, feed, cfg, log = running
    cfg.write_text(MUTE_B)
    os.chmod(cfg, 0o666)
    ext.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: log.has("world-writable"), "unsafe permissions logged")
    assert mute_names(ext) == {"mute-a"}


def option(value: str) -> dict:
    return {"custom_osq_esf_config": InternalOptionInfo(value=value, default_value="", type="string")}


def test_osquery_option_overrides_the_file_and_reloads(running, tmp_path):
    ext, feed, cfg, log = running
    batch(ext, feed, ["/opt/a", "/opt/b"], 1)
    handler = ext.manager.handler

    handler.option_values = option(MUTE_B)  # TOML text
    wait_for(lambda: mute_names(ext) == {"mute-b"}, "option text in force")
    batch(ext, feed, ["/opt/a", "/opt/b"], 2)
    assert paths(ext) == ["/opt/b", "/opt/a"]

    other = tmp_path / "other.toml"
    other.write_text('[mutes]\ndefaults = false\n[[mutes.rule]]\nname = "mute-c"\nprocess_path = "/opt/c"\n')
    os.chmod(other, 0o600)
    handler.option_values = option(str(other))  # a path
    wait_for(lambda: mute_names(ext) == {"mute-c"}, "option path in force")

    handler.option_values = option("[mutes\n")  # not TOML: logged, mute-c stays
    wait_for(lambda: log.has("custom_osq_esf_config changed) refused"), "bad option logged")
    assert mute_names(ext) == {"mute-c"}

    handler.option_values = {}  # unset: back to the --config file
    wait_for(lambda: mute_names(ext) == {"mute-a"}, "file config back in force")
    batch(ext, feed, ["/opt/a", "/opt/b"], 3)
    assert paths(ext) == ["/opt/b", "/opt/a", "/opt/b"]
    conserved(ext)


def test_a_refused_reload_never_shows_a_secret_it_quotes(tmp_path, caplog):
    """A config error may quote the refused value: es_stages' last_error and the log show it redacted."""
    import logging

    from osq_esf.reload import ConfigReloader
    from tests.pipelines import make_pipeline

    p, _ = make_pipeline("", source=None)
    cfg = tmp_path / "osq-esf.toml"
    cfg.write_text('[[mutes.rule]]\nname = "x"\nprocess_path = "/bin/a"\n'
                   'events = ["https://bob:Zq7Secret9x@example.com"]\n')
    os.chmod(cfg, 0o600)
    r = ConfigReloader(p, str(cfg))
    with caplog.at_level(logging.ERROR, logger="osq_esf.reload"):
        assert r.reload("test") is False
    assert "mutes.rule[0].events" in r.last_error and "Zq7Secret9x" not in r.last_error
    assert caplog.records and all("Zq7Secret9x" not in rec.getMessage() for rec in caplog.records)
