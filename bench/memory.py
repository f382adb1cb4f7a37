"""P4 memory: RSS growth per buffered event, per table, each in a fresh process.

The child makes its lines first, then reads RSS, ingests them into rings big enough
to keep all, collects garbage, hands free heap pages back (malloc_trim) and reads RSS
again.  Without the trim, the allocator's slack from decode garbage made the figure
move by ~25% between runs; with it, runs agree within 1%.
"""

from __future__ import annotations

import ctypes
import gc
import json
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


def _child(kind: str, strip_env: bool, events: int) -> dict:
    corpus = list(lines(events, only=kind, seed=7))
    if strip_env:
        out = []
        for line in corpus:
            m = orjson.loads(line)
            m["event"]["exec"]["env"] = []
            out.append(orjson.dumps(m) + b"\n")
        corpus = out
    p = app_pipeline(events)
    settle()
    before = rss_bytes()
    st = feed(p, corpus)
    settle()
    after = rss_bytes()
    ring = p.rings["es_" + kind]
    n = max(1, len(ring))
    # The same, counted from the structures (no allocator noise): columns plus each distinct string once.
    columns = sum(map(sys.getsizeof, [ring._eid, ring._time, ring._tmax, ring._ctx, *ring._ints, *ring._objs]))
    strings = {id(v): v for col in ring._objs for v in col if type(v) is str}
    return {"events": st.events, "buffered": len(ring), "rss_growth": after - before,
            "bytes_per_event": (after - before) / n, "column_bytes_per_event": columns / n,
            "string_bytes_per_event": sum(map(sys.getsizeof, strings.values())) / n}


def run(events: int = 100_000) -> dict:
    per = {}
    met = True
    worst = 0.0
    for label, kind, strip, target in CASES:
        n = events // 2 if kind == "exec" else events
        out = subprocess.run([sys.executable, "-m", "bench.memory", kind, str(int(strip)), str(n)],
                             capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r["target"] = target
        per[label] = r
        if target is not None:
            worst = max(worst, r["bytes_per_event"] / target)
            met = met and r["bytes_per_event"] <= target
    return {
        "id": "P4", "name": "memory", "unit": "B/event (open)", "figure": per["open"]["bytes_per_event"],
        "baseline": None, "baseline_name": "", "ratio": None,
        "target": "<= 200 B open/write, <= 1 KB exec without env", "met": met,
        "details": {"per_table": per, "worst_fraction_of_target": worst},
    }


if __name__ == "__main__":
    kind, strip, n = sys.argv[1], sys.argv[2] == "1", int(sys.argv[3])
    print(json.dumps(_child(kind, strip, n)))
