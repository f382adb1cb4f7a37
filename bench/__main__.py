"""``python -m bench``: run P1-P5, print the table, write latest.json and docs/performance.md.

``--quick`` runs every benchmark at a tiny size (for the smoke test); its figures say
nothing, so it writes only where ``--out`` points.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

from bench import big, common, corpus, delivery, ingest, live, memory, report

ROOT = Path(__file__).resolve().parents[1]
FULL = {"ingest": 100_000, "delivery": 100_000, "big": 1_000_000, "memory": 100_000}
QUICK = {"ingest": 2_000, "delivery": 2_000, "big": 20_000, "memory": 2_000}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the machinery, not the speed")
    ap.add_argument("--only", default="P1,P2,P3,P4,P5,P6", help="comma-separated subset, e.g. P1,P4")
    ap.add_argument("--out", type=Path, help="directory for latest.json and performance.md "
                    "(default: bench/results and docs, or nothing with --quick)")
    ap.add_argument("--render", action="store_true",
                    help="only rebuild docs/performance.md from bench/results/latest.json (after editing bench/analysis.md)")
    args = ap.parse_args(argv)
    if args.render:
        doc = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
        (ROOT / "docs" / "performance.md").write_text(report.markdown(doc, _analysis()))
        return 0
    sizes = QUICK if args.quick else FULL
    only = set(args.only.upper().split(","))
    t0 = time.perf_counter()
    results = []

    def step(ids, fn):
        if only & set(ids):
            print(f"running {'/'.join(ids)} ...", file=sys.stderr, flush=True)
            out = fn()
            results.extend(r for r in (out if isinstance(out, list) else [out]) if r["id"][:2] in only)

    step(["P1"], lambda: ingest.run(sizes["ingest"], repeat=1 if args.quick else 3))
    step(["P2"], lambda: delivery.run(sizes["delivery"], repeat=1 if args.quick else 3, sdk_repeat=1 if args.quick else 2))
    step(["P3", "P5"], lambda: big.run(sizes["big"], selective_repeat=3 if args.quick else 20))
    step(["P4"], lambda: memory.run(sizes["memory"], **({"full_cycle": 5_000, "full_limit": 200} if args.quick else {})))
    step(["P6"], lambda: live.run(warmup=0.5 if args.quick else 2.0, window=1.0 if args.quick else 8.0))
    results.sort(key=lambda r: r["id"])
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": common.machine(), "corpus": corpus.source_name(), "quick": args.quick,
        "seconds": time.perf_counter() - t0, "results": results,
    }
    print(report.table(results))
    print(f"({doc['seconds']:.0f} s)")
    if args.out is not None or not args.quick:
        json_path = (args.out or ROOT / "bench" / "results") / "latest.json"
        md_path = (args.out or ROOT / "docs") / "performance.md"
        report.write_json(json_path, doc)
        md_path.parent.mkdir(parents=True, exist_ok=True)
        md_path.write_text(report.markdown(doc, _analysis()))
        print(f"wrote {json_path} and {md_path}")
    return 0


def _analysis() -> str:
    path = ROOT / "bench" / "analysis.md"
    return path.read_text() if path.exists() else ""


if __name__ == "__main__":
    raise SystemExit(main())
