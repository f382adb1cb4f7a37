"""P4 memory: RSS growth per buffered event, per table and per table family, each in a fresh
process; and the RSS of a process whose every table was offered its default capacity.

The child makes its lines first, then reads RSS, ingests them into rings big enough
to keep all, collects garbage, hands free heap pages back (malloc_trim) and reads RSS
again.  Without the trim, the allocator's slack from decode garbage made the figure
move by ~25% between runs; with it, runs agree within 1%.

Families are the default ES clients (``client`` in each table's declaration: process,
file, device, and security for the user-space events), fed the corpus generator's
``types`` scenario (every type of the family, each with its own example events).  The
full-rings case runs the pipeline with every default (capacities and the global byte
budget) and feeds each table at least its capacity; its baseline is the same process's
RSS before ingesting.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import subprocess
import sys

import orjson

from bench.common import app_pipeline, feed, lines, rss_bytes

# (label, event type, strip env from execs, target bytes/event or None)
CASES = (
    ("open", "open", False, 200),
    ("write", "write", False, 200),
    ("exec (no env)", "exec", True, 1024),
    ("exec (with env)", "exec", False, None),
    ("fork", "fork", False, None),
    ("exit", "exit", False, None),
)


def settle() -> None:
    """Collect garbage and hand free heap pages back (glibc), so RSS counts live memory."""
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: RSS keeps the allocator's slack
        pass


def _ingested(corpus: list[bytes], capacity: int):
    """(pipeline, source state, RSS before, RSS after): ``corpus`` fed into rings of ``capacity``,
    the heap settled before each reading."""
    p = app_pipeline(capacity)
    settle()
    before = rss_bytes()
    st = feed(p, corpus)
    settle()
    return p, st, before, rss_bytes()


def _child(kind: str, strip_env: bool, events: int) -> dict:
    corpus = list(lines(events, only=kind, seed=7))
    if strip_env:
        out = []
        for line in corpus:
            m = orjson.loads(line)
            m["event"]["exec"]["env"] = []
            out.append(orjson.dumps(m) + b"\n")
        corpus = out
    p, st, before, after = _ingested(corpus, events)
    ring = p.rings["es_" + kind]
    n = max(1, len(ring))
    # The same, counted from the structures (no allocator noise): columns plus each distinct string once.
    columns = sum(map(sys.getsizeof, [ring._eid, ring._time, ring._tmax, ring._ctx, *ring._ints, *ring._objs]))
    strings = {id(v): v for col in ring._objs for v in col if type(v) is str}
    return {"events": st.events, "buffered": len(ring), "rss_growth": after - before,
            "bytes_per_event": (after - before) / n, "column_bytes_per_event": columns / n,
            "string_bytes_per_event": sum(map(sys.getsizeof, strings.values())) / n}


def _types_lines(events: int, seed: int = 11) -> dict[str, list[bytes]]:
    """The ``types`` scenario's lines grouped by event type."""
    from osq_esf.corpus import generate

    out: dict[str, list[bytes]] = {}
    for line in generate("types", events=events, seed=seed):
        out.setdefault(next(iter(orjson.loads(line)["event"])), []).append(line)
    return out


def _cycled(lines_of: list[bytes], n: int):
    while n > 0:
        chunk = lines_of[:n]
        yield from chunk
        n -= len(chunk)


def _family_child(client: str, events: int) -> dict:
    from osq_esf.sources.common import default_clients

    types = default_clients()[client]
    by_type = _types_lines(max(4_000, events // 2))
    have = [t for t in types if t in by_type]
    per = events // max(1, len(have))
    corpus = [line for t in have for line in _cycled(by_type[t], per)]
    p, st, before, after = _ingested(corpus, events)
    buffered = sum(len(p.rings["es_" + t]) for t in have)
    accounted = sum(p.rings["es_" + t].buffered_bytes for t in have)
    return {"types": len(have), "events": len(corpus), "buffered": buffered, "rss_growth": after - before,
            "bytes_per_event": (after - before) / max(1, buffered), "budget_bytes_per_event": accounted / max(1, buffered),
            "decode_errors": st.decode_errors}


def _full_child(cycle: int, limit: int = 0) -> dict:
    """Every table offered its default capacity (at most ``limit`` events when given: the smoke
    test), with every default (the budget included)."""
    from osq_esf.pipeline import DEFAULT_TOTAL_BYTES

    import tempfile

    # The corpus waits on disk, one file per type, so the RSS measured is the extension's, not the corpus's.
    work = tempfile.mkdtemp(prefix="osqbench-full")
    types = set()
    for short, lines_of in _types_lines(cycle).items():
        with open(os.path.join(work, short), "wb") as f:
            f.writelines(lines_of)
        types.add(short)
    p = app_pipeline(None)
    settle()
    before = rss_bytes()
    st = p.add_source("bench", "replay")
    offered = 0
    for name, ring in p.rings.items():
        if name[3:] not in types:
            continue
        with open(os.path.join(work, name[3:]), "rb") as f:
            lines_of = f.readlines()
        batch = []
        want = min(ring.capacity, limit) if limit else ring.capacity
        for line in _cycled(lines_of, want):
            batch.append(line)
            if len(batch) == 512:
                p.ingest(st, batch)
                batch = []
        if batch:
            p.ingest(st, batch)
        offered += want
    settle()
    after = rss_bytes()
    capacity = sum(r.capacity for r in p.rings.values())
    return {"rss_before": before, "rss_after": after, "rss_growth": after - before, "offered": offered,
            "buffered": sum(map(len, p.rings.values())), "capacity_all_tables": capacity,
            "budget_limit": DEFAULT_TOTAL_BYTES, "budget_used": p.budget.used, "budget_evictions": p.budget.evictions,
            "tables_filled": sum(1 for n in p.rings if n[3:] in types), "decode_errors": st.decode_errors,
            "processes_interned": len(p.pool), "lineage_records": len(p.lineage.records) if p.lineage else 0}


def _in_child(*args) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.memory", *map(str, args)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(events: int = 100_000, full_cycle: int = 60_000, full_limit: int = 0) -> list[dict]:
    per = {}
    met = True
    worst = 0.0
    for label, kind, strip, target in CASES:
        n = events // 2 if kind == "exec" else events
        r = _in_child(kind, int(strip), n)
        r["target"] = target
        per[label] = r
        if target is not None:
            worst = max(worst, r["bytes_per_event"] / target)
            met = met and r["bytes_per_event"] <= target
    from osq_esf.sources.common import default_clients

    counted = per["open"]["column_bytes_per_event"] + per["open"]["string_bytes_per_event"]
    families = {c: _in_child("family", c, events // 2) for c in default_clients()}
    full = _in_child("full", full_cycle, full_limit)
    full_ok = full["rss_after"] < WATCHDOG_BYTES
    return [{
        "id": "P4", "name": "memory", "unit": "B/event (open)", "figure": per["open"]["bytes_per_event"],
        "baseline": counted, "baseline_name": "the ring's own structures, counted (columns + distinct strings)",
        "ratio": per["open"]["bytes_per_event"] / counted,
        "target": "<= 200 B open/write, <= 1 KB exec without env", "met": met,
        "details": {"per_table": per, "per_family": families, "worst_fraction_of_target": worst},
    }, {
        "id": "P4f", "name": "memory, full rings", "unit": "MB RSS", "figure": full["rss_after"] / 1e6,
        "baseline": full["rss_before"] / 1e6, "baseline_name": "the same process before ingesting",
        "ratio": full["rss_after"] / full["rss_before"],
        "target": f"< {WATCHDOG_BYTES // 10**6} MB (osquery's extension watchdog)", "met": full_ok,
        "details": full,
    }]


WATCHDOG_BYTES = 200 * 10**6  # osqueryd --enable_extensions_watchdog's default memory limit


if __name__ == "__main__":
    if sys.argv[1] == "family":
        print(json.dumps(_family_child(sys.argv[2], int(sys.argv[3]))))
    elif sys.argv[1] == "full":
        print(json.dumps(_full_child(int(sys.argv[2]), int(sys.argv[3]))))
    else:
        kind, strip, n = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
        print(json.dumps(_child(kind, strip, n)))
