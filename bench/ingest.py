"""P1 ingest: lines -> decoded -> stages -> rings, against bare ``orjson.loads`` of the same lines.

Both sides are timed in CPU seconds of this process (``time.process_time``; nothing here
runs on another thread), best of ``repeat`` interleaved runs: on a shared 2-core box wall
time also counts the time another process held the CPU, which moved the ratio by +-30%
between runs.  The wall-time ratio is kept in the details.
"""

from __future__ import annotations

import gc
import time

import orjson

from bench.common import app_pipeline, feed, lines


def run(events: int = 100_000, repeat: int = 3) -> dict:
    corpus = list(lines(events))
    kept: list[int] = []
    size = sum(map(len, corpus))

    wall: dict[str, float] = {}

    def clock(name, t0, w0) -> float:
        wall[name] = min(wall.get(name, float("inf")), time.perf_counter() - w0)
        return time.process_time() - t0

    def baseline() -> float:
        loads = orjson.loads
        t, w = time.process_time(), time.perf_counter()
        for line in corpus:
            loads(line)
        return clock("base", t, w)

    def pipeline(without=()) -> float:
        p = app_pipeline(events)  # rings big enough: nothing is evicted
        for stage in without:
            setattr(p, stage, None)
        t, w = time.process_time(), time.perf_counter()
        st = feed(p, corpus)
        elapsed = clock("pipe" + ",".join(without), t, w)
        if st.lines != events or st.decode_errors:
            raise RuntimeError(f"{st.lines} of {events} lines read, {st.decode_errors} errors: {st.last_error}")
        kept.append(st.events)  # the rest were muted or filtered by the default rules
        del p
        gc.collect()
        return elapsed

    # Alternate all of them so each sees the same machine weather; keep each one's best.
    # Where the time goes: the same pipeline without the optional stages the app wires in.
    base = pipe = no_rules = core = float("inf")
    for _ in range(repeat):
        base = min(base, baseline())
        pipe = min(pipe, pipeline())
        no_rules = min(no_rules, pipeline(("rules",)))
        core = min(core, pipeline(("rules", "lineage", "sequence")))
    phases = _phases(corpus, events)
    ratio = base / pipe
    return {
        "id": "P1", "name": "ingest", "unit": "events/s",
        "figure": events / pipe, "baseline": events / base, "baseline_name": "orjson.loads loop",
        "ratio": ratio, "target": ">= 1.0x", "met": ratio >= 1.0,
        "details": {"events": events, "rows_kept": kept[0], "mean_line_bytes": round(size / events),
                    "pipeline_us_per_event": pipe / events * 1e6, "orjson_us_per_event": base / events * 1e6,
                    "without_rules_us_per_event": no_rules / events * 1e6,
                    "core_only_us_per_event": core / events * 1e6, "core_only_ratio": base / core,
                    "rules_stage_us_per_event": (pipe - no_rules) / events * 1e6,
                    "lineage_and_sequence_us_per_event": (no_rules - core) / events * 1e6,
                    "wall_ratio": wall["base"] / wall["pipe"], "clock": "process CPU time",
                    "phases_us_per_event": phases},
    }


def _phases(corpus, events: int) -> dict:
    """Where one more (instrumented, so a little slower) run of the whole pipeline spends its CPU:
    decode (no lock), judge (extract, lineage, rules; under the lock), redact (no lock) and
    commit (rings, sequence numbers, counters; under the lock), in us/event."""
    p = app_pipeline(events)
    spent = {"decode": 0.0, "judge": 0.0, "commit": 0.0}

    def timed_call(name, fn):
        def call(*args):
            t = time.process_time()
            try:
                return fn(*args)
            finally:
                spent[name] += time.process_time() - t
        return call

    p.codec.decode_lines = timed_call("decode", p.codec.decode_lines)
    p._judge = timed_call("judge", p._judge)
    p._commit = timed_call("commit", p._commit)
    t = time.process_time()
    feed(p, corpus)
    total = time.process_time() - t
    out = {k: v / events * 1e6 for k, v in spent.items()}
    out["redact_and_rest"] = (total - sum(spent.values())) / events * 1e6
    return out
