"""A replay with noisy daemons through `osq-esf run` and the osquery protocol: the noise
is gone from the tables, its hits are in es_mutes, its counts in es_health, and every
line is accounted for."""

from __future__ import annotations

import os

from tests.rules_events import close_line, exec_line, fork_line, open_line, write_line

MDS = "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/mds_stores"
BACKUP = "/Library/Application Support/ExampleBackup/agent"

CONFIG = '''
[[mutes.rule]]
name = "backup-agent"
process_path_prefix = "/Library/Application Support/ExampleBackup/"
events = ["open", "close", "write"]

[[filters.rule]]
name = "system-reads"
tables = ["es_open"]
action = "drop"
all = [ { column = "fflag", lt = 2 }, { column = "filename", prefix = "/System/" } ]
'''


def recording(path) -> dict[str, int]:
    """Write the recording; returns how many lines of each kind it holds."""
    kinds = {
        "spotlight": [open_line(path=MDS, platform=True, file=f"/Users/a/f{i}") for i in range(300)],
        "cfprefsd": [close_line(path="/usr/sbin/cfprefsd", platform=True) for _ in range(200)],
        "logd": [write_line(path="/usr/libexec/logd", platform=True, file="/private/var/db/diagnostics/x")
                 for _ in range(100)],
        "backup": [open_line(path=BACKUP) for _ in range(50)],
        "system-reads": [open_line(file=f"/System/Library/x{i}", fflag=1) for i in range(40)],
        "kept-open": [open_line(file=f"/Users/a/doc{i}", fflag=3) for i in range(30)],
        "kept-exec": [exec_line(caller="/usr/sbin/cfprefsd") for _ in range(10)],
        "kept-fork": [fork_line(path=MDS) for _ in range(10)],
    }
    with open(path, "wb") as f:
        for lines in kinds.values():
            f.write(b"\n".join(lines) + b"\n")
    return {k: len(v) for k, v in kinds.items()}


def test_noisy_daemon_replay(tmp_path, extension_factory):
    counts = recording(tmp_path / "noisy.jsonl")
    cfg = tmp_path / "osq-esf.toml"
    cfg.write_text(CONFIG)
    os.chmod(cfg, 0o600)
    ext = extension_factory("--source", f"replay:{tmp_path / 'noisy.jsonl'}", "--config", str(cfg))
    ext.wait_drained()

    opens = ext.generate("es_open")
    assert len(opens) == counts["kept-open"]
    assert not [r for r in opens if r["path"] in (MDS, BACKUP) or r["filename"].startswith("/System/")]
    assert ext.generate("es_write") == [] and ext.generate("es_other_events") == []
    assert len(ext.generate("es_exec")) == 10 and len(ext.generate("es_fork")) == 10  # never muted by default

    hits = {r["name"]: int(r["hits"]) for r in ext.generate("es_mutes")}
    assert hits["default:spotlight"] == counts["spotlight"]
    assert hits["default:cfprefsd"] == counts["cfprefsd"]
    assert hits["default:logd"] == counts["logd"]
    assert hits["backup-agent"] == counts["backup"]
    assert hits["system-reads"] == counts["system-reads"]

    health = ext.generate("es_health")
    by_type = {r["event_type"]: r for r in health if r["client"] == "replay"}
    muted = sum(int(r["muted"]) for t, r in by_type.items() if t != "*")
    filtered = sum(int(r["filtered"]) for t, r in by_type.items() if t != "*")
    assert muted == counts["spotlight"] + counts["cfprefsd"] + counts["logd"] + counts["backup"]
    assert filtered == counts["system-reads"]
    assert (int(by_type["close"]["muted"]), int(by_type["write"]["muted"])) == (200, 100)
    for r in health:  # conservation, exactly, on every row
        parts = sum(int(r[k]) for k in ("buffered", "evicted", "muted", "filtered", "decode_errors"))
        assert int(r["received"]) == parts, r
    assert int(by_type["*"]["received"]) == sum(counts.values())
