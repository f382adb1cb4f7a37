"""Integers that do not fit 64 bits are decode errors, wherever they are in a line (issue 10).

msgspec decodes integers of any size, so every field the pipeline reads is bounded: the
envelope (event_type, version, seq_num, global_seq_num, mach_time, thread_id), the acting
process and its tokens (pids, pidversions, uids), every declared numeric column of all 104
typed tables, and JSON kept whole (``json`` columns, events of unknown types).  Whatever a
line holds, no table and no es_health row may show a value osquery's BIGINT cannot hold.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.corpus import generate
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
from tests.pipelines import make_pipeline, table_rows
from tests.test_health import msg, rows_by

WIDE = (2**64 + 5, -(2**63) - 7, 10**30)  # past both ends, and far past
EDGE = (INT64_MAX, INT64_MIN + 1)  # the largest that fit: kept as they are (INT64_MIN is the rings' NULL)


def int_leaves(node, path=()):
    """Paths of every integer (not bool) in decoded JSON."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from int_leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from int_leaves(v, path + (i,))
    elif type(node) is int:
        yield path


def with_value(message: dict, path: tuple, value) -> bytes:
    """``message`` as a line with the integer at ``path`` replaced (``message`` is left as it was)."""
    node = message
    for k in path[:-1]:
        node = node[k]
    old, node[path[-1]] = node[path[-1]], value
    try:
        return json.dumps(message).encode()
    finally:
        node[path[-1]] = old


def out_of_range(p, wide: tuple, tables=None) -> list:
    """(where, column, value) of every served value (es_health's, and the tables' or those of
    ``tables``) that does not fit 64 bits or shows a wide number."""
    marks = tuple(str(w) for w in wide)
    bad = []
    for table in p.layouts if tables is None else tables:
        for row in table_rows(p, table):
            for col, v in row.items():
                if v is None:
                    continue
                if any(m in v for m in marks):
                    bad.append((table, col, v[:80]))
                elif v.lstrip("-").isdigit() and not INT64_MIN <= int(v) <= INT64_MAX:
                    bad.append((table, col, v))
    for row in p.health.rows(p):
        for col, v in row.items():
            if isinstance(v, int) and not INT64_MIN <= v <= INT64_MAX:
                bad.append(("es_health", col, v))
            elif isinstance(v, str) and any(m in v for m in marks):
                bad.append(("es_health", col, v))
    return bad


@pytest.fixture(scope="module")
def every_type_messages() -> list[dict]:
    """A message of every typed table, every field present (version 11), tokens in both forms."""
    lines = list(generate("types", events=104, seed=7, version=11, token_form="mixed"))
    return [json.loads(x) for x in lines if x.strip()]


def test_no_integer_field_of_any_table_can_show_a_value_past_64_bits(every_type_messages):
    p, src = make_pipeline("", lineage=True)
    tried = 0
    for m in every_type_messages:
        batch = [with_value(m, path, WIDE[k % len(WIDE)]) for k, path in enumerate(int_leaves(m))]
        tried += len(batch)
        p.ingest(src, batch)
    assert tried > 5_000  # every integer of every type's message
    assert out_of_range(p, WIDE) == []
    # Those the pipeline reads were refused; the rest (stat fields nothing reads) kept their row.
    assert src.decode_errors > tried // 2 and src.lines == tried
    health = rows_by(p)
    for row in health.values():
        assert row["received"] == sum(row[k] for k in ("buffered", "evicted", "muted", "filtered", "decode_errors"))


def test_an_unknown_event_types_json_and_json_columns_are_checked_too():
    p, src = make_pipeline("", lineage=True)
    unknown = json.loads(msg("open", 1))
    unknown["event_type"] = 4000  # no table: the event is kept as JSON in es_other_events
    unknown["event"] = {"future_event": {"counter": 2**70, "name": "x"}}
    p.ingest(src, [json.dumps(unknown).encode()])
    unknown["event"]["future_event"]["counter"] = 2**64 - 1  # an unsigned 64-bit value: kept as text
    p.ingest(src, [json.dumps(unknown).encode()])
    assert src.decode_errors == 1 and "does not fit 64 bits" in src.last_error
    other = table_rows(p, "es_other_events")
    assert len(other) == 1 and str(2**64 - 1) in other[0]["event"]


@pytest.mark.parametrize("field", ["event_type", "version", "seq_num", "global_seq_num", "mach_time"])
def test_envelope_fields_past_64_bits_are_decode_errors_that_move_nothing(field):
    p, src = make_pipeline("", lineage=True)
    good = [msg("open", i, i, i) for i in range(3)]
    for w in WIDE:
        bad = json.loads(msg("open", 3, 3, 3))
        bad[field] = w
        p.ingest(src, [x.encode() for x in good[:2]] + [json.dumps(bad).encode(), good[2].encode()])
        good = [msg("open", i, i, i) for i in range(3)]
    assert src.decode_errors == len(WIDE)
    health = rows_by(p)
    assert health["test", "*"]["lost"] == 0 and out_of_range(p, WIDE) == []


def test_negative_sequence_numbers_are_decode_errors_not_enormous_gaps():
    p, src = make_pipeline("", lineage=True)
    p.ingest(src, [msg("open", 0, -1, -1).encode(), msg("open", 1, INT64_MAX, INT64_MAX).encode()])
    assert src.decode_errors == 1
    assert out_of_range(p, ()) == []


def test_lost_events_stop_at_the_largest_bigint():
    """Gaps a recording makes up (a restart of numbering, then another enormous jump) cannot
    add up past what es_health's BIGINT holds."""
    p, src = make_pipeline("", lineage=True)
    lines = []
    for k in range(4):
        lines += [msg("open", 2 * k, 0, 0), msg("open", 2 * k + 1, INT64_MAX, INT64_MAX)]
    p.ingest(src, [x.encode() for x in lines])
    health = rows_by(p)
    assert health["test", "open"]["lost"] == INT64_MAX and health["test", "*"]["lost"] == INT64_MAX
    assert health["test", "open"]["seq_gaps"] == 4
    assert out_of_range(p, ()) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, INT64_MAX) | st.sampled_from([0, 1, INT64_MAX]), min_size=1, max_size=12))
def test_any_sequence_of_valid_numbers_keeps_es_health_in_range(seqs):
    p, src = make_pipeline("", source=None)
    src = p.add_source("seq", "replay")
    p.ingest(src, [msg("open", i, s, s).encode() for i, s in enumerate(seqs)])
    assert src.decode_errors == 0 and out_of_range(p, (), tables=()) == []


@pytest.mark.parametrize("value", EDGE)
def test_the_largest_values_that_fit_are_kept(value):
    p, src = make_pipeline("", lineage=True)
    m = json.loads(msg("open", 1))
    m["mach_time"] = value
    m["process"]["audit_token"]["pidversion"] = value
    p.ingest(src, [json.dumps(m).encode()])
    assert src.decode_errors == 0
    row = table_rows(p, "es_open")[0]
    assert row["mach_time"] == str(value) and row["pidversion"] == str(value)
