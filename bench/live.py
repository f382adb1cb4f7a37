"""P6 CPU per event, live: ``osq-esf run --source eslogger`` as installed (no config: every
default table, ring and rule), fed by the fake eslogger writing the mixed corpus into real
pipes at a steady rate; the figure is the extension process's own CPU time (all threads,
not the eslogger children) per event read, over a window after a warm-up.

The same-run baseline is ``orjson.loads`` of the same lines in this process (CPU time):
the cost of merely parsing what arrives.
"""

from __future__ import annotations

import os
import tempfile
import time

import orjson

from bench.common import RunningExtension, cpu_seconds, fake_eslogger_env, lines

RATES = (5_000, 20_000)


def _eslogger_read(ext) -> int:
    return sum(int(r["lines"]) for r in ext.generate_rows("es_sources") if r["kind"] == "eslogger")


def _measure(flood_file: str, rate: int, warmup: float, window: float) -> dict:
    env = fake_eslogger_env(flood_file, rate, macos="26.0")
    ext = RunningExtension(iter(()), capacity=None, sources=("eslogger",), env=env)
    try:
        deadline = time.monotonic() + 30
        while _eslogger_read(ext) == 0:
            if time.monotonic() > deadline:
                raise RuntimeError("the eslogger clients read nothing")
            time.sleep(0.1)
        time.sleep(warmup)
        pid = ext.pid()
        c0, n0, t0 = cpu_seconds(pid), _eslogger_read(ext), time.monotonic()
        time.sleep(window)
        c1, n1, t1 = cpu_seconds(pid), _eslogger_read(ext), time.monotonic()
    finally:
        ext.close()
    events, cpu, wall = n1 - n0, c1 - c0, t1 - t0
    return {"offered_per_s": rate, "read_per_s": events / wall, "cpu_us_per_event": cpu / max(events, 1) * 1e6,
            "core_percent": cpu / wall * 100, "events": events, "window_seconds": wall}


def run(flood_lines: int = 50_000, warmup: float = 2.0, window: float = 8.0) -> dict:
    work = tempfile.mkdtemp(prefix="osqbench-live")
    flood_file = os.path.join(work, "flood.jsonl")
    corpus = list(lines(flood_lines, seed=5))
    with open(flood_file, "wb") as f:
        f.writelines(corpus)
    per = {}
    for rate in RATES:
        per[f"{rate}/s"] = _measure(flood_file, rate, warmup, window)
    loads, best = orjson.loads, float("inf")
    for _ in range(3):
        t = time.process_time()
        for line in corpus:
            loads(line)
        best = min(best, time.process_time() - t)
    base_us = best / len(corpus) * 1e6
    top = per[f"{RATES[-1]}/s"]
    return {
        "id": "P6", "name": "CPU per event, live", "unit": "us CPU/event", "figure": top["cpu_us_per_event"],
        "baseline": base_us, "baseline_name": "orjson.loads of the same lines (CPU)",
        "ratio": top["cpu_us_per_event"] / base_us, "target": "reported (eslogger source, every default table)",
        "met": True, "details": {"per_rate": per, "rates": list(RATES)},
    }
