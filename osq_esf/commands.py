"""osq-esf query | shell | demo: SQL over replayed events through a real extension process.

These commands sit on the embedded host (osq_esf.host) — or a real osqueryi when one is on
PATH — and start `osq-esf run` as a child exactly as osqueryd autoloads an extension.
"""

from __future__ import annotations

import os
import sys
from importlib import resources

from osq_esf.app import EXTENSION_NAME

DONE_STATES = ("drained", "failed", "stopped")
LIVE_KINDS = ("eslogger", "native")


def extension_argv(sources: list[str], replays: list[str], config: str | None, speed: float,
                   drain_first: bool = False) -> list[str]:
    """The command osqueryd would run, minus the --socket/--timeout/--interval it appends."""
    argv = [sys.executable, "-m", "osq_esf", "run"]
    for path in replays:
        argv += ["--source", "replay:" + (path if path == "-" else os.path.abspath(path))]
    for spec in sources:
        argv += ["--source", spec]
    if config:
        argv += ["--config", os.path.abspath(config)]
    if speed:
        argv += ["--speed", str(speed)]
    if drain_first:
        argv.append("--register-after-drain")
    return argv


def sources_drained(session) -> bool:
    """Readiness: every replay has read its recording to the end; a live source (eslogger,
    native) is ready once running, since it never ends."""
    rows = session.query("SELECT kind, state FROM es_sources").rows
    return bool(rows) and all(state in DONE_STATES or (kind in LIVE_KINDS and state == "running")
                              for kind, state in rows)


def _needs_osqueryi_drain(engine: str) -> bool:
    from osq_esf.host.runner import resolve_engine

    # osqueryi cannot poll for readiness, so the extension registers only once drained.
    return resolve_engine(engine) == "osqueryi"


def cmd_query(args) -> int:
    from osq_esf.host.errors import ExtensionStartError, QueryError
    from osq_esf.host.output import format_result
    from osq_esf.host.runner import run_query, run_shell

    if not args.replay and not args.source:
        print("osq-esf: nothing to query: give --replay PATH (or --source SPEC)", file=sys.stderr)
        return 2
    try:
        argv = extension_argv(args.source, args.replay, args.config, args.speed,
                              drain_first=_needs_osqueryi_drain(args.engine))
        if args.command == "shell":
            return run_shell(argv, engine=args.engine, extension_name=EXTENSION_NAME, mode=args.format,
                             ready=sources_drained, verbose=args.verbose)
        result = run_query(argv, args.sql, engine=args.engine, extension_name=EXTENSION_NAME,
                           ready=sources_drained, verbose=args.verbose)
    except (ExtensionStartError, QueryError, ValueError) as e:
        print(f"osq-esf: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(format_result(result, args.format))
    if not format_result(result, args.format).endswith("\n"):
        sys.stdout.write("\n")
    return 0


# SQLite has no basename(): strip everything up to the last '/'.
BASENAME = "replace({0}, rtrim({0}, replace({0}, '/', '')), '')"

# The demo: each query with the one line that says why it matters.
DEMO_QUERIES = [
    ("Who really started each program? The unix parent (ppid) is usually launchd; the real parent is not.",
     f"SELECT pid, {BASENAME.format('path')} AS program, parent AS ppid, {BASENAME.format('rp_path')} AS real_parent, "
     "rp_reason, launchd_job FROM es_exec WHERE path <> '/usr/libexec/xpcproxy' "
     "AND (rp_reason <> 'launchd_job' OR path LIKE '/Applications/%' OR path LIKE '%.app/%') ORDER BY eid LIMIT 14;"),
    ("Unsigned code started from a temporary directory: the classic dropped payload.",
     "SELECT time, pid, path, cmdline, caller_path, rp_path AS real_parent FROM es_exec "
     "WHERE team_id IS NULL AND platform_binary = 0 AND path LIKE '/private/tmp/%';"),
    ("Persistence: who wrote launch agents or daemons.",
     "SELECT DISTINCT path, filename FROM es_write "
     "WHERE filename LIKE '%/LaunchAgents/%' OR filename LIKE '/Library/LaunchDaemons/%';"),
    ("Keychains opened by anything that is not an Apple platform binary.",
     "SELECT path, signing_id, filename, fflag_names FROM es_open "
     "WHERE filename LIKE '%/Keychains/%' AND platform_binary = 0;"),
    ("HID user clients opened by non-Apple code (a keylogger's first move); nohup left it to launchd, "
     "but its real parent is still the shell.",
     "SELECT pid, path, parent AS ppid, user_client_class, rp_path AS real_parent, rp_reason FROM es_iokit_open "
     "WHERE user_client_class LIKE 'IOHID%' AND platform_binary = 0;"),
    ("Secrets in command lines and environments are masked, and the mask names the rule.",
     "SELECT path, cmdline FROM es_exec WHERE cmdline LIKE '%redacted%' OR env LIKE '%redacted%' LIMIT 5;"),
    ("The noisiest daemons were muted before the rings; each rule counts its hits.",
     "SELECT name, kind, match, applied, hits FROM es_mutes WHERE hits > 0 ORDER BY hits DESC LIMIT 8;"),
    ("Nothing is lost silently: per client and type, received = buffered + evicted + muted + filtered + errors.",
     "SELECT client, event_type, received, buffered, evicted, muted, filtered, decode_errors, lost "
     "FROM es_health WHERE event_type = '*' OR event_type IN ('exec', 'open', 'write', 'iokit_open');"),
    ("The payload's ancestry, even after its parents exited.",
     "SELECT pid, path, ancestry FROM es_processes WHERE path LIKE '/private/tmp/%';"),
]


def demo_recording() -> str:
    return str(resources.files("osq_esf").joinpath("data/demo.jsonl.gz"))


def cmd_demo(args) -> int:
    from osq_esf.host.errors import ExtensionStartError, QueryError
    from osq_esf.host.output import format_result
    from osq_esf.host.runner import EmbeddedSession

    rec = demo_recording()
    if not os.path.exists(rec):
        print(f"osq-esf: the demo recording is missing ({rec})", file=sys.stderr)
        return 1
    print(f"Replaying {os.path.basename(rec)} (generated by osq_esf.corpus, not a real capture) "
          "through `osq-esf run` under the embedded osquery host.\n")
    failures = 0
    try:
        with EmbeddedSession(extension_argv([], [rec], None, 0.0), extension_name=EXTENSION_NAME) as session:
            session.wait_ready(sources_drained, timeout=120)
            for why, sql in DEMO_QUERIES:
                print(f"-- {why}\n{sql}")
                try:
                    out = format_result(session.query(sql), args.format)
                except QueryError as e:
                    failures += 1
                    out = f"error: {e}"
                print(out.rstrip("\n") + "\n")
    except (ExtensionStartError, QueryError) as e:
        print(f"osq-esf: {e}", file=sys.stderr)
        return 1
    return 1 if failures else 0
