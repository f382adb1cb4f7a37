"""The detection pack on full default rings: what each query costs the extension and osqueryd.

``python -m bench.packs`` (``make bench`` runs it after the P1-P5 benchmarks) fills, for each set of
tables the pack's queries read, every one of those tables to its default ring (its capacity, or its
byte share of the default budget when that binds first) with events timed inside the last 80 seconds,
so every query's window holds the whole ring: the worst case a scheduled run can meet. The rows are
benign (none passes a query's first filter), so a run's cost is the scan itself. The extension runs as
its own process, as under osqueryd, with its default configuration; each query runs once through the
embedded host with the time table pinned to the rings' last second, and for each one the bench
records:

- every reply the extension sent: rows, and bytes as TBinaryProtocol writes them;
- ``osqueryd_mb``: what osqueryd's worker would hold for the largest reply, by a stated model:
  ``ExtensionManagerClient::call`` (osquery ``osquery/extensions/impl_thrift.cpp``) copies the
  thrift reply's ``vector<map<string, string>>`` into the plugin response row by row, so two copies
  live at once; a libc++ ``std::map`` node holding a pair of strings is 80 bytes, and a string longer
  than 22 bytes also allocates its length + 1 rounded up to 16 (macOS malloc's quantum);
- ``host_peak_mb``: the Python heap the embedded host (osquery's stand-in: it decodes the replies
  into dicts and hands them to SQLite) used at its peak during the query (tracemalloc);
- seconds.

Baseline, in the same run: the biggest ``es_open`` detection written the direct way (one scan
selecting the process columns too), to show what the two-stage form (docs/packs.md) saves.
osqueryd's watchdog kills a worker above 200 MB (osquery ``osquery/core/watcher.cpp``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

from bench import common, report

ROOT = Path(__file__).resolve().parents[1]
PACK = ROOT / "packaging" / "packs" / "osq-esf-detections.conf"
WATCHDOG_MB = 200
SPAN = 80  # seconds every ring's rows are spread over (inside every query's window)
END = 1_791_400_000  # the rings' last second (2026-10-07T19:06:40Z)
NODE, SSO = 80, 22  # libc++ map node with pair<string, string>; longest string kept inline
# Template fields that would make a row pass a detection's first filter (which would measure
# the second stage instead of the scan): replaced by benign values.
BENIGN = {
    "iokit_open": {"user_client_class": "IOAudio2DeviceUserClient"},
    "get_task": {"type": 2},
    "setmode": {"mode": 420},
    "deleteextattr": {"extattr": "com.apple.metadata:kMDItemWhereFroms"},
}
BASELINE = "credential_browser_secrets_read"


def templates(kinds: set[str]) -> dict[str, dict]:
    """One realistic message of each event type (the corpus's ``types`` scenario, message version 10)."""
    from osq_esf.corpus import generate

    out: dict[str, dict] = {}
    for line in generate("types", events=400, seed=3, version=10).lines:
        m = json.loads(line)
        kind = next(iter(m["event"]))
        if kind in kinds and kind not in out:
            m["event"][kind].update(BENIGN.get(kind, {}))
            out[kind] = m
    missing = kinds - set(out)
    if missing:
        raise SystemExit(f"no template for {sorted(missing)}")
    return out


def fill(path: str, tables: list[str], scale: float) -> dict[str, int]:
    """Write, in time order, each table's default ring of rows (times inside the last SPAN s)."""
    from osq_esf.kinds import default_kinds

    kinds = {k.table: k for k in default_kinds()}
    counts = {t: max(1, int(kinds[t].capacity * scale)) for t in tables}
    temps = templates({kinds[t].short for t in tables})
    pieces = []
    for t in tables:
        text = json.dumps(temps[kinds[t].short], separators=(",", ":"))
        text = re.sub(r'"time":"[^"]*"', '"time":"@TIME@"', text, count=1)
        text = re.sub(r'"seq_num":\d+', '"seq_num":@SEQ@', text, count=1)
        text = re.sub(r'"global_seq_num":\d+', '"global_seq_num":@SEQ@', text, count=1)
        pieces.append([t, text, counts[t]])
    total = sum(counts.values())
    start = END - SPAN
    live = list(pieces)
    with open(path, "w") as f:
        for i in range(total):
            piece = live[i % len(live)]
            piece[2] -= 1
            if not piece[2]:
                live.remove(piece)
            ns = start * 10**9 + (i * SPAN * 10**9) // total
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9)
            f.write(piece[1].replace("@TIME@", stamp, 1).replace("@SEQ@", str(i)) + "\n")
    return counts


def thrift_bytes(rows: list[dict]) -> int:
    """Bytes of the rows as TBinaryProtocol writes a list<map<string,string>>."""
    return sum(6 + sum(8 + len(k.encode()) + len(v.encode()) for k, v in r.items()) for r in rows)


def cpp_bytes(rows: list[dict]) -> int:
    """The model's bytes for one copy of the rows as vector<map<string, string>>."""
    def string(s: str) -> int:
        n = len(s.encode())
        return 0 if n <= SSO else (n + 1 + 15) // 16 * 16
    return sum(24 + sum(NODE + string(k) + string(v) for k, v in r.items()) for r in rows)


class Recorder:
    """Wraps the host's extension call: every reply's rows and bytes."""

    def __init__(self):
        self.replies: list[tuple[str, int, int, int]] = []  # table, rows, thrift bytes, model bytes
        from osq_esf.host import calls

        self._calls = calls
        self._original = calls.call_extension

        def call(path, registry, item, request, timeout):
            rows = self._original(path, registry, item, request, timeout)
            if request.get("action") == "generate":
                self.replies.append((item, len(rows), thrift_bytes(rows), cpp_bytes(rows)))
            return rows

        calls.call_extension = call

    def close(self) -> None:
        self._calls.call_extension = self._original


def measure(session, sql: str, recorder: Recorder) -> dict:
    recorder.replies.clear()
    tracemalloc.start()
    t = time.perf_counter()
    result = session.query(sql)
    seconds = time.perf_counter() - t
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    replies = list(recorder.replies)
    largest = max(replies, key=lambda r: r[3]) if replies else ("-", 0, 0, 0)
    return {
        "result_rows": len(result.rows), "calls": len(replies), "rows_sent": sum(r[1] for r in replies),
        "reply_mb": sum(r[2] for r in replies) / 1e6, "largest_reply": {"table": largest[0], "rows": largest[1],
                                                                        "mb": largest[2] / 1e6},
        "osqueryd_mb": 2 * largest[3] / 1e6, "host_peak_mb": peak / 1e6, "seconds": seconds,
    }


def run(scale: float = 1.0) -> dict:
    from osq_esf.commands import SourcesReady
    from osq_esf.host.packs import load_pack
    from osq_esf.host.runner import EmbeddedSession
    from osq_esf.host.scheduler import SimulatedClock
    from osq_esf.packrun import InProcessExtension, event_tables

    pack = load_pack(str(PACK))
    events = event_tables()
    probe = InProcessExtension([], None, False, SimulatedClock(END))
    try:
        reads = {q.name: sorted(probe.describe(q.query).tables & events) for q in pack.queries}
    finally:
        probe.close()
    groups: dict[tuple, list] = defaultdict(list)
    for q in pack.queries:
        groups[tuple(reads[q.name])].append(q)
    if scale < 1:  # a smoke run: one extension for every table (the budget binds nowhere)
        groups = {tuple(sorted({t for q in pack.queries for t in reads[q.name]})): list(pack.queries)}
    baseline = next(q for q in pack.queries if q.name == BASELINE)
    direct = ("SELECT time, pid, path, filename, fflag_names, signing_id, team_id, cdhash, rp_path, responsible_path "
              "FROM es_open WHERE time > (SELECT unix_time FROM time) - 90 AND "
              + baseline.query.split(" AND eid IN (SELECT eid FROM es_open WHERE time > (SELECT unix_time FROM time)"
                                     " - 90 AND ", 1)[1].replace(") AND COALESCE", " AND COALESCE", 1))
    queries: dict[str, dict] = {}
    rings: dict[str, int] = {}
    base = None
    directory = tempfile.mkdtemp(prefix="osq-esf-packbench-")
    recorder = Recorder()
    try:
        for tables, members in sorted(groups.items()):
            path = os.path.join(directory, "rings.jsonl")
            fill(path, list(tables), scale)
            print(f"  {', '.join(tables)}: {len(members)} queries", file=sys.stderr, flush=True)
            argv = [sys.executable, "-m", "osq_esf", "run", "--source", "replay:" + path]
            with EmbeddedSession(argv, clock=lambda: END, thrift_timeout=600, start_timeout=60) as session:
                session.wait_ready(SourcesReady(), 600)
                health = session.query("SELECT event_type, buffered FROM es_health WHERE event_type != '*'")
                held = {"es_" + name: n for name, n in health.rows}
                for t in tables:
                    rings[t] = held.get(t, 0)
                for q in members:
                    queries[q.name] = {"tables": reads[q.name], "rows_in_rings": sum(rings[t] for t in reads[q.name]),
                                       **measure(session, q.query, recorder)}
                if BASELINE in {q.name for q in members}:
                    base = measure(session, direct, recorder)
                    base["query"] = direct
            os.unlink(path)
    finally:
        recorder.close()
        os.rmdir(directory)
    biggest = max(queries, key=lambda n: queries[n]["osqueryd_mb"])
    return {"rings": rings, "queries": queries, "biggest": biggest, "baseline": {"name": BASELINE, **base},
            "watchdog_mb": WATCHDOG_MB, "scale": scale}


def markdown(doc: dict) -> str:
    q = doc["queries"]
    order = sorted(q, key=lambda n: -q[n]["osqueryd_mb"])
    lines = ["| query | tables | rows in rings | rows sent | calls | reply MB | osqueryd MB (model) | host peak MB | s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for n in order:
        r = q[n]
        lines.append(f"| `{n}` | {', '.join(r['tables'])} | {r['rows_in_rings']:,} | {r['rows_sent']:,} | {r['calls']} | "
                     f"{r['reply_mb']:.1f} | {r['osqueryd_mb']:.1f} | {r['host_peak_mb']:.1f} | {r['seconds']:.2f} |")
    b = doc["baseline"]
    lines.append(f"| baseline: `{doc['baseline']['name']}` in one scan | es_open | | {b['rows_sent']:,} | {b['calls']} | "
                 f"{b['reply_mb']:.1f} | {b['osqueryd_mb']:.1f} | {b['host_peak_mb']:.1f} | {b['seconds']:.2f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.packs", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="rings at 1%% of their size: checks the machinery only")
    ap.add_argument("--out", type=Path, help="where to write packs.json (default bench/results, nothing with --quick)")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    doc = run(0.01 if args.quick else 1.0)
    doc.update(date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
               machine=common.machine(), seconds=time.perf_counter() - t0)
    print(markdown(doc))
    big = doc["queries"][doc["biggest"]]
    print(f"\nbiggest: {doc['biggest']}: {big['osqueryd_mb']:.1f} MB in osqueryd by the model "
          f"({100 * big['osqueryd_mb'] / WATCHDOG_MB:.0f}% of the watchdog's {WATCHDOG_MB} MB); "
          f"host peak {big['host_peak_mb']:.1f} MB; baseline {doc['baseline']['osqueryd_mb']:.1f} MB "
          f"({doc['seconds']:.0f} s)")
    if args.out is not None or not args.quick:
        path = (args.out or ROOT / "bench" / "results") / "packs.json"
        report.write_json(path, doc)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
