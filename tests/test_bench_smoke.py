"""``python -m bench --quick``: every benchmark runs at a tiny size and reports its figures
in the documented structure.  No timing is asserted here; speed lives in the benchmarks."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO

KEYS = {"id", "name", "unit", "figure", "baseline", "baseline_name", "ratio", "target", "met", "details"}


def test_quick_bench_writes_every_result(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench", "--quick", "--out", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["quick"] is True and doc["machine"]["cores"] >= 1
    results = {r["id"]: r for r in doc["results"]}
    assert sorted(results) == ["P1", "P2", "P3", "P3n", "P4", "P4f", "P5", "P6"]
    for r in results.values():
        assert set(r) == KEYS, r["id"]
        assert isinstance(r["figure"], float) and r["figure"] > 0
        assert isinstance(r["met"], bool)
    assert results["P1"]["details"]["events"] == 2000
    assert results["P2"]["details"]["rows"] == 2000
    assert 0 < results["P3"]["details"]["rows_selected"] <= 2 * 20_000 // 100  # ~1%
    assert results["P5"]["details"]["pings"] >= 1
    assert results["P5"]["details"]["flood_offered_per_s"] >= 50_000
    per = results["P4"]["details"]["per_table"]
    assert per["open"]["buffered"] == per["open"]["events"] == 2000
    # every baseline is measured in the same run: the bare socket for P2/P3, the idle ping for P5
    for rid in ("P1", "P2", "P3", "P3n", "P4", "P4f", "P5", "P6"):
        assert results[rid]["baseline"] > 0 and results[rid]["ratio"] > 0, rid
    assert set(results["P3n"]["details"]["columns_sent"]) <= set(results["P3n"]["details"]["columns"])
    assert set(results["P4"]["details"]["per_family"]) == {"process", "file", "device", "security"}
    assert results["P4f"]["details"]["tables_filled"] >= 100
    assert set(results["P6"]["details"]["per_rate"]) == {"5000/s", "20000/s"}
    assert set(results["P1"]["details"]["phases_us_per_event"]) == {"decode", "judge", "commit", "redact_and_rest"}
    md = (tmp_path / "performance.md").read_text()
    for r in results.values():  # the document shows what the run printed
        assert f"| {r['id']} | {r['name']} |" in md
    assert "events/s the extension uses" in md and "% of one core" in md
    assert "P1" in out.stdout and "met" in out.stdout


def test_quick_reliability_campaigns_report_every_figure(tmp_path):
    out = subprocess.run([sys.executable, "-m", "bench.reliability", "--quick", "--out", str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr
    doc = json.loads((tmp_path / "reliability.json").read_text())
    f, r, s, life = doc["fuzz"], doc["redaction"], doc["socket"], doc["lifecycle"]
    assert f["lines"] == doc["sizes"]["fuzz"] and f["conserved"] is True and f["health_identity"] is True
    assert f["seeds"]["event_types"] == 104  # every typed table's decoder and extractor is fuzzed
    assert f["crashes"] == 0 and f["values_past_64_bits"] == 0
    assert r["tried"] == 2 * r["forms"] and r["pipeline_events"] == 3 * r["tried"] and r["decode_errors"] == 0
    assert s["extension_alive"] is True and s["ping"]["idle"]["n"] > 0
    assert set(s["exec_ingest"]) == {"idle", "ordinary", "pathological"}
    assert s["exec_ingest"]["pathological"]["argument_chars"] == 300_003 and s["exec_ingest"]["pathological"]["execs"] > 0
    assert life["extension_kill9"] == 1 and life["died"] == []
    assert life["eslogger"]["restarts_counted"] == life["eslogger"]["kills"] == doc["sizes"]["eslogger_kills"]
    md = (tmp_path / "reliability.md").read_text()
    for section in ("## Fuzz", "## Redaction corpus", "## Socket abuse", "### A 300,000-character argument", "## Lifecycle"):
        assert section in md
