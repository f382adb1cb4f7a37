"""osq-esf query / shell / demo end to end: embedded host + `osq-esf run` child + SQL."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, shared_file


def osq_esf(*args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "osq_esf", *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_query_json_has_string_values_like_osqueryi():
    rec = shared_file("mac-monitor/eslogger-lineage.jsonl")
    r = osq_esf("query", "--engine", "embedded", "--format", "json", "--replay", str(rec),
                "SELECT pid, path, rp_reason, time FROM es_exec ORDER BY eid")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    lines = [json.loads(x) for x in rec.read_text().splitlines()]
    execs = [m for m in lines if m["event_type"] == 9]
    assert [row["path"] for row in rows] == [m["event"]["exec"]["target"]["executable"]["path"] for m in execs]
    assert all(isinstance(v, str) for row in rows for v in row.values())


def test_query_sees_hidden_columns_and_filters_on_them():
    rec = shared_file("mac-monitor/eslogger-lineage.jsonl")
    r = osq_esf("query", "--engine", "embedded", "--format", "csv", "--replay", str(rec),
                "SELECT count(*) AS n FROM es_fork WHERE eid > 0 AND time >= 0")
    assert r.returncode == 0, r.stderr
    n = sum(1 for x in rec.read_text().splitlines() if json.loads(x)["event_type"] == 11)
    assert r.stdout.split() == ["n", str(n)]


def test_query_errors_are_reported_not_crashed():
    rec = shared_file("mac-monitor/eslogger-open.jsonl")
    r = osq_esf("query", "--engine", "embedded", "--replay", str(rec), "SELECT nope FROM es_open")
    assert r.returncode == 1 and "nope" in r.stderr
    r = osq_esf("query", "SELECT 1")
    assert r.returncode == 2 and "--replay" in r.stderr


def test_shell_runs_statements_from_stdin():
    rec = shared_file("mac-monitor/eslogger-open.jsonl")
    r = osq_esf("shell", "--engine", "embedded", "--format", "csv", "--replay", str(rec),
                stdin="SELECT filename\n  FROM es_open;\n.quit\n")
    assert r.returncode == 0, r.stderr
    assert "/private/tmp/example/report.txt" in r.stdout


def test_demo_prints_every_query_with_results():
    from osq_esf.commands import DEMO_QUERIES, demo_recording

    import os

    if not os.path.exists(demo_recording()):
        pytest.fail("the bundled demo recording is missing")
    r = osq_esf("demo", timeout=240)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr
    for why, _sql in DEMO_QUERIES:
        assert why in r.stdout
    assert "error:" not in r.stdout
    assert "/private/tmp/" in r.stdout  # the payload shows up


def test_query_prints_every_statement_and_fails_after_an_error():
    rec = shared_file("mac-monitor/eslogger-open.jsonl")
    r = osq_esf("query", "--replay", str(rec), "--list",
                "SELECT 1 AS a; SELECT 2 AS b; SELECT nope FROM es_open; SELECT 3 AS c;")
    # As osqueryi: each statement's result in turn, stop at the error, exit 1.
    assert (r.returncode, r.stdout) == (1, "a\n1\nb\n2\n")
    assert "no such column: nope" in r.stderr and "Traceback" not in r.stderr
    r = osq_esf("query", "--replay", str(rec), "--format", "line", "--no-header", "SELECT 1 AS a, 'x' AS bb")
    assert (r.returncode, r.stdout) == (0, "    a = 1\n   bb = x\n")


def test_misspelled_flags_are_errors_that_name_the_flag():
    for argv in (["run", "--socket", "/x", "--standalon"], ["query", "--replay", "x", "--engin", "osqueryi", "S"],
                 ["run", "--socket", "/x", "--stand"]):  # no prefix matching either
        r = osq_esf(*argv)
        assert r.returncode == 2 and "unrecognized arguments: " + argv[-1 if argv[0] == "run" else -3] in r.stderr


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "osq_esf", "demo"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO)
    proc.stdout.readline()
    proc.stdout.close()  # what `osq-esf demo | head -1` does
    _, err = proc.communicate(timeout=240)
    assert b"Traceback" not in err and b"BrokenPipe" not in err
