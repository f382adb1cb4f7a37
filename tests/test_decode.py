"""The eslogger decoder: fixtures, real captures, every version, both token forms, bad lines."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.decode import DecodeError, decode_line, parse_time
from osq_esf.process import ProcessContext
from tests.conftest import shared_file
from tests.pipelines import make_pipeline as pipeline
from tests.pipelines import ring_rows
from tests.pipelines import table_rows as rows


def test_real_v10_fork_with_array_tokens_gives_pid_and_pidversion():
    line = shared_file("real-captures/eslogger_v10_fork_2.json").read_bytes()
    raw = json.loads(line)
    assert isinstance(raw["process"]["audit_token"], list)  # the capture this test is about
    p, src = pipeline()
    assert p.ingest(src, [line]) == 1
    (row,) = rows(p, "es_fork")
    tok, child = raw["process"]["audit_token"], raw["event"]["fork"]["child"]["audit_token"]
    assert row["pid"] == str(tok[5]) and row["pidversion"] == str(tok[7])
    assert row["child_pid"] == str(child[5]) and row["child_pidversion"] == str(child[7])
    assert row["euid"] == str(tok[1]) and row["egid"] == str(tok[2]) and row["auid"] == str(tok[0])
    assert row["parent_pidversion"] == str(raw["process"]["parent_audit_token"][7])
    assert row["version"] == "10" and row["seq_num"] == "0" and row["global_seq_num"] == "1"
    assert row["path"] == raw["process"]["executable"]["path"]
    assert row["team_id"] == raw["process"]["team_id"]
    assert row["cdhash"] == raw["process"]["cdhash"].lower()


@pytest.mark.parametrize("name", ["eslogger_v9_exec_1.json", "eslogger_v11_exec_3.json"])
def test_real_exec_captures_describe_the_new_image(name):
    line = shared_file(f"real-captures/{name}").read_bytes()
    raw = json.loads(line)
    p, src = pipeline()
    assert p.ingest(src, [line]) == 1
    (row,) = rows(p, "es_exec")
    ex = raw["event"]["exec"]
    target = ex["target"]
    assert row["path"] == target["executable"]["path"]
    assert row["caller_path"] == raw["process"]["executable"]["path"]
    assert row["pid"] == str(target["audit_token"]["pid"])
    assert row["pidversion"] == str(target["audit_token"]["pidversion"])
    assert row["euid"] == str(target["audit_token"]["euid"])
    assert row["cmdline_count"] == str(len(ex["args"]))
    assert row["env_count"] == str(len(ex["env"]))
    assert row["cwd"] == ex["cwd"]["path"]
    assert row["version"] == str(raw["version"])


def test_real_v9_exit():
    line = shared_file("real-captures/eslogger_v9_exit_0.json").read_bytes()
    raw = json.loads(line)
    p, src = pipeline()
    p.ingest(src, [line])
    (row,) = rows(p, "es_exit")
    assert row["exit_code"] == str(raw["event"]["exit"]["stat"])
    assert row["path"] == raw["process"]["executable"]["path"]


def test_mac_monitor_fixtures_decode_to_their_values():
    p, src = pipeline()
    for name in ("eslogger-open.jsonl", "eslogger-exit.jsonl", "eslogger-lineage.jsonl",
                 "eslogger-remote-thread-create.jsonl"):
        lines = shared_file(f"mac-monitor/{name}").read_bytes().splitlines(keepends=True)
        assert p.ingest(src, lines) == len(lines)
    assert src.decode_errors == 0
    (opened,) = rows(p, "es_open")
    raw = json.loads(shared_file("mac-monitor/eslogger-open.jsonl").read_bytes())
    assert opened["filename"] == raw["event"]["open"]["file"]["path"]
    assert opened["fflag"] == str(raw["event"]["open"]["fflag"]) and opened["fflag_names"] == "FREAD"
    assert "team_id" not in opened  # JSON null -> SQL NULL (absent key)
    assert rows(p, "es_other_events") == []  # every type in the fixtures has a table
    threads = rows(p, "es_remote_thread_create")
    raws = [json.loads(x)["event"]["remote_thread_create"]
            for x in shared_file("mac-monitor/eslogger-remote-thread-create.jsonl").read_bytes().splitlines()]
    assert len(threads) == len(raws) == 2
    for row, raw in zip(threads, raws):
        assert row["target_pid"] == str(raw["target"]["audit_token"]["pid"])
        assert row["target_path"] == raw["target"]["executable"]["path"]
        assert row["target_signing_id"] == raw["target"]["signing_id"]
        state = raw["thread_state"]
        assert row["flavor"] == (str(state["flavor"]) if state else "")  # thread_create: no state ("" = numeric NULL)


BASE = {
    "schema_version": 1, "version": 4, "time": "2026-01-02T03:04:05.123456789Z", "mach_time": 5,
    "event_type": 33, "action_type": 1, "seq_num": 7, "global_seq_num": 9, "thread": None,
    "action": {"result": {"result_type": 0, "result": {"auth": 0}}},
    "process": {
        "audit_token": {"auid": 501, "euid": 0, "egid": 20, "ruid": 501, "rgid": 20, "pid": 42, "asid": 1,
                        "pidversion": 4242},
        "ppid": 1, "original_ppid": 1, "group_id": 42, "session_id": 42, "codesigning_flags": 0,
        "is_platform_binary": False, "is_es_client": False, "cdhash": "00" * 20, "signing_id": "x",
        "team_id": None, "executable": {"path": "/bin/x", "path_truncated": False}, "tty": None,
        "start_time": "2026-01-02T03:00:00.000000Z",
    },
    "event": {"write": {"target": {"path": "/tmp/\u00e9t\u00e9", "path_truncated": True}}},
}


def test_euid_is_the_euid_not_the_egid():
    p, src = pipeline()
    p.ingest(src, [json.dumps(BASE).encode()])
    (row,) = rows(p, "es_write")
    assert row["euid"] == "0" and row["egid"] == "20" and row["uid"] == "501"
    assert row["filename"] == "/tmp/\u00e9t\u00e9"
    assert "cdhash" not in row  # all-zero hash is NULL, as osquery renders ""


@pytest.mark.parametrize("version", range(1, 12))
def test_every_message_version_decodes_with_missing_fields_as_null(version):
    msg = json.loads(json.dumps(BASE))
    msg["version"] = version
    if version < 2:
        del msg["seq_num"]
    if version < 4:
        del msg["global_seq_num"], msg["thread"]
    p, src = pipeline()
    assert p.ingest(src, [json.dumps(msg).encode() + b"\r\n"]) == 1
    (row,) = rows(p, "es_write")
    assert row["version"] == str(version)
    assert (row["seq_num"] == "") == (version < 2)  # "" is how a numeric NULL travels
    assert (row["global_seq_num"] == "") == (version < 4)


BAD_LINES = [
    (b"{not json", "malformed"),
    (b"[1, 2, 3]", "object"),
    (b'"a string"', "object"),
    (json.dumps({**BASE, "event_type": "write"}).encode(), "event_type"),
    (json.dumps({k: v for k, v in BASE.items() if k != "event"}).encode(), "event"),
    (json.dumps({k: v for k, v in BASE.items() if k != "event_type"}).encode(), "event_type"),
    (json.dumps({**BASE, "event_type": 10}).encode(), "event.open"),  # says open, carries write
    (json.dumps(BASE).encode().replace(b'"signing_id": "x"', b'"signing_id": "x", "junk": "\xff\xfe"'), "UTF-8"),
    (json.dumps(BASE).encode().replace(b'"/bin/x"', b'"/bin/\xff"'), "invalid UTF-8"),  # inside a decoded string
]


@pytest.mark.parametrize("line,why", BAD_LINES)
def test_malformed_lines_are_counted_sampled_and_skipped(line, why):
    p, src = pipeline()
    good = json.dumps(BASE).encode()
    assert p.ingest(src, [good, line, good]) == 2
    assert src.decode_errors == 1
    (sample,) = p.decode_error_rows()
    assert why.lower() in sample["error"].lower()
    assert sample["line_number"] == 2


def test_unknown_event_type_is_kept_and_counted():
    msg = {**BASE, "event_type": 200, "event": {"future_thing": {"x": 1}}}
    p, src = pipeline()
    assert p.ingest(src, [json.dumps(msg).encode()]) == 1
    (row,) = rows(p, "es_other_events")
    assert row["event_type"] == "unknown(200)" and row["event_type_id"] == "200"
    assert json.loads(row["event"]) == {"future_thing": {"x": 1}}


def test_decode_error_sample_is_bounded():
    p, src = pipeline()
    p.ingest(src, [b"garbage %d" % i for i in range(1000)])
    assert src.decode_errors == 1000
    assert len(p.decode_error_rows()) == 100


def test_parse_time():
    assert parse_time("1970-01-01T00:00:01.5Z") == (1, 500_000_000)
    assert parse_time("2026-10-04T00:01:54.314153644Z") == (1791072114, 314153644)
    with pytest.raises(DecodeError):
        parse_time("yesterday")


# -- property tests ---------------------------------------------------------------------

u32 = st.integers(0, 2**32 - 1)
tokens = st.tuples(u32, u32, u32, u32, u32, st.integers(0, 99999), u32, st.integers(0, 2**31))


def _token(t, as_array):
    if as_array:
        return list(t)
    return dict(zip(("auid", "euid", "egid", "ruid", "rgid", "pid", "asid", "pidversion"), t))


@settings(max_examples=150, deadline=None)
@given(tok=tokens, as_array=st.booleans(), team=st.one_of(st.none(), st.text(min_size=1, max_size=12)),
       path=st.text(min_size=1, max_size=60), extra=st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
       shuffle_seed=st.randoms(use_true_random=False), crlf=st.booleans())
def test_process_fields_survive_any_key_order_token_form_and_unknown_keys(tok, as_array, team, path, extra, shuffle_seed, crlf):
    msg = json.loads(json.dumps(BASE))
    msg["process"]["audit_token"] = _token(tok, as_array)
    msg["process"]["team_id"] = team
    msg["process"]["executable"]["path"] = path
    msg["process"].update({"zz_" + k: v for k, v in extra.items()})
    items = list(msg.items())
    shuffle_seed.shuffle(items)
    line = json.dumps(dict(items)).replace("/", "\\/").encode() + (b"\r\n" if crlf else b"\n")
    ctx = ProcessContext(decode_line(line).process)
    assert (ctx.pid, ctx.pidversion, ctx.euid, ctx.uid) == (tok[5], tok[7], tok[1], tok[3])
    assert ctx.path == path and ctx.team_id == (team or None)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_anything_but_decode_errors(data):
    p, src = pipeline()
    p.ingest(src, [data])
    assert src.events + src.decode_errors + (0 if data.strip() else 1) == 1


def test_username_is_resolved_on_a_live_source_and_null_on_a_replay():
    """osquery parity for es_exec/es_fork/es_exit: resolved where the event happened, never on the
    machine that replays a recording (its users are not the recording's)."""
    import pwd

    from tests.rules_events import exec_line, fork_line

    uid = 0
    name = pwd.getpwuid(uid).pw_name
    for live, want in ((True, name), (False, None)):
        p, src = pipeline(live=live)
        p.ingest(src, [exec_line(uid=uid), fork_line(uid=uid)])
        assert [r.get("username") for r in rows(p, "es_exec")] == [want]  # NULL text travels as absent
        exec_rows = ring_rows(p, "es_exec")
        fork_rows = ring_rows(p, "es_fork")
        assert exec_rows[0]["username"] == want and fork_rows[0]["username"] == want


def test_a_future_types_array_tokens_become_objects_in_its_json():
    """macOS 26 writes audit tokens as 8-element arrays, also inside event bodies: a future type's
    event JSON gets objects, so json_extract(event, '$...audit_token.pid') works."""
    tok = [501, 501, 20, 501, 20, 4242, 100001, 4243]
    body = {"future_thing": {"target": {"audit_token": tok, "executable": {"path": "/x"}},
                             "instigator_token": tok, "counts": [1, 2, 3, 4, 5, 6, 7, 8]}}
    msg = {**BASE, "event_type": 201, "event": body}
    p, src = pipeline()
    assert p.ingest(src, [json.dumps(msg).encode()]) == 1
    (row,) = rows(p, "es_other_events")
    event = json.loads(row["event"])["future_thing"]
    assert event["target"]["audit_token"]["pid"] == 4242 and event["instigator_token"]["pidversion"] == 4243
    assert event["counts"] == [1, 2, 3, 4, 5, 6, 7, 8]  # not a token: left alone


@pytest.mark.parametrize("text", ["2026-10-04T00:01:54.314153644+02:00", "2026-10-04T00:01:54.314153644",
                                  "2026-10-04 00:01:54Z", "2026-10-04T00:01:54.3141536441Z", "٢٠٢٦-10-04T00:01:54Z"])
def test_a_time_that_is_not_utc_z_is_a_decode_error(text):
    with pytest.raises(DecodeError):
        parse_time(text)
    p, src = pipeline()
    assert p.ingest(src, [json.dumps({**BASE, "time": text}).encode()]) == 0 and src.decode_errors == 1


def test_fflag_names_name_every_flag_eslogger_can_report():
    from osq_esf.extract import fflag_names

    assert fflag_names(0x40000000 | 0x1) == "FREAD|O_EXEC|O_SEARCH"
    assert fflag_names(0x08000000 | 0x2) == "FWRITE|O_CLOFORK"
