"""Config validation (key and line in every error, whole file refused), the shipped
example, and osquery-style safe permissions, including through `osq-esf run`."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from osq_esf.config import ConfigError, find_line, load_config_file, parse_config
from tests.conftest import REPO

BAD = [
    # (config text, the key the error must name, its line)
    ('[mutes]\ndefaults = "yes"\n', "mutes.defaults", 2),
    ('[mutes]\ninvert = ["path"]\n', "mutes.invert", 2),
    ('[mutes]\nbogus = 1\n', "mutes.bogus", 2),
    ('[[mutes.rule]]\nname = "a"\nprocess_path = "/x"\n\n[[mutes.rule]]\nname = "b"\nevents = ["opne"]\nuid = 1\n',
     "mutes.rule[1].events", 7),
    ('[[mutes.rule]]\nname = "a"\n', "mutes.rule[0]", 1),
    ('[[mutes.rule]]\nprocess_path = "/x"\nteam_id = "T"\n', "mutes.rule[0]", 1),
    ('[[mutes.rule]]\nuid = "root"\n', "mutes.rule[0].uid", 2),
    ('[[mutes.rule]]\nprocess_path = []\n', "mutes.rule[0].process_path", 2),
    ('[[mutes.rule]]\nname = "a"\nuid = 1\n[[mutes.rule]]\nname = "a"\nuid = 2\n', "mutes.rule[1].name", 5),
    ('[[mutes.rule]]\nname = "default:x"\nuid = 1\n', "mutes.rule[0].name", 2),
    ('[[filters.rule]]\naction = "drop"\ncolumn = "nope"\nequals = 1\n', "filters.rule[0].column", 3),
    ('[[filters.rule]]\naction = "ignore"\ncolumn = "uid"\nequals = 1\n', "filters.rule[0].action", 2),
    ('[[filters.rule]]\naction = "drop"\ncolumn = "uid"\nprefix = "5"\n', "filters.rule[0].prefix", 4),
    ('[[filters.rule]]\naction = "drop"\ncolumn = "path"\ngt = 5\n', "filters.rule[0].gt", 4),
    ('[[filters.rule]]\naction = "drop"\ncolumn = "path"\nregex = "("\n', "filters.rule[0].regex", 4),
    ('[[filters.rule]]\naction = "drop"\ncolumn = "uid"\nequals = "0"\n', "filters.rule[0].equals", 4),
    ('[[filters.rule]]\naction = "drop"\ntables = ["es_mutes"]\ncolumn = "uid"\nequals = 0\n', "filters.rule[0].tables", 3),
    ('[[filters.rule]]\naction = "drop"\ntables = ["es_fork"]\ncolumn = "filename"\nequals = "x"\n',
     "filters.rule[0].column", 4),
    ('[[filters.rule]]\naction = "drop"\nall = [ { column = "uid", lt = 1 },\n  { any = [] } ]\n',
     "filters.rule[0].all[1].any", 4),
    ('[[filters.rule]]\naction = "drop"\ncolumn = "eid"\ngt = 1\n', "filters.rule[0].column", 3),
    ('[redaction]\ndisable = ["env-tokens"]\n', "redaction.disable", 2),
    ('[[redaction.rule]]\nname = "r"\npattern = "[a-"\n', "redaction.rule[0].pattern", 3),
    ('[[redaction.rule]]\nname = "env-token"\nenv_name = "X"\n', "redaction.rule[0].name", 2),
    ('[[redaction.rule]]\nenv_name = "X"\npattern = "Y"\n', "redaction.rule[0]", 1),
    ('[rings.es_open]\ncapacity = 0\n', "rings.es_open.capacity", 2),
    ('[rings.es_open]\nsize = 1\n', "rings.es_open.size", 2),
    ('[lineage]\n\nexited_max = -1\n', "lineage.exited_max", 3),
    ('[clients]\nproc = ["exec"]\nother = ["exec"]\n', "clients.other", 3),
    ('[eslogger]\nbinary = "eslogger"\n', "eslogger.binary", 2),
    ('surprise = 1\n', "surprise", 1),
    # ranges and non-finite numbers (issue 10 item 11)
    ('[eslogger]\nbackoff_initial = nan\n', "eslogger.backoff_initial", 2),
    ('[eslogger]\nbackoff_max = inf\n', "eslogger.backoff_max", 2),
    ('[eslogger]\nbackoff_max = 1e300\n', "eslogger.backoff_max", 2),
    ('[eslogger]\nbackoff_initial = -inf\n', "eslogger.backoff_initial", 2),
    ('[rings.es_opne]\ncapacity = 10\n', "rings.es_opne", 1),
    ('[rings.es_sources]\ncapacity = 10\n', "rings.es_sources", 1),
    ('[rings.es_open]\ncapacity = 4611686018427387904\n', "rings.es_open.capacity", 2),
    ('[lineage]\nmax_processes = 9223372036854775807\n', "lineage.max_processes", 2),
    ('[input]\nmax_line_bytes = 10\n', "input.max_line_bytes", 2),
    ('[[filters.rule]]\naction = "drop"\ncolumn = "uid"\ngt = 99999999999999999999\n', "filters.rule[0].gt", 4),
    # [source] live: the live source of `osq-esf run` without --source
    ('# the live source\n[source]\nlive = "Native"\n', "source.live", 3),
    ('[source]\nlive = "replay:/tmp/x"\n', "source.live", 2),
    ('[source]\nlive = true\n', "source.live", 2),
    ('[source]\nlive = "native"\nclients = ["file"]\n', "source.clients", 3),
    ('source = "native"\n', "source", 1),
]


@pytest.mark.parametrize("text, key, line", BAD, ids=[b[1] + f"#{i}" for i, b in enumerate(BAD)])
def test_invalid_config_names_key_and_line(text, key, line):
    with pytest.raises(ConfigError) as e:
        parse_config(text, "osq-esf.toml")
    msg = str(e.value)
    assert msg.startswith(f"osq-esf.toml: {key}: "), msg
    assert msg.endswith(f"(line {line})"), msg


def test_toml_syntax_errors_are_refused_with_their_position():
    with pytest.raises(ConfigError, match=r"osq-esf.toml: .*line 2"):
        parse_config("[mutes]\ndefaults = \n", "osq-esf.toml")


def test_find_line_follows_headers_and_blocks():
    text = "[rings.es_open]\ncapacity = 5\n[mutes]\ndefaults = true\n[[mutes.rule]]\nuid = 1\n[[mutes.rule]]\nuid = 2\n"
    assert find_line(text, "rings.es_open.capacity") == 2
    assert find_line(text, "rings") == 1
    assert find_line(text, "mutes.rule[1].uid") == 8
    assert find_line(text, "mutes.rule[1].events") == 7  # absent: its rule's header


def test_shipped_example_is_valid_and_means_what_it_says():
    cfg = load_config_file(str(REPO / "packaging" / "osq-esf.example.toml"))
    assert cfg.rules.mutes.defaults is True
    assert {r.name for r in cfg.rules.mutes.rules} >= {"backup-agent"}
    assert all(f.action in ("drop", "keep") for f in cfg.rules.filters)


def test_empty_config_means_defaults():
    cfg = parse_config("")
    assert cfg.rules.mutes.defaults and cfg.rules.redaction.defaults and cfg.rules.filters == ()
    assert cfg.live == "auto"


@pytest.mark.parametrize("live", ["auto", "eslogger", "native"])
def test_source_live_names_the_default_live_source(live):
    assert parse_config(f'[source]\nlive = "{live}"\n').live == live
    assert parse_config("[source]\n").live == "auto"


# -- safe permissions -------------------------------------------------------------------

@pytest.fixture
def config_file(tmp_path):
    p = tmp_path / "osq-esf.toml"
    p.write_text("[mutes]\ndefaults = false\n")
    os.chmod(p, 0o644)
    return p


def test_world_writable_config_is_refused_unless_allowed(config_file):
    os.chmod(config_file, 0o666)
    with pytest.raises(ConfigError, match="world-writable"):
        load_config_file(str(config_file))
    assert load_config_file(str(config_file), allow_unsafe=True).rules.mutes.defaults is False
    os.chmod(config_file, 0o664)  # group-writable is allowed, as in osquery
    load_config_file(str(config_file))


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_config_owned_by_another_user_is_refused(config_file):
    os.chown(config_file, 4242, 4242)
    with pytest.raises(ConfigError, match="owned by uid 4242"):
        load_config_file(str(config_file))
    load_config_file(str(config_file), allow_unsafe=True)


def test_a_directory_or_missing_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="not a regular file|Is a directory"):
        load_config_file(str(tmp_path))
    with pytest.raises(ConfigError, match="No such file"):
        load_config_file(str(tmp_path / "missing.toml"))


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "osq_esf", "run", "--socket", "/nonexistent/em", "--timeout", "0.2",
                           "--source", "replay:/dev/null", *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO)


def test_run_refuses_unsafe_and_invalid_configs(config_file):
    os.chmod(config_file, 0o646)
    r = run_cli("--config", str(config_file))
    assert r.returncode == 2 and "world-writable" in r.stderr and "--allow-unsafe-config" in r.stderr
    # With the override the config is accepted; the run then fails only on the missing manager.
    r = run_cli("--config", str(config_file), "--allow-unsafe-config")
    assert r.returncode == 1 and "extension manager" in r.stderr
    os.chmod(config_file, 0o644)
    config_file.write_text('[[mutes.rule]]\nname = "x"\nevents = ["nope"]\nuid = 0\n')
    r = run_cli("--config", str(config_file))
    assert r.returncode == 2 and "mutes.rule[0].events" in r.stderr and "(line 3)" in r.stderr


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    """Opening a FIFO blocks until a writer comes: start-up hung, and a SIGHUP reload held
    the reload lock forever.  The test would hang (pytest's own timeout aside) before the fix."""
    fifo = tmp_path / "osq-esf.toml"
    os.mkfifo(fifo)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config_file(str(fifo), allow_unsafe=True)
    with pytest.raises(ConfigError, match="not a regular file"):
        load_config_file(str(fifo))


def test_a_refused_reload_keeps_its_error_for_a_status_table(tmp_path):
    from osq_esf.reload import ConfigReloader
    from osq_esf.status import stage_rows
    from tests.pipelines import make_pipeline

    path = tmp_path / "c.toml"
    path.write_text("[mutes]\ndefaults = true\n")
    p, _ = make_pipeline(source=None)
    r = ConfigReloader(p, str(path))
    r.install_initial()
    assert r.reload("test") and r.reloads == 1 and r.last_error is None
    path.write_text("[rings.es_opne]\ncapacity = 1\n")
    assert not r.reload("test")
    (row,) = [x for x in stage_rows(p, r) if x["stage"] == "config"]
    assert row["state"] == "refused" and row["items"] == 1 and row["errors"] == 1
    assert "rings.es_opne" in row["last_error"] and row["changed"] > 0


def _blocked_opening_a_fifo(pid: int) -> bool:
    import glob

    for wchan in glob.glob(f"/proc/{pid}/task/*/wchan"):
        try:
            if "partner" in open(wchan).read() or "fifo" in open(wchan).read():
                return True
        except OSError:
            pass
    return False


def test_a_sighup_during_start_up_does_not_kill_the_extension(tmp_path):
    """The replay source's start-up check opens a FIFO and waits for a writer: SIGHUP lands
    inside App.from_args, where it used to take the default action (exit)."""
    import signal
    import time

    from tests.idl_peer import IdlManager, stop_child

    fifo = tmp_path / "rec.jsonl"
    os.mkfifo(fifo)
    manager = IdlManager(str(tmp_path / "em")).start()
    proc = subprocess.Popen([sys.executable, "-m", "osq_esf", "run", "--socket", str(tmp_path / "em"),
                             "--timeout", "10", "--source", f"replay:{fifo}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while not _blocked_opening_a_fifo(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _blocked_opening_a_fifo(proc.pid)
        proc.send_signal(signal.SIGHUP)
        time.sleep(0.2)  # let the signal be delivered while it still waits
        try:  # a writer: the start-up check goes on (ENXIO: the reader is gone, killed by SIGHUP)
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        assert proc.poll() is None, "SIGHUP during start-up killed the extension"
        assert manager.handler.registered.wait(30), proc.stderr.read1().decode() if proc.poll() is not None else ""
        assert proc.poll() is None
    finally:
        # The replay source now waits for a writer of the FIFO: one that opens and closes it ends
        # the source, so the extension stops at once instead of after the 5 s a blocked source gets.
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            if _blocked_opening_a_fifo(proc.pid):
                try:
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
                    break
                except OSError:
                    pass
            time.sleep(0.02)
        stop_child(proc)
        proc.stderr.close()
        manager.stop()
