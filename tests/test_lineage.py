"""Lineage: the real parent of every row, the (pid, pidversion) process table and its bounds."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.kinds import default_kinds
from osq_esf import events
from osq_esf.config import ConfigError, parse_config
from osq_esf.extension.constraints import plan_from_context
from osq_esf.extension.tables import ProcessesTable
from osq_esf.lineage import Lineage, xpc_service_label
from osq_esf.pipeline import Pipeline
from osq_esf.schema import load_specs
from tests.conftest import shared_file
from tests.pipelines import make_pipeline, ring_rows

SPECS = load_specs()
XPCPROXY = "/usr/libexec/xpcproxy"

# What Mac Monitor's LaunchedByParentImportTests expects of the fixture's execs, as
# (new image, rppid, rp_pidversion, rp_path, rp_reason, launchd_job).
APP_LABEL = "application.com.example.App.1.2.00000000-0000-0000-0000-000000000000"
FIXTURE_EXECS = [
    ("/usr/bin/true", 401, 4010, "/bin/zsh", "unix_parent", None),  # shell child
    (XPCPROXY, 1, 1, "/sbin/launchd", "unix_parent", None),  # launchd's fork execs xpcproxy
    ("/usr/libexec/exampled", 1, 1, "/sbin/launchd", "launchd_job", "com.example.agent"),
    ("/Applications/Example.app/Contents/MacOS/Example", 1, 1, "/sbin/launchd", "launchd_job", APP_LABEL),
    ("/Applications/Example.app/Contents/XPCServices/ExampleService.xpc/Contents/MacOS/ExampleService",
     500, 5000, "/Applications/Example.app/Contents/MacOS/Example", "responsible_process",
     "com.example.App.ExampleService"),  # XPC service -> host app
    ("/usr/bin/true", 401, 4010, "/bin/zsh", "adopted", None),  # nohup child, inherited label ignored
    ("/usr/bin/true", 1, 1, "/sbin/launchd", "unix_parent", None),  # XPC_SERVICE_NAME=0: no job
    ("/usr/bin/true", 410, 4102, "/usr/libexec/exampled", "unix_parent", None),  # a job's child
]


# -- building eslogger lines ---------------------------------------------------------------

def token(pid: int, pv: int) -> dict:
    return {"auid": 501, "euid": 501, "egid": 20, "ruid": 501, "rgid": 20, "pid": pid, "asid": 1, "pidversion": pv}


def proc(pid, pv, path, ppid, ppv=None, oppid=None, resp=None, platform=True, tokens=True) -> dict:
    """An es_process_t as eslogger writes it; tokens=False is a pre-v4 process (no parent token)."""
    p = {"audit_token": token(pid, pv), "executable": {"path": path}, "ppid": ppid,
         "original_ppid": ppid if oppid is None else oppid, "is_platform_binary": platform}
    if tokens:
        p["parent_audit_token"] = token(ppid, 1 if ppid == 1 else (ppv if ppv is not None else 0))
        p["responsible_audit_token"] = token(*(resp or (pid, pv)))
    return p


def line(short: str, process: dict, event: dict | None = None, t: int = 0) -> bytes:
    m = {"event_type": events.number_of(short), "version": 10 if "parent_audit_token" in process else 3,
         "time": f"2026-10-05T00:{t // 60:02d}:{t % 60:02d}.000000000Z", "process": process,
         "event": {short: event if event is not None else {}}}
    if short == "open" and event is None:
        m["event"] = {"open": {"fflag": 1, "file": {"path": "/tmp/x"}}}
    return json.dumps(m).encode()


def fork(parent: dict, child: dict, t=0) -> bytes:
    return line("fork", parent, {"child": child}, t)


def exec_(caller: dict, target: dict, env=(), t=0) -> bytes:
    return line("exec", caller, {"target": target, "args": [target["executable"]["path"]], "env": list(env)}, t)


def exit_(p: dict, t=0) -> bytes:
    return line("exit", p, {"stat": 0}, t)


def open_(p: dict, t=0) -> bytes:
    return line("open", p, None, t)


def pipeline(lineage: Lineage | None = None):
    """A pipeline with the stage wired as the app wires it (sharing its ProcessPool) unless given one."""
    return make_pipeline(lineage=lineage or True, sequence=False)


def rows(p: Pipeline, table: str) -> list[dict]:
    return ring_rows(p, table)


def answer(r: dict) -> tuple:
    return r["rppid"], r["rp_pidversion"], r["rp_path"], r["rp_reason"], r["launchd_job"]


def processes(p: Pipeline) -> dict[tuple[int, int], dict]:
    """es_processes rows by (pid, pidversion), as generate encodes them (all values as text)."""
    table = ProcessesTable(SPECS["es_processes"], p.lineage, p.lock)
    n, chunks = table.generate(plan_from_context("{}"))
    rows = decode_rows(b"".join(chunks), n)
    return {(int(r["pid"]), int(r["pidversion"])): r for r in rows}


def decode_rows(body: bytes, n: int) -> list[dict]:
    """The thrift list<map<string,string>> body the encoder wrote, back to dicts."""
    import struct

    out, i = [], 0
    for _ in range(n):
        count = struct.unpack_from(">i", body, i + 2)[0]
        i += 6
        row = {}
        for _ in range(count):
            kl = struct.unpack_from(">i", body, i)[0]
            k = body[i + 4:i + 4 + kl].decode()
            i += 4 + kl
            vl = struct.unpack_from(">i", body, i)[0]
            row[k] = body[i + 4:i + 4 + vl].decode()
            i += 4 + vl
        out.append(row)
    return out


# -- the fixture -----------------------------------------------------------------------------

def test_lineage_fixture_resolves_every_case():
    lines = shared_file("mac-monitor/eslogger-lineage.jsonl").read_bytes().splitlines()
    p, src = pipeline()
    assert p.ingest(src, lines) == 10 and src.decode_errors == 0
    got = [(r["path"], *answer(r)) for r in rows(p, "es_exec")]
    assert got == FIXTURE_EXECS
    # The Unix parent's path rides along, from the table (or launchd's well-known path).
    assert [r["parent_path"] for r in rows(p, "es_exec")][-1] == "/usr/libexec/exampled"
    # The shell's fork row describes the shell: its parent (Terminal, pid 300) was never seen.
    fork_rows = rows(p, "es_fork")
    assert answer(fork_rows[0]) == (300, 3000, None, "unix_parent", None)
    assert answer(fork_rows[1]) == (None, None, None, "unknown", None)  # launchd itself
    procs = processes(p)
    assert procs[(451, 4511)]["ancestry"] == "/usr/libexec/exampled <- /sbin/launchd[com.example.agent]"
    assert [s["reason"] for s in json.loads(procs[(420, 4202)]["ancestry_json"])] == \
        ["responsible_process", "launchd_job"]
    assert procs[(410, 4101)]["state"] == "replaced" and procs[(410, 4102)]["caller_path"] == XPCPROXY
    assert procs[(430, 4301)]["rp_reason"] == "adopted" and procs[(430, 4301)]["rp_pidversion"] == "4010"


def test_fixture_through_the_protocol(extension_factory):
    ext = extension_factory("--source", f"replay:{shared_file('mac-monitor/eslogger-lineage.jsonl')}")
    ext.wait_drained()
    got = ext.generate("es_exec", cols_used=["path", "rp_path", "rp_reason"])
    assert [(r["path"], r.get("rp_path"), r["rp_reason"]) for r in got] == [
        (e[0], e[3], e[4]) for e in FIXTURE_EXECS]
    procs = ext.generate("es_processes", {"pid": [(2, 451)]})
    assert {r["pidversion"]: r["ancestry"] for r in procs} == {
        "4510": "/usr/libexec/exampled <- /sbin/launchd[com.example.agent]",
        "4511": "/usr/libexec/exampled <- /sbin/launchd[com.example.agent]",
    }
    # es_iokit_open keeps its own parent_path (IORegistry); every other event table has the process one.
    assert all(r["rp_reason"] for r in ext.generate("es_fork"))


# -- rules not in the fixture ----------------------------------------------------------------

def test_label_only_from_xpcproxy_and_responsible_self_or_launchd_ignored():
    launchd = proc(1, 1, "/sbin/launchd", 0, tokens=True)
    fake_proxy = proc(70, 700, XPCPROXY, 1, platform=False)
    proxy = proc(71, 710, XPCPROXY, 1)
    p, src = pipeline()
    p.ingest(src, [
        exec_(fake_proxy, proc(70, 701, "/tmp/x", 1), ["XPC_SERVICE_NAME=evil"]),  # not a platform xpcproxy
        exec_(proxy, proc(71, 711, "/usr/libexec/d", 1, resp=(1, 1)), ["XPC_SERVICE_NAME=com.x.d"]),
        exec_(proxy | {"audit_token": token(72, 720)}, proc(72, 721, "/usr/libexec/e", 1), ["XPC_SERVICE_NAME="]),
        open_(launchd),
    ])
    assert [answer(r)[3:] for r in rows(p, "es_exec")] == [
        ("unix_parent", None), ("launchd_job", "com.x.d"), ("unix_parent", None)]


def test_without_tokens_the_parent_is_found_by_pid():
    # Message version 3: no parent token; the newest image of ppid older than the child wins.
    p, src = pipeline()
    p.ingest(src, [
        open_(proc(50, 500, "/bin/old", 1, tokens=False)),
        open_(proc(50, 520, "/bin/bash", 1, tokens=False)),
        open_(proc(50, 900, "/bin/later", 1, tokens=False)),  # exec'd after the child was made
        open_(proc(60, 600, "/usr/bin/make", 50, tokens=False)),
    ])
    assert answer(rows(p, "es_open")[-1])[:4] == (50, 520, "/bin/bash", "unix_parent")


# -- pid reuse, out-of-order arrival, eviction -----------------------------------------------

def test_pid_reuse_keeps_executions_apart():
    first = proc(600, 6000, "/bin/first", 1)
    second = proc(600, 6100, "/bin/second", 1)
    p, src = pipeline()
    p.ingest(src, [
        fork(first, proc(601, 6010, "/bin/first", 600, 6000), t=1),
        exit_(first, t=2),
        fork(second, proc(602, 6110, "/bin/second", 600, 6100), t=3),
        open_(proc(601, 6010, "/bin/first", 600, 6000), t=4),  # the old child, still alive
        open_(proc(602, 6110, "/bin/second", 600, 6100), t=5),
    ])
    old_child, new_child = rows(p, "es_open")
    assert answer(old_child)[:3] == (600, 6000, "/bin/first")
    assert answer(new_child)[:3] == (600, 6100, "/bin/second")
    procs = processes(p)
    assert procs[(600, 6000)]["state"] == "exited" and procs[(600, 6100)]["state"] == "running"
    assert p.lineage.find(600, None).pidversion == 6100


def test_out_of_order_arrival_heals_for_later_rows():
    proxy = proc(800, 8000, XPCPROXY, 1)
    job = proc(800, 8001, "/usr/libexec/jobd", 1)
    child = proc(801, 8010, "/bin/sh", 800, 8001)
    p, src = pipeline()
    # A file client delivers the job's and its child's events before the process client's exec.
    p.ingest(src, [open_(child, 1), open_(job, 2)])
    p.ingest(src, [exec_(proxy, job, ["XPC_SERVICE_NAME=com.example.jobd"], t=0)])
    p.ingest(src, [open_(job, 3), open_(child, 4)])
    before_child, before_job, after_job, after_child = rows(p, "es_open")
    assert answer(before_child)[:4] == (800, 8001, None, "unix_parent")  # parent not seen yet
    assert answer(before_job)[3:] == ("unix_parent", None)  # the exec naming the job not seen yet
    assert answer(after_job)[3:] == ("launchd_job", "com.example.jobd")
    assert answer(after_child)[:4] == (800, 8001, "/usr/libexec/jobd", "unix_parent")
    assert rows(p, "es_exec")[0]["rp_reason"] == "launchd_job"
    # A fork that arrives after its child's events still records how the child was made.
    p.ingest(src, [fork(job, child, t=5)])
    assert processes(p)[(801, 8010)]["created_by"] == "fork"


def test_exited_processes_are_kept_by_count_and_by_event_time():
    p, src = pipeline(Lineage(exited_seconds=60, exited_max=3))
    procs = [proc(100 + i, 1000 + i, f"/bin/p{i}", 1) for i in range(6)]
    p.ingest(src, [open_(x) for x in procs] + [exit_(x, t=10 + i) for i, x in enumerate(procs[:5])])
    keys = set(p.lineage.records)
    assert {(103, 1003), (104, 1004), (102, 1002)} <= keys  # the 3 latest exits
    assert not {(100, 1000), (101, 1001)} & keys
    assert (105, 1005) in keys  # running
    # Event time, not wall time: an exit 61 s later (in the recording) ages the others out.
    p.ingest(src, [exit_(procs[5], t=75)])
    assert set(p.lineage.records) == {(105, 1005)}
    assert p.lineage.evicted == 5


def test_table_bound_evicts_the_oldest_and_re_records_an_active_process():
    lin = Lineage(max_processes=20)
    p, src = pipeline(lin)
    daemon = proc(9, 90, "/usr/sbin/daemon", 1)
    p.ingest(src, [open_(daemon)] + [open_(proc(200 + i, 2000 + i, "/bin/x", 1)) for i in range(50)])
    assert len(lin.records) <= 20
    assert (9, 90) not in lin.records
    p.ingest(src, [open_(daemon)])  # a cached answer must not hide it from the table
    assert (9, 90) in lin.records


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["fork", "exec", "exit", "open"]), st.integers(2, 6),
                          st.integers(1, 4), st.integers(1, 6), st.integers(1, 4), st.booleans(),
                          st.integers(0, 6)), max_size=40))
def test_cached_answers_match_a_fresh_resolution(ops):
    """Whatever the order, a cached answer equals what the table says now (nothing evicted)."""
    p, src = pipeline()
    paths: dict[tuple[int, int], str] = {}  # one execution has one executable, as on a real Mac

    def mk(pid, pv, path, ppid, ppv, oppid, resp):
        return proc(pid, pv, paths.setdefault((pid, pv), path), ppid, ppv, oppid, resp)

    lines = []
    for short, pid, pv, ppid, cpv, platform, oppid in ops:
        ppid = ppid if ppid != pid else 1
        me = mk(pid, pid * 10 + pv, XPCPROXY if platform else f"/bin/p{pid}", ppid, ppid * 10 + 1, oppid,
                (oppid or pid, 7))
        if short == "fork":
            lines.append(fork(me, mk(pid + 10, (pid + 10) * 10 + cpv, f"/bin/c{cpv}", pid, pid * 10 + pv, None, None)))
        elif short == "exec":
            target = mk(pid, pid * 10 + pv + cpv, f"/bin/t{cpv}", ppid, ppid * 10 + 1, oppid, (oppid or pid, 7))
            lines.append(exec_(me, target, [f"XPC_SERVICE_NAME=job{cpv}"]))
        else:
            lines.append((exit_ if short == "exit" else open_)(me))
    p.ingest(src, lines)
    lin = p.lineage
    assert src.decode_errors == 0
    for ctx, cached in list(lin._cache.items()):
        lin._cache.pop(ctx)
        assert lin._resolve(ctx).lineage == cached.lineage


# -- configuration ---------------------------------------------------------------------------

def test_lineage_config_and_its_errors():
    cfg = parse_config("[lineage]\nexited_seconds = 30\nexited_max = 5\nmax_processes = 100\nprocess_events = false\n")
    assert (cfg.lineage.exited_seconds, cfg.lineage.exited_max, cfg.lineage.max_processes) == (30, 5, 100)
    assert cfg.lineage.process_events is False
    lin = Lineage.from_config(cfg.lineage)
    assert (lin.exited_seconds, lin.exited_max, lin.max_processes) == (30, 5, 100)
    assert Lineage.from_config(parse_config("[lineage]\nenabled = false\n").lineage) is None
    assert parse_config("").lineage.process_events is True  # fork/exec/exit on by default
    for text, key in (("[lineage]\nmax_processes = 0\n", "lineage.max_processes"),
                      ("[lineage]\n\nexited_max = -1\n", "lineage.exited_max"),
                      ("[lineage]\nenabled = 1\n", "lineage.enabled"),
                      ("[lineage]\nbogus = 1\n", "lineage.bogus")):
        with pytest.raises(ConfigError) as e:
            parse_config(text, "x.toml")
        assert key in str(e.value) and "line" in str(e.value)


def test_without_the_stage_lineage_columns_are_null():
    p = Pipeline(default_kinds())
    src = p.add_source("test", "replay")
    p.ingest(src, [open_(proc(5, 50, "/bin/x", 4, 40))])
    (r,) = rows(p, "es_open")
    assert answer(r) == (None, None, None, None, None) and r["parent_path"] is None


def test_xpc_service_label():
    assert xpc_service_label(["A=1", "XPC_SERVICE_NAME=com.a"]) == "com.a"
    assert xpc_service_label(["XPC_SERVICE_NAME=0"]) is None
    assert xpc_service_label(["XPC_SERVICE_NAME="]) is None
    assert xpc_service_label([]) is None


def test_live_clients_keep_fork_exec_exit_when_only_file_events_are_asked_for():
    from osq_esf.sources.common import configured_clients

    only_files = parse_config('[clients]\nfiles = ["open", "write"]\n')
    assert configured_clients(only_files) == {"files": ["open", "write"], "process": ["exec", "fork", "exit"]}
    off = parse_config('[clients]\nfiles = ["open"]\n[lineage]\nprocess_events = false\n')
    assert configured_clients(off) == {"files": ["open"]}


def test_demo_recording_reads_like_an_answer():
    """The generated demo (osq_esf.corpus): every story ends at the process that really started it."""
    corpus = pytest.importorskip("osq_esf.corpus")
    p, src = pipeline()
    p.ingest(src, list(corpus.generate("demo").lines))
    assert src.decode_errors == 0
    execs = {}
    for r in rows(p, "es_exec"):
        execs.setdefault(r["path"], set()).add((r["rp_path"], r["rp_reason"]))
    terminal = "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal"
    assert {reason for _, reason in execs[terminal]} == {"launchd_job"}
    assert ("/bin/zsh", "unix_parent") in execs["/usr/bin/curl"]
    assert ("/bin/sh", "unix_parent") in execs["/private/tmp/.sysupdate"]
    web = [path for path in execs if path.endswith("com.apple.WebKit.WebContent")]
    assert web and {reason for _, reason in execs[web[0]]} == {"responsible_process"}
    assert all(rp.endswith("/Safari") for rp, _ in execs[web[0]])
    # The nohup'd binary, re-parented to launchd once its shell exited, still names that shell.
    adopted = {(r["path"], r["rp_path"]) for t in ("es_open", "es_write") for r in rows(p, t)
               if r["rp_reason"] == "adopted"}
    assert adopted == {("/private/tmp/.sysupdate", "/bin/sh")}
    chains = [r["ancestry"] for r in processes(p).values()
              if r["path"] == "/private/tmp/.sysupdate" and r["rp_reason"] == "adopted"]
    assert chains and all(c.startswith("/bin/sh <- /bin/zsh <- ") and "Terminal" in c for c in chains)


def test_a_lineage_failure_costs_only_the_lineage_columns():
    lin = Lineage()
    lin._resolve = None  # any bug inside the stage
    p, src = pipeline(lin)
    p.ingest(src, [open_(proc(5, 50, "/bin/x", 4, 40))])
    (r,) = rows(p, "es_open")
    assert r["path"] == "/bin/x" and answer(r) == (None, None, None, None, None)
    assert lin.errors == 1 and "TypeError" in lin.last_error and src.decode_errors == 0


def test_waiting_answers_do_not_pile_up():
    """An answer re-resolved again and again (here: new images of its adopter's pid) is listed once."""
    lin = Lineage()
    p, src = pipeline(lin)
    orphan = proc(80, 9000, "/bin/orphan", 1, oppid=70)
    lines = []
    for i in range(50):
        lines += [open_(proc(70, 100 + i, f"/bin/shell{i}", 1)), open_(orphan)]
    p.ingest(src, lines)
    assert answer(rows(p, "es_open")[-1])[2:4] == ("/bin/shell49", "adopted")
    assert all(len(v) <= 2 for v in lin._waiting.values())


def test_lineage_failures_are_visible_in_es_stages():
    from osq_esf.status import stage_rows

    p, src = pipeline()

    def broken(ctx):
        raise RuntimeError("boom")

    p.lineage._resolve = broken
    p.ingest(src, [open_(proc(700 + i, 7000 + i, "/bin/x", 1)) for i in range(3)])
    assert src.decode_errors == 0 and len(p.rings["es_open"]) == 3  # the events are kept
    (row,) = [r for r in stage_rows(p, None) if r["stage"] == "lineage"]
    assert row["state"] == "on" and row["errors"] >= 1 and "RuntimeError: boom" in row["last_error"]
