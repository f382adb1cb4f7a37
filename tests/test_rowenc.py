"""The compiled row encoder (osq_esf/extension/_rowenc.c) against the Python path it replaces.

The Python path in EventTable._encode_rows defines the bytes; tests/test_hot_path.py checks
that whichever path is active decodes through osquery's generated thrift code.
"""

from __future__ import annotations

from array import array

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.extension import encode
from osq_esf.extension.tables import EventTable
from osq_esf.kinds import default_kinds
from osq_esf.layout import ACTOR_COLUMNS
from osq_esf.pipeline import Pipeline
from osq_esf.rings import NULL_INT
from tests import test_hot_path
from tests.pipelines import event_table, event_tables
from tests.test_hot_path import _Ctx, _text

rowenc = encode.rowenc
needs_c = pytest.mark.skipif(rowenc is None, reason="osq_esf.extension._rowenc is not built (no C compiler at "
                             "install time, or OSQ_ESF_PURE=1): only the Python encoder is in use")
SPECS = default_kinds().specs
I64 = st.integers(-(2**63) + 1, 2**63 - 1)


def _both(table: EventTable, snap, used) -> tuple[bytes, bytes]:
    """(compiled, Python) encodings of the same snapshot."""
    args = (snap.ctx, snap.eid, snap.time, snap.cols, used)
    c = table._encode_rows(*args)
    # Into a reused buffer (the server's call slots): the same bytes, whatever the buffer held
    # before and whether it must grow.
    for buf in (bytearray(), bytearray(b"\xff" * 7), bytearray(b"\xee" * (len(c) + 100))):
        size = len(buf)
        n = table._encode_rows(*args, out=buf)
        assert bytes(buf[:n]) == c and len(buf) >= max(size, n)
    saved, table._rowenc = table._rowenc, None
    try:
        return c, table._encode_rows(*args)
    finally:
        table._rowenc = saved


@needs_c
def test_event_tables_use_the_compiled_encoder():
    tables = event_tables(Pipeline(default_kinds()))
    assert tables and all(t._rowenc is rowenc for t in tables)


@needs_c
@settings(max_examples=80, deadline=None)
@given(st.data())
def test_compiled_and_python_paths_write_the_same_bytes(data):
    pipeline = Pipeline(default_kinds())
    table = event_table(pipeline, data.draw(st.sampled_from(
        ["es_other_events", "es_exec", "es_open", "es_iokit_open", "es_exit"])))
    name = table.name
    numeric = {c.name: c.numeric for c in SPECS[name].columns}
    # some text columns NULL in every row, some never: both shapes take their own branch
    all_null = data.draw(st.sets(st.sampled_from(table.obj_names)))

    def value(col):
        if numeric[col]:
            return data.draw(st.one_of(st.none(), I64, st.sampled_from([0, -1, 2**63 - 1, -(2**63) + 1])))
        return None if col in all_null else data.draw(st.one_of(st.none(), _text(), st.just("é/\udcff")))

    ctxs = [_Ctx([value(c) for c in ACTOR_COLUMNS]) for _ in range(data.draw(st.integers(1, 3)))]
    for _ in range(data.draw(st.integers(1, 12))):  # generate never encodes 0 rows
        table.ring.append(data.draw(st.integers(-(2**40), 2**40)), data.draw(st.sampled_from(ctxs)),
                          tuple(value(c) for c in table.int_names), tuple(value(c) for c in table.obj_names))
    used = data.draw(st.one_of(st.none(), st.sets(st.sampled_from(SPECS[name].column_names))))
    snap = table.ring.snapshot()
    c, py = _both(table, snap, used)
    assert c == py
    # the pid-pushdown path hands over lists instead of arrays
    lists = [list(col) for col in snap.cols]
    assert table._encode_rows(snap.ctx, list(snap.eid), list(snap.time), lists, used) == py


@needs_c
@given(st.lists(st.one_of(st.none(), _text(), st.booleans(), st.integers(), st.floats(allow_nan=False)), max_size=8))
def test_text_cells_render_like_encode_text(values):
    key = encode.string(b"k")
    want = b"".join(encode.map_header(0 if v is None else 1) + (b"" if v is None else encode.pair(b"k", v))
                    for v in values)
    assert rowenc.encode_rows(len(values), None, [(key, rowenc.KIND_TEXT, values)]) == want


@needs_c
def test_integer_cells_and_process_blobs():
    key = encode.string(b"n")
    procs = [(2, b"AB"), (0, b"")]
    got = rowenc.encode_rows(2, procs, [(key, rowenc.KIND_INT, array("q", [-(2**63) + 1, NULL_INT]))])
    assert got == (encode.map_header(3) + b"AB" + encode.pair(b"n", -(2**63) + 1)
                   + encode.map_header(1) + key + encode.string(b""))
    assert rowenc.encode_rows(0, None, []) == b""


@needs_c
@pytest.mark.parametrize("args, error", [
    ((1, None, [(b"k", 0, array("i", [1]))]), TypeError),  # not 64-bit
    ((2, None, [(b"k", 0, array("q", [1]))]), ValueError),  # fewer values than rows
    ((1, None, [(b"k", 7, [1])]), ValueError),  # unknown kind
    ((1, None, [("k", 1, ["x"])]), TypeError),  # key not bytes
    ((1, [(1, "x")], []), TypeError),  # blob not bytes
    ((1, [], []), ValueError),  # fewer blobs than rows
    ((1, None, [(b"k", 0, [2**64])]), OverflowError),
])
def test_bad_arguments_raise_instead_of_crashing(args, error):
    with pytest.raises(error):
        rowenc.encode_rows(*args)


def test_python_fallback_decodes_to_the_expected_rows(monkeypatch):
    """The decode property of test_hot_path, on tables built while the compiled encoder is absent."""
    monkeypatch.setattr(encode, "rowenc", None)
    assert all(t._rowenc is None for t in event_tables(Pipeline(default_kinds())))
    test_hot_path.test_direct_encoder_decodes_to_the_expected_rows()


@needs_c
def test_chunks_written_into_a_buffer_are_the_chunks_of_bytes(monkeypatch):
    """generate() with plan.out: each chunk is a view of the one buffer, equal to the bytes chunk."""
    from osq_esf.extension import tables as tables_mod
    from osq_esf.extension.constraints import Plan

    monkeypatch.setattr(tables_mod, "CHUNK_ROWS", 3)
    table = event_table(Pipeline(default_kinds()), "es_open")
    ctx = _Ctx([1 if c in ("pid", "pidversion") else None for c in ACTOR_COLUMNS])
    for i in range(10):
        table.ring.append(i, ctx, tuple(i for _ in table.int_names), tuple(f"/p/{i}" for _ in table.obj_names))
    n, plain = table.generate(Plan())
    plain = list(plain)
    buf = bytearray()
    n2, views = table.generate(Plan(out=buf))
    got = [bytes(v) for v in views]  # each copied before the next is asked for
    assert n == n2 == 10 and len(plain) == 4 and got == plain
