"""The native source: the C shim built with cffi against the simulated libEndpointSecurity.

The simulator (native/sim) runs a handler thread per client behind a bounded kernel
queue, applies subscriptions, mutes and inversion, logs every ES call and records
what a Mac would punish (tests/native_sim.py fails a test on any of it).  These tests
see what a Mac's ES would be asked to do and what the pipeline makes of the messages
it delivers.  The strict-API cases (drops, failures, late handler calls, AUTH,
macOS 11/12) are in tests/test_native_strict.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osq_esf.config import parse_config
from osq_esf.decode import decode_line
from osq_esf.events import number_of
from osq_esf.kinds import default_kinds
from osq_esf.health import TOTAL
from osq_esf.rules.mutes import DEFAULT_EVENTS, MutesConfig, MuteRule
from osq_esf.sources import SourceError
from osq_esf.sources.common import default_clients
from osq_esf.sources.native import (ALL_CAPS, CAP_PATH_EVENTS, ENV_SIM, KernelMutes, explain_new_client,
                                    kernel_mutes, native_sources)
from tests.native_sim import (Builder, RawClient, by_client, calls, es_of, install_rules, start, stop, wait_for,
                              without_self_mute)
from tests.test_health import buffered_in_rings, pipeline, rows_by

REPO_NATIVE_TYPES = {"exec": 9, "open": 10, "fork": 11, "close": 12, "exit": 15, "iokit_open": 24, "write": 33}


# -- subscriptions, mutes, errors -----------------------------------------------------------

def test_each_client_subscribes_its_own_types_after_its_mutes(sim):
    p = pipeline()
    install_rules(p)
    srcs = start(p, sim)
    try:
        log = by_client(calls(sim))
        subs = {frozenset(int(x) for x in c[-1].split(" ")[1].split(",")) for c in log.values()}
        # One client per default group the table declarations name, each with its own types.
        assert subs == {frozenset(map(number_of, evs)) for evs in default_clients().values()}
        for c in log.values():
            assert c[0] == "new_client 0" and c[-1].startswith("subscribe")  # nothing after subscribe
            assert c[1].startswith("mute_process ")  # its own events never come back to it

        def types_of(call: str) -> set[int]:
            return {int(x) for x in call.rsplit(" ", 1)[1].split(",")}

        file_types = set(map(number_of, default_clients()["file"]))
        file_calls = next(c for c in log.values() if types_of(c[-1]) == file_types)
        # Default mutes go to the kernel for the noisy file types only; exec/fork/exit are never muted there.
        noisy = {number_of(e) for e in DEFAULT_EVENTS} & file_types
        (cfprefsd,) = [c for c in file_calls if c.startswith("mute_path_events 1 /usr/sbin/cfprefsd ")]
        assert types_of(cfprefsd) == noisy
        (dyld,) = [c for c in file_calls if c.startswith("mute_path_events 2 /private/var/db/dyld/ ")]
        assert types_of(dyld) == noisy & {number_of(k.short) for k in default_kinds() if k.target}
        process_types = set(map(number_of, default_clients()["process"]))
        assert {9, 11, 15} <= process_types  # exec, fork, exit
        process_calls = next(c for c in log.values() if types_of(c[-1]) == process_types)
        # ES's default mute set is left alone
        assert without_self_mute(process_calls) == [
            "new_client 0", "subscribe " + ",".join(map(str, sorted(process_types)))]
        rows = {r["name"]: r for r in p.rules.rows()}
        assert rows["default:cfprefsd"]["applied"] == "kernel+pipeline"
        assert all(s.stats()["self_muted"] == 1 for s in srcs.values())
    finally:
        stop(srcs)


INVERTED = """
[clients]
file = ["open", "write"]
[lineage]
enabled = false
[mutes]
defaults = false
invert = ["process_path"]
[[mutes.rule]]
name = "apps"
process_path_prefix = "/Applications/"
events = ["open"]
"""


def test_inversion_clears_paths_first_and_kernel_and_pipeline_agree(sim):
    p = pipeline()
    install_rules(p, INVERTED)
    srcs = start(p, sim, INVERTED)
    try:
        (c,) = by_client(calls(sim)).values()
        assert without_self_mute(c) == ["new_client 0", "unmute_all_paths", "unmute_all_target_paths",
                                        "mute_path_events 0 /Applications/ 10", "invert_muting 1 -> 1",
                                        "subscribe 10,33"]
        b = Builder(sim)
        es = es_of(sim, srcs["file"])
        assert sim.lib.es_sim_deliver(es, b.open("/x", process=b.process("/Applications/A.app/a"))) == 0
        assert sim.lib.es_sim_deliver(es, b.open("/x", process=b.process("/usr/bin/b"))) == 2
        assert sim.lib.es_sim_deliver(es, b.write("/x", process=b.process("/Applications/A.app/a"))) == 2
        wait_for(lambda: srcs["file"].state.events == 1, "the selected open")
        rows = {r["name"]: r for r in p.rules.rows()}
        assert rows["apps"]["applied"] == rows["invert:process_path"]["applied"] == "kernel+pipeline"
        assert rows["apps"]["hits"] == 1  # the pipeline checked it too and selected it
    finally:
        stop(srcs)


def test_kernel_plan_keeps_lineage_types_and_follows_the_os():
    rules = MutesConfig(defaults=False, invert=frozenset({"process_path"}), rules=(
        MuteRule("r", "process_path", "literal", ("/bin/x",), None),)).active()
    assert kernel_mutes(rules, ["exec", "open"], frozenset({"exec", "fork", "exit"})) == KernelMutes()
    plan = kernel_mutes(rules, ["open"], frozenset({"exec", "fork", "exit"}))
    assert plan.invert_path and plan.calls == (("/bin/x", 1, ("open",)),)
    # Target inversion never goes to the kernel; target mutes only for types with a target.
    target = MutesConfig(defaults=False, rules=(MuteRule("t", "target_path", "prefix", ("/tmp/",), None),)).active()
    assert kernel_mutes(target, ["open", "fork", "exec"], frozenset({"exec"})).calls == (("/tmp/", 2, ("open",)),)
    inv = MutesConfig(defaults=False, invert=frozenset({"target_path"}), rules=target[:1]).active()
    assert kernel_mutes(inv, ["open"]) == KernelMutes()
    glob = MutesConfig(defaults=False, rules=(MuteRule("g", "process_path", "glob", ("/bin/*",), None),)).active()
    assert kernel_mutes(glob, ["open"]) == KernelMutes()
    # macOS 12: no target paths, no inversion; macOS 11: a path for every type or nothing.
    assert kernel_mutes(target, ["open"], caps=CAP_PATH_EVENTS) == KernelMutes()
    assert not kernel_mutes(rules, ["open"], caps=CAP_PATH_EVENTS).invert_path
    some = MutesConfig(defaults=False, rules=(MuteRule("s", "process_path", "prefix", ("/opt/",),
                                                       frozenset({"open"})),)).active()
    assert kernel_mutes(some, ["open", "write"], caps=0) == KernelMutes()
    assert kernel_mutes(some, ["open"], caps=0).calls == (("/opt/", 0, ()),)
    assert kernel_mutes(some, ["open", "write"], caps=ALL_CAPS).calls == (("/opt/", 0, ("open",)),)


@pytest.mark.parametrize("result,words", [
    (1, "rejected an argument"), (2, "internal error"), (3, "com.apple.developer.endpoint-security.client"),
    (4, "Full Disk Access"), (5, "root"), (6, "too many Endpoint Security clients"),
])
def test_every_es_new_client_refusal_is_explained(sim, result, words):
    sim.lib.es_sim_set_new_client_result(result)
    p = pipeline()
    srcs = start(p, sim, "[clients]\nprocess = [\"exec\", \"fork\", \"exit\"]\n")
    stop(srcs)
    (row,) = p.source_rows()
    assert row["state"] == "failed" and words in row["last_error"]
    name = sim.ffi.string(sim.lib.esf_new_client_result_name(result)).decode()
    assert row["last_error"].startswith(f"es_new_client failed ({name})")
    assert "new_client - %d" % result in calls(sim)


def test_unknown_event_names_and_missing_builds_are_refused(sim, tmp_path, monkeypatch):
    with pytest.raises(SourceError, match="'bogus' is not an ES NOTIFY event name"):
        native_sources(pipeline(), "", "native", parse_config('[clients]\nx = ["bogus"]\n', "t"), module=sim)
    from osq_esf.sources.native import load_module

    monkeypatch.setenv(ENV_SIM, str(tmp_path))
    with pytest.raises(SourceError, match="holds no _esf_native build"):
        load_module()
    assert "Full Disk Access" in explain_new_client(4)


# -- messages ---------------------------------------------------------------------------------

def test_injected_messages_reach_the_tables_over_the_protocol(sim, sim_dir, monkeypatch):
    from osq_esf.app import App
    from tests.idl_peer import IdlManager, call

    monkeypatch.setenv(ENV_SIM, sim_dir)
    d = tempfile.mkdtemp(prefix="osqesf")
    sock = os.path.join(d, "em")
    manager = IdlManager(sock).start()
    args = argparse.Namespace(config=None, allow_unsafe_config=False, source=["native"], speed=0.0)
    app = App.from_args(args)
    app.start(sock, 5, 0.5)
    try:
        srcs = {s.state.name: s for s in app.sources}
        wait_for(lambda: all(s.client is not None for s in srcs.values()), "clients")
        b = Builder(sim)
        deliver = sim.lib.es_sim_deliver
        proc, file, dev = (es_of(sim, srcs[n]) for n in ("process", "file", "device"))
        target = b.process("/usr/bin/curl", pid=300, pidversion=2, team_id="ABCDE12345", tty="/dev/ttys001")
        assert deliver(proc, b.exec(target, process=b.process("/bin/zsh", pid=300),
                                    args=["curl", "-o", "a file", 'say "hi"'], env=["HOME=/Users/me", "LANG=C"],
                                    dyld_exec_path="/usr/bin/curl", last_fd=3, cputype=16777228, cpusubtype=2)) == 0
        fork = b.message("fork", process=b.process(pid=300, pidversion=2))
        fork.event.fork.child = b.process(pid=301, pidversion=9)
        assert deliver(proc, fork) == 0
        ex = b.message("exit", process=b.process(pid=301, pidversion=9))
        ex.event.exit.stat = 3 << 8
        assert deliver(proc, ex) == 0
        assert deliver(file, b.open("/Users/me/a file", fflag=0x202, process=b.process("/usr/bin/curl", pid=300))) == 0
        assert deliver(file, b.write("/Users/me/a file")) == 0
        io = b.message("iokit_open")
        io.event.iokit_open.user_client_type, io.event.iokit_open.user_client_class = 7, b.tok("IOHIDParamUserClient")
        io.event.iokit_open.parent_registry_id = 4294968000
        io.event.iokit_open.parent_path = b.tok("IOService:/AppleARM")
        assert deliver(dev, io) == 0
        for s in srcs.values():
            assert sim.lib.es_sim_wait_idle(es_of(sim, s), 5000) == 0
        wait_for(lambda: sum(s.state.events for s in srcs.values()) == 6, "six events")
        path = f"{sock}.{app.server.uuid}"

        def rows(table):
            r = call(path, table, {"action": "generate", "context": json.dumps({"constraints": []})})
            assert r.status.code == 0, r.status.message
            return r.response

        (x,) = rows("es_exec")
        assert (x["path"], x["pid"], x["pidversion"], x["caller_path"]) == ("/usr/bin/curl", "300", "2", "/bin/zsh")
        assert x["cmdline"] == 'curl -o "a file" "say \\"hi\\""' and x["cmdline_count"] == "4"
        assert x["env"] == "HOME=/Users/me LANG=C" and x["cwd"] == "/Users/me"
        assert (x["team_id"], x["dyld_exec_path"], x["image_cputype"]) == ("ABCDE12345", "/usr/bin/curl", "16777228")
        assert (x["seq_num"], x["global_seq_num"], x["client"]) == ("0", "0", "process")
        assert x["time"] == "1790000000"
        (f,) = rows("es_fork")
        assert (f["child_pid"], f["child_pidversion"], f["pid"]) == ("301", "9", "300")
        (e,) = rows("es_exit")
        assert (e["exit_code"], e["exit_status"]) == ("768", "3")
        (o,) = rows("es_open")
        assert (o["filename"], o["fflag"], o["fflag_names"]) == ("/Users/me/a file", "514", "FWRITE|O_CREAT")
        (w,) = rows("es_write")
        assert w["filename"] == "/Users/me/a file" and w["client"] == "file"
        (i,) = rows("es_iokit_open")
        assert (i["user_client_class"], i["user_client_type"], i["parent_registry_id"], i["iokit_parent_path"]) == (
            "IOHIDParamUserClient", "7", "4294968000", "IOService:/AppleARM")
        assert rows("es_decode_errors") == []
        assert {r["event_type"]: r["unformatted"] for r in rows("es_health") if r["client"] == "file"}["*"] == "0"
    finally:
        app.close()
        manager.stop()
    from osq_esf.sources.common import default_clients

    log = calls(sim)
    assert len(srcs) == len(default_clients()) and "security" in srcs  # one ES client per default group
    assert sum(line.startswith("delete_client") and line.endswith("same_thread=1") for line in log) == len(srcs)
    assert sum(line.startswith("joined") for line in log) == len(srcs)


def test_kernel_drops_show_as_sequence_gaps_counted_exactly(sim):
    p = pipeline()
    srcs = start(p, sim, '[clients]\nfile = ["open", "write"]\n[lineage]\nenabled = false\n')
    try:
        es = es_of(sim, srcs["file"])
        b = Builder(sim)
        # open 0,1 | 2 dropped | 4,5 ; write 0 | 2 dropped | 3 ; global 0..9 with the 4 drops inside
        for step in ("open", "open", ("drop", "open", 2), "write", ("drop", "write", 2), "open", "write", "open"):
            if isinstance(step, tuple):
                sim.lib.es_sim_drop(es, REPO_NATIVE_TYPES[step[1]], step[2])
            else:
                assert sim.lib.es_sim_deliver(es, b.open() if step == "open" else b.write()) == 0
        assert sim.lib.es_sim_wait_idle(es, 5000) == 0
        wait_for(lambda: srcs["file"].state.events == 6, "six events")
        assert sim.lib.es_sim_dropped(es) == 4
    finally:
        stop(srcs)
    rows = rows_by(p)
    assert (rows[("file", "open")]["seq_gaps"], rows[("file", "open")]["lost"]) == (1, 2)
    assert (rows[("file", "write")]["seq_gaps"], rows[("file", "write")]["lost"]) == (1, 2)
    assert (rows[("file", TOTAL)]["seq_gaps"], rows[("file", TOTAL)]["lost"]) == (2, 4)


def test_draining_in_batches_under_backpressure_loses_and_duplicates_nothing(sim):
    p = pipeline(es_open=50_000)
    src = native_sources(p, "", "native", parse_config('[clients]\nbusy = ["open"]\n', "t"), module=sim)[0]
    src.ring_bytes = 16 << 10  # a handful of lines: the handler must wait for the reader again and again
    sim.lib.es_sim_set_queue_limit(1 << 20)  # the kernel never drops here: backpressure only
    src.start()
    try:
        wait_for(lambda: src.client is not None and src.state.state == "running", "running")
        es = es_of(sim, src)
        b = Builder(sim)
        n = 6000
        proto = b.open("/Users/me/some/rather/long/path/to/make/lines/bigger.txt")
        for _ in range(n):
            assert sim.lib.es_sim_deliver(es, proto) == 0
        assert sim.lib.es_sim_wait_idle(es, 20000) == 0
        wait_for(lambda: src.state.events == n, f"{n} events", 20)
        stats = src.stats()
        assert stats["waits"] > 0 and stats["lines"] == n and stats["oversize"] == 0
    finally:
        src.stop()
        src.join(10)
    ring = p.rings["es_open"]
    with p.lock:
        snap = ring.snapshot()
    seqs = snap.cols[ring.int_names.index("seq_num")]
    assert sorted(seqs) == list(range(n))
    assert rows_by(p)[("busy", TOTAL)]["lost"] == 0
    assert buffered_in_rings(p)[("busy", "open")] == n


def test_stop_drains_what_was_delivered_then_deletes_the_client_on_its_thread(sim):
    p = pipeline()
    srcs = start(p, sim, '[clients]\nfile = ["write"]\n[lineage]\nenabled = false\n')
    src = srcs["file"]
    es = es_of(sim, src)
    b = Builder(sim)
    for _ in range(50):
        sim.lib.es_sim_deliver(es, b.write("/tmp/w"))
    assert sim.lib.es_sim_wait_idle(es, 5000) == 0
    stop(srcs)
    assert src.state.events == 50 and src.state.state == "stopped" and src.client is None
    (c,) = by_client(calls(sim)).values()
    assert c[-4:] == ["unsubscribe_all", "unsubscribe_all", "delete_client same_thread=1", "joined"]


# -- the JSON the handler writes --------------------------------------------------------------

@pytest.fixture
def raw(sim):
    with RawClient(sim, list(REPO_NATIVE_TYPES)) as r:
        yield r


TEXT = st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=TEXT, args=st.lists(TEXT, max_size=5))
def test_any_text_survives_the_c_serialiser_exactly(raw, path, args):
    b = Builder(raw.mod)
    line = raw.line(b.exec(b.process(path), args=args, cwd=path))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    msg = decode_line(line)
    assert msg.event.exec.target.executable.path == path
    assert msg.event.exec.args == args and msg.event.exec.cwd.path == path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.binary(max_size=40).filter(lambda b: b"\0" not in b))
def test_invalid_utf8_becomes_replacement_characters_never_a_bad_line(raw, path):
    b = Builder(raw.mod)
    msg = decode_line(raw.line(b.open(path)))
    got = msg.event.open.file.path
    try:
        assert got == path.decode("utf-8")
    except UnicodeDecodeError:
        assert "\ufffd" in got


def test_message_versions_gate_the_fields_like_eslogger(raw):
    b = Builder(raw.mod)
    old = json.loads(raw.line(b.exec(b.process("/bin/ls"), cwd="/x", version=1)))
    assert "seq_num" not in old and "global_seq_num" not in old and "thread" not in old
    assert "cwd" not in old["event"]["exec"] and "tty" not in old["process"] and "fds" not in old["event"]["exec"]
    new = json.loads(raw.line(b.exec(b.process("/bin/ls"), cwd="/x", version=10)))
    assert new["thread"] == {"thread_id": 4242} and new["event"]["exec"]["cwd"]["path"] == "/x"
    assert new["process"]["cdhash"] == bytes(i * 13 % 256 for i in range(20)).hex().upper()
    assert new["process"]["start_time"] == "2026-09-21T14:13:20.123456Z"
    assert new["time"] == "2026-09-21T14:13:20.314153644Z"
    assert new["action"] == {"result": {"result_type": 0, "result": {"auth": 0}}}
    assert new["process"]["signing_id"] == "com.apple.zsh" and new["process"]["team_id"] is None


@pytest.mark.skipif(sys.platform == "darwin", reason="off macOS only")
def test_native_off_macos_needs_the_explicit_simulator(monkeypatch):
    from osq_esf.sources import make_sources

    monkeypatch.delenv(ENV_SIM, raising=False)
    with pytest.raises(SourceError, match="the native source needs macOS"):
        make_sources(["native"], pipeline())


def test_query_with_the_native_source_answers_once_its_clients_run(sim_dir):
    """A live source never drains: `osq-esf query --source native` (the Mac smoke test) waits for
    its clients to run, not for an end that never comes."""
    import subprocess

    from tests.conftest import REPO

    env = {**os.environ, ENV_SIM: sim_dir}
    r = subprocess.run([sys.executable, "-m", "osq_esf", "query", "--engine", "embedded", "--format", "json",
                        "--source", "native", "SELECT name, kind, state FROM es_sources ORDER BY name"],
                       capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert r.returncode == 0, r.stderr
    from osq_esf.sources.common import default_clients

    assert json.loads(r.stdout) == [{"name": n, "kind": "native", "state": "running"}
                                    for n in sorted(default_clients())]


@pytest.mark.parametrize("version,spec", [((10, 15), None), ((11, 7), "native"), ((12, 6), "native"),
                                          ((13, 0), "eslogger"), ((26, 1), "eslogger")])
def test_the_default_live_source_is_native_where_eslogger_does_not_exist(monkeypatch, version, spec):
    from osq_esf import sources

    monkeypatch.setattr(sources, "macos_version", lambda: version)
    assert sources.default_source_spec() == spec


# -- [source] live: native under the package's own wrapper --------------------------------------

def _run_args(tmp_path, config_text: str, source=()):
    path = tmp_path / "osq-esf.toml"
    path.write_text(config_text)
    os.chmod(path, 0o644)
    return argparse.Namespace(config=str(path), allow_unsafe_config=False, source=list(source), speed=0.0)


def test_the_config_chooses_the_native_source_when_no_source_is_given(sim, sim_dir, monkeypatch, tmp_path):
    """`osq-esf run` without --source runs what `[source] live` names: the package's osq_esf.ext
    then runs native on macOS 13+ with no wrapper of the admin's own."""
    from osq_esf.app import App
    from tests.pipelines import ring_rows

    monkeypatch.setenv(ENV_SIM, sim_dir)
    config = '[source]\nlive = "native"\n\n[clients]\nprocs = ["exec", "fork", "exit"]\n'
    app = App.from_args(_run_args(tmp_path, config))
    try:
        assert [(s.kind, s.state.name) for s in app.sources] == [("native", "procs")]
        (src,) = app.sources
        src.start()
        wait_for(lambda: src.client is not None and src.state.state == "running", "the native client")
        b = Builder(sim)
        assert sim.lib.es_sim_deliver(es_of(sim, src), b.exec(args=["ls", "-l"])) == 0
        wait_for(lambda: src.state.events == 1, "the exec")
        (row,) = ring_rows(app.pipeline, "es_exec")
        assert (row["client"], row["path"], row["cmdline"]) == ("procs", "/bin/ls", "ls -l")
        (state,) = app.pipeline.source_rows()
        assert (state["name"], state["kind"], state["state"]) == ("procs", "native", "running")
    finally:
        app.close()


def test_an_explicit_source_wins_over_the_config_and_auto_keeps_the_platform_default(sim_dir, monkeypatch, tmp_path):
    from osq_esf import sources
    from osq_esf.app import App, AppError

    monkeypatch.setenv(ENV_SIM, sim_dir)
    recording = tmp_path / "r.jsonl"
    recording.write_text("")
    app = App.from_args(_run_args(tmp_path, '[source]\nlive = "native"\n', [f"replay:{recording}"]))
    assert [s.kind for s in app.sources] == ["replay"]
    app.close()
    monkeypatch.setattr(sources, "macos_version", lambda: None)  # not a Mac: auto has no live source
    with pytest.raises(AppError, match="no --source given and this is not macOS 11 or later"):
        App.from_args(_run_args(tmp_path, '[source]\nlive = "auto"\n'))
    monkeypatch.setattr(sources, "macos_version", lambda: (12, 6))
    assert [s.kind for s in App.from_args(_run_args(tmp_path, "")).sources] == ["native"] * len(default_clients())


def test_a_native_line_over_the_line_cap_is_a_counted_decode_error(sim):
    """[input] max_line_bytes bounds what the native source hands the decoder, as for eslogger and
    replay: the long line is counted and sampled in es_decode_errors, the others still arrive."""
    p = pipeline()
    srcs = start(p, sim, '[clients]\nfile = ["open"]\n[lineage]\nenabled = false\n')
    src = srcs["file"]
    short = b"/Users/me/a"
    # Lines from the shim are ~1.5 KB here; a 6,000-character path makes one well past 4 KB.
    src.max_line = 4096
    try:
        es = es_of(sim, src)
        b = Builder(sim)
        for path in (short, b"/Users/me/" + b"d" * 6000, short):
            assert sim.lib.es_sim_deliver(es, b.open(path.decode())) == 0
        assert sim.lib.es_sim_wait_idle(es, 5000) == 0
        wait_for(lambda: src.state.events == 2 and src.state.decode_errors == 1, "two events and one refusal")
    finally:
        stop(srcs)
    (err,) = p.decode_error_rows()
    assert "line longer than 4096 bytes" in err["error"] and err["source"] == src.state.name
    assert rows_by(p)[("file", "open")]["buffered"] == 2


def test_a_macos_with_none_of_the_configured_types_is_an_error_not_a_silent_start(sim, monkeypatch):
    """Every configured client left out (its types newer than this macOS): the source refuses to
    start, as eslogger's does, instead of running the extension with no client at all."""
    import osq_esf.sources

    monkeypatch.setattr(osq_esf.sources, "macos_version", lambda: (12, 6))
    cfg = parse_config('[clients]\nsecurity = ["tcc_modify"]\n[lineage]\nenabled = false\n', "t")
    with pytest.raises(SourceError, match="has none of the configured event types"):
        native_sources(pipeline(), "", "native", cfg, module=sim)
