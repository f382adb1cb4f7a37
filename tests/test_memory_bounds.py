"""What bounds memory besides the rows' own strings (issue 10, found by the fuzz campaign's RSS):
the process contexts rows point to are paid for in the ring budget by the first row that stores
them, and the process pool's index is bounded by bytes, not only by entries."""

from __future__ import annotations

import json

from osq_esf.decode import decode_process
from osq_esf.kinds import default_kinds
from osq_esf.pipeline import Pipeline
from osq_esf.process import ProcessPool
from tests.test_health import process


def storm(first: int, n: int, seq: int) -> list[bytes]:
    """fork -> exec -> exit of ``n`` distinct short-lived processes (a loop of /usr/bin/true)."""
    out = []
    for pid in range(first, first + n):
        for short, number, actor, body in (
                ("fork", 11, process(100), {"child": process(pid)}),
                ("exec", 9, process(pid), {"target": process(pid + 1_000_000), "args": ["/usr/bin/true"], "env": []}),
                ("exit", 15, process(pid + 1_000_000), {"stat": 0})):
            seq += 1
            out.append(json.dumps({"version": 8, "time": "2026-01-01T00:00:00.000000001Z", "mach_time": seq,
                                   "event_type": number, "action_type": 1, "seq_num": seq, "global_seq_num": seq,
                                   "thread": {"thread_id": 7}, "process": actor, "event": {short: body}}).encode())
    return out


def test_a_storm_of_short_lived_processes_pays_for_its_contexts_in_the_ring_budget():
    budget = 2 << 20
    p = Pipeline(default_kinds(), total_bytes=budget)
    src = p.add_source("storm", "replay")
    for k in range(12):
        p.ingest(src, storm(10_000 + 500 * k, 500, 3 * 500 * k))
    assert src.decode_errors == 0 and p.budget.evictions > 0  # the budget had to evict
    contexts = set()
    for ring in p.rings.values():
        with ring.lock:
            contexts.update(id(actor.ctx) for actor in ring.snapshot().ctx)
    # Every context a stored row keeps alive (a kilobyte and more: its JSON, values, struct) was
    # paid for by one of the stored rows.
    assert len(contexts) * 1024 <= p.budget.used <= budget


def test_the_process_pool_is_bounded_by_bytes_as_well_as_entries():
    pool = ProcessPool(limit=65536, max_bytes=256 << 10)
    raws = []
    for pid in range(400):
        proc = process(pid)
        proc["executable"]["path"] = "/Applications/" + "x" * 2000 + f"/{pid}"  # a 2 KB process
        raws.append(json.dumps(proc).encode())
    held = 0
    for raw in raws:
        pool.get_raw(raw)
        held = max(held, len(pool))
    # Each process is two entries (its raw key, over 2 KB, and its decoded struct, about 1 KB).
    assert held <= 2 * ((256 << 10) // 3000 + 1)
    contexts = [pool.get(decode_process(raw)) for raw in raws]  # decoded keys alone
    assert len(pool) <= (256 << 10) // 1024 and len({id(c) for c in contexts}) == len(raws)


def test_a_ring_that_evicts_by_bytes_reuses_its_slots_instead_of_growing_to_its_capacity():
    """Rows evicted by the byte budget free their slots at the front: new rows go there, and the
    arrays (8 bytes a column a slot, outside the budget) grow only when every slot is taken."""
    from osq_esf.rings import EventRing

    ring = EventRing(("n",) * 20, ("s",) * 10, capacity=100_000, max_bytes=200_000)
    most = 0
    for batch in range(400):
        rows = [(i, None, (i,) * 20, ("x" * (50 + i % 300),) * 10) for i in range(batch * 25, batch * 25 + 25)]
        ring.extend(rows) if batch % 2 else [ring.append(*row) for row in rows]
        most = max(most, len(ring))
    assert ring.evicted > 9_000 and len(ring) < 1_000  # the byte budget, not the capacity, bounds it
    assert len(ring._ctx) <= 2 * most + 256  # slots: about the most rows ever held, not 10,000
    times = [ring._time[ring._phys(i)] for i in range(len(ring))]
    assert times == sorted(times) and times[-1] == 400 * 25 - 1  # oldest first, newest kept


def test_the_processes_of_evicted_rows_are_let_go_by_the_rule_caches():
    """The rules' per-actor cache keeps an actor, hence its context, alive: sized like the pool
    (thousands of processes, not 65,536 per event type), it lets a storm's contexts go."""
    import gc

    from osq_esf.process import ProcessContext
    from tests.pipelines import install_config

    p = Pipeline(default_kinds(), total_bytes=256 << 10)  # no lineage stage: its table has its own bound
    install_config(p, "")
    src = p.add_source("storm", "replay")
    n = 40_000
    for first in range(0, n, 500):
        p.ingest(src, [json.dumps({"version": 8, "time": "2026-01-01T00:00:00.000000001Z", "event_type": 10,
                                   "process": process(100_000 + i),
                                   "event": {"open": {"fflag": 1, "file": {"path": "/tmp/f", "path_truncated": False}}}}
                                  ).encode() for i in range(first, first + 500)])
    assert src.events == n and len(p.rings["es_open"]) < 1000  # the budget evicted nearly every row
    gc.collect()
    alive = sum(type(o) is ProcessContext for o in gc.get_objects())
    assert alive < n // 2  # most of the storm's processes are gone, not pinned by a cache
