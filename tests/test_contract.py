"""The extractor contract: every kind's extractor writes its table's layout, value for value.

Messages of every event type the key schema describes are drawn at every message version,
with audit tokens as objects and as macOS 26 arrays; each goes through the real pipeline.
A row must decode (the declaration agrees with eslogger's key types), have the layout's
shape and value types, hold NULL for fields newer than its message version, and hold for
each plainly-sourced column what an independent walk of the JSON finds there.
"""

from __future__ import annotations

import calendar
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from osq_esf.kinds import default_kinds
from osq_esf.schema import SpecError
from tests.key_schema import covered_types, message
from tests.pipelines import make_pipeline, ring_rows

KINDS = default_kinds()
TYPES = [k.short for k in KINDS if k.short in set(covered_types())]
FORMS = ("object", "array")


def walk(obj, path: str):
    for part in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def first_present(body: dict, paths) -> object:
    for path in paths:
        v = walk(body, path)
        if v is not None:
            return v
    return None


def token_ids(tok):
    if tok is None:
        return None, None
    if isinstance(tok, list):
        return tok[5], tok[7]
    return tok["pid"], tok["pidversion"]


def expected_process(body: dict, col) -> object:
    proc = first_present(body, col.source)
    if proc is None:
        if col.process in ("pid", "pidversion") and col.token:
            pid, pv = token_ids(first_present(body, col.token))
            return pid if col.process == "pid" else pv
        return None
    if col.process in ("pid", "pidversion"):
        pid, pv = token_ids(proc["audit_token"])
        return pid if col.process == "pid" else pv
    if col.process == "path":
        return proc["executable"]["path"]
    if col.process == "platform_binary":
        return int(proc["is_platform_binary"])
    return proc.get(col.process) or None


def joined(directory: str, name: str) -> str:
    """A directory and a name as one path, written out independently of the code under test."""
    if directory == "":
        return name
    return f"{directory}{name}" if directory[-1] == "/" else f"{directory}/{name}"


def expected(body: dict, col, version: int, enums) -> tuple[bool, object]:
    """(checked, value) for a column; columns whose value needs the code under test are not checked."""
    if col.since and version < col.since:
        return True, None
    if col.resolve:
        return True, None  # a replay never resolves usernames
    if col.process:
        return True, expected_process(body, col)
    if col.transform == "path_join":  # two sources: NULL unless both are there
        d, n = walk(body, col.source[0]), walk(body, col.source[1])
        return True, None if d is None or n is None else joined(d, n)
    v = first_present(body, col.source)
    if col.named:
        return True, None if v is None else enums[col.enum].name_of(v)
    if v is None:
        return True, None
    t = col.transform
    if not t:
        return True, int(v) if isinstance(v, bool) else v
    if t == "text":
        return True, str(v)
    if t == "count":
        return True, len(v)
    if t == "lower":
        return True, v.lower()
    if t == "time":
        return True, calendar.timegm(tuple(int(x) for x in (v[0:4], v[5:7], v[8:10], v[11:13], v[14:16], v[17:19])))
    if t == "destination_path":
        if v.get("existing_file"):
            return True, v["existing_file"]["path"]
        n = v.get("new_path")
        return (True, None) if not n else (True, joined(n["dir"]["path"], n["filename"]))
    if t == "path_or_string":
        return True, v if isinstance(v, str) else v["path"]
    if t == "exit_status":
        return True, (v >> 8) & 0xFF if v & 0x7F == 0 else None
    if t == "term_signal":
        return True, v & 0x7F if v & 0x7F not in (0, 0x7F) else None
    return False, None  # argv and json: their own tests check the rendering


PIPELINE, SOURCE = make_pipeline()


@pytest.mark.skipif(not TYPES, reason="no key schema")
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_every_extractor_writes_its_layout(data):
    short = data.draw(st.sampled_from(TYPES), label="type")
    version = data.draw(st.integers(1, 11), label="version")
    form = data.draw(st.sampled_from(FORMS), label="tokens")
    m = data.draw(message(short, version, form), label="message")
    kind = KINDS.by_short[short]
    if kind.spec.extractor:
        return  # the hand-written ones have their own tests (tests/test_decode.py) over real captures
    p, src = PIPELINE, SOURCE
    before = src.decode_errors
    assert p.ingest(src, [json.dumps(m).encode()]) == 1, src.last_error
    assert src.decode_errors == before
    row = ring_rows(p, kind.table)[-1]
    body = m["event"][short]
    for col in kind.spec.own_columns:
        checked, want = expected(body, col, version, KINDS.enums)
        if checked:
            assert row[col.name] == want, (short, col.name, version)
    kind.layout.check_row(tuple(row[n] for n in kind.layout.int_names), tuple(row[n] for n in kind.layout.obj_names))


def test_every_kind_is_covered_by_a_key_schema():
    """Every typed table's event has a key schema to draw its messages from."""
    missing = sorted(k.short for k in KINDS if k.short not in set(covered_types()))
    assert not missing, f"no key schema for {missing}: add them to osq_esf/data/eslogger-keys-derived.json"


def test_a_wrong_length_extractor_is_caught_and_stores_nothing_shifted():
    p, src = make_pipeline()
    route = next(r for r in p._routes.values() if r.short == "iokit_open")
    good = route.fn
    route.fn = lambda msg, ev, actor, users: (lambda r: (r[0], r[1], r[2][:-1]))(good(msg, ev, actor, users))
    line = json.dumps({
        "event_type": 24, "version": 10, "time": "2026-10-04T00:00:01.000000001Z", "mach_time": 1,
        "event": {"iokit_open": {"user_client_type": 0, "user_client_class": "IOHIDLibUserClient"}},
        "process": {"audit_token": [501, 501, 20, 501, 20, 77, 100001, 770], "executable": {"path": "/tmp/x"}},
    }).encode()
    assert p.ingest(src, [line]) == 0
    assert len(p.rings["es_iokit_open"]) == 0
    assert src.decode_errors == 1 and "es_iokit_open extractor wrote" in src.last_error
    layout = p.layouts["es_iokit_open"]
    with pytest.raises(SpecError, match="layout has"):
        layout.check_row((0,) * len(layout.int_names), (None,) * (len(layout.obj_names) - 1))


def test_a_text_value_in_a_numeric_column_is_caught():
    layout = PIPELINE.layouts["es_exit"]
    ints = [0] * len(layout.int_names)
    ints[layout.int_names.index("exit_code")] = "0"
    with pytest.raises(SpecError, match="exit_code is numeric"):
        layout.check_row(tuple(ints), ("exit", "c", None))


def _schema_type(short: str, path: str) -> str | None:
    """The key schema's type of a dotted path in ``short``'s body, following file/process/stat/token
    definitions (``target.executable.stat.st_uid``); None when eslogger writes no such key."""
    from tests.key_schema import key_schema

    schema = key_schema()
    keys = {k.replace("?", ""): t for k, t in schema["events"][short].items()}
    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        head = ".".join(parts[:i])
        if head not in keys:
            continue
        typ, rest = keys[head], parts[i:]
        while rest:
            definition = next((t for t in typ.split("|") if t in schema["definitions"]), None)
            if definition is None:
                return None
            typ = {k.replace("?", ""): t for k, t in schema["definitions"][definition].items()}.get(rest[0])
            if typ is None:
                return None
            rest = rest[1:]
        return typ
    return None


def _gate(short: str, path: str) -> int:
    """The message version that introduced ``path`` (schema_check.VERSION_GATES), 0 for always."""
    from osq_esf.schema_check import VERSION_GATES

    parts = path.split(".")
    return max([VERSION_GATES.get((".".join([short, *parts[:i]]), parts[i]), (0, True))[0]
                for i in range(len(parts))])


@pytest.mark.parametrize("short", sorted(k.short for k in KINDS))
def test_every_declared_source_is_a_key_eslogger_writes_from_its_version(short):
    """A column reading a path eslogger never writes would be NULL from every source alike, so no
    comparison of rows could see it: each source and token path must be a key of the type's schema,
    and a column's ``since`` the version that introduced its field."""
    kind = KINDS.by_short[short]
    native_only = {"args_truncated", "env_truncated"}  # the native shim's own keys (native/README.md)
    for col in kind.spec.own_columns:
        for path in (*col.source, *col.token):
            if path in native_only:
                continue
            assert _schema_type(short, path) is not None, (kind.table, col.name, path)
        gates = {_gate(short, p) for p in col.source if p not in native_only}
        if gates and not col.process:
            assert col.since == min(gates), (kind.table, col.name, col.since, gates)
