"""Build eslogger-shaped lines for the rules tests (self-contained: no fixtures needed)."""

from __future__ import annotations

import json

from osq_esf import events

_SEQ = iter(range(1, 10**9))


def process(path="/usr/local/bin/tool", signing_id="com.example.tool", team_id="TEAM123456",
            platform=False, uid=501, pid=4242):
    tok = {"auid": uid, "euid": uid, "egid": 20, "ruid": uid, "rgid": 20, "pid": pid, "asid": 100, "pidversion": pid + 1}
    return {"audit_token": tok, "executable": {"path": path, "path_truncated": False}, "ppid": 1,
            "original_ppid": 1, "group_id": pid, "session_id": pid, "codesigning_flags": 0x10001,
            "is_platform_binary": platform, "is_es_client": False, "cdhash": "AB" * 20,
            "signing_id": signing_id, "team_id": team_id, "tty": None,
            "start_time": "2026-10-04T00:00:00.000000Z"}


def line(short: str, event: dict, proc: dict | None = None, second: int = 1) -> bytes:
    n = next(_SEQ)
    msg = {"event_type": events.number_of(short), "event": {short: event}, "process": proc or process(),
           "time": f"2026-10-04T00:00:{second:02d}.000000001Z", "version": 7, "mach_time": n,
           "seq_num": n, "global_seq_num": n, "action_type": 1, "thread": {"thread_id": 7}}
    return json.dumps(msg).encode()


def open_line(file="/Users/alice/notes.txt", fflag=1, **proc) -> bytes:
    return line("open", {"fflag": fflag, "file": {"path": file, "path_truncated": False}}, process(**proc))


def write_line(file="/Users/alice/notes.txt", **proc) -> bytes:
    return line("write", {"target": {"path": file, "path_truncated": False}}, process(**proc))


def close_line(file="/Users/alice/notes.txt", **proc) -> bytes:
    return line("close", {"modified": False, "target": {"path": file, "path_truncated": False}}, process(**proc))


def other_line(file="/Users/alice/notes.txt", **proc) -> bytes:
    """An event type newer than this build (es_other_events): no table, no target column."""
    n = next(_SEQ)
    msg = {"event_type": 200, "event": {"future_event": {"path": file}}, "process": process(**proc),
           "time": "2026-10-04T00:00:01.000000001Z", "version": 7, "mach_time": n, "seq_num": n,
           "global_seq_num": n, "action_type": 1, "thread": {"thread_id": 7}}
    return json.dumps(msg).encode()


def fork_line(**proc) -> bytes:
    return line("fork", {"child": process(path=proc.get("path", "/usr/local/bin/tool"), pid=9999)}, process(**proc))


def exec_line(target="/usr/bin/true", args=("/usr/bin/true",), env=(), caller="/bin/zsh",
              target_signing_id="com.apple.true", target_team_id=None, target_platform=True, uid=501) -> bytes:
    ev = {"target": process(target, target_signing_id, target_team_id, target_platform, uid, pid=5000),
          "args": list(args), "env": list(env), "cwd": {"path": "/", "path_truncated": False}}
    return line("exec", ev, process(caller, "com.apple.zsh", None, True, uid, pid=4999))


def pipeline_with(config_text: str = ""):
    """A Pipeline with the rules of ``config_text`` installed, and a source to ingest with."""
    from tests.pipelines import make_pipeline

    return make_pipeline(config_text)


def rows(p, table: str) -> list[dict]:
    """Ring contents as dicts (own, process and lineage columns), oldest first."""
    from tests.pipelines import ring_rows

    return ring_rows(p, table)


def hits(p) -> dict[str, int]:
    return {r["name"]: r["hits"] for r in p.rules.rows()}


def ingest_each(p, src, lines) -> tuple[int, list[tuple[str, str]]]:
    """Ingest line by line; (rows kept, [(event type, "muted" | "filtered")] in line order), the
    verdicts read from es_health's counters (what the rules stage decided, as it is counted)."""
    def counts():
        return {(s, k): getattr(tc, k) for s, tc in p.health.types_of(src.name).items() for k in ("muted", "filtered")}

    kept, verdicts = 0, []
    for line in lines:
        before = counts()
        kept += p.ingest(src, [line])
        for (short, kind), n in counts().items():
            verdicts += [(short, kind)] * (n - before.get((short, kind), 0))
    return kept, verdicts


def rename_line(src="/Users/alice/a.plist", dest="/Users/alice/Library/LaunchAgents/a.plist", **proc) -> bytes:
    dir_, _, name = dest.rpartition("/")
    return line("rename", {"source": {"path": src, "path_truncated": False}, "destination_type": 1,
                           "destination": {"new_path": {"dir": {"path": dir_, "path_truncated": False},
                                                        "filename": name}}}, process(**proc))
