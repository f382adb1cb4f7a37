"""The detection pack (packaging/packs/osq-esf-detections.conf) over the corpus's detection scenarios.

Each recording is generated once and the whole pack runs over it once, the way osqueryd would schedule
it (`osq_esf.packrun.run_packs`). On ``attacks`` every detection must report exactly the processes the
scenario's ground truth names (`Corpus.expected`), no more; on ``workday`` only the false positives
docs/packs.md documents. The same runs record every request the extension answers, so the queries'
cost shape can be checked too: a busy table is only ever scanned without its process columns.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import defaultdict

import pytest
import yaml

from osq_esf.corpus import generate
from osq_esf.extension.constraints import plan_from_context
from osq_esf.extension.server import ExtensionServer
from osq_esf.fleet import logging_mode
from osq_esf.host.packs import ATTACK_TECHNIQUE, TIME_WINDOW, load_pack, window_bounds
from osq_esf.kinds import default_kinds
from osq_esf.layout import ACTOR_COLUMNS
from osq_esf.packrun import run_packs
from tests.conftest import REPO

PACK = REPO / "packaging" / "packs" / "osq-esf-detections.conf"
FLEET = REPO / "packaging" / "fleet" / "lib" / "macos" / "reports" / "osq-esf-detections.yml"
DOCS = REPO / "docs" / "packs.md"
PREFIX = "pack_osq-esf-detections_"
# (scenario, seed, message version, token form): the newest layout, and one where BTM's instigator
# is a bare token or absent and TCC events do not exist yet.
RUNS = [("attacks", 1, 10, "mixed"), ("attacks", 2, 7, "array"), ("workday", 1, 10, "mixed"),
        ("workday", 3, 8, "object")]
# Tables whose default ring is this big are scanned only without process columns (see test below).
BUSY_ROWS = 10_000


class Run:
    def __init__(self, corpus, recording, lines, calls):
        self.corpus, self.recording, self.lines, self.calls = corpus, recording, lines, calls

    def reported(self) -> dict[tuple, list[dict]]:
        """(query, pid, path) -> the result lines; NULL (an empty string in a result line) is None."""
        out = defaultdict(list)
        for line in self.lines:
            c = line["columns"]
            out[(line["name"][len(PREFIX):], int(c["pid"]) if c.get("pid") else None, c.get("path") or None)].append(line)
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[tuple, Run]:
    """Each recording of RUNS, the pack's result lines over it, and every generate request answered."""
    directory = tmp_path_factory.mktemp("detections")
    calls: list[tuple[str, str]] = []
    original = ExtensionServer.reply

    def recording_reply(self, seqid, registry, item, request, *rest):
        if request.get("action") == "generate":
            calls.append((item, request.get("context", "")))
        return original(self, seqid, registry, item, request, *rest)

    done = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ExtensionServer, "reply", recording_reply)
        for scenario, seed, version, form in RUNS:
            corpus = generate(scenario, seed=seed, version=version, token_form=form)
            recording = directory / f"{scenario}-{seed}-v{version}.jsonl"
            corpus.write(recording)
            out, errors = io.StringIO(), io.StringIO()
            del calls[:]
            scheduler = run_packs([str(PACK)], [str(recording)], out, host_identifier="mac", errors=errors)
            assert scheduler.failures == 0, errors.getvalue()
            done[scenario, seed, version, form] = Run(corpus, recording, [json.loads(x) for x in out.getvalue().splitlines()],
                                                      list(calls))
    return done


def pack_queries() -> dict[str, dict]:
    return json.loads(PACK.read_text())["queries"]


@pytest.mark.parametrize("key", [r for r in RUNS if r[0] == "attacks"], ids=lambda r: "seed%d-v%d-%s" % r[1:])
def test_every_attack_is_reported_by_the_detections_the_ground_truth_names_and_nothing_else(runs, key):
    run = runs[key]
    expected = {e.key(): e for e in run.corpus.expected}
    reported = run.reported()
    missing = sorted((k, expected[k].step) for k in set(expected) - set(reported))
    unexpected = sorted((k, reported[k][0]["columns"]) for k in set(reported) - set(expected))
    assert not missing and not unexpected, (missing, unexpected)
    assert len(expected) >= 40


def test_every_detection_has_an_attack_that_fires_it(runs):
    fired = {e.detection for e in runs["attacks", 1, 10, "mixed"].corpus.expected}
    assert fired == set(pack_queries())
    assert len(fired) >= 30


def documented_false_positives() -> dict[str, str]:
    """docs/packs.md's table of the workday's false positives: query -> step."""
    text = DOCS.read_text()
    section = text.split("### False positives on the workday", 1)[1].split("\n#", 1)[0]
    return dict(re.findall(r"^\| `(\w+)` \| `(\w+)` \|", section, re.M))


@pytest.mark.parametrize("key", [r for r in RUNS if r[0] == "workday"], ids=lambda r: "seed%d-v%d-%s" % r[1:])
def test_the_workday_reports_only_the_documented_false_positives(runs, key):
    run = runs[key]
    expected = run.corpus.expected
    assert expected and all(e.benign for e in expected)
    assert set(run.reported()) == {e.key() for e in expected}
    assert documented_false_positives() == {e.detection: e.step for e in runs["workday", 1, 10, "mixed"].corpus.expected}


def test_result_lines_are_osqueryds_and_name_the_acting_process(runs):
    queries = pack_queries()
    lines = runs["attacks", 1, 10, "mixed"].lines
    for line in lines:
        assert list(line) == ["name", "hostIdentifier", "calendarTime", "unixTime", "epoch", "counter", "numerics",
                              "columns", "action"]
        assert line["action"] == "added" and line["name"][len(PREFIX):] in queries
        columns = line["columns"]
        assert all(isinstance(v, str) for v in columns.values())
        assert {"pid", "path", "time"} <= set(columns) and columns["time"].isdigit()
    # Actionable: every detection returns more than who and when.
    for name, query in queries.items():
        names = {k for line in lines if line["name"] == PREFIX + name for k in line["columns"]}
        assert len(names - {"pid", "path", "time"}) >= 3, name


def test_the_command_line_prints_the_same_result_lines(runs):
    run = runs["attacks", 1, 10, "mixed"]
    r = subprocess.run([sys.executable, "-m", "osq_esf", "pack", str(PACK), "--replay", str(run.recording),
                        "--host-identifier", "mac"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert [json.loads(x) for x in r.stdout.splitlines()] == run.lines


def test_every_detection_is_shaped_for_osqueryd_and_fleet():
    pack = load_pack(str(PACK))
    raw = pack_queries()
    assert pack.platform == "darwin" and pack.version and not pack.skipped
    for q in pack.queries:
        spec = raw[q.name]
        assert spec["removed"] is False and not q.snapshot, q.name  # a row leaving the window is not news
        windows = {int(n) for n in TIME_WINDOW.findall(q.query)}
        low, high = window_bounds(q.interval)
        assert windows and all(low <= n <= high for n in windows), q.name
        assert ATTACK_TECHNIQUE.match(q.description), q.name  # the technique comes first
        assert "SELECT *" not in q.query.upper()
    reports = yaml.safe_load(FLEET.read_text())
    assert len(reports) == len(raw) and {r["logging"] for r in reports} == {"differential_ignore_removals"}
    assert all(logging_mode(spec) == "differential_ignore_removals" for spec in raw.values())
    assert all(r["platform"] == "darwin" for r in reports)


def busy_tables() -> set[str]:
    return {k.table for k in default_kinds() if k.capacity >= BUSY_ROWS}


def test_busy_tables_are_scanned_without_their_process_columns(runs):
    """A scan of a busy table sends every row of the window; each row's process columns are ~34 more
    values (the extension sends them all once any is asked for). So a detection over a busy table
    first selects matching rows by the table's own columns, then fetches the process columns of those
    rows alone, one eid each (docs/packs.md)."""
    busy = busy_tables()
    assert {"es_exec", "es_open", "es_write", "es_iokit_open"} <= busy
    scans = lookups = 0
    for run in runs.values():
        for table, context in run.calls:
            if table not in busy:
                continue
            plan = plan_from_context(context)
            if plan.eid_lo is not None and plan.eid_lo == plan.eid_hi:
                lookups += 1
                continue
            scans += 1
            assert plan.time_lo is not None, (table, context)
            assert plan.cols_used is not None and not plan.cols_used & set(ACTOR_COLUMNS), (table, sorted(plan.cols_used))
    assert scans > 100 and lookups > 10


def test_the_health_pack_alerts_on_loss_and_decode_errors_and_watches_the_sources(tmp_path):
    health = REPO / "packaging" / "packs" / "osq-esf-health.conf"
    recording = tmp_path / "lossy.jsonl"
    truth = generate("bench", events=3000, seed=4, gaps=6, garbage={"bad_json": 2, "non_object": 1}).write(recording)
    assert truth.total_lost and truth.decode_errors == 3
    out = io.StringIO()
    assert run_packs([str(health)], [str(recording)], out, host_identifier="mac").failures == 0
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    lost = [x["columns"] for x in lines if x["name"] == "pack_osq-esf-health_es_events_lost"]
    assert lost and max(int(c["lost"]) for c in lost if c["event_type"] == "*") == truth.total_lost
    errors = [x["columns"] for x in lines if x["name"] == "pack_osq-esf-health_es_decode_errors"]
    assert errors and max(int(c["decode_errors"]) for c in errors) == truth.decode_errors
    # A stopped, failed or restarting source: the query asks es_sources for exactly those states.
    down = json.loads(health.read_text())["queries"]["es_source_down"]
    assert "es_sources" in down["query"] and all(s in down["query"] for s in ("'stopped'", "'failed'", "'restarting'"))


def test_the_docs_list_every_detection_with_what_it_reads_its_techniques_and_interval():
    section = DOCS.read_text().split("## The detection pack", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| [^|]+ \| `(\w+)` \| ([^|]+) \| ([^|]+) \| (\d+) \|$", section, re.M)
    queries = pack_queries()
    assert [name for name, *_ in rows] and {name for name, *_ in rows} == set(queries) and len(rows) == len(queries)
    for name, tables, techniques, interval in rows:
        q = queries[name]
        assert set(re.findall(r"es_\w+", tables)) == set(re.findall(r"\bes_[a-z_]+\b", q["query"])), name
        assert techniques.strip() == ", ".join(dict.fromkeys(re.findall(r"T1\d{3}(?:\.\d{3})?", q["description"])))
        assert int(interval) == q["interval"], name


def test_the_cost_bench_measures_every_detection(tmp_path):
    """`python -m bench.packs --quick`: the machinery behind docs/packs.md's figures (sizes say nothing)."""
    r = subprocess.run([sys.executable, "-m", "bench.packs", "--quick", "--out", str(tmp_path)], cwd=REPO,
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "packs.json").read_text())
    assert set(doc["queries"]) == set(pack_queries()) and doc["biggest"] in doc["queries"]
    for name, q in doc["queries"].items():
        assert q["rows_sent"] >= q["rows_in_rings"] > 0 and q["osqueryd_mb"] > 0 and q["host_peak_mb"] > 0, name
        assert q["calls"] <= 2, name  # one scan (plus one lookup per busy file for the write burst)
    # The two-stage form (own columns first, process columns by eid for the matches) stays the cheaper one.
    assert doc["baseline"]["osqueryd_mb"] > 2 * doc["queries"][doc["baseline"]["name"]]["osqueryd_mb"]
