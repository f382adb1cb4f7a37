"""osq-esf query | shell | pack | demo: SQL over replayed events.

query, shell and demo sit on the embedded host (osq_esf.host), or on a real
osqueryi with --engine osqueryi, and start `osq-esf run` as a child exactly
as osqueryd autoloads an extension. pack runs packs in the recording's time
(osq_esf.packrun).
"""

from __future__ import annotations

import math
import os
import sys
import time
from importlib import resources

from osq_esf.app import EXTENSION_NAME

DONE_STATES = ("drained", "failed", "stopped")


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


class SourcesReady:
    """Readiness of query/shell: every replay has been read to its end, and every live source
    (eslogger, native: they never drain) has started.  It keeps which sources failed, and why (a
    truncated .gz, a refused ES client), so the command prints its result, then says so and exits
    non-zero; on a terminal it shows how far the replays are."""

    def __init__(self, progress=None):
        self.failed: list[tuple[str, str]] = []
        self.progress = progress  # a stream to show progress on, or None

    def __call__(self, session) -> bool:
        rows = session.query("SELECT name, kind, state, lines, last_error FROM es_sources").rows
        self.failed = [(name, error or "no error text") for name, _k, state, _n, error in rows if state == "failed"]
        ready = bool(rows) and all(state in DONE_STATES if kind == "replay" else state != "starting"
                                   for _name, kind, state, _n, _e in rows)
        if self.progress is not None:
            lines = sum(int(n or 0) for *_x, n, _e in rows)
            self.progress.write(f"\rosq-esf: {lines:,} lines read" + ("\n" if ready else ""))
            self.progress.flush()
        return ready

    def report(self) -> int:
        for name, error in self.failed:
            print(f"osq-esf: source {name} failed: {error}", file=sys.stderr)
        return 1 if self.failed else 0


def reads_stdin(args) -> bool:
    return "-" in args.replay or "replay:-" in args.source


def output_options(args):
    from osq_esf.host.output import OutputOptions

    return OutputOptions(args.format, args.separator, args.header)


def clock_for(now: str, recordings: list[str]):
    """The clock `--now` asks for: None (the system clock), pinned, or rebased to the recording's end."""
    if now == "real":
        return None
    if now.isdigit():
        pinned = float(now)
        return lambda: pinned
    from osq_esf.packrun import time_range

    end = math.ceil(time_range(recordings)[1])
    if now == "end":
        return lambda: float(end)
    started = time.monotonic()
    return lambda: end + (time.monotonic() - started)


def cmd_query(args) -> int:
    from osq_esf.host.errors import ExtensionStartError, QueryError
    from osq_esf.host.output import render
    from osq_esf.host.runner import run_query_all, run_shell
    from osq_esf.packrun import RecordingError

    if not args.replay and not args.source:
        print("osq-esf: nothing to query: give --replay PATH (or --source SPEC)", file=sys.stderr)
        return 2
    output = output_options(args)
    osqueryi = args.engine == "osqueryi"
    done = SourcesReady(sys.stderr if sys.stderr.isatty() and not osqueryi else None)
    # --replay - : the extension child reads the recording from our standard input.
    stdin = {}
    if reads_stdin(args):
        if args.command == "shell":
            print("osq-esf: the shell reads SQL from standard input, so it cannot also replay it: "
                  "give the recording as a file", file=sys.stderr)
            return 2
        if osqueryi:
            print("osq-esf: --replay - needs the embedded engine (--engine embedded)", file=sys.stderr)
            return 2
        stdin = {"stdin": None}
    recordings = [*args.replay, *(s[len("replay:"):] for s in args.source if s.startswith("replay:"))]
    if args.now in ("end", "rebase") and "-" in recordings:
        print(f"osq-esf: --now {args.now} reads the recording for its end before the query, which standard "
              "input allows only once: give the recording as a file, or --now real or a time", file=sys.stderr)
        return 2
    wait = args.wait if args.wait > 0 else float("inf")
    try:
        clock = clock_for(args.now, recordings)
        # osqueryi cannot poll for readiness, so the extension registers only once drained,
        # and osqueryi must wait that long for it.
        argv = extension_argv(args.source, args.replay, args.config, args.speed, drain_first=osqueryi)
        options = {"timeout": min(wait, 86400)} if osqueryi else {"clock": clock, **stdin}
        if osqueryi and clock is not None:
            raise QueryError("osqueryi keeps its own clock: --now needs --engine embedded")
        if args.command == "shell":
            status = run_shell(argv, engine=args.engine, extension_name=EXTENSION_NAME, mode=output,
                               ready=done, ready_timeout=wait, verbose=args.verbose, **options)
            return done.report() or status
        results = run_query_all(argv, args.sql, engine=args.engine, extension_name=EXTENSION_NAME,
                                ready=done, ready_timeout=wait, verbose=args.verbose, **options)
    except QueryError as e:
        partial = getattr(e, "partial_results", [])
        if partial:  # what ran before the failing statement, as osqueryi prints it
            sys.stdout.write(render(partial, output))
        print(f"Error: {e}", file=sys.stderr)
        return 1
    except (ExtensionStartError, RecordingError, ValueError, OSError) as e:
        print(f"osq-esf: {e}", file=sys.stderr)
        return 1
    sys.stdout.write(render(results, output))
    return done.report()


def cmd_pack(args) -> int:
    """osq-esf pack PACK... --replay PATH... | --check."""
    from osq_esf.app import AppError
    from osq_esf.host.packs import PackError
    from osq_esf.packrun import RecordingError, check_pack_file, run_packs

    try:
        if args.to_fleet:
            from osq_esf.fleet import label_yaml, reports_yaml
            from osq_esf.host.packs import load_pack

            for path in args.packs:
                pack = load_pack(path)
                sys.stdout.write(reports_yaml(pack) if args.to_fleet == "reports" else label_yaml(pack))
            return 0
        if args.check:
            failed = 0
            for path in args.packs:
                problems = check_pack_file(path, args.config, args.allow_unsafe_config)
                for problem in problems:
                    print(f"{path}: {problem}")
                failed += bool(problems)
                if not problems:
                    print(f"{path}: ok")
            return 1 if failed else 0
        if not args.replay:
            print("osq-esf pack: give --replay PATH (a recording to run the packs over) or --check",
                  file=sys.stderr)
            return 2
        scheduler = run_packs(args.packs, args.replay, sys.stdout, config=args.config,
                              allow_unsafe_config=args.allow_unsafe_config, host_identifier=args.host_identifier,
                              delimiter=args.pack_delimiter, splay_percent=args.splay_percent, seed=args.seed)
    except (PackError, RecordingError, AppError, OSError) as e:
        print(f"osq-esf pack: {e}", file=sys.stderr)
        return 2
    sys.stdout.flush()
    return 1 if scheduler.failures else 0


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
    ("Persistence, as macOS itself saw it: launch items registered with background task management, "
     "and who asked (the reporting daemon is btmd; the actor is the instigator).",
     f"SELECT time, item_type_name, item_url, {BASENAME.format('instigator_path')} AS instigator, "
     "instigator_team_id FROM es_btm_launch_item_add;"),
    ("A launch agent written elsewhere and moved into place: `mv x.plist ~/Library/LaunchAgents/` is a "
     "rename, never a write.",
     "SELECT time, path, filename, dest_filename FROM es_rename WHERE dest_filename LIKE '%/LaunchAgents/%';"),
    ("Privacy grants: a TCC permission given to code in /tmp (screen capture for an unsigned binary).",
     "SELECT time, service, identity, update_type_name, right_name, "
     f"{BASENAME.format('instigator_path')} AS granted_by FROM es_tcc_modify;"),
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
    from osq_esf.host.output import OutputOptions, render
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
            session.wait_ready(SourcesReady(), timeout=120)
            for why, sql in DEMO_QUERIES:
                print(f"-- {why}\n{sql}")
                try:
                    out = render(session.query_all(sql), OutputOptions(args.format))
                except QueryError as e:
                    failures += 1
                    out = f"error: {e}"
                print(out.rstrip("\n") + "\n", flush=True)
    except (ExtensionStartError, QueryError) as e:
        print(f"osq-esf: {e}", file=sys.stderr)
        return 1
    return 1 if failures else 0
