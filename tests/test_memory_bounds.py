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
