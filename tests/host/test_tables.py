"""Extension tables through the host: declared schema, forwarded context, reply parsing, writes."""

from __future__ import annotations

import json

import apsw
import pytest

from osq_esf.host.routes import ColumnOptions as Op
from tests.host.raw_extension import column

ROUTES = [
    column("path", "TEXT"),
    column("pid", "BIGINT"),
    column("uid", "INTEGER"),
    column("ratio", "DOUBLE"),
    column("opt", "BIGINT", Op.INDEX | Op.OPTIMIZED),
    column("secret", "TEXT", Op.HIDDEN),
    column("hix", "TEXT", Op.HIDDEN | Op.INDEX),
]
AFFINITY = {"path": "TEXT", "pid": "BIGINT", "uid": "INTEGER", "ratio": "DOUBLE",
            "opt": "BIGINT", "secret": "TEXT", "hix": "TEXT"}
VISIBLE = ["path", "pid", "uid", "ratio", "opt"]


@pytest.fixture
def ext(make_raw):
    return make_raw({"files": {"routes": ROUTES, "rows": [{"path": "/bin/ls", "pid": "1"}]}})


def contexts(ext, sql, host):
    ext.calls.clear()
    host.query(sql)
    return [json.loads(c) for c in ext.generate_contexts("files")]


def lists(context) -> dict:
    return {c["name"]: c["list"] for c in context["constraints"]}


def test_declared_schema_hides_hidden_columns(host, ext):
    assert host.table_schema("files") == (
        "CREATE TABLE files(`path` TEXT, `pid` BIGINT, `uid` INTEGER, `ratio` DOUBLE, "
        "`opt` BIGINT, `secret` TEXT HIDDEN, `hix` TEXT HIDDEN, PRIMARY KEY (`opt`, `hix`))")
    assert host.query("SELECT * FROM files").columns == VISIBLE
    assert host.query("SELECT secret, hix FROM files").columns == ["secret", "hix"]


def test_unconstrained_context_is_exact(host, ext):
    ext.calls.clear()
    host.query("SELECT path, pid FROM files")
    (raw,) = ext.generate_contexts("files")
    entries = ",".join('{"name":"%s","list":[],"affinity":"%s"}' % (n, AFFINITY[n])
                       for n in sorted(AFFINITY))
    assert raw == '{"constraints":[%s],"colsUsed":["path","pid"],"colsUsedBitset":3}' % entries


def test_one_entry_per_column_sorted_by_name(host, ext):
    (ctx,) = contexts(ext, "SELECT * FROM files WHERE pid = 5", host)
    assert [c["name"] for c in ctx["constraints"]] == sorted(AFFINITY)
    assert {c["name"]: c["affinity"] for c in ctx["constraints"]} == AFFINITY
    assert lists(ctx)["pid"] == [{"op": 2, "expr": "5"}]
    assert ctx["colsUsed"] == VISIBLE and ctx["colsUsedBitset"] == 0b11111


@pytest.mark.parametrize("where, column, expected", [
    ("pid > 1 AND pid <= 10", "pid", [{"op": 4, "expr": "1"}, {"op": 8, "expr": "10"}]),
    ("pid < -3 AND pid >= -9", "pid", [{"op": 16, "expr": "-3"}, {"op": 32, "expr": "-9"}]),
    ("ratio >= 1.5", "ratio", [{"op": 32, "expr": "1.5"}]),
    ("path LIKE '/bin/%'", "path", [{"op": 65, "expr": "/bin/%"}]),
    ("path GLOB '/bin/*'", "path", [{"op": 66, "expr": "/bin/*"}]),
    ("path != 'x'", "path", [{"op": 68, "expr": "x"}]),
    ("path IS 'x'", "path", [{"op": 72, "expr": "x"}]),
    ("path = 'a\"b\\c'", "path", [{"op": 2, "expr": 'a"b\\c'}]),
    ("pid = '12'", "pid", [{"op": 2, "expr": "12"}]),
    # Inequalities on TEXT are left to SQLite (sensibleComparison).
    ("path > 'a' AND path <= 'z'", "path", []),
    # Empty strings and NULLs are dropped.
    ("path = ''", "path", []),
    ("path IS NULL", "path", []),
    ("pid = NULL", "pid", []),
    # HIDDEN without INDEX is not an index column: nothing forwarded.
    ("secret = 's'", "secret", []),
    ("hix = 'h'", "hix", [{"op": 2, "expr": "h"}]),
])
def test_forwarded_constraints(host, ext, where, column, expected):
    ctxs = contexts(ext, "SELECT * FROM files WHERE " + where, host)
    assert ctxs, "no generate call"
    assert lists(ctxs[0])[column] == expected


def test_in_list_is_one_generate_per_value(host, ext):
    ctxs = contexts(ext, "SELECT * FROM files WHERE pid IN (3, 1, 2, 2)", host)
    assert [lists(c)["pid"] for c in ctxs] == [
        [{"op": 2, "expr": "1"}], [{"op": 2, "expr": "2"}], [{"op": 2, "expr": "3"}]]


def test_in_list_on_optimized_column_is_one_generate(host, ext):
    # (8, 1, 3) iterates as 8, 1, 3 in a Python set: the order must come from sorting.
    (ctx,) = contexts(ext, "SELECT * FROM files WHERE opt IN (3, 8, 1)", host)
    assert lists(ctx)["opt"] == [{"op": 2, "expr": "1"}, {"op": 2, "expr": "3"},
                                 {"op": 2, "expr": "8"}]


def test_limit_is_not_forwarded(host, ext):
    (ctx,) = contexts(ext, "SELECT * FROM files LIMIT 3", host)
    assert all(entry["list"] == [] for entry in ctx["constraints"])


def test_limit_forwarding_can_be_enabled(make_host, make_raw):
    other = make_host(forward_limit=True)
    ext = make_raw({"files": {"routes": ROUTES, "rows": []}}, on=other)
    (ctx,) = contexts(ext, "SELECT * FROM files LIMIT 3", other)
    assert lists(ctx)["path"] == [{"op": 73, "expr": "3"}]  # iColumn 0, as SQLite offers it


def test_cols_used_bit_63_covers_columns_from_63_on(make_raw, host):
    routes = [column("c%02d" % i, "BIGINT") for i in range(70)]
    ext = make_raw({"wide": {"routes": routes, "rows": []}})
    host.query("SELECT c65 FROM wide")
    (raw,) = ext.generate_contexts("wide")
    ctx = json.loads(raw)
    assert ctx["colsUsedBitset"] == 1 << 63
    assert ctx["colsUsed"] == ["c%02d" % i for i in range(63, 70)]


def test_count_star_uses_no_columns(host, ext):
    (ctx,) = contexts(ext, "SELECT count(*) FROM files", host)
    assert ctx["colsUsed"] == [] and ctx["colsUsedBitset"] == 0


def test_column_alias_reads_target_and_reports_it(make_raw, host):
    routes = [column("a", "TEXT"), column("b", "BIGINT"),
              {"id": "columnAlias", "name": "b_alias", "target": "b"},
              {"id": "alias", "alias": "things_view"}]
    ext = make_raw({"things": {"routes": routes, "rows": [{"a": "x", "b": "7"}]}})
    assert host.query("SELECT b_alias FROM things").rows == [(7,)]
    ctx = json.loads(ext.generate_contexts("things")[-1])
    assert ctx["colsUsed"] == ["b"] and ctx["colsUsedBitset"] == 2
    assert {"name": "b_alias", "list": [], "affinity": "UNKNOWN"} in ctx["constraints"]
    assert host.query("SELECT * FROM things").columns == ["a", "b"]
    assert host.query("SELECT * FROM things_view").rows == [("x", 7)]


REPLY_ROWS = [
    {"path": "", "pid": "", "uid": "abc", "ratio": "1.5x", "opt": "12abc"},
    {"path": "p", "pid": "0x10", "uid": "4294967297", "ratio": " 2.5", "opt": "017"},
    {"pid": "-9223372036854775808", "uid": " -7", "ratio": "1e999", "opt": "9223372036854775808"},
    {"unknown_key": "x"},
]


def test_reply_values_follow_osquery_casting(make_raw, host):
    make_raw({"vals": {"routes": ROUTES, "rows": REPLY_ROWS}})
    rows = host.query("SELECT path, pid, uid, ratio, opt FROM vals").rows
    assert rows == [
        ("", None, None, None, 12),  # "" numeric -> NULL; TEXT "" stays ""; prefix parse
        ("p", 16, 1, 2.5, 15),  # base 0: hex and octal; INTEGER keeps the low 32 bits
        (None, -(2**63), -7, float("inf"), None),  # out of range -> NULL
        (None, None, None, None, None),  # missing keys -> NULL
    ]


def test_error_status_fails_the_query(make_raw, host):
    make_raw({"bad": {"routes": ROUTES, "reply": lambda req: (1, "no events for you", [])}})
    with pytest.raises(apsw.SQLError, match="^no events for you$"):
        host.query("SELECT * FROM bad")


def test_dead_extension_socket_fails_with_osquery_message(make_raw, host):
    ext = make_raw({"gone": {"routes": ROUTES, "rows": []}})
    ext.stop()
    with pytest.raises(apsw.SQLError, match="^Extension socket not available: .*em0\\.%d$" % ext.uuid):
        host.query("SELECT * FROM gone")


def test_required_column_must_be_constrained(make_raw, host):
    routes = [column("path", "TEXT", Op.REQUIRED), column("size", "BIGINT")]
    make_raw({"hashes": {"routes": routes, "rows": [{"path": "/a", "size": "1"}]}})
    with pytest.raises(apsw.ConstraintError, match="without a required column"):
        host.query("SELECT * FROM hashes")
    assert host.query("SELECT * FROM hashes WHERE path = '/a'").rows == [("/a", 1)]


def test_readonly_write_is_refused_with_osquery_message(make_raw, host):
    ext = make_raw({"ro": {"routes": ROUTES[:2],
                           "reply": lambda req: (0, "OK", [{"status": "readonly"}])}})
    with pytest.raises(apsw.ReadOnlyError, match="^table ro may not be modified$"):
        host.query("INSERT INTO ro VALUES ('x', 1)")
    request = ext.calls[-1][2]
    assert request == {"action": "insert", "auto_rowid": "false", "json_value_array": '["x",1]',
                       "context": '{"constraints":[]}'}


def test_write_requests_match_xupdate(make_raw, host):
    rows = [{"path": "a", "pid": "1", "rowid": "41"}]

    def reply(req):
        if req["action"] == "generate":
            return 0, "OK", rows
        return 0, "OK", [{"status": "success", "id": "99"}]

    ext = make_raw({"rw": {"routes": ROUTES[:2], "reply": reply}})
    host.query("INSERT INTO rw VALUES ('b', 2)")
    assert ext.calls[-1][2]["json_value_array"] == '["b",2]'
    host.query("UPDATE rw SET pid = 5 WHERE path = 'a'")
    assert {k: v for k, v in ext.calls[-1][2].items() if k != "context"} == {
        "action": "update", "id": "41", "json_value_array": '["a",5]'}
    host.query("DELETE FROM rw WHERE pid = 1")
    assert {k: v for k, v in ext.calls[-1][2].items() if k != "context"} == {
        "action": "delete", "id": "41"}
    with pytest.raises(apsw.MismatchError):
        host.query("INSERT INTO rw VALUES (1, 2)")  # integer into TEXT
    with pytest.raises(apsw.MismatchError):
        host.query("INSERT INTO rw (pid) VALUES (2)")  # NULL into a default-INDEX column


def test_core_tables_are_read_only(host):
    with pytest.raises(apsw.SQLError, match="table time may not be modified"):
        host.query("DELETE FROM time")


def test_malformed_replies_do_not_hurt_the_host(make_raw, host):
    from osquery.extensions.ttypes import ExtensionResponse

    def explode(req):
        raise RuntimeError("handler bug")

    make_raw({"nostatus": {"routes": ROUTES, "reply": lambda req: ExtensionResponse(None, None)},
              "explodes": {"routes": ROUTES, "reply": explode}})
    assert host.query("SELECT * FROM nostatus").rows == []
    with pytest.raises(apsw.SQLError, match="^Extension call failed: Internal error$"):
        host.query("SELECT * FROM explodes")
    assert host.query("SELECT count(*) FROM time").rows == [(1,)]


def test_garbage_speaking_socket_is_not_available(host, socket_dir):
    import socket
    import threading

    from osquery.extensions.ttypes import InternalExtensionInfo

    from osq_esf.host.protocol import manager_client

    with manager_client(host.socket_path, 5) as client:
        uuid = client.registerExtension(InternalExtensionInfo("junk", "1", "", ""),
                                        {"table": {"junk": ROUTES}}).uuid
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(host.extension_socket(uuid))
    listener.listen(4)

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.recv(4096)
            conn.sendall(b"\x00\x00\x00\x07garbage!!")
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        with pytest.raises(apsw.SQLError, match="^Extension socket not available: "):
            host.query("SELECT * FROM junk")
        assert host.query("SELECT count(*) FROM time").rows == [(1,)]
    finally:
        listener.close()


def test_join_calls_generate_once_per_outer_row(host, ext):
    # INDEX on every column makes the extension table the cheap inner loop
    # (osquery issue #7197): one generate per outer row, constrained by it.
    ctxs = contexts(ext, "SELECT f.path FROM (SELECT 1 AS p UNION ALL SELECT 2 UNION ALL SELECT 3) "
                         "AS x JOIN files f ON f.pid = x.p", host)
    assert [lists(c)["pid"] for c in ctxs] == [[{"op": 2, "expr": str(p)}] for p in (1, 2, 3)]


def test_event_based_table_warns_when_events_are_disabled(make_raw, host, caplog):
    routes = ROUTES + [{"id": "attributes", "attributes": "4"}]
    make_raw({"evts": {"routes": routes, "rows": []}})
    host.query("SELECT * FROM evts")
    assert "event-based" not in caplog.text
    host.set_option("disable_events", "true")
    host.query("SELECT * FROM evts")
    assert "Table evts is event-based but events are disabled" in caplog.text


def test_manager_call_forwards_to_extension_tables(make_raw, host):
    from osq_esf.host.protocol import manager_client

    make_raw({"files": {"routes": ROUTES, "rows": [{"path": "/x"}]}})
    with manager_client(host.socket_path, 5) as client:
        reply = client.call("table", "files", {"action": "generate", "context": "{}"})
    assert (reply.status.code, reply.response) == (0, [{"path": "/x"}])
