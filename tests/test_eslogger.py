"""The live eslogger source against tests/fakes/eslogger (a test double): rows, restarts, losses, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from osq_esf.config import parse_config
from osq_esf.health import TOTAL
from osq_esf.sources.base import SourceError
from osq_esf.sources.eslogger import EsloggerSource, eslogger_sources, explain
from tests.test_health import buffered_in_rings, conserved, msg, pipeline, rows_by

FAKE = str(Path(__file__).parent / "fakes" / "eslogger")


def wait_for(pred, timeout: float = 20.0, what: str = "condition"):
    """Poll until ``pred()`` is truthy (a bound on waiting, not a speed assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise TimeoutError(what)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def pids(state: Path) -> list[int]:
    p = state / "pids"
    return [int(x) for x in p.read_text().split()] if p.exists() else []


def config(tmp_path: Path, clients: str = "", backoff: str = "backoff_initial = 0.01\nbackoff_max = 0.05") -> Path:
    path = tmp_path / "osq-esf.toml"
    path.write_text(f'{clients}\n[eslogger]\nbinary = "{FAKE}"\n{backoff}\n')
    path.chmod(0o600)
    return path


@pytest.fixture
def fake_env(tmp_path, monkeypatch):
    """Environment of the fake: a state directory and an input file the test fills."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("FAKE_ESLOGGER_STATE", str(state))
    monkeypatch.setenv("FAKE_ESLOGGER_INPUT", str(tmp_path / "in.jsonl"))
    monkeypatch.delenv("FAKE_ESLOGGER_FAIL", raising=False)
    return state, tmp_path / "in.jsonl"


def sources(p, tmp_path, clients="", arg=""):
    cfg = parse_config(config(tmp_path, clients).read_text())
    return eslogger_sources(p, arg, "eslogger" + (":" + arg if arg else ""), cfg)


def run_until(p, srcs, pred, what):
    for s in srcs:
        s.start()
    try:
        wait_for(pred, what=what)
    finally:
        for s in srcs:
            s.stop()
        for s in srcs:
            s.join(10)


# -- the double itself ------------------------------------------------------------------------

def test_fake_lists_events_and_refuses_unknown_names_like_eslogger(monkeypatch):
    monkeypatch.setenv("FAKE_ESLOGGER_MACOS", "13.0")
    names = subprocess.run([FAKE, "--list-events"], capture_output=True, check=True).stdout.split()
    assert b"exec" in names and b"iokit_open" in names and b"tcc_modify" not in names
    r = subprocess.run([FAKE, "exec", "tcc_modify"], capture_output=True)
    assert r.returncode != 0 and b"tcc_modify" in r.stderr


def test_fake_dies_of_sigpipe_when_its_reader_goes(tmp_path, monkeypatch):
    src = tmp_path / "in.jsonl"
    src.write_text(msg("exec", 1) + "\n")
    monkeypatch.setenv("FAKE_ESLOGGER_INPUT", str(src))
    monkeypatch.setenv("FAKE_ESLOGGER_LOOP", "1")
    proc = subprocess.Popen([FAKE, "exec"], stdout=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(20) == -signal.SIGPIPE


# -- starting ---------------------------------------------------------------------------------

def test_types_this_macos_lacks_are_left_out_and_named_in_es_sources(tmp_path, fake_env, monkeypatch):
    """eslogger refuses a whole list with one unknown name: such types are left out, and es_sources
    says which and why; a client left with nothing is not started."""
    monkeypatch.setenv("FAKE_ESLOGGER_MACOS", "14.0")
    p = pipeline()
    srcs = sources(p, tmp_path, '[clients]\nprocess = ["exec", "fork", "exit"]\n'
                                'sec = ["btm_launch_item_add", "tcc_modify"]\ngk = ["gatekeeper_user_override"]')
    assert [(s.state.name, s.event_names) for s in srcs] == [("process", ["exec", "fork", "exit"]),
                                                              ("sec", ["btm_launch_item_add"])]
    (row,) = [r for r in p.source_rows() if r["name"] == "sec"]
    assert row["subscribed"] == "btm_launch_item_add"
    assert "tcc_modify" in row["skipped"] and "macOS 15.4" in row["skipped"]
    assert "gk" not in {s.state.name for s in srcs}  # gatekeeper_user_override came with macOS 15
    assert not pids(fake_env[0])  # nothing was started yet


def test_a_name_that_is_no_es_event_is_refused(tmp_path, fake_env):
    with pytest.raises(SourceError, match="'tcc_modfy' is not an ES NOTIFY event name"):
        sources(pipeline(), tmp_path, '[clients]\nsec = ["tcc_modfy"]')


def test_clients_can_be_selected_and_lineage_events_are_always_subscribed(tmp_path, fake_env):
    p = pipeline()
    srcs = sources(p, tmp_path, '[clients]\nfiles = ["open", "close"]\nio = ["iokit_open"]', arg="files")
    # Choosing only file clients still brings the process events lineage needs (issue 5).
    assert [(s.state.name, s.event_names) for s in srcs] == [("files", ["open", "close"]),
                                                              ("process", ["exec", "fork", "exit"])]
    srcs = sources(pipeline(), tmp_path, '[clients]\nfiles = ["open", "close"]')
    assert {s.state.name: s.event_names for s in srcs} == {"files": ["open", "close"], "process": ["exec", "fork", "exit"]}
    with pytest.raises(SourceError, match="no client named 'nope'"):
        sources(pipeline(), tmp_path, arg="nope")


def test_a_missing_binary_is_refused_with_its_path(tmp_path):
    cfg = parse_config(f'[eslogger]\nbinary = "{tmp_path}/eslogger"\n')
    with pytest.raises(SourceError, match="missing or not executable"):
        eslogger_sources(pipeline(), "", "eslogger", cfg)


def test_stderr_explanations():
    assert "Full Disk Access" in explain("es_new_client: ES_NEW_CLIENT_RESULT_ERR_NOT_PERMITTED")
    assert "root" in explain("ERR_NOT_PRIVILEGED")
    assert explain("something else") is None


# -- accounting through live children ---------------------------------------------------------

def test_injected_gaps_are_counted_exactly_per_client_and_type(tmp_path, fake_env):
    state, inp = fake_env
    lines, want = [], {("file", "open"): 0, ("file", "close"): 0, ("process", "exec"): 0, ("process", "fork"): 0}
    n = 0
    for block, (gaps) in enumerate([{}, {"open": 100, "close": 20}, {"exec": 7}, {"open": 1, "fork": 3}]):
        for ty, k in gaps.items():
            lines.append(f"#!gap {ty} {k}")
            want[("file" if ty in ("open", "close") else "process", ty)] += k
        for _ in range(25):
            for ty in ("open", "exec", "close", "fork"):
                lines.append(msg(ty, n))
                n += 1
    lines += ["#!global-gap exec 5", "#!garbage open {not json", msg("exec", n), msg("open", n + 1)]
    inp.write_text("\n".join(lines) + "\n")
    p = pipeline(es_open=30)  # small enough that open rows are evicted too
    srcs = sources(p, tmp_path, '[clients]\nprocess = ["exec", "fork", "exit"]\nfile = ["open", "close"]')

    def done():
        r = rows_by(p)
        return r["process", TOTAL]["received"] == 201 and r["file", TOTAL]["received"] == 202
    run_until(p, srcs, done, "all lines read")
    rows = rows_by(p)
    for key, lost in want.items():
        assert rows[key]["lost"] == lost, key
        assert rows[key]["seq_gaps"] == (2 if key == ("file", "open") else 1 if lost else 0), key
    # global: every per-type gap shows there too, plus the 5 of a type this client never shows
    assert rows["process", TOTAL]["lost"] == 7 + 3 + 5
    assert rows["file", TOTAL]["lost"] == 121
    assert rows["file", TOTAL]["decode_errors"] == 1 and rows["file", "open"]["decode_errors"] == 0
    assert rows["file", "open"]["evicted"] > 0
    assert all(conserved(r) for r in rows.values()), rows
    in_rings = buffered_in_rings(p)
    assert all(r["buffered"] == in_rings.get((r["client"], r["event_type"]), 0)
               for r in rows.values() if r["event_type"] != TOTAL)
    assert all(r["regressions"] == 0 and r["restarts"] == 0 for r in rows.values())


def test_crash_truncation_and_regression_restart_cleanly(tmp_path, fake_env):
    state, inp = fake_env
    lines = [msg("exec", i) for i in range(10)] + ["#!crash exec"] + [msg("exec", i) for i in range(10, 15)]
    lines += ["#!regress exec 3", msg("exec", 15), "#!truncate exec", msg("exec", 16)]
    inp.write_text("\n".join(lines) + "\n")
    p = pipeline()
    srcs = sources(p, tmp_path, '[clients]\nprocess = ["exec", "fork", "exit"]')
    # 1st child: 10, then the crash.  2nd: 15, the regression, 1, a truncated line and death.
    # 3rd: the whole stream (crash and truncation happen once), then it idles.
    run_until(p, srcs, lambda: rows_by(p)["process", "exec"]["received"] == 10 + 16 + 17, "three children")
    r = rows_by(p)
    exec_row, total = r["process", "exec"], r["process", TOTAL]
    assert (exec_row["lost"], total["lost"]) == (0, 0)  # restarts are not losses
    assert (exec_row["restarts"], exec_row["regressions"], exec_row["seq_gaps"]) == (2, 2, 0)
    assert (total["decode_errors"], total["received"]) == (1, 44)
    assert all(conserved(x) for x in r.values())
    assert not any(alive(pid) for pid in pids(state))


def test_stderr_of_a_refused_client_is_explained(tmp_path, fake_env, monkeypatch, caplog):
    monkeypatch.setenv("FAKE_ESLOGGER_FAIL", "not_permitted")
    fake_env[1].write_text("")
    p = pipeline()
    srcs = sources(p, tmp_path, '[clients]\nprocess = ["exec"]')
    run_until(p, srcs, lambda: len(pids(fake_env[0])) >= 3, "restarts")
    st = srcs[0].state
    assert "ERR_NOT_PERMITTED" in st.last_error and "Full Disk Access" in st.last_error
    assert any("PPPC" in r.getMessage() for r in caplog.records)


def test_slow_consumer_losses_match_what_the_kernel_dropped(tmp_path, fake_env, monkeypatch):
    """The fake's queue emulation drops while we are slow; es_health must count exactly those."""
    state, inp = fake_env
    monkeypatch.setenv("FAKE_ESLOGGER_QUEUE", "8")
    monkeypatch.setenv("FAKE_ESLOGGER_EXIT", "1")
    body = "".join(msg(ty, i) + "\n" for i in range(400) for ty in ("open", "close"))
    # A pause lets the queue drain, so the last message of each type arrives: a drop at the very
    # end of a stream leaves no gap behind it, for eslogger as for anyone.
    inp.write_text(body + "#!sleep open 1.0\n" + msg("open", 401) + "\n" + msg("close", 402) + "\n")

    class Slow:
        """A rules stage that keeps everything, slowly."""

        def plan_of(self, layout, short):
            return self.verdict

        def redaction_of(self, layout):
            return None

        def verdict(self, *a):
            time.sleep(0.0005)
            return None

    p = pipeline()
    p.rules = Slow()
    cfg = parse_config(config(tmp_path, '[clients]\nfile = ["open", "close"]\n[lineage]\nprocess_events = false',
                              "backoff_initial = 600\nbackoff_max = 600").read_text())
    srcs = [s for s in eslogger_sources(p, "file", "eslogger:file", cfg)]
    # One child only (the restart waits 600 s): its whole stream is read before "restarting".
    run_until(p, srcs, lambda: srcs[0].state.state == "restarting", "the child to end")
    [stats_file] = state.glob("stats-*")
    stats = json.loads(stats_file.read_text())
    assert stats["global_drops"] > 0, "the fake's queue never overflowed: make the consumer slower"
    r = rows_by(p)
    for ty in ("open", "close"):
        assert r["file", ty]["lost"] == stats["drops"].get(ty, 0), ty
        assert r["file", ty]["received"] + r["file", ty]["lost"] == 401, ty
    assert r["file", TOTAL]["lost"] == stats["global_drops"]
    assert r["file", TOTAL]["received"] + r["file", TOTAL]["lost"] == 802
    assert all(conserved(x) for x in r.values())


# -- the whole extension, through the real protocol -----------------------------------------

def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_run_with_the_fake_serves_rows_survives_20_kills_and_leaves_no_orphan(tmp_path, fake_env, monkeypatch,
                                                                          extension_factory):
    state, inp = fake_env
    monkeypatch.setenv("FAKE_ESLOGGER_LOOP", "1")  # a busy Mac: events keep coming
    inp.write_text("".join(msg(ty, i, 0, 0) + "\n" for i in range(20) for ty in ("exec", "fork", "exit")))
    cfg = config(tmp_path, '[clients]\nprocess = ["exec", "fork", "exit"]')
    ext = extension_factory("--source", "eslogger", "--config", str(cfg))
    wait_for(lambda: ext.generate("es_exec"), what="live rows")
    wait_for(lambda: pids(state), what="a child")
    fds = None
    for k in range(20):
        pid = pids(state)[-1]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: len(pids(state)) == k + 2, what=f"restart {k + 1}")
        if k == 0:
            fds = fd_count(ext.proc.pid)
    rows = {(r["client"], r["event_type"]): r for r in ext.generate("es_health")}
    assert rows["process", TOTAL]["restarts"] == "20"
    assert rows["process", TOTAL]["state"] == "running"
    for r in rows.values():
        assert int(r["received"]) == sum(int(r[k]) for k in ("buffered", "evicted", "muted", "filtered",
                                                              "decode_errors")), r
    assert ext.generate("es_exec")
    assert fd_count(ext.proc.pid) <= fds + 2  # a leak per restart would show 19 times over
    started = pids(state)
    assert not any(alive(pid) for pid in started[:-1])  # reaped: no zombies, no orphans
    ext.proc.terminate()
    assert ext.proc.wait(20) == 0
    wait_for(lambda: not alive(started[-1]), what="the last child to go with the extension")


def test_children_die_when_the_extension_is_sigkilled(tmp_path, fake_env, extension_factory):
    state, inp = fake_env
    inp.write_text(msg("exec", 1) + "\n")
    ext = extension_factory("--source", "eslogger", "--config", str(config(tmp_path)))
    children = wait_for(lambda: len(pids(state)) >= 3 and pids(state), what="three clients")
    assert all(alive(pid) for pid in children)
    ext.proc.kill()
    ext.proc.wait()
    # PR_SET_PDEATHSIG on Linux; on macOS the next write would fail with SIGPIPE instead.
    wait_for(lambda: not any(alive(pid) for pid in children), what="children to die with their parent")


def test_in_process_restart_loop_leaks_no_fds(tmp_path, fake_env, monkeypatch):
    state, inp = fake_env
    monkeypatch.setenv("FAKE_ESLOGGER_EXIT", "1")  # every child ends at once: a fast restart loop
    inp.write_text(msg("exec", 1) + "\n")
    p = pipeline()
    src = EsloggerSource(p, "process", ["exec"], FAKE, backoff_initial=0.001, backoff_max=0.002)
    before = fd_count(os.getpid())
    src.start()
    wait_for(lambda: len(pids(state)) >= 8, what="8 starts")
    src.stop()
    src.join(10)
    assert fd_count(os.getpid()) <= before + 1
    assert not any(alive(pid) for pid in pids(state))
    assert src.state.state == "stopped"
