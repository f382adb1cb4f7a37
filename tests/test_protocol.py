"""osq-esf run against an osquery peer written from the IDL alone, over the real socket."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time

from hypothesis import given, settings
from hypothesis import strategies as st
from osquery.extensions import Extension
from thrift.protocol import TBinaryProtocol
from thrift.transport import TTransport

from osq_esf.kinds import default_kinds
from tests.pipelines import event_table
from osq_esf.extension.encode import reply_call
from osq_esf.pipeline import Pipeline
from osq_esf.schema import load_specs
from tests.conftest import shared_file

SPECS = load_specs()


def decode_rows(count: int, body: bytes) -> list[dict]:
    """Wrap an encoded row body in a call reply and read it with plain TBinaryProtocol."""
    buf = b"".join(reply_call(7, 0, "OK", 1, count, body))
    prot = TBinaryProtocol.TBinaryProtocol(TTransport.TMemoryBuffer(buf))
    name, _mtype, seqid = prot.readMessageBegin()
    assert (name, seqid) == ("call", 7)
    result = Extension.call_result()
    result.read(prot)
    assert result.success.status.code == 0
    return result.success.response


def lineage_lines():
    return shared_file("mac-monitor/eslogger-lineage.jsonl").read_bytes().splitlines(keepends=True)


def test_register_ping_columns_generate(extension_factory):
    path = shared_file("mac-monitor/eslogger-lineage.jsonl")
    ext = extension_factory("--source", f"replay:{path}")
    info = ext.manager.handler.infos[ext.uuid]
    assert info.name == "osq_esf"
    registry = ext.manager.handler.registries[ext.uuid]
    assert set(registry) == {"table"}
    assert {"es_exec", "es_open", "es_write", "es_iokit_open", "es_sources"} <= set(registry["table"])
    from tests.idl_peer import ping

    st = ping(ext.path)
    assert st.code == 0 and st.uuid == ext.uuid
    ext.wait_drained()
    cols = ext.call("es_exec", {"action": "columns"})
    assert cols.status.code == 0
    by_name = {r["name"]: r for r in cols.response if r["id"] == "column"}
    assert by_name["eid"]["op"] == "17" and by_name["eid"]["type"] == "BIGINT"  # hidden | index
    assert by_name["cdhash"]["op"] == "64"
    assert [r for r in cols.response if r["id"] == "attributes"] == [{"id": "attributes", "attributes": "0"}]
    assert cols.response == registry["table"]["es_exec"]
    rows = ext.generate("es_exec")
    raw = [json.loads(line) for line in lineage_lines()]
    execs = [m for m in raw if m["event_type"] == 9]
    assert sorted(r["path"] for r in rows) == sorted(m["event"]["exec"]["target"]["executable"]["path"] for m in execs)
    assert len({r["eid"] for r in rows}) == len(rows)


def test_constraint_contexts_as_osquery_builds_them(extension_factory):
    path = shared_file("mac-monitor/eslogger-lineage.jsonl")
    ext = extension_factory("--source", f"replay:{path}")
    ext.wait_drained()
    everything = ext.generate("es_fork") + ext.generate("es_exec")
    times = sorted(int(r["time"]) for r in everything)
    mid = times[len(times) // 2]
    for table in ("es_fork", "es_exec"):
        full = ext.generate(table)
        assert {r["eid"] for r in ext.generate(table, {"time": [(32, mid)]})} == {r["eid"] for r in full if int(r["time"]) >= mid}
        assert {r["eid"] for r in ext.generate(table, {"time": [(16, mid)]})} == {r["eid"] for r in full if int(r["time"]) < mid}
        eid = sorted(int(r["eid"]) for r in full)[0]
        assert {r["eid"] for r in ext.generate(table, {"eid": [(4, eid)]})} == {r["eid"] for r in full if int(r["eid"]) > eid}
        pid = full[0]["pid"]
        assert {r["eid"] for r in ext.generate(table, {"pid": [(2, pid)]})} == {r["eid"] for r in full if r["pid"] == pid}
        assert {r["eid"] for r in ext.generate(table, {"pid": [(4, pid)]})} == {r["eid"] for r in full if int(r["pid"]) > int(pid)}
        # LIKE on a text column and an unparsable number are hints we ignore: a superset is fine.
        assert len(ext.generate(table, {"path": [(65, "/bin/%")], "time": [(32, "abc")]})) == len(full)
        # colsUsed trims what is sent, not which rows.  Process and lineage columns travel as
        # one pre-encoded block, so asking for pid brings its siblings but no event column.
        from osq_esf.layout import ACTOR_COLUMNS

        slim = ext.generate(table, cols_used=["pid"])
        assert len(slim) == len(full)
        assert all("pid" in r and set(r) <= set(ACTOR_COLUMNS) for r in slim)
        assert all(set(r) == {"time"} for r in ext.generate(table, cols_used=["time"]))


def test_unknown_actions_and_tables_get_a_status_not_an_exception(extension_factory):
    ext = extension_factory("--source", f"replay:{shared_file('mac-monitor/eslogger-open.jsonl')}")
    assert ext.call("es_open", {"action": "insert", "json_value_array": "[]"}).response == [{"status": "readonly"}]
    assert ext.call("es_open", {"action": "frobnicate"}).status.code == 1
    assert ext.call("no_such_table", {"action": "generate"}).status.code == 1
    assert ext.call("es_open", {"action": "generate", "context": "{not json"}).status.code == 0
    from tests.idl_peer import extension_client

    client, trans = extension_client(ext.path)
    try:
        assert client.call("config", "x", {}).status.code == 1
    finally:
        trans.close()


def test_a_ping_is_answered_while_a_long_generate_runs(tmp_path, extension_factory):
    # Many rows, so generate is busy long enough for pings to overlap it.
    line = shared_file("mac-monitor/eslogger-open.jsonl").read_bytes().strip()
    rec = tmp_path / "many.jsonl"
    rec.write_bytes((line + b"\n") * 20000)
    # The test manager lives in this process, which decodes the 20,000 rows and pings in a loop:
    # a longer interval (the extension's manager ping waits 3x it) keeps a loaded box from making
    # the extension believe osquery went away mid-test.
    ext = extension_factory("--source", f"replay:{rec}", interval=2.0)
    ext.wait_drained(60)
    from tests.idl_peer import ping

    done = threading.Event()
    got = []

    def big():
        got.append(len(ext.generate("es_open")))
        done.set()

    t = threading.Thread(target=big)
    t.start()
    pings = 0
    while not done.is_set():
        assert ping(ext.path).code == 0
        pings += 1
    t.join()
    assert got == [20000]
    assert pings >= 1


def test_extension_exits_when_the_manager_goes_away(extension_factory):
    ext = extension_factory("--source", f"replay:{shared_file('mac-monitor/eslogger-open.jsonl')}", interval=0.2)
    ext.manager.stop()
    assert ext.proc.wait(10) == 0
    assert not os.path.exists(ext.path)


def test_extension_exits_when_deregistered(extension_factory):
    ext = extension_factory("--source", f"replay:{shared_file('mac-monitor/eslogger-open.jsonl')}", interval=0.2)
    ext.manager.handler.infos.clear()
    assert ext.proc.wait(10) == 0


def test_shutdown_call_and_sigterm_stop_cleanly(extension_factory):
    ext = extension_factory("--source", f"replay:{shared_file('mac-monitor/eslogger-open.jsonl')}")
    from tests.idl_peer import extension_client

    client, trans = extension_client(ext.path)
    client.shutdown()
    trans.close()
    assert ext.proc.wait(10) == 0
    ext2 = extension_factory("--source", f"replay:{shared_file('mac-monitor/eslogger-open.jsonl')}")
    ext2.proc.send_signal(signal.SIGTERM)
    assert ext2.proc.wait(10) == 0
    assert ext2.uuid not in ext2.manager.handler.infos  # deregistered on the way out


def test_no_source_and_no_mac_is_a_clear_error():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "osq_esf", "run", "--socket", "/nonexistent/em"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0 and "--source replay:PATH" in r.stderr


def test_help_and_version_exit_zero():
    import subprocess
    import sys

    for flag in (["--help"], ["--version"], ["run", "--help"]):
        r = subprocess.run([sys.executable, "-m", "osq_esf", *flag], capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr


# -- pushdown never drops a row SQLite would keep ------------------------------------------

OPS = {2: lambda a, b: a == b, 4: lambda a, b: a > b, 8: lambda a, b: a <= b, 16: lambda a, b: a < b,
       32: lambda a, b: a >= b}


def _loaded_table():
    """es_open with 300 events whose times go slightly back and forth, as interleaved clients do."""
    base = json.loads(shared_file("mac-monitor/eslogger-open.jsonl").read_bytes())
    rng = random.Random(1)
    lines = []
    t0 = 1_800_000_000
    for i in range(300):
        m = json.loads(json.dumps(base))
        t = t0 + i // 3 + rng.choice([0, 0, 0, -2, 1])
        m["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".000000001Z"
        m["process"]["audit_token"]["pid"] = 100 + i % 7
        lines.append(json.dumps(m).encode())
    p = Pipeline(default_kinds(), capacity={"es_open": 250})  # some are evicted too
    src = p.add_source("t", "replay")
    p.ingest(src, lines)
    return event_table(p, "es_open")


def generated(table, context: str) -> list[dict]:
    from osq_esf.extension.constraints import plan_from_context

    n, chunks = table.generate(plan_from_context(context))
    return decode_rows(n, b"".join(chunks))


TABLE = None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["time", "eid", "pid"]), st.sampled_from(sorted(OPS)),
                          st.one_of(st.integers(1_799_999_990, 1_800_000_120), st.integers(0, 400),
                                    st.floats(1_799_999_990, 1_800_000_120), st.just("x"))),
                max_size=4))
def test_pushdown_returns_a_superset_of_what_sqlite_keeps(constraints):
    global TABLE
    if TABLE is None:
        TABLE = _loaded_table()
    full = generated(TABLE, "")
    by: dict[str, list] = {}
    for col, op, val in constraints:
        by.setdefault(col, []).append({"op": op, "expr": str(val)})
    ctx = {"constraints": [{"name": c, "list": lst, "affinity": "BIGINT"} for c, lst in by.items()]}
    got = {r["eid"] for r in generated(TABLE, json.dumps(ctx))}

    def keep(row):
        for col, op, val in constraints:
            if isinstance(val, str):
                continue  # SQLite compares an integer with text its own way; we ignore such hints
            if not OPS[op](int(row[col]), val):
                return False
        return True

    expected = {r["eid"] for r in full if keep(r)}
    assert expected <= got
    # And the hints do prune: with only numeric constraints the answer is exact.
    # Exact unless: time (bounds allow for disorder), or several pid equalities (sent as a union,
    # since osquery uses the same shape for IN on an OPTIMIZED column).
    pid_equalities = sum(1 for c, op, _ in constraints if c == "pid" and op == 2)
    exact = pid_equalities < 2 and all(not isinstance(v, str) and c != "time" for c, op, v in constraints)
    if exact:
        assert got == expected


def test_standalone_mode_registers_again_and_keeps_the_buffered_events(extension_factory):
    from tests.conftest import standalone_replay

    ext, before = standalone_replay(extension_factory)
    ext.manager.stop()  # osquery restarts...
    time.sleep(0.5)
    assert ext.proc.poll() is None  # ...and a standalone extension waits for it
    ext.reregister(20)
    assert sorted(r["eid"] for r in ext.generate("es_exec")) == before
