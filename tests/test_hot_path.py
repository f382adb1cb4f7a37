"""The optimised hot path keeps behaviour: batched ring writes equal per-row appends,
and the direct row encoder's bytes decode, with the generated osquery code and plain
TBinaryProtocol, to exactly the rows expected."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.rings import NULL_INT, EventRing

INTS = ("a", "b")
OBJS = ("x",)

row = st.tuples(
    st.integers(0, 50),  # time: small range, so disorder and ties happen
    st.sampled_from(["ctx1", "ctx2"]),
    st.tuples(st.one_of(st.none(), st.integers(-(2**63) + 1, 2**63 - 1)), st.integers(0, 9)),
    st.tuples(st.one_of(st.none(), st.text(max_size=3))),
)


def logical(ring: EventRing):
    snap = ring.snapshot()
    return (list(snap.time), list(snap.ctx), [list(c) for c in snap.cols],
            len(ring), ring.received, ring.evicted, ring.skew, ring._last_tmax)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 12), st.lists(st.lists(row, max_size=30), max_size=6))
def test_extend_equals_append(capacity, batches):
    a = EventRing(INTS, OBJS, capacity)
    b = EventRing(INTS, OBJS, capacity)
    for batch in batches:
        for r in batch:
            a.append(*r)
        assert b.extend(batch) == []
    assert logical(a) == logical(b)
    eids = list(b.snapshot().eid)
    assert eids == sorted(eids) and len(set(eids)) == len(eids)
    # bisection still finds supersets on the batched ring
    for t in range(0, 52, 7):
        lo, hi = b.bounds(time_lo=t)
        snap = b.snapshot()
        assert all(x < t for x in list(snap.time)[:lo])


def test_extend_refuses_integers_past_64_bits_without_tearing_columns():
    ring = EventRing(INTS, OBJS, 100)
    rows = [(i, "c", (i, 1), ("p",)) for i in range(6)]
    rows[3] = (3, "c", (2**64, 1), ("p",))
    assert ring.extend(rows) == [3]
    snap = ring.snapshot()
    assert list(snap.time) == [0, 1, 2, 4, 5]
    assert all(len(c) == 5 for c in snap.cols)
    assert NULL_INT not in snap.cols[0]


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**34), st.integers(0, 10**9 - 1), st.integers(0, 9))
def test_parse_time_matches_datetime(sec, nsec, digits):
    import datetime

    from osq_esf.decode import parse_time

    stamp = datetime.datetime.fromtimestamp(sec, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{nsec:09d}"[:digits]
    text = stamp + (f".{frac}" if digits else "") + "Z"
    assert parse_time(text) == (sec, int(frac.ljust(9, "0")) if digits else 0)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789-T:.Z +_\u00b2\u0661", max_size=32))
def test_parse_time_refuses_only_with_decode_error(text):
    from osq_esf.decode import DecodeError, parse_time

    try:
        sec, nsec = parse_time(text)
    except DecodeError:
        return
    assert 0 <= nsec < 10**9


class _Ctx:
    """What the encoder reads of a row's Actor."""

    def __init__(self, values):
        self.values = tuple(values)
        self.pid = values[0] if isinstance(values[0], int) else -1
        self.encoded = None
        self.narrow = None


def _text():
    return st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_direct_encoder_decodes_to_the_expected_rows(data):
    from osquery.extensions import Extension
    from thrift.protocol import TBinaryProtocol
    from thrift.transport import TTransport

    from osq_esf.extension.constraints import Plan
    from osq_esf.extension.encode import reply_call
    from osq_esf.kinds import default_kinds
    from osq_esf.layout import ACTOR_COLUMNS
    from osq_esf.pipeline import Pipeline
    from tests.pipelines import event_table

    specs = default_kinds().specs
    name = data.draw(st.sampled_from(["es_exec", "es_open", "es_iokit_open", "es_exit"]))
    table = event_table(Pipeline(default_kinds()), name)
    numeric = {c.name: c.numeric for c in specs[name].columns}
    i64 = st.one_of(st.none(), st.integers(-(2**63) + 1, 2**63 - 1))

    def value(col):
        return data.draw(i64 if numeric[col] else st.one_of(st.none(), _text()))

    ctxs = [_Ctx([value(c) for c in ACTOR_COLUMNS]) for _ in range(data.draw(st.integers(1, 3)))]
    n = data.draw(st.integers(1, 8))
    for _ in range(n):
        table.ring.append(data.draw(st.integers(0, 2**40)), data.draw(st.sampled_from(ctxs)),
                          tuple(value(c) for c in table.int_names), tuple(value(c) for c in table.obj_names))
    cols_used = data.draw(st.one_of(st.none(), st.sets(st.sampled_from(specs[name].column_names), min_size=1)))
    snap = table.ring.snapshot()
    count, body = table.encode(snap, Plan(cols_used=cols_used))

    prot = TBinaryProtocol.TBinaryProtocol(TTransport.TMemoryBuffer(b"".join(reply_call(3, 0, "OK", 9, count, body))))
    prot.readMessageBegin()
    result = Extension.call_result()
    result.read(prot)
    got = result.success.response

    def expected_row(i):
        vals = dict(zip(ACTOR_COLUMNS, snap.ctx[i].values))
        vals["eid"], vals["time"] = snap.eid[i], snap.time[i]
        for col, c in zip(table.int_names + table.obj_names, snap.cols):
            v = c[i]
            vals[col] = None if v == NULL_INT else v
        row = {}
        for col, v in vals.items():
            if v is None:
                if numeric[col]:
                    row[col] = ""  # a numeric NULL travels as "", which osquery reads as NULL
            else:
                row[col] = str(v)
        return row

    want = [expected_row(i) for i in range(n)]
    assert count == n == len(got)
    for g, w in zip(got, want):
        if cols_used is None:
            assert g == w
        else:  # a superset of the used columns, each exactly as expected
            assert set(cols_used) & set(w) <= set(g)
            assert g == {k: w[k] for k in g}
            # a narrow query gets only the process and lineage columns it asked for
            assert set(g) & set(ACTOR_COLUMNS) <= set(cols_used)


def test_interned_columns_share_one_string_per_value():
    ring = EventRing(INTS, ("x", "y"), 100, intern=("x",))
    rows = [(i, "c", (i, 1), ("".join(["/tmp/", "a"]), "".join(["/tmp/", "a"]))) for i in range(8)]
    rows[5] = (5, "c", (5, 1), (None, None))
    assert ring.extend(rows) == []
    x, y = ring.snapshot().cols[2:]
    assert len({id(v) for v in x if v is not None}) == 1  # one shared copy
    assert len({id(v) for v in y if v is not None}) == 7  # not asked for: left alone
    assert x == y and x[5] is None
