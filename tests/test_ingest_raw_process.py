"""The pipeline reads the acting process as raw JSON: key order must not split a process,
and an invalid process must still be an (untyped) decode error that names `$.process`."""

from __future__ import annotations

import json
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.health import TOTAL
from tests.pipelines import make_pipeline


def process(pid: int) -> dict:
    tok = {"auid": 501, "euid": 501, "egid": 20, "ruid": 501, "rgid": 20, "pid": pid, "asid": 1, "pidversion": pid * 10}
    return {"audit_token": tok, "executable": {"path": f"/bin/p{pid}"}, "ppid": 1, "team_id": None,
            "start_time": "2026-01-01T00:00:00.5Z", "parent_audit_token": dict(tok, pid=1, pidversion=1)}


def shuffled(d, rng: random.Random):
    if isinstance(d, dict):
        items = [(k, shuffled(v, rng)) for k, v in d.items()]
        rng.shuffle(items)
        return dict(items)
    return d


def line(proc: dict, i: int) -> bytes:
    return json.dumps({"event_type": 10, "version": 8, "time": f"2026-01-01T00:00:0{i % 10}.000000001Z",
                       "process": proc, "event": {"open": {"fflag": 1, "file": {"path": f"/tmp/{i}"}}}}).encode()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 2**32), min_size=1, max_size=12), st.integers(2, 4))
def test_one_context_per_process_whatever_the_key_order(seeds, pids):
    p, src = make_pipeline()
    lines = [line(shuffled(process(100 + k % pids), random.Random(s)), k) for k, s in enumerate(seeds)]
    assert p.ingest(src, lines) == len(lines)
    ring = p.rings["es_open"]
    ctxs = {id(a.ctx) for a in ring._ctx[:len(lines)]}
    assert len(ctxs) == len({100 + k % pids for k in range(len(seeds))})


def test_an_invalid_process_is_an_untyped_decode_error_at_its_line():
    p, src = make_pipeline()
    bad = dict(process(7), audit_token=[1, 2, 3])
    n = p.ingest(src, [line(process(5), 0), line(bad, 1), b"", line(process(5), 2)])
    assert n == 2 and src.lines == 4 and src.decode_errors == 1
    (err,) = p.decode_error_rows()
    assert err["line_number"] == 2 and "$.process.audit_token" in err["error"]
    rows = {r["event_type"]: r for r in p.health.rows(p)}
    assert rows["open"]["received"] == 2 and rows["open"]["decode_errors"] == 0
    assert rows[TOTAL]["received"] == 3 and rows[TOTAL]["decode_errors"] == 1
