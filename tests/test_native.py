"""The native source: the C shim built with cffi against the simulated libEndpointSecurity.

The simulator (native/sim) runs a handler thread per client, applies subscriptions,
path mutes and inversion, and logs every ES call, so these tests see what a Mac's ES
would be asked to do and what the pipeline makes of the messages it delivers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osq_esf.config import parse_config
from osq_esf.kinds import default_kinds
from osq_esf.decode import decode_line
from osq_esf.health import TOTAL
from osq_esf.rules.mutes import MutesConfig, MuteRule
from osq_esf.sources import SourceError
from osq_esf.sources.native import ENV_SIM, KernelMutes, explain_new_client, kernel_mutes, native_sources
from tests.test_health import buffered_in_rings, pipeline, rows_by

REPO = Path(__file__).resolve().parents[1]
TYPES = {"exec": 9, "open": 10, "fork": 11, "close": 12, "exit": 15, "iokit_open": 24, "write": 33}


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory):
    """The simulator build of _esf_native, compiled once per run with the system compiler."""
    if not (shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc") or shutil.which("clang")):
        pytest.skip("no C compiler: the native shim cannot be built here")
    sys.path.insert(0, str(REPO / "native"))
    try:
        import build as native_build
    finally:
        sys.path.remove(str(REPO / "native"))
    out = tmp_path_factory.mktemp("esf_native")
    try:
        native_build.build(out, simulator=True)
    except Exception as e:  # cffi's VerificationError / CompileError: no working toolchain
        pytest.skip(f"cannot build the simulator shim: {e}")
    return str(out)


@pytest.fixture
def sim(sim_dir, monkeypatch):
    from osq_esf.sources.native import load_module

    monkeypatch.setenv(ENV_SIM, sim_dir)
    mod = load_module()
    mod.lib.es_sim_reset()
    return mod


def calls(mod) -> list[str]:
    buf = mod.ffi.new("char[]", 1 << 20)
    return mod.ffi.buffer(buf, mod.lib.es_sim_calls(buf, 1 << 20))[:].decode().splitlines()


def wait_for(pred, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


class Events:
    """Builds es_sim_event structs; keeps the C strings alive as long as itself."""

    def __init__(self, mod):
        self.ffi, self.lib = mod.ffi, mod.lib
        self.keep = []

    def s(self, text: str | bytes):
        b = text.encode() if isinstance(text, str) else text
        p = self.ffi.new("char[]", b)
        self.keep.append(p)
        return p

    def packed(self, items: list[str]):
        return self.s(b"".join(i.encode() + b"\0" for i in items)), len(items)

    def proc(self, p, path="/bin/zsh", pid=100, pidversion=1, ppid=1, uid=501, signing_id="com.apple.zsh",
             team_id=None, tty=None):
        p.path = self.s(path)
        p.pid, p.pidversion, p.ppid, p.original_ppid = pid, pidversion, ppid, ppid
        p.auid = p.euid = p.ruid = uid
        p.egid = p.rgid = 20
        p.asid = 100001
        p.parent_pid, p.parent_pidversion = ppid, 7
        p.responsible_pid, p.responsible_pidversion = pid, pidversion
        p.codesigning_flags = 0x2000001
        p.is_platform_binary = 1
        p.signing_id = self.s(signing_id) if signing_id else self.ffi.NULL
        p.team_id = self.s(team_id) if team_id else self.ffi.NULL
        p.tty = self.s(tty) if tty else self.ffi.NULL
        for i in range(20):
            p.cdhash[i] = i * 13 % 256
        p.start_sec, p.start_usec = 1_790_000_000, 123456

    def event(self, short: str, seq: int = 0, gseq: int = 0, version: int = 10, **kw):
        ev = self.ffi.new("es_sim_event *")
        self.keep.append(ev)
        ev.event_type, ev.version = TYPES[short], version
        ev.seq_num, ev.global_seq_num, ev.thread_id = seq, gseq, 4242
        ev.time_sec, ev.time_nsec, ev.mach_time = 1_790_000_000 + seq, 314153644, 99 + seq
        self.proc(ev.process, **kw.pop("process", {}))
        if "target" in kw:
            self.proc(ev.target, **kw.pop("target"))
        for key in ("args", "env"):
            if key in kw:
                ptr, n = self.packed(kw.pop(key))
                setattr(ev, key, ptr)
                setattr(ev, "argc" if key == "args" else "envc", n)
        for key, value in kw.items():
            setattr(ev, key, self.s(value) if isinstance(value, (str, bytes)) else value)
        return ev


def start(p, mod, config_text: str = "", arg: str = ""):
    cfg = parse_config(config_text, "test") if config_text else None
    srcs = native_sources(p, arg, "native" + (":" + arg if arg else ""), cfg, module=mod)
    for s in srcs:
        s.start()
    wait_for(lambda: all(s.state.state != "starting" for s in srcs), "sources to start")
    return {s.state.name: s for s in srcs}


def stop(srcs):
    for s in srcs.values():
        s.stop()
    for s in srcs.values():
        s.join(10)
        assert not s._thread.is_alive()


def install_rules(p, config_text: str = ""):
    """The rules the app would install for this config (defaults without one)."""
    from tests.pipelines import install_config

    install_config(p, config_text)


def by_client(lines: list[str]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for line in lines:
        word, ident, *rest = line.split(" ")
        if word == "new_client" and ident == "-":
            continue
        out.setdefault(int(ident), []).append(" ".join([word, *rest]))
    return out


# -- subscriptions, mutes, errors -----------------------------------------------------------

def test_each_client_subscribes_its_own_types_after_its_mutes(sim):
    p = pipeline()
    install_rules(p)
    srcs = start(p, sim)
    try:
        log = by_client(calls(sim))
        subs = {frozenset(int(x) for x in c[-1].split(" ")[1].split(",")) for c in log.values()}
        # One client per default group the table declarations name, each with its own types.
        from osq_esf.events import number_of
        from osq_esf.sources.common import default_clients

        assert subs == {frozenset(map(number_of, evs)) for evs in default_clients().values()}
        for c in log.values():
            assert c[0] == "new_client 0" and c[-1].startswith("subscribe")  # nothing after subscribe
        from osq_esf.rules.mutes import DEFAULT_EVENTS

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
        assert process_calls == ["new_client 0", "subscribe " + ",".join(map(str, sorted(process_types)))]
        rows = {r["name"]: r for r in p.rules.rows()}
        assert rows["default:cfprefsd"]["applied"] == "kernel+pipeline"
    finally:
        stop(srcs)


def test_inversion_clears_paths_first_and_kernel_and_pipeline_agree(sim):
    cfg = """
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
    p = pipeline()
    install_rules(p, cfg)
    srcs = start(p, sim, cfg)
    try:
        (c,) = by_client(calls(sim)).values()
        assert c == ["new_client 0", "unmute_all_paths", "unmute_all_target_paths", "invert_muting 1 -> 1",
                     "mute_path_events 0 /Applications/ 10", "subscribe 10,33"]
        ev = Events(sim)
        es = sim.lib.esf_es_client(srcs["file"].client)
        assert sim.lib.es_sim_deliver(es, ev.event("open", process={"path": "/Applications/A.app/a"}, path="/x")) == 0
        assert sim.lib.es_sim_deliver(es, ev.event("open", 1, 1, process={"path": "/usr/bin/b"}, path="/x")) == 2
        assert sim.lib.es_sim_deliver(es, ev.event("write", 0, 2, process={"path": "/Applications/A.app/a"},
                                                   path="/x")) == 2
        wait_for(lambda: srcs["file"].state.events == 1, "the selected open")
        rows = {r["name"]: r for r in p.rules.rows()}
        assert rows["apps"]["applied"] == rows["invert:process_path"]["applied"] == "kernel+pipeline"
        assert rows["apps"]["hits"] == 1  # the pipeline checked it too and selected it
    finally:
        stop(srcs)


def test_lineage_keeps_inversion_out_of_a_client_with_process_events():
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


@pytest.mark.parametrize("result,words", [
    (3, "com.apple.developer.endpoint-security.client"), (4, "Full Disk Access"), (5, "root"),
    (6, "too many Endpoint Security clients"),
])
def test_es_new_client_refusals_are_explained(sim, result, words):
    sim.lib.es_sim_set_new_client_result(result)
    p = pipeline()
    srcs = start(p, sim, "[clients]\nprocess = [\"exec\", \"fork\", \"exit\"]\n")
    stop(srcs)
    (row,) = p.source_rows()
    assert row["state"] == "failed" and words in row["last_error"]
    assert row["last_error"].startswith(f"es_new_client failed ({sim.ffi.string(sim.lib.esf_new_client_result_name(result)).decode()})")
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
        ev = Events(sim)
        deliver = sim.lib.es_sim_deliver
        proc = sim.lib.esf_es_client(srcs["process"].client)
        file = sim.lib.esf_es_client(srcs["file"].client)
        dev = sim.lib.esf_es_client(srcs["device"].client)
        assert deliver(proc, ev.event("exec", 0, 0, process={"path": "/bin/zsh", "pid": 300},
                                      target={"path": "/usr/bin/curl", "pid": 300, "pidversion": 2,
                                              "team_id": "ABCDE12345", "tty": "/dev/ttys001"},
                                      args=["curl", "-o", "a file", 'say "hi"'], env=["HOME=/Users/me", "LANG=C"],
                                      cwd="/Users/me", dyld_exec_path="/usr/bin/curl", last_fd=3,
                                      cputype=16777228, cpusubtype=2)) == 0
        assert deliver(proc, ev.event("fork", 0, 1, process={"pid": 300, "pidversion": 2},
                                      target={"pid": 301, "pidversion": 9})) == 0
        assert deliver(proc, ev.event("exit", 0, 2, process={"pid": 301, "pidversion": 9}, stat=3 << 8)) == 0
        assert deliver(file, ev.event("open", 0, 0, process={"path": "/usr/bin/curl", "pid": 300}, fflag=0x202,
                                      path="/Users/me/a file")) == 0
        assert deliver(file, ev.event("write", 0, 1, path="/Users/me/a file")) == 0
        assert deliver(dev, ev.event("iokit_open", 0, 0, user_client_type=7, user_client_class="IOHIDParamUserClient",
                                     parent_registry_id=4294968000, parent_path="IOService:/AppleARM")) == 0
        for s in srcs.values():
            assert sim.lib.es_sim_wait_idle(sim.lib.esf_es_client(s.client), 5000) == 0
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
    finally:
        app.close()
        manager.stop()
    from osq_esf.sources.common import default_clients

    log = calls(sim)
    assert len(srcs) == len(default_clients()) and "security" in srcs  # one ES client per default group
    assert sum(line.startswith("delete_client") and line.endswith("same_thread=1") for line in log) == len(srcs)
    assert sum(line.startswith("joined") for line in log) == len(srcs)


def test_seq_numbers_pass_through_so_simulated_drops_are_counted_exactly(sim):
    p = pipeline()
    srcs = start(p, sim, '[clients]\nfile = ["open", "write"]\n[lineage]\nenabled = false\n')
    try:
        es = sim.lib.esf_es_client(srcs["file"].client)
        ev = Events(sim)
        # open 0,1,4,5 (2 lost); write 0,3 (2 lost); global 0..9 minus the 4 lost.
        plan = [("open", 0, 0), ("open", 1, 1), ("write", 0, 2), ("open", 4, 5), ("write", 3, 8), ("open", 5, 9)]
        for short, seq, g in plan:
            assert sim.lib.es_sim_deliver(es, ev.event(short, seq, g, path="/tmp/f")) == 0
        assert sim.lib.es_sim_wait_idle(es, 5000) == 0
        wait_for(lambda: srcs["file"].state.events == 6, "six events")
    finally:
        stop(srcs)
    rows = rows_by(p)
    assert (rows[("file", "open")]["seq_gaps"], rows[("file", "open")]["lost"]) == (1, 2)
    assert (rows[("file", "write")]["seq_gaps"], rows[("file", "write")]["lost"]) == (1, 2)
    assert (rows[("file", TOTAL)]["seq_gaps"], rows[("file", TOTAL)]["lost"]) == (2, 4)


def test_draining_in_batches_under_backpressure_loses_and_duplicates_nothing(sim):
    p = pipeline(es_open=50_000)
    src = native_sources(p, "", "native", parse_config('[clients]\nbusy = ["open"]\n', "t"), module=sim)[0]
    src.ring_bytes = 16 << 10  # a dozen lines: the handler must wait for the reader again and again
    src.start()
    try:
        wait_for(lambda: src.client is not None and src.state.state == "running", "running")
        es = sim.lib.esf_es_client(src.client)
        ev = Events(sim)
        n = 6000
        proto = ev.event("open", path="/Users/me/some/rather/long/path/to/make/lines/bigger.txt")
        for i in range(n):
            proto.seq_num = proto.global_seq_num = i
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
    es = sim.lib.esf_es_client(src.client)
    ev = Events(sim)
    for i in range(50):
        sim.lib.es_sim_deliver(es, ev.event("write", i, i, path="/tmp/w"))
    assert sim.lib.es_sim_wait_idle(es, 5000) == 0
    stop(srcs)
    assert src.state.events == 50 and src.state.state == "stopped" and src.client is None
    log = by_client(calls(sim))
    (c,) = log.values()
    assert c[-4:] == ["unsubscribe_all", "unsubscribe_all", "delete_client same_thread=1", "joined"]


# -- the JSON the handler writes --------------------------------------------------------------

class RawClient:
    """An esf client without a Source: deliver one message, drain its line."""

    def __init__(self, mod):
        self.mod, self.ffi, self.lib = mod, mod.ffi, mod.lib
        r = self.ffi.new("int *")
        self.c = self.lib.esf_client_new(1 << 20, r)
        assert r[0] == 0
        names = [self.ffi.new("char[]", k.encode()) for k in TYPES]
        self.lib.esf_subscribe(self.c, self.ffi.new("uint32_t[]", list(TYPES.values())),
                               self.ffi.new("char *[]", names), len(names))
        self.buf = self.ffi.new("char[]", 1 << 20)

    def line(self, ev) -> bytes:
        assert self.lib.es_sim_deliver(self.lib.esf_es_client(self.c), ev) == 0
        n = self.lib.esf_drain(self.c, self.buf, 1 << 20, 10, 5000)
        return self.ffi.buffer(self.buf, n)[:]

    def close(self):
        self.lib.esf_client_delete(self.c)


@pytest.fixture
def raw(sim):
    r = RawClient(sim)
    yield r
    r.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=40),
       args=st.lists(st.text(alphabet=st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)),
                             max_size=12), max_size=5))
def test_any_text_survives_the_c_serialiser_exactly(raw, path, args):
    ev = Events(raw.mod)
    line = raw.line(ev.event("exec", target={"path": path}, args=args, cwd=path))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    msg = decode_line(line)
    assert msg.event.exec.target.executable.path == path
    assert msg.event.exec.args == args and msg.event.exec.cwd.path == path


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.binary(max_size=40).filter(lambda b: b"\0" not in b))
def test_invalid_utf8_becomes_replacement_characters_never_a_bad_line(raw, path):
    ev = Events(raw.mod)
    msg = decode_line(raw.line(ev.event("open", path=path, fflag=1)))
    got = msg.event.open.file.path
    try:
        assert got == path.decode("utf-8")
    except UnicodeDecodeError:
        assert "\ufffd" in got


def test_message_versions_gate_the_fields_like_eslogger(raw):
    ev = Events(raw.mod)
    old = json.loads(raw.line(ev.event("exec", version=1, target={"path": "/bin/ls"}, cwd="/x")))
    assert "seq_num" not in old and "global_seq_num" not in old and "thread" not in old
    assert "cwd" not in old["event"]["exec"] and "tty" not in old["process"]
    new = json.loads(raw.line(ev.event("exec", version=10, target={"path": "/bin/ls"}, cwd="/x")))
    assert new["thread"] == {"thread_id": 4242} and new["event"]["exec"]["cwd"]["path"] == "/x"
    assert new["process"]["cdhash"] == bytes(i * 13 % 256 for i in range(20)).hex().upper()
    assert new["process"]["start_time"] == "2026-09-21T14:13:20.123456Z"
    assert new["time"] == "2026-09-21T14:13:20.314153644Z"


@pytest.mark.skipif(sys.platform == "darwin", reason="off macOS only")
def test_native_off_macos_needs_the_explicit_simulator(monkeypatch):
    from osq_esf.sources import make_sources

    monkeypatch.delenv(ENV_SIM, raising=False)
    with pytest.raises(SourceError, match="the native source needs macOS"):
        make_sources(["native"], pipeline())
