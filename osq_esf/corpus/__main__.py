"""``python -m osq_esf.corpus``: write a generated eslogger recording.

    python -m osq_esf.corpus --scenario demo --seed 7 --out osq_esf/data/demo.jsonl.gz
    python -m osq_esf.corpus --scenario bench --events 1000000 --seed 1 --out /tmp/bench.jsonl.gz
    python -m osq_esf.corpus --scenario types --version 10 --token-form array --out /tmp/every-type.jsonl
    python -m osq_esf.corpus --scenario bench --events 20000 --clients default --gaps 25 \\
        --repeats 3 --garbage 12 --out '/tmp/run-{client}.jsonl' --truth /tmp/truth.json
    python -m osq_esf.corpus --scenario attacks --version 10 --out /tmp/attacks.jsonl --expected /tmp/expected.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

from osq_esf.corpus import DEFAULT_CLIENTS, GARBAGE_KINDS, SCENARIOS, TOKEN_FORMS, generate


def _counts(text: str | None, what: str):
    """``5`` or ``name=5,name=2``."""
    if text is None:
        return None
    if "=" not in text:
        return int(text)
    out = {}
    for part in text.split(","):
        name, _, n = part.partition("=")
        if not name or not n.isdigit():
            raise SystemExit(f"--{what}: write N or name=N,name=N, not {text!r}")
        out[name.strip()] = int(n)
    return out


def _version(text: str):
    if text == "mixed":
        return text
    return tuple(int(v) for v in text.split(",")) if "," in text else int(text)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m osq_esf.corpus",
                                 description="Write a generated (not captured) eslogger JSON Lines recording.")
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="demo")
    ap.add_argument("--events", type=int, help="messages to generate (by default: %s)"
                    % ", ".join(f"{name} {n}" for name, (_, n) in SCENARIOS.items()))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="-", help="file (.gz compresses), '-' for stdout; {client} writes one file per client")
    ap.add_argument("--version", type=_version, default=9, help="message version 1-11, 'mixed', or a list like 9,10")
    ap.add_argument("--token-form", choices=TOKEN_FORMS, default="object")
    ap.add_argument("--no-shuffle", dest="shuffle", action="store_false", help="keep one key order")
    ap.add_argument("--no-escape", dest="escape", action="store_false", help="write / instead of \\/")
    ap.add_argument("--crlf", action="store_true", help="end lines with CRLF")
    ap.add_argument("--clients", help="'default' (%s) or 'name=type,type;name=type'" % ", ".join(DEFAULT_CLIENTS))
    ap.add_argument("--gaps", help="messages to drop per client: N or client=N,...")
    ap.add_argument("--repeats", help="messages to re-emit per client: N or client=N,...")
    ap.add_argument("--garbage", help="garbage lines: N or kind=N,... (kinds: %s)" % ", ".join(GARBAGE_KINDS))
    ap.add_argument("--rate", type=float, help="mean events per second of the simulated clock")
    ap.add_argument("--compresslevel", type=int,
                    help="gzip level for .gz outputs (default 6 for demo, 1 for bench: gzip is the slow part)")
    ap.add_argument("--truth", help="also write the ground truth as JSON to this file")
    ap.add_argument("--expected", help="also write what the detection pack must report (attacks, workday) as JSON")
    a = ap.parse_args(argv)
    try:
        corpus = generate(a.scenario, events=a.events, seed=a.seed, version=a.version, token_form=a.token_form,
                          shuffle_keys=a.shuffle, escape_slashes=a.escape, clients=a.clients,
                          gaps=_counts(a.gaps, "gaps"), repeats=_counts(a.repeats, "repeats"),
                          garbage=_counts(a.garbage, "garbage"), crlf=a.crlf, rate=a.rate)
    except ValueError as e:
        raise SystemExit(f"osq_esf.corpus: {e}") from None
    t0 = time.perf_counter()
    level = a.compresslevel if a.compresslevel is not None else (6 if a.scenario == "demo" else 1)
    truth = corpus.write(a.out, compresslevel=level)
    dt = time.perf_counter() - t0
    lines = sum(truth.lines.values())
    if a.truth:
        with open(a.truth, "w") as f:
            json.dump(truth.as_dict(), f, indent=1, sort_keys=True)
    if a.expected:
        with open(a.expected, "w") as f:
            json.dump([dataclasses.asdict(e) for e in corpus.expected], f, indent=1)
    print(f"{lines} lines of generated eslogger JSON in {dt:.1f} s ({lines / max(dt, 1e-9):,.0f} lines/s); "
          f"lost {truth.total_lost}, regressions {sum(truth.regressions_global.values())}, "
          f"garbage lines {truth.decode_errors}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
