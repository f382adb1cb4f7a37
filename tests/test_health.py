"""es_health accounting: sequence gaps/regressions/restarts counted exactly, and conservation per client × type."""

from __future__ import annotations

import json
import logging

from hypothesis import given, settings
from hypothesis import strategies as st

from osq_esf.rules.redact import DEFAULT_REDACTOR
from osq_esf.health import TOTAL, Health
from osq_esf.pipeline import Pipeline
from osq_esf.stages import Disposition
from tests.pipelines import make_pipeline
NUMBERS = {"exec": 9, "open": 10, "fork": 11, "close": 12, "create": 13, "exit": 15, "mount": 22,
           "iokit_open": 24, "rename": 25, "unlink": 32, "write": 33}


def process(pid: int) -> dict:
    return {"audit_token": {"auid": 501, "euid": 0, "egid": 0, "ruid": 0, "rgid": 0, "pid": pid, "asid": 1,
                            "pidversion": pid * 10},
            "executable": {"path": f"/bin/p{pid}", "path_truncated": False}, "ppid": 1, "original_ppid": 1,
            "group_id": pid, "session_id": 1, "codesigning_flags": 0, "is_platform_binary": True,
            "is_es_client": False, "cdhash": "A" * 40, "signing_id": "x", "team_id": None, "tty": None,
            "start_time": "2026-01-01T00:00:00.000000Z"}


def body(short: str, i: int) -> dict:
    f = {"path": f"/tmp/f{i}", "path_truncated": False}
    return {"exec": {"target": process(1000 + i), "args": ["a", str(i)], "env": []},
            "fork": {"child": process(2000 + i)}, "exit": {"stat": 0}, "open": {"fflag": 1, "file": f},
            "write": {"target": f}, "close": {"modified": False, "target": f},
            "iokit_open": {"user_client_type": 0, "user_client_class": "X"}}.get(short, {"target": f})


def msg(short: str, i: int, seq: int | None = 0, gseq: int | None = 0, version: int = 8) -> str:
    """One synthetic eslogger line (a small, valid message of type ``short``)."""
    m = {"schema_version": 1, "version": version, "time": f"2026-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}.000000001Z",
         "mach_time": i, "event_type": NUMBERS[short], "action_type": 1, "thread": {"thread_id": 7},
         "process": process(100 + i % 5), "event": {short: body(short, i)}}
    if seq is not None:
        m["seq_num"] = seq
    if gseq is not None:
        m["global_seq_num"] = gseq
    return json.dumps(m)


def pipeline(**capacity) -> Pipeline:
    return make_pipeline(capacity=capacity or None, source=None)[0]


def rows_by(p: Pipeline) -> dict[tuple[str, str], dict]:
    return {(r["client"], r["event_type"]): r for r in p.health.rows(p)}


def conserved(row: dict) -> bool:
    return row["received"] == row["buffered"] + row["evicted"] + row["muted"] + row["filtered"] + row["decode_errors"]


def buffered_in_rings(p: Pipeline) -> dict[tuple[str, str], int]:
    """Rows actually in the rings per (client, type), counted from the columns themselves."""
    out: dict[tuple[str, str], int] = {}
    for ring in p.rings.values():
        with p.lock:
            snap = ring.snapshot()
        types, clients = snap.cols[len(ring.int_names)], snap.cols[len(ring.int_names) + 1]
        for ty, cl in zip(types, clients):
            out[(cl, ty)] = out.get((cl, ty), 0) + 1
    return out


def test_first_message_is_baseline_and_gaps_count_their_size():
    p = pipeline()
    src = p.add_source("file", "replay")
    # open: 5 6 7 | 10 (gap of 2) | 11 | 20 (gap of 8); global 100.. with one gap of 10 at the end
    seqs = [5, 6, 7, 10, 11, 20]
    gseqs = [100, 101, 102, 103, 104, 115]
    p.ingest(src, [msg("open", i, s, g).encode() for i, (s, g) in enumerate(zip(seqs, gseqs))])
    r = rows_by(p)
    assert (r["file", "open"]["seq_gaps"], r["file", "open"]["lost"], r["file", "open"]["regressions"]) == (2, 10, 0)
    assert r["file", "open"]["last_seq"] == 20
    assert (r["file", TOTAL]["seq_gaps"], r["file", TOTAL]["lost"], r["file", TOTAL]["last_seq"]) == (1, 10, 115)


def test_repeat_and_backwards_step_are_regressions_not_losses():
    p = pipeline()
    src = p.add_source("c", "replay")
    seqs = [0, 1, 1, 2, 0, 1, 2, 3]  # a repeat of 1, then a step back to 0 (new baseline)
    p.ingest(src, [msg("exec", i, s, i).encode() for i, s in enumerate(seqs)])
    r = rows_by(p)["c", "exec"]
    assert (r["seq_gaps"], r["lost"], r["regressions"], r["last_seq"]) == (0, 0, 2, 3)


def test_interleaved_clients_and_types_are_not_drops():
    p = pipeline()
    a, b = p.add_source("a", "replay"), p.add_source("b", "replay")
    for i in range(50):
        p.ingest(a, [msg("open", i, i, 2 * i).encode(), msg("close", i, i, 2 * i + 1).encode()])
        p.ingest(b, [msg("open", i, i + 1000, i + 5000).encode()])
    assert all(r["lost"] == 0 and r["regressions"] == 0 for r in p.health.rows(p))


def test_drop_of_a_type_never_seen_again_shows_in_the_total_row_only():
    p = pipeline()
    src = p.add_source("c", "replay")
    # global 0 1 _ _ 4: two events of some other type were dropped and that type never comes back
    p.ingest(src, [msg("fork", 0, 0, 0).encode(), msg("fork", 1, 1, 1).encode(), msg("fork", 2, 2, 4).encode()])
    r = rows_by(p)
    assert r["c", "fork"]["lost"] == 0
    assert r["c", TOTAL]["lost"] == 2


def test_versions_without_sequence_numbers_are_not_accounted():
    p = pipeline()
    src = p.add_source("c", "replay")
    # v1 has no seq_num, v2-3 no global_seq_num: nothing to account, nothing invented
    p.ingest(src, [msg("exit", 0, None, None, 1).encode(), msg("exit", 1, 0, 99, 3).encode(),
                   msg("exit", 2, 5, 3, 3).encode()])
    r = rows_by(p)
    assert r["c", "exit"]["lost"] == 4  # 0 -> 5 among the v2+ messages
    assert r["c", TOTAL]["lost"] == 0 and r["c", TOTAL]["last_seq"] is None


def test_restart_resets_baselines_and_is_counted():
    p = pipeline()
    src = p.add_source("c", "eslogger")
    p.ingest(src, [msg("open", i, i, i).encode() for i in range(10)])
    with p.lock:
        p.health.restarted("c")
    p.ingest(src, [msg("open", i, i, i).encode() for i in range(5)])
    r = rows_by(p)
    assert (r["c", "open"]["restarts"], r["c", "open"]["lost"], r["c", "open"]["regressions"]) == (1, 0, 0)
    assert (r["c", TOTAL]["restarts"], r["c", TOTAL]["regressions"]) == (1, 0)


def test_loss_warning_names_client_and_types_and_is_rate_limited(caplog):
    p = pipeline()
    p.health.warn_interval = 3600
    src = p.add_source("file", "eslogger")
    lines = [msg("open", 0, 0, 0), msg("close", 1, 0, 1), msg("open", 2, 101, 102), msg("close", 3, 21, 123)]
    with caplog.at_level(logging.WARNING):
        p.ingest(src, [x.encode() for x in lines])
        p.ingest(src, [msg("open", 4, 200, 300).encode()])  # inside the interval: held back
    warnings = [r.getMessage() for r in caplog.records if "lost" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].startswith("client file lost 120 events (open 100, close 20)")
    p.health.warn_interval = 0
    with caplog.at_level(logging.WARNING):
        p.ingest(src, [msg("open", 5, 201, 301).encode()])
    assert any("client file lost 176 events (open 98)" in r.getMessage() for r in caplog.records)


class Rules:
    """A rules stage (osq_esf.stages.RulesStage) that mutes every 4th and filters every 7th event it sees."""

    redactor = DEFAULT_REDACTOR  # samples and error texts

    def __init__(self):
        self.n = 0

    def plan_of(self, layout, short):
        return self.verdict

    def redaction_of(self, layout):
        return None  # redacts nothing

    def verdict(self, actor, sec, ints, objs):
        self.n += 1
        return Disposition.MUTED if self.n % 4 == 0 else Disposition.FILTERED if self.n % 7 == 0 else None


def test_conservation_with_evictions_mutes_filters_and_decode_errors():
    p = pipeline(es_open=7, es_exec=3, es_other_events=5)
    p.rules = Rules()
    src = p.add_source("c", "replay")
    lines = []
    for i in range(40):
        lines += [msg("open", i, i, 3 * i), msg("exec", i, i, 3 * i + 1), msg("close", i, i, 3 * i + 2)]
    lines.insert(10, "not json at all")
    lines.insert(20, json.dumps({"event_type": 9, "event": {}, "process": process(1), "time": "2026-01-01T00:00:00Z"}))
    lines.insert(30, lines[29][:40])  # a truncated line
    k = 0
    for size in [3, 16, 2, 30] * 20:  # small and large batches: both the append and the extend path
        p.ingest(src, [x.encode() for x in lines[k:k + size]])
        k += size
    assert k >= len(lines)
    rows = rows_by(p)
    for key, r in rows.items():
        assert conserved(r), (key, r)
    total = rows["c", TOTAL]
    assert total["decode_errors"] == 3  # two untyped lines, one exec without its body
    assert rows["c", "exec"]["decode_errors"] == 1
    assert total["received"] == len(lines)
    assert rows["c", "open"]["evicted"] > 0 and rows["c", "open"]["muted"] > 0 and rows["c", "open"]["filtered"] > 0
    in_rings = buffered_in_rings(p)
    for (client, ty), r in rows.items():
        if ty != TOTAL:
            assert r["buffered"] == in_rings.get((client, ty), 0), (ty, r)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["open", "close", "exec"]),
                          st.sampled_from(["ok", "ok", "ok", "gap", "regress", "restart"]),
                          st.integers(1, 50)), max_size=60),
       st.integers(1, 40))
def test_counts_match_a_model_of_the_injected_stream(ops, capacity):
    """Random streams with injected gaps, regressions and restarts: every counter is exact."""
    p = pipeline(es_open=capacity, es_exec=capacity, es_other_events=capacity)
    src = p.add_source("c", "eslogger")
    seq: dict[str, int] = {}
    g = 0
    want_lost: dict[str, int] = {}
    want_gaps: dict[str, int] = {}
    want_regress: dict[str, int] = {}
    want_glost = want_ggaps = restarts = 0
    batch: list[bytes] = []
    for i, (ty, op, k) in enumerate(ops):
        if op == "restart":
            p.ingest(src, batch)
            batch = []
            with p.lock:
                p.health.restarted("c")
            seq, g, restarts = {}, 0, restarts + 1
            continue
        s = seq.get(ty, 0)
        if op == "gap" and ty in seq:
            s += k
            want_lost[ty] = want_lost.get(ty, 0) + k
            want_gaps[ty] = want_gaps.get(ty, 0) + 1
            if g:
                g += k
                want_glost += k
                want_ggaps += 1
        elif op == "regress" and ty in seq:
            s = max(0, s - 1 - k % 3)  # a repeat or a step back
            want_regress[ty] = want_regress.get(ty, 0) + 1
        batch.append(msg(ty, i, s, g).encode())
        seq[ty] = s + 1
        g += 1
    p.ingest(src, batch)
    rows = rows_by(p)
    for ty in ("open", "close", "exec"):
        r = rows.get(("c", ty))
        if r is None:
            continue
        assert (r["lost"], r["seq_gaps"], r["regressions"]) == (want_lost.get(ty, 0), want_gaps.get(ty, 0),
                                                                want_regress.get(ty, 0))
        assert conserved(r)
    if ops:
        total = rows["c", TOTAL]
        assert (total["lost"], total["seq_gaps"], total["regressions"], total["restarts"]) == (
            want_glost, want_ggaps, 0, restarts)
        assert conserved(total)


def test_health_rows_without_a_source_state():
    h = Health()
    h.declare("x", ["open"])
    p = pipeline()
    p.health = h
    assert {(r["client"], r["event_type"]) for r in h.rows(p)} == {("x", TOTAL), ("x", "open")}


def test_a_source_whose_lines_never_decode_still_has_its_total_row():
    p, src = make_pipeline(source="garbage")
    p.ingest(src, [b"not json", b"{}", b'{"event_type": 10}'])
    (total,) = [r for r in p.health.rows(p) if r["client"] == "garbage"]
    assert total["event_type"] == TOTAL and total["received"] == 3 == total["decode_errors"]
    assert conserved(total)


def test_invented_event_numbers_share_one_row_past_a_bound():
    from osq_esf.pipeline import UNKNOWN_OTHER, UNKNOWN_TYPES

    p = pipeline(es_other_events=50)  # small: evictions are attributed too
    src = p.add_source("c", "replay")
    lines = []
    for i in range(300):
        m = json.loads(msg("open", i, i, i))
        m["event_type"] = 10_000 + i
        lines.append(json.dumps(m).encode())
    p.ingest(src, lines)
    rows = [r for r in p.health.rows(p) if r["client"] == "c"]
    assert len(rows) == 1 + UNKNOWN_TYPES + 1  # the total, the first numbers by name, the rest together
    other = next(r for r in rows if r["event_type"] == UNKNOWN_OTHER)
    assert other["received"] == 300 - UNKNOWN_TYPES
    assert all(conserved(r) for r in rows)
    assert sum(r["received"] for r in rows if r["event_type"] != TOTAL) == 300


def test_a_rejected_line_never_moves_the_sequence_baselines():
    """Only accepted events are accounted: a seq_num past 64 bits is a decode error, not a gap of
    2**64; nor does a line refused after it had a type (an open without its event body)."""
    p = pipeline()
    src = p.add_source("c", "replay")
    wide = json.loads(msg("open", 2, 2, 2))
    wide["seq_num"] = 2**64 + 5
    typed = json.loads(msg("open", 2, 9, 9))
    typed["event"] = {}
    lines = [msg("open", 0, 0, 0), msg("open", 1, 1, 1), json.dumps(wide), json.dumps(typed), msg("open", 3, 2, 2)]
    p.ingest(src, [x.encode() for x in lines])
    r = rows_by(p)
    assert r["c", "open"]["decode_errors"] == 1 and r["c", "open"]["buffered"] == 3  # the typed one
    assert r["c", TOTAL]["decode_errors"] == 2  # and the one too wide to have a type
    assert r["c", "open"]["lost"] == 0 and r["c", "open"]["regressions"] == 0
    assert r["c", TOTAL]["lost"] == 0 and r["c", TOTAL]["regressions"] == 0
    assert all(conserved(x) for x in r.values())
