"""The native source against a simulator as unforgiving as the real API (native/README.md).

Each defect of the first native client (D1-D7 and the rest) has a test here that
failed before its fix: kernel queue drops counted exactly, injected failures of every
call, a handler call after es_delete_client, AUTH deadlines, calls macOS 11/12 lack,
reloads under inversion, oversized argv, a drain buffer too small, the client's own
events, a wall-clock jump.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from osq_esf import events
from osq_esf.health import TOTAL
from osq_esf.sources import SourceError
from osq_esf.sources.native import CAP_INVERSION, CAP_PATH_EVENTS, CAP_TARGET_PATHS, ENV_SIM
from tests.native_messages import BODIES
from tests.native_sim import (BY_NAME, Builder, RawClient, build_simulator, by_client, calls, es_of,
                              install_rules, load_default_mute_set, muted_paths, running, start, stop,
                              violations, wait_for, without_self_mute)
from tests.test_health import conserved, pipeline, rows_by

AUTH_TYPES = sorted(t.number for t in events.BY_NUMBER.values() if t.action == "AUTH")


# -- the kernel queue: drops and sequence numbers ------------------------------------------------

def test_a_flood_drops_in_the_kernel_and_es_health_counts_every_drop(sim):
    """A bounded kernel queue in front of a slow reader: what it drops is exactly what es_health.lost says."""
    sim.lib.es_sim_set_queue_limit(16)
    p = pipeline(es_open=200_000, es_write=200_000)
    srcs = start(p, sim, '[clients]\nfile = ["open", "write"]\n[lineage]\nenabled = false\n', ring_bytes=16 << 10)
    src = srcs["file"]
    try:
        es = es_of(sim, src)
        b = Builder(sim)
        msgs = [b.open("/Users/me/flood/a-longish-path-to-fill-the-ring"), b.write("/Users/me/flood/b")]
        outcomes = {0: 0, 3: 0}
        for i in range(20_000):
            outcomes[sim.lib.es_sim_deliver(es, msgs[i % 3 == 0])] += 1
        assert sim.lib.es_sim_wait_idle(es, 30_000) == 0
        dropped = sim.lib.es_sim_dropped(es)
        assert dropped == outcomes[3] > 0 and outcomes[0] + outcomes[3] == 20_000
        # One more of each type, queued for sure: the last drops show up as gaps too.
        for m in msgs:
            assert sim.lib.es_sim_deliver(es, m) == 0
        assert sim.lib.es_sim_wait_idle(es, 5000) == 0
        wait_for(lambda: src.state.events == outcomes[0] + 2, "every queued message", 30)
    finally:
        stop(srcs)
    rows = rows_by(p)
    assert rows[("file", TOTAL)]["lost"] == dropped
    assert rows[("file", "open")]["lost"] + rows[("file", "write")]["lost"] == dropped
    assert rows[("file", TOTAL)]["received"] == outcomes[0] + 2
    assert all(conserved(r) for r in rows.values())


# -- injected failures ---------------------------------------------------------------------------

def test_a_failed_es_subscribe_fails_the_client_and_says_so(sim):
    sim.lib.es_sim_fail(b"subscribe", 1)
    p = pipeline()
    srcs = start(p, sim, '[clients]\nfile = ["open"]\n[lineage]\nenabled = false\n')
    stop(srcs)
    (row,) = p.source_rows()
    assert row["state"] == "failed" and row["last_error"] == "es_subscribe failed for open"


FILE_MUTES = """
[clients]
file = ["open", "write"]
[lineage]
enabled = false
[mutes]
defaults = false
[[mutes.rule]]
name = "tools"
process_path_prefix = "/opt/tools/"
"""


@pytest.mark.parametrize("call", ["mute_path_events", "mute_process"])
def test_failed_mute_calls_leave_the_rules_to_the_pipeline(sim, call):
    sim.lib.es_sim_fail(call.encode(), 1)
    p = pipeline()
    install_rules(p, FILE_MUTES)
    srcs = start(p, sim, FILE_MUTES)
    try:
        src = srcs["file"]
        assert src.state.state == "running"
        es = es_of(sim, src)
        b = Builder(sim)
        verdict = sim.lib.es_sim_deliver(es, b.open(process=b.process("/opt/tools/x")))
        assert sim.lib.es_sim_deliver(es, b.open(process=b.process("/bin/ls"))) == 0
        assert sim.lib.es_sim_wait_idle(es, 5000) == 0
        rows = {r["name"]: r for r in p.rules.rows()}
        if call == "mute_path_events":
            assert verdict == 0 and rows["tools"]["applied"] == "pipeline"  # the kernel let it through
            wait_for(lambda: rows_by(p)[("file", "open")]["muted"] == 1, "the pipeline to mute it")
        else:
            assert verdict == 2 and rows["tools"]["applied"] == "kernel+pipeline"
            assert src.stats()["self_muted"] == 0
    finally:
        stop(srcs)


def test_a_failed_es_delete_client_is_reported_and_its_late_calls_touch_nothing(sim, caplog):
    sim.lib.es_sim_fail(b"delete_client", 1)
    p = pipeline()
    srcs = start(p, sim, '[clients]\nfile = ["open"]\n[lineage]\nenabled = false\n')
    es = es_of(sim, srcs["file"])
    stop(srcs)
    assert "es_delete_client failed" in caplog.text
    # ES kept the client: a message for it reaches the handler, which ignores it.
    before = sim.lib.esf_late_messages()
    sim.lib.es_sim_subscribe(es, events.number_of("open"))
    assert sim.lib.es_sim_deliver(es, Builder(sim).open()) == 0
    assert sim.lib.es_sim_wait_idle(es, 5000) == 0
    assert sim.lib.esf_late_messages() == before + 1


LATE = textwrap.dedent("""
    import os, sys
    sys.path.insert(0, {repo!r})
    os.environ[{env!r}] = {sim_dir!r}
    from osq_esf.sources.native import load_module
    from tests.native_sim import Builder, RawClient
    mod = load_module()
    mod.lib.es_sim_reset()
    raw = RawClient(mod, ["open"])
    b = Builder(mod)
    mod.lib.es_sim_set_late_message(raw.es, b.open("/late"))
    assert raw.close() == 0
    assert mod.lib.es_sim_wait_late(5000) == 0
    print("late", mod.lib.esf_late_messages())
""")


def test_a_handler_call_after_es_delete_client_touches_no_freed_memory(sim_dir):
    """D2: the simulator calls the handler once more after es_delete_client returned; the
    client's memory is behind a guard page by then, so any access would crash the process."""
    from tests.conftest import REPO

    script = LATE.format(repo=str(REPO), env=ENV_SIM, sim_dir=sim_dir)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"the late handler call crashed (signal {-r.returncode}): {r.stderr[-2000:]}"
    assert r.stdout.split() == ["late", "1"]


# -- AUTH ----------------------------------------------------------------------------------------

def test_auth_types_are_refused_before_es_subscribe(sim):
    """D7: nothing here answers AUTH messages within their deadline, so the C layer never subscribes one."""
    with RawClient(sim, ["open"]) as r:
        for number in AUTH_TYPES:
            rc = sim.lib.esf_subscribe(r.c, sim.ffi.new("uint32_t[]", [number]),
                                       sim.ffi.new("char *[]", [sim.ffi.new("char[]", b"x")]), 1)
            assert rc == -2, number
        assert sum(c.startswith("subscribe") for c in calls(sim)) == 1  # only the RawClient's own


def test_an_auth_message_that_arrives_anyway_is_allowed_at_once(sim):
    """D7, second line of defence: AUTH_OPEN answered with flags, any other AUTH type with ALLOW.
    The simulator kills the client and records a violation for a missed deadline."""
    b = Builder(sim)
    with RawClient(sim, ["open"]) as r:
        for short, answer in (("open", "respond_flags_result"), ("exec", "respond_auth_result")):
            auth = BY_NAME[f"ES_EVENT_TYPE_AUTH_{short.upper()}"].number
            sim.lib.es_sim_subscribe(r.es, auth)
            m = BODIES[short](b, short, 10)
            m.action_type, m.event_type = 0, auth
            assert r.line(m) == b""  # answered, not written: eslogger writes NOTIFY only
            assert any(c.startswith(answer) and c.endswith(f"{auth} -> 0") for c in calls(sim))
        assert r.stats().auth_answered == 2


# -- macOS 11 and 12 (D1) ------------------------------------------------------------------------

OLD_OS_RULES = """
[clients]
file = ["open", "write"]
[lineage]
enabled = false
[mutes]
defaults = false
[[mutes.rule]]
name = "everywhere"
process_path_prefix = "/opt/tools/"
[[mutes.rule]]
name = "opens"
process_path = "/usr/bin/noisy"
events = ["open"]
[[mutes.rule]]
name = "tmp"
target_path_prefix = "/private/tmp/"
"""


@pytest.mark.parametrize("os_version,caps,expected", [
    ((11, 7), 0, ["mute_path_prefix 0 /opt/tools/ *"]),
    ((12, 6), CAP_PATH_EVENTS, ["mute_path_events 0 /opt/tools/ 10,33", "mute_path_events 1 /usr/bin/noisy 10"]),
    ((13, 0), CAP_PATH_EVENTS | CAP_TARGET_PATHS | CAP_INVERSION,
     ["mute_path_events 0 /opt/tools/ 10,33", "mute_path_events 1 /usr/bin/noisy 10",
      "mute_path_events 2 /private/tmp/ 10,33"]),
])
def test_older_macos_gets_only_the_calls_it_has_and_is_told_what_it_lacks(sim, os_version, caps, expected):
    """D1: no macOS 12/13 call runs on macOS 11 (the simulator records any as a violation:
    a crash on a real Mac); the fallback mutes what it can and the source names the rest."""
    sim.lib.es_sim_set_os_version(*os_version)
    assert sim.lib.esf_capabilities() == caps
    p = pipeline()
    install_rules(p, OLD_OS_RULES)
    srcs = start(p, sim, OLD_OS_RULES)
    try:
        (c,) = by_client(calls(sim)).values()
        assert sorted(x for x in without_self_mute(c) if x.startswith("mute")) == sorted(expected)
        rows = {r["name"]: r["applied"] for r in p.rules.rows()}
        (row,) = p.source_rows()
        if os_version < (13, 0):
            assert rows["tmp"] == "pipeline"
            assert "target-path mutes (macOS 13)" in row["last_error"]
            assert ("per-event path mutes (macOS 12)" in row["last_error"]) == (os_version < (12, 0))
        assert rows["opens"] == ("pipeline" if os_version < (12, 0) else "kernel+pipeline")
        assert rows["everywhere"] == "kernel+pipeline"
    finally:
        stop(srcs)


def test_inversion_on_macos_12_stays_in_the_pipeline(sim):
    sim.lib.es_sim_set_os_version(12, 6)
    from tests.test_native import INVERTED

    p = pipeline()
    install_rules(p, INVERTED)
    srcs = start(p, sim, INVERTED)
    try:
        (c,) = by_client(calls(sim)).values()
        assert without_self_mute(c) == ["new_client 0", "subscribe 10,33"]
        assert {r["name"]: r["applied"] for r in p.rules.rows()}["invert:process_path"] == "pipeline"
    finally:
        stop(srcs)


def test_the_mac_build_targets_macos_11_whatever_python_was_built_for():
    from tests.conftest import REPO

    sys.path.insert(0, str(REPO / "native"))
    try:
        import build as native_build
    finally:
        sys.path.remove(str(REPO / "native"))
    kwds = native_build.make_ffi(simulator=False)._assigned_source[3]
    assert "-mmacosx-version-min=11.0" in kwds["extra_compile_args"]
    assert "-mmacosx-version-min=11.0" in kwds["extra_link_args"]
    assert native_build.ffibuilder._assigned_source[0] == "osq_esf._esf_native"  # into the package, not the tree


def test_a_shim_that_does_not_load_is_explained_not_called_missing(monkeypatch):
    """D1: built for a newer macOS, the import fails with a dlopen error; say that, not 'build it'."""
    import importlib.abc

    class Broken(importlib.abc.MetaPathFinder):
        error = ImportError("dlopen(_esf_native.so): Symbol not found: _es_mute_path_events")

        def find_spec(self, name, path=None, target=None):
            if name == "osq_esf._esf_native":
                raise self.error
            return None

    from osq_esf.sources.native import load_module

    broken = Broken()
    monkeypatch.delenv(ENV_SIM, raising=False)
    monkeypatch.delitem(sys.modules, "osq_esf._esf_native", raising=False)
    monkeypatch.setattr(sys, "meta_path", [broken, *sys.meta_path])
    with pytest.raises(SourceError) as e:
        load_module()
    assert "does not load" in str(e.value) and "Symbol not found" in str(e.value) and "macOS 11" in str(e.value)
    broken.error = ImportError("No module named '_cffi_backend'")
    with pytest.raises(SourceError, match=r"needs cffi's runtime: install osq-esf\[native\]"):
        load_module()
    monkeypatch.setattr(sys, "meta_path", sys.meta_path[1:])
    with pytest.raises(SourceError, match="has no native shim"):
        load_module()


# -- reloads (D4) --------------------------------------------------------------------------------

def selection(apps: list[str], invert: bool = True) -> str:
    rules = "".join(f'[[mutes.rule]]\nname = "r{i}"\nprocess_path_prefix = "{a}"\nevents = ["open"]\n'
                    for i, a in enumerate(apps))
    return ('[clients]\nfile = ["open"]\n[lineage]\nenabled = false\n[mutes]\ndefaults = false\n'
            + ('invert = ["process_path"]\n' if invert else "") + rules)


def test_a_reload_under_inversion_adds_the_new_selection_before_removing_the_old(sim):
    """D4: unmuting first would select nothing for a moment (a violation in the simulator)."""
    p = pipeline()
    with running(p, sim, selection(["/Applications/"])) as srcs:
        src, es = srcs["file"], es_of(sim, srcs["file"])
        install_rules(p, selection(["/opt/"]))
        wait_for(lambda: src.kernel.calls == (("/opt/", 0, ("open",)),), "the reload to reach the kernel")
        (c,) = by_client(calls(sim)).values()
        after = c[c.index("subscribe 10") + 1:]
        assert after == ["mute_path_events 0 /opt/ 10", "unmute_path_events 0 /Applications/ 10"]
        b = Builder(sim)
        assert sim.lib.es_sim_deliver(es, b.open(process=b.process("/opt/x"))) == 0
        assert sim.lib.es_sim_deliver(es, b.open(process=b.process("/Applications/A.app/A"))) == 2
        assert {r["name"]: r["applied"] for r in p.rules.rows()}["r0"] == "kernel+pipeline"


def test_a_reload_that_drops_inversion_lets_everything_through_and_leaves_it_to_the_pipeline(sim):
    p = pipeline()
    with running(p, sim, selection(["/Applications/"])) as srcs:
        src, es = srcs["file"], es_of(sim, srcs["file"])
        install_rules(p, selection(["/opt/"], invert=False))
        wait_for(lambda: src.kernel.empty and src._wanted is not None and not src._wanted.invert_path, "reload")
        (c,) = by_client(calls(sim)).values()
        after = c[c.index("subscribe 10") + 1:]
        assert after == ["mute_path_events 0 / 10", "unmute_path_events 0 /Applications/ 10"]
        assert "invert_muting 1 -> 0" not in c
        b = Builder(sim)
        assert sim.lib.es_sim_deliver(es, b.open(process=b.process("/opt/x"))) == 0  # muted by the pipeline
        assert sim.lib.es_sim_deliver(es, b.open(process=b.process("/bin/ls"))) == 0
        assert sim.lib.es_sim_wait_idle(es, 5000) == 0
        wait_for(lambda: rows_by(p)[("file", "open")]["received"] == 2, "both events")
        assert rows_by(p)[("file", "open")]["muted"] == 1
        rules = {r["name"]: r for r in p.rules.rows()}
        assert rules["r0"]["applied"] == "pipeline" and rules["r0"]["hits"] == 1


def test_the_default_mute_set_is_kept_unless_inverting_and_cleared_before_inverting(sim):
    assert load_default_mute_set(sim) == 16  # Apple's, as dumped on macOS 13.3.1
    windowserver = "/System/Library/PrivateFrameworks/SkyLight.framework/Versions/A/Resources/WindowServer"
    with RawClient(sim, ["open"]) as raw:
        kept = muted_paths(sim, raw.es)
        assert len(kept) == 16 and all(line.startswith("1 /") for line in kept)  # literal paths, AUTH types
        b = Builder(sim)
        assert raw.deliver(b.open(process=b.process(windowserver))) == 0  # NOTIFY events still come
    p = pipeline()
    install_rules(p, selection(["/Applications/"]))
    srcs = start(p, sim, selection(["/Applications/"]))
    try:
        # Inverted, the default set would become a selection: it is cleared first.
        assert muted_paths(sim, es_of(sim, srcs["file"])) == {"0 /Applications/ 10"}
        c = by_client(calls(sim))[max(by_client(calls(sim)))]
        assert c.index("unmute_all_paths") < c.index("invert_muting 1 -> 1")
    finally:
        stop(srcs)


# -- exec text, drain, self, clocks (D3 and the rest) --------------------------------------------

def test_an_argv_that_escaping_blows_up_still_becomes_a_row_flagged_truncated(sim):
    """D3: 700 KiB of \\x01 escapes to 4.2 MB, past the 4 MiB line limit; the exec was dropped whole."""
    p = pipeline()
    srcs = start(p, sim, '[clients]\nprocess = ["exec", "fork", "exit"]\n')
    src = srcs["process"]
    try:
        es = es_of(sim, src)
        b = Builder(sim)
        huge = "\x01" * (700 << 10)
        assert sim.lib.es_sim_deliver(es, b.exec(args=["sh", huge, "tail"], env=[huge])) == 0
        assert sim.lib.es_sim_wait_idle(es, 10000) == 0
        wait_for(lambda: src.state.events == 1, "the exec row")
        stats = src.stats()
        assert stats["oversize"] == 0 and stats["truncated"] == 1
    finally:
        stop(srcs)
    ring = p.rings["es_exec"]
    with p.lock:
        snap = ring.snapshot()
    cmdline = snap.cols[len(ring.int_names) + ring.obj_names.index("cmdline")][0]
    assert cmdline.startswith("sh \x01\x01") and cmdline.endswith(" tail")  # cut, yet every argument is there
    assert len(cmdline) < len(huge)
    # ... and the row says so in its columns.
    flags = {n: snap.cols[ring.int_names.index(n)][0] for n in ("args_truncated", "env_truncated", "cmdline_count")}
    assert flags == {"args_truncated": 1, "env_truncated": 1, "cmdline_count": 3}


def test_the_truncation_is_flagged_in_the_line(sim):
    with RawClient(sim, ["exec"], ring_bytes=1 << 20) as r:
        b = Builder(sim)
        line = json.loads(r.line(b.exec(args=["x" * 300_000], env=["E=1"])))["event"]["exec"]
        assert line["args_truncated"] is True and "env_truncated" not in line
        assert len(line["args"][0]) < 300_000 and line["env"] == ["E=1"]


def test_a_drain_buffer_smaller_than_the_next_line_says_how_big_it_must_be(sim):
    """Before, esf_drain returned 0 forever for such a buffer, and the line stayed stuck."""
    with RawClient(sim, ["open"]) as r:
        b = Builder(sim)
        assert r.deliver(b.open("/Users/me/" + "d" * 500)) == 0
        assert sim.lib.es_sim_wait_idle(r.es, 5000) == 0
        small, need = sim.ffi.new("char[]", 64), sim.ffi.new("size_t *")
        assert sim.lib.esf_drain(r.c, small, 64, 10, 0, need) == 0
        size = need[0]
        assert size > 600
        big = sim.ffi.new("char[]", size)
        assert sim.lib.esf_drain(r.c, big, size, 10, 0, need) == size and need[0] == 0
        line = sim.ffi.buffer(big, size)[:]
        assert line.endswith(b"\n") and json.loads(line)["event"]["open"]["file"]["path"].endswith("d" * 500)


def test_the_client_does_not_hear_its_own_process(sim):
    with RawClient(sim, ["open"]) as r:
        b = Builder(sim)
        mine = b.open(process=b.process(sys.executable, pid=os.getpid(), pidversion=1))
        assert r.deliver(mine) == 2  # es_mute_process(own token): no feedback loop through its own opens
        assert r.deliver(b.open(process=b.process("/bin/ls", pid=os.getpid() + 1))) == 0
        assert r.stats().self_muted == 1


def test_a_wall_clock_jump_does_not_stretch_the_drain_timeout(sim):
    sim.lib.es_sim_set_wall_clock_offset(3600)  # the system clock jumps an hour ahead
    r = RawClient(sim, ["open"])
    done = threading.Event()
    buf, need = sim.ffi.new("char[]", 4096), sim.ffi.new("size_t *")

    def drain():
        sim.lib.esf_drain(r.c, buf, 4096, 10, 200, need)
        done.set()

    t = threading.Thread(target=drain, daemon=True)
    start_at = time.monotonic()
    t.start()
    try:
        assert done.wait(5), "a 200 ms drain waited for the wall clock instead"
        assert time.monotonic() - start_at < 5
    finally:
        r.close()  # releases a drain still waiting
        t.join(5)


# -- types the build cannot format ----------------------------------------------------------------

@pytest.fixture(scope="session")
def sdk13_sim_dir(tmp_path_factory):
    """The simulator build pretending to be compiled against the macOS 13.3 SDK."""
    return build_simulator(tmp_path_factory.mktemp("esf_native_sdk13"), sim_sdk=130300)


def test_types_newer_than_the_sdk_are_counted_in_es_health_never_written_empty(sdk13_sim_dir, caplog):
    """A shim built against the macOS 13.3 SDK on a newer macOS: tcc_modify (15.4) and
    xpc_connect (14) have no formatter; they get a per-type count and no line, never `{}`."""
    from osq_esf.sources.native import load_module

    mod = load_module(sdk13_sim_dir)
    mod.lib.es_sim_reset()
    p = pipeline()
    srcs = start(p, mod, '[clients]\nsec = ["tcc_modify", "xpc_connect", "btm_launch_item_add"]\n'
                         '[lineage]\nenabled = false\n')
    src = srcs["sec"]
    try:
        es = es_of(mod, src)
        b = Builder(mod)
        for short in ("tcc_modify", "xpc_connect", "xpc_connect", "btm_launch_item_add"):
            assert mod.lib.es_sim_deliver(es, BODIES[short](b, short, 10)) == 0
        assert mod.lib.es_sim_wait_idle(es, 5000) == 0
        wait_for(lambda: src.state.events == 1, "the btm event (macOS 13, in the SDK)")
        assert src.stats()["unformatted"] == 3
    finally:
        stop(srcs)
    rows = rows_by(p)
    assert (rows[("sec", "tcc_modify")]["unformatted"], rows[("sec", "xpc_connect")]["unformatted"]) == (1, 2)
    assert rows[("sec", "tcc_modify")]["received"] == 0 and rows[("sec", TOTAL)]["unformatted"] == 3
    assert rows[("sec", "btm_launch_item_add")]["received"] == 1
    assert all(conserved(r) for r in rows.values())
    assert "cannot format xpc_connect, tcc_modify" in caplog.text
    assert violations(mod) == []
