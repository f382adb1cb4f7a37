"""osq-esf pack: packs run in a recording's time the way osqueryd's scheduler runs them, and pack checks.

`check_shipped_pack` below is the harness every pack in packaging/packs/ goes through: drop a pack file
there and `test_every_shipped_pack_is_fit_to_ship` validates it against the registered tables.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from osq_esf.fleet import LABEL, label_yaml, logging_mode, reports_yaml
from osq_esf.host.database import Result
from osq_esf.host.packs import (PackError, QueryFacts, check_pack, load_pack, pack_from_json, parse_pack_json,
                                window_bounds)
from osq_esf.host.scheduler import ResultLog, Scheduler, SimulatedClock, calendar_time, run_schedule
from osq_esf.packrun import check_pack_file, run_packs, time_range
from tests.conftest import REPO
from tests.test_health import msg

BASE = 1767225600  # 2026-01-01T00:00:00Z
SAMPLE = REPO / "tests" / "packs" / "sample.conf"
SHIPPED_PACKS = sorted((REPO / "packaging" / "packs").glob("*.conf"))


def event(short: str, i: int, t: float, exec_path: str | None = None) -> str:
    m = json.loads(msg(short, i, seq=i, gseq=i))
    m["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(int(t))) + ".%09dZ" % round((t % 1) * 1e9)
    if exec_path:
        m["event"]["exec"]["target"]["executable"]["path"] = exec_path
    return json.dumps(m)


@pytest.fixture
def recording(tmp_path) -> Path:
    lines = [event("exec", 1, BASE + 5.5, "/tmp/dropper"), event("write", 2, BASE + 30), "not json",
             event("exec", 3, BASE + 61, "/usr/bin/true"), event("write", 4, BASE + 200),
             event("exec", 5, BASE + 650.25, "/tmp/second")]
    path = tmp_path / "rec.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(packs, recordings, **kw) -> tuple[list[dict], Scheduler]:
    out = io.StringIO()
    scheduler = run_packs([str(p) for p in packs], [str(r) for r in recordings], out, host_identifier="mac1", **kw)
    return [json.loads(line) for line in out.getvalue().splitlines()], scheduler


def test_sample_pack_over_a_recording_logs_what_osqueryd_would(recording):
    lines, scheduler = run([SAMPLE], [recording])
    assert scheduler.failures == 0
    by_name = {}
    for line in lines:
        by_name.setdefault(line["name"], []).append(line)
    assert set(by_name) == {"pack_sample_exec_from_tmp", "pack_sample_tmp_writes", "pack_sample_sources"}

    # Runs fall on multiples of the interval in the recording's time, plus one at its end (ceil of the last event).
    execs = by_name["pack_sample_exec_from_tmp"]
    assert [(e["unixTime"], e["counter"], e["action"], e["columns"]["path"]) for e in execs] == [
        (BASE + 60, 0, "added", "/tmp/dropper"),      # the first run with rows: counter 0
        (BASE + 651, 2, "added", "/tmp/second"),      # the final run at the recording's end
    ]  # removed: false: /tmp/dropper leaving the window (at 180 s) is not logged, but it counted (counter 1)
    first = execs[0]
    assert list(first) == ["name", "hostIdentifier", "calendarTime", "unixTime", "epoch", "counter", "numerics",
                           "columns", "action"]
    assert first["hostIdentifier"] == "mac1" and first["epoch"] == 0 and first["numerics"] is False
    assert first["calendarTime"] == "Thu Jan  1 00:01:00 2026 UTC"
    assert list(first["columns"]) == sorted(first["columns"])  # std::map order
    assert first["columns"]["time"] == str(BASE + 5) and all(isinstance(v, str) for v in first["columns"].values())
    assert set(first["columns"]) == {"time", "pid", "path", "cmdline", "ppid", "real_parent"}

    writes = by_name["pack_sample_tmp_writes"]
    assert [(w["unixTime"], w["counter"], w["action"], w["columns"]["filename"]) for w in writes] == [
        (BASE + 300, 0, "added", "/tmp/f2"), (BASE + 300, 0, "added", "/tmp/f4"),
        # 600 s: both fell out of the 400 s window; removed defaults to true, so both are logged.
        (BASE + 600, 1, "removed", "/tmp/f2"), (BASE + 600, 1, "removed", "/tmp/f4"),
    ]
    snapshots = by_name["pack_sample_sources"]
    assert [(s["unixTime"], s["snapshot"]) for s in snapshots] == [
        (BASE + 600, [{"lines": "5", "name": "replay", "state": "running"}]),
        (BASE + 651, [{"lines": "6", "name": "replay", "state": "drained"}]),
    ]
    assert all(s["action"] == "snapshot" and list(s)[:2] == ["snapshot", "action"] for s in snapshots)
    assert [line["unixTime"] for line in lines] == sorted(line["unixTime"] for line in lines)


def test_two_recordings_merge_by_time_and_the_delimiter_is_osquerys(tmp_path):
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    a.write_text(event("exec", 1, BASE + 10, "/tmp/a") + "\n")
    b.write_text(event("exec", 2, BASE + 70, "/tmp/b") + "\n")
    lines, _ = run([SAMPLE], [a, b], delimiter="/")
    execs = [(line["unixTime"], line["columns"]["path"]) for line in lines if line["name"] == "pack/sample/exec_from_tmp"]
    assert execs == [(BASE + 60, "/tmp/a"), (BASE + 70, "/tmp/b")]  # the second at the final run, at its own time
    assert time_range([str(a), str(b)]) == (BASE + 10, BASE + 70)


# -- the scheduler alone ---------------------------------------------------------------

class FakeHost:
    """run_sql over canned results; records (time, sql)."""

    def __init__(self, clock, answers):
        self.clock, self.answers, self.calls = clock, answers, []

    def __call__(self, sql):
        self.calls.append((self.clock.now, sql))
        answer = self.answers.get(sql, [])
        rows = answer(self.clock.now) if callable(answer) else answer
        if isinstance(rows, Exception):
            raise rows
        return Result(["v"], [(r,) for r in rows])


def scheduler_for(obj, answers, **kw):
    clock = SimulatedClock()
    host = FakeHost(clock, answers)
    out, errors = io.StringIO(), io.StringIO()
    sched = Scheduler([pack_from_json(obj, "p")], host, clock, ResultLog(out, "h"), errors=errors, **kw)
    return sched, host, out, errors


def lines_of(out):
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_runs_align_to_multiples_of_the_interval_and_startup_priority_runs_first():
    obj = {"queries": {"b": {"query": "B", "interval": 60}, "a": {"query": "A", "interval": 60},
                       "s": {"query": "S", "interval": 100, "startup_priority": 1}}}
    sched, host, _, _ = scheduler_for(obj, {})
    end = run_schedule(sched, 1030, lambda t: None if t < 1250 else 1250)
    assert end == 1250
    # startup_priority first at the start, then every query by (priority, name) at each multiple, then the end.
    assert host.calls == [(1030, "S"), (1080, "A"), (1080, "B"), (1100, "S"), (1140, "A"), (1140, "B"),
                          (1200, "S"), (1200, "A"), (1200, "B"), (1250, "S"), (1250, "A"), (1250, "B")]


def test_differential_counter_and_removed_rows_follow_add_new_results():
    answers = {"Q": lambda now: {0: [], 10: ["x"], 20: ["x"], 30: ["x", "y"], 40: ["y"]}[now]}
    sched, _, out, _ = scheduler_for({"queries": {"q": {"query": "Q", "interval": 10}}}, answers)
    run_schedule(sched, 0, lambda t: None if t < 40 else 40)
    got = [(line["unixTime"], line["counter"], line["action"], line["columns"]["v"]) for line in lines_of(out)]
    # 0: empty first run (counter 0, nothing to log); 20: no change, nothing logged.
    assert got == [(10, 1, "added", "x"), (30, 2, "added", "y"), (40, 3, "removed", "x")]


def test_removed_false_hides_removals_and_snapshots_log_even_empty_results():
    answers = {"Q": lambda now: ["x"] if now == 0 else [], "S": []}
    obj = {"queries": {"q": {"query": "Q", "interval": 10, "removed": False},
                       "s": {"query": "S", "interval": 10, "snapshot": True}}}
    sched, _, out, _ = scheduler_for(obj, answers)
    run_schedule(sched, 0, lambda t: None if t < 10 else 10)
    got = lines_of(out)
    assert [(g["name"], g.get("action")) for g in got] == [
        ("pack_p_q", "added"), ("pack_p_s", "snapshot"), ("pack_p_s", "snapshot")]
    assert got[1]["snapshot"] == []


def test_discovery_gates_the_pack_and_errors_are_reported_and_counted():
    obj = {"discovery": ["D"], "queries": {"q": {"query": "Q", "interval": 10},
                                            "bad": {"query": "BAD", "interval": 10}}}
    answers = {"D": lambda now: ["1"] if now >= 3600 else [], "Q": ["x"], "BAD": RuntimeError("no such table: x")}
    sched, host, out, errors = scheduler_for(obj, answers)
    run_schedule(sched, 0, lambda t: None if t < 3600 else 3600)
    # Discovery is cached for pack_refresh_interval (3600 s): first checked at 0, again at 3600.
    assert [c for c in host.calls if c[1] == "D"] == [(0, "D"), (3600, "D")]
    assert {line["unixTime"] for line in lines_of(out)} == {3600}
    assert "Error executing scheduled query pack_p_bad: no such table: x" in errors.getvalue()
    assert sched.failures == 1


def test_splay_is_within_ten_percent_and_repeatable():
    obj = {"queries": {n: {"query": n, "interval": 100} for n in "abcdefgh"}}
    first = [s.splayed_interval for s in scheduler_for(obj, {}, splay_percent=10, seed=7)[0].scheduled]
    again = [s.splayed_interval for s in scheduler_for(obj, {}, splay_percent=10, seed=7)[0].scheduled]
    assert first == again and all(90 <= v <= 110 for v in first) and len(set(first)) > 1


def test_non_darwin_queries_are_not_scheduled_and_invalid_ones_are_skipped_with_osquerys_warning():
    obj = {"queries": {"lin": {"query": "L", "interval": 10, "platform": "linux"},
                       "any": {"query": "A", "interval": 10, "platform": "posix"},
                       "never": {"query": "N", "interval": 0}, "query.x": {"query": "X"}}}
    sched, _, _, errors = scheduler_for(obj, {})
    assert [s.query.name for s in sched.scheduled] == ["any"]
    assert "Query has invalid interval: never: 0" in errors.getvalue()
    assert "Invalid query name: query.x" in errors.getvalue()


def test_result_lines_escape_control_bytes_like_osquery():
    out = io.StringIO()
    ResultLog(out, "h").differential("n", 0, 0, [{"v": "a\x01b\tc"}], [])
    assert json.loads(out.getvalue())["columns"]["v"] == "a\\x01b\\x09c"
    assert calendar_time(0) == "Thu Jan  1 00:00:00 1970 UTC"


# -- packs: reading and checking ---------------------------------------------------------

def test_pack_json_comments_and_duplicate_keys(tmp_path):
    assert parse_pack_json('# c\n// d\n{"queries": {}}') == {"queries": {}}
    with pytest.raises(PackError, match="duplicate key 'q'"):
        parse_pack_json('{"queries": {"q": {}, "q": {}}}', "x.conf")
    with pytest.raises(PackError, match="not JSON"):
        parse_pack_json("{", "x.conf")


GOOD_DETECTION = ("SELECT time, pid, path FROM es_exec WHERE path LIKE '/tmp/%' "
                  "AND time > (SELECT unix_time FROM time) - 120")


@pytest.mark.parametrize("change, problem", [
    (lambda o: o.pop("version"), "no minimum osquery version"),
    (lambda o: o.update(platform="linux"), "pack platform must include darwin"),
    (lambda o: o.update(discovery=[]), "discovery does not check osquery_extensions"),
    (lambda o: o.update(extra=1), "unknown pack key 'extra'"),
    (lambda o: o["queries"]["d"].update(query=GOOD_DETECTION.replace(" - 120", " - 60")),
     "window 60 s does not match interval 60 s (use 66..180)"),
    (lambda o: o["queries"]["d"].update(query=GOOD_DETECTION.split(" AND time")[0]), "without a time window"),
    (lambda o: o["queries"]["d"].update(query=GOOD_DETECTION.replace("time, pid", "time")), "result lacks pid"),
    (lambda o: o["queries"]["d"].update(description="no technique"), "names no MITRE ATT&CK technique"),
    (lambda o: o["queries"]["d"].update(query="SELECT nope FROM es_exec"), "does not prepare: no such column: nope"),
    (lambda o: o["queries"]["d"].pop("interval"), "no interval"),
    (lambda o: o["queries"]["d"].update(intervall=5), "unknown key 'intervall'"),
    (lambda o: o["queries"]["d"].update(snapshot=True, removed=False), "removed has no effect on a snapshot"),
])
def test_check_pack_names_each_problem(tmp_path, change, problem):
    obj = good_pack()
    change(obj)
    path = tmp_path / "p.conf"
    path.write_text(json.dumps(obj))
    problems = check_pack_file(str(path))
    assert any(problem in p for p in problems), problems


def good_pack() -> dict:
    """The pack each problem above is made from (checked once, below)."""
    return {"platform": "darwin", "version": "5.0.0",
            "discovery": ["SELECT 1 FROM osquery_extensions WHERE name = 'osq_esf'"],
            "queries": {"d": {"query": GOOD_DETECTION, "interval": 60, "removed": False,
                              "description": "T1204.002 dropped payload"}}}


def test_the_pack_the_problems_are_made_from_has_none(tmp_path):
    path = tmp_path / "p.conf"
    path.write_text(json.dumps(good_pack()))
    assert check_pack_file(str(path)) == []


def test_window_bounds_cover_the_splay():
    assert window_bounds(60) == (66, 180) and window_bounds(300) == (330, 900) and window_bounds(5) == (6, 15)


def test_check_pack_uses_the_tables_a_query_reads_not_its_text():
    pack = pack_from_json({"queries": {"s": {"query": "SELECT 1 AS es_exec", "interval": 10, "description": "x"}}},
                          "p")
    facts = QueryFacts(set(), ["es_exec"])
    problems = check_pack({"queries": {}}, pack, lambda sql: facts, {"es_exec"})
    assert not any("window" in p for p in problems)


@pytest.mark.parametrize("path", SHIPPED_PACKS, ids=lambda p: p.name)
def test_every_shipped_pack_is_fit_to_ship(path):
    assert check_pack_file(str(path)) == []


# -- Fleet YAML, generated from the packs -------------------------------------------------

@pytest.mark.parametrize("path", SHIPPED_PACKS, ids=lambda p: p.name)
def test_fleet_reports_are_the_pack_as_fleet_yaml(path):
    pack = load_pack(str(path))
    shipped = REPO / "packaging" / "fleet" / "lib" / "macos" / "reports" / (pack.name + ".yml")
    assert shipped.read_text() == reports_yaml(pack), "regenerate: osq-esf pack %s --to-fleet reports" % path
    reports = yaml.safe_load(shipped.read_text())
    raw = pack.raw["queries"]
    assert [r["name"] for r in reports] == ["%s %s" % (pack.name, n) for n in raw]
    for report, (name, q) in zip(reports, raw.items()):
        assert report["query"] == q["query"] and report["interval"] == q["interval"]
        assert report["platform"] == "darwin" and report["min_osquery_version"] == pack.version
        assert report["logging"] == logging_mode(q) and report["automations_enabled"] is True
        assert report["labels_include_any"] == [LABEL]
    label = REPO / "packaging" / "fleet" / "lib" / "macos" / "labels" / "osq-esf-installed.yml"
    assert label.read_text() == label_yaml(pack)


def test_logging_modes_map_as_fleet_maps_them():
    assert logging_mode({"snapshot": True}) == "snapshot"
    assert logging_mode({"removed": False}) == "differential_ignore_removals"
    assert logging_mode({}) == "differential"


# -- the command line ----------------------------------------------------------------------

def osq_esf(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "osq_esf", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_pack_command_prints_result_lines_and_checks(recording, tmp_path):
    r = osq_esf("pack", str(SAMPLE), "--replay", str(recording), "--host-identifier", "m")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert lines and all(x["hostIdentifier"] == "m" for x in lines)
    r = osq_esf("pack", str(SAMPLE), "--check")
    assert (r.returncode, r.stdout) == (0, "%s: ok\n" % SAMPLE)
    bad = tmp_path / "bad.conf"
    bad.write_text('{"queries": {"q": {"query": "SELECT * FROM nope", "interval": 60}}}')
    r = osq_esf("pack", str(bad), "--check")
    assert r.returncode == 1 and "no such table: nope" in r.stdout
    r = osq_esf("pack", str(bad), "--replay", str(recording))
    assert r.returncode == 1 and "Error executing scheduled query pack_bad_q: no such table: nope" in r.stderr
    r = osq_esf("pack", str(SAMPLE))
    assert r.returncode == 2 and "--replay" in r.stderr


def test_query_can_pin_now_to_the_recordings_end(recording):
    r = osq_esf("query", "--replay", str(recording), "--now", "end", "--csv",
                "SELECT unix_time FROM time; SELECT count(*) AS n FROM es_exec "
                "WHERE time > (SELECT unix_time FROM time) - 60;")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "unix_time\n%d\nn\n1\n" % (BASE + 651)


def test_a_pack_without_discovery_cannot_make_a_fleet_label():
    pack = pack_from_json({"queries": {"q": {"query": "SELECT 1;", "interval": 60}}}, "nodisc")
    with pytest.raises(PackError, match="no discovery query"):
        label_yaml(pack)


def test_pack_check_reports_a_pack_that_is_not_utf8(tmp_path):
    from osq_esf.packrun import check_pack_file

    path = tmp_path / "latin.conf"
    path.write_bytes('{"queries": {"caf\xe9": {"query": "SELECT 1;", "interval": 60}}}'.encode("latin-1"))
    with pytest.raises(PackError, match="not UTF-8"):
        check_pack_file(str(path))
