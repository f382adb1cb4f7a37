"""Ring buffers: eviction by count and bytes, eid order, and bisection bounds (with disorder)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.rings import EventRing


def ring(capacity=5, max_bytes=0):
    return EventRing(("n",), ("s",), capacity, max_bytes)


def contents(r: EventRing):
    snap = r.snapshot()
    return list(snap.cols[0]), list(snap.time)


def test_oldest_is_evicted_first_and_counted():
    r = ring(3)
    for i in range(7):
        r.append(100 + i, None, (i,), (str(i),))
    assert contents(r) == ([4, 5, 6], [104, 105, 106])
    assert (r.received, r.evicted, len(r)) == (7, 4, 3)


def test_null_integers_round_trip_as_the_sentinel():
    from osq_esf.rings import NULL_INT

    r = ring()
    r.append(1, None, (None,), (None,))
    snap = r.snapshot()
    assert snap.cols[0][0] == NULL_INT and snap.cols[1][0] is None


def test_byte_budget_evicts_before_the_count_limit():
    r = ring(capacity=100, max_bytes=250)
    for i in range(10):
        r.append(i, None, (i,), ("x",), size=100)
    assert len(r) == 2 and r.buffered_bytes == 200 and r.evicted == 8
    # The ring keeps working after it wraps under a byte budget.
    for i in range(10, 300):
        r.append(i, None, (i,), ("x",), size=100)
    assert contents(r)[0] == [298, 299]


def test_eids_are_unique_and_increasing_across_rings():
    a, b = ring(), ring()
    eids = [x.append(1, None, (0,), ("",)) for _ in range(5) for x in (a, b)]
    assert eids == sorted(eids) and len(set(eids)) == 10


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 40),
    steps=st.lists(st.integers(-3, 3), min_size=1, max_size=120),
    lo=st.one_of(st.none(), st.integers(-5, 130)),
    hi=st.one_of(st.none(), st.integers(-5, 130)),
    eid_lo=st.one_of(st.none(), st.integers(0, 130)),
)
def test_bounds_are_a_superset_of_matching_rows(capacity, steps, lo, hi, eid_lo):
    """Times wander back and forth (interleaved clients); no matching row may be missed."""
    r = ring(capacity)
    t = 50
    first_eid = None
    for i, step in enumerate(steps):
        t += step
        e = r.append(t, None, (i,), ("",))
        first_eid = e if first_eid is None else first_eid
    e_lo = None if eid_lo is None else first_eid + eid_lo
    a, b = r.bounds(lo, hi, e_lo, None)
    snap = r.snapshot()
    inside = set(range(a, b))
    for i, (tm, ed) in enumerate(zip(snap.time, snap.eid)):
        if (lo is None or tm >= lo) and (hi is None or tm <= hi) and (e_lo is None or ed >= e_lo):
            assert i in inside
    # With times that never go back, the bounds are exact.
    if all(s >= 0 for s in steps):
        for i in inside:
            tm, ed = snap.time[i], snap.eid[i]
            assert (lo is None or tm >= lo) and (hi is None or tm <= hi) and (e_lo is None or ed >= e_lo)


def test_a_byte_budget_configured_for_a_table_bounds_it():
    """Through the pipeline, as [rings] max_bytes configures it: long paths take more room."""
    import json

    from tests.pipelines import make_pipeline
    from tests.test_decode import BASE

    def line(i, path):
        m = json.loads(json.dumps(BASE))
        m["seq_num"] = m["global_seq_num"] = i
        m["event"]["write"]["target"]["path"] = path
        return json.dumps(m).encode()

    p, src = make_pipeline(max_bytes={"es_write": 20_000})
    ring = p.rings["es_write"]
    p.ingest(src, [line(i, "/tmp/short") for i in range(100)])
    short_rows = len(ring)
    p.ingest(src, [line(i, "/tmp/" + "x" * 400 + str(i)) for i in range(100, 200)])
    assert ring.buffered_bytes <= 20_000
    assert 0 < len(ring) < short_rows  # the same budget holds fewer long rows
    assert ring.evicted == 200 - len(ring)


def test_an_evicted_row_lets_go_of_its_values():
    """A byte budget bounds memory only if evicted rows drop their strings and actors at once."""
    import weakref

    class Actor:
        pass

    r = EventRing(("n",), ("s",), capacity=1000, max_bytes=20_000)
    actors = [Actor() for _ in range(200)]
    refs = [weakref.ref(a) for a in actors]
    for i, a in enumerate(actors):
        r.append(i, a, (i,), ("x" * 500 + str(i),))
    assert len(r) < 200 and r.buffered_bytes <= 20_000
    held = [v for v in r._objs[0] if v is not None]
    assert len(held) == len(r)  # no evicted string is still referenced by a slot
    del actors
    alive = sum(ref() is not None for ref in refs)
    assert alive == len(r)  # nor an evicted actor


def test_sizes_count_what_python_holds_for_wide_text():
    r = ring()
    narrow, wide = "a" * 1000, "\U0001f600" * 1000
    assert r.row_size((wide,)) - r.row_size((narrow,)) >= 2900  # four bytes a character, not one


def test_the_global_budget_evicts_the_flooded_ring_first():
    from osq_esf.rings import Budget

    budget = Budget(60_000)
    quiet = EventRing(("n",), ("s",), 10_000, max_bytes=40_000, budget=budget)
    loud = EventRing(("n",), ("s",), 10_000, max_bytes=40_000, budget=budget)
    for i in range(20):
        quiet.append(i, None, (i,), ("q" * 200,))
    kept_quiet = len(quiet)
    for batch in range(50):
        loud.extend([(i, None, (i,), ("L" * 200 + str(i),)) for i in range(batch * 20, batch * 20 + 20)])
        budget.enforce()
        assert budget.used <= 60_000
    assert len(quiet) == kept_quiet and quiet.evicted == 0  # the quiet table kept everything
    assert loud.buffered_bytes <= 40_000 and loud.evicted > 0
    # When both are full relative to their caps, the fuller one gives back first.
    for i in range(200):
        quiet.append(i, None, (i,), ("q" * 200,))
        budget.enforce()
    assert budget.used <= 60_000 and budget.evictions > 0


@settings(max_examples=150, deadline=None)
@given(capacity=st.integers(1, 300), max_bytes=st.sampled_from([0, 2_000, 8_000, 40_000]),
       steps=st.lists(st.tuples(st.integers(0, 140), st.integers(0, 40), st.booleans()), min_size=1, max_size=25))
def test_slots_follow_the_rows_kept_and_the_rows_stay_in_order(capacity, max_bytes, steps):
    """Batches and single appends, evictions by count and by bytes: the ring holds exactly the
    newest rows a model keeps, in order, and its slot arrays grow only with the rows it keeps."""
    from collections import deque

    from osq_esf.rings import MIN_SLOTS

    ring = EventRing(("a",), ("s",), capacity, max_bytes)
    model: deque = deque()
    t = 0
    most = 0
    for k, width, one_by_one in steps:
        most = max(most, len(ring) + k)  # rows the ring must hold at once, before a byte trim
        rows = []
        for _ in range(k):
            t += 1
            rows.append((t, "c", (t,), ("x" * width + str(t),)))
        if one_by_one or k < 4:
            for r in rows:
                ring.append(*r)
        else:
            assert ring.extend(rows) == []
        for r in rows:
            model.append(r[0])
        while len(model) > len(ring):
            model.popleft()
        snap = ring.snapshot()
        assert list(snap.time) == list(model) == list(snap.cols[0])
        assert [v[-len(str(m)):] for v, m in zip(snap.cols[1], model)] == [str(m) for m in model]
        assert len(ring) <= capacity
        slots = len(ring._ctx)
        assert len(ring._time) == len(ring._eid) == len(ring._sizes) == len(ring._ints[0]) == len(ring._objs[0]) == slots
        # never more slots than the capacity, nor than 1.25x the most rows held at once (or the minimum)
        assert slots <= capacity and slots <= max(MIN_SLOTS, most + most // 4 + 1)
        assert sum(ring._sizes[ring._phys(i)] for i in range(len(ring))) == ring.buffered_bytes


def test_a_ring_held_down_by_bytes_does_not_grow_its_slots_to_its_capacity():
    r = EventRing(("n",), ("s",), 100_000, max_bytes=20_000)
    for b in range(200):
        r.extend([(b, "c", (i,), (f"/tmp/{b}/{i}",)) for i in range(250)])
    assert len(r) < 400  # the bytes keep it small...
    assert len(r._ctx) < 1_000  # ...and so its slots, though 50,000 rows went through


def test_a_ring_whose_rows_were_evicted_hands_back_its_slots():
    r = EventRing(("n",), ("s",), 100_000)
    r.extend([(i, "c", (i,), ("x",)) for i in range(50_000)])
    assert len(r._ctx) >= 50_000
    r.evict_bytes(r.buffered_bytes // 100)
    assert len(r) <= 600 and len(r._ctx) < 2_000
    assert list(r.snapshot().time) == list(range(50_000 - len(r), 50_000))


@settings(max_examples=80, deadline=None)
@given(limit=st.sampled_from([0, 3_000, 20_000]),
       steps=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 60), st.integers(0, 30)), min_size=1, max_size=30))
def test_the_budget_keeps_the_sum_of_the_rings_bytes(limit, steps):
    from osq_esf.rings import Budget

    budget = Budget(limit)
    rings = [EventRing(("n",), ("s",), cap, max_bytes=mb, budget=budget)
             for cap, mb in ((50, 0), (400, 5_000), (1000, 0))]
    for which, k, width in steps:
        rows = [(i, "c", (i,), ("y" * width,)) for i in range(k)]
        if k < 4:
            for r in rows:
                rings[which].append(*r)
        else:
            rings[which].extend(rows)
        budget.enforce()
        assert budget.used == sum(r.buffered_bytes for r in rings)
        if limit:
            assert budget.used <= limit or all(len(r) <= 1 for r in rings)
