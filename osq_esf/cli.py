"""Command line: osq-esf run | query | shell | pack | demo | tables | doctor."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from osq_esf import __version__

log = logging.getLogger("osq_esf")

OUTPUT_MODES = ("pretty", "line", "list", "csv", "json", "table")


def _add_source_args(p: argparse.ArgumentParser, default: str = "") -> None:
    p.add_argument("--source", action="append", default=[], metavar="SPEC",
                   help="event source: replay:PATH (PATH may be .gz or - for stdin), eslogger[:CLIENTS], "
                        "native[:CLIENTS]; repeatable" + default)
    p.add_argument("--speed", type=float, default=0.0,
                   help="replay pacing: 0 = as fast as possible (default), 1 = real time, 2 = twice as fast")
    _add_config_args(p)


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="TOML configuration (docs/configuration.md)")
    p.add_argument("--allow-unsafe-config", action="store_true",
                   help="accept a config file that is world-writable or owned by another user (development only, "
                        "like osquery's --allow_unsafe)")


def _add_output_args(p: argparse.ArgumentParser) -> None:
    """osqueryi's output choices: --format MODE or its --json/--csv/--line/--list, --header, --separator."""
    p.add_argument("--format", choices=OUTPUT_MODES, default="pretty",
                   help="output mode, as osqueryi's (pretty is its default; table is another name for it)")
    for mode in ("json", "csv", "line", "list"):
        p.add_argument("--" + mode, dest="format", action="store_const", const=mode,
                       help="same as --format " + mode)
    p.add_argument("--header", action=argparse.BooleanOptionalAction, default=True,
                   help="print column names in list and csv output (default: yes)")
    p.add_argument("--separator", metavar="SEP", help="field separator of list ('|') and csv (',') output")


def _now(text: str) -> str:
    if text in ("real", "end", "rebase") or text.isdigit():
        return text
    raise argparse.ArgumentTypeError("use real, end, rebase or UNIX seconds")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="osq-esf", description="Apple Endpoint Security events as osquery tables.",
                                 allow_abbrev=False)
    ap.add_argument("--version", action="version", version=f"osq-esf {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, helptext: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=helptext, description=helptext, allow_abbrev=False)

    run = command("run", "run as an osquery extension (what osqueryd autoloads)")
    # The flags osqueryd passes to an autoloaded extension (osquery/process/posix/process.cpp launchExtension).
    run.add_argument("--socket", required=True, help="osquery's extension manager socket")
    run.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the manager")
    run.add_argument("--interval", type=float, default=3.0, help="seconds between liveness pings")
    run.add_argument("--verbose", action="store_true", help="log at INFO level")
    run.add_argument("--standalone", action="store_true",
                     help="keep running when osquery goes away or stops (shutdown()) and register again when it "
                          "is back, keeping the buffered events (for a LaunchDaemon, not for autoload)")
    run.add_argument("--register-after-drain", action="store_true",
                     help="register only once every replay source has been read (for one-shot osqueryi runs)")
    run.add_argument("--log-file", metavar="PATH",
                     help="also log to PATH, rotated at 10 MiB with 5 old files kept")
    run.add_argument("--syslog", action=argparse.BooleanOptionalAction, default=None,
                     help="also log to syslog / the unified log (default: on macOS)")
    _add_source_args(run, ". Default: the config's [source] live, else eslogger on macOS 13+ and native on "
                          "macOS 11 and 12")

    tables = command("tables", "list the tables, or write docs/tables.md")
    tables.add_argument("--format", choices=("text", "md", "json"), default="text")

    for name, helptext in (("query", "run SQL (one or more statements) against replayed events"),
                           ("shell", "interactive SQL against replayed events")):
        q = command(name, helptext)
        q.add_argument("--replay", action="append", default=[], metavar="PATH", help="recording to replay; repeatable")
        q.add_argument("--engine", choices=("embedded", "osqueryi"), default="embedded",
                       help="embedded: the built-in osquery-compatible host (default); osqueryi: a real "
                            "osqueryi from PATH, with the extension wrapped as it requires")
        q.add_argument("--now", type=_now, default="real", metavar="WHEN",
                       help="what the time table and SQLite's 'now' say: real (default), end (pinned to the "
                            "recording's last event), rebase (starts at that event and runs on), or UNIX seconds")
        q.add_argument("--wait", type=float, default=120.0, metavar="SECONDS",
                       help="how long to wait for the sources: every replay read to its end (a --speed replay "
                            "takes its recording's time), every live source started; 0 waits without limit "
                            "(default 120; progress is shown on a terminal)")
        q.add_argument("--verbose", action="store_true")
        _add_output_args(q)
        _add_source_args(q)
        if name == "query":
            q.add_argument("sql", help="the SQL to run; every statement's result is printed")

    pack = command("pack", "run osquery packs over recordings as osqueryd's scheduler would, printing "
                           "osqueryd's result log lines; or --check them")
    pack.add_argument("packs", nargs="+", metavar="PACK", help="osquery pack file (JSON)")
    pack.add_argument("--replay", action="append", default=[], metavar="PATH",
                      help="recording (eslogger JSON Lines, .gz allowed); repeatable")
    pack.add_argument("--check", action="store_true",
                      help="check the packs against the tables instead of running them: shape, every query "
                           "prepares, detections have a time window matched to the interval and pid/path/time")
    pack.add_argument("--to-fleet", choices=("reports", "label"),
                      help="print the pack as Fleet GitOps YAML instead: its reports, or the label that scopes them")
    pack.add_argument("--host-identifier", metavar="NAME", help="hostIdentifier in the results (default: hostname)")
    pack.add_argument("--pack-delimiter", default="_", metavar="D",
                      help="osquery's --pack_delimiter (default _; Fleet uses /, Kolide :)")
    pack.add_argument("--splay-percent", type=int, default=0, metavar="P",
                      help="splay each interval by up to P percent like osqueryd (default 0: exact multiples)")
    pack.add_argument("--seed", type=int, help="random seed for --splay-percent")
    _add_config_args(pack)

    demo = command("demo", "replay the bundled (generated) recording and run illuminating queries")
    demo.add_argument("--format", choices=OUTPUT_MODES, default="pretty")

    doctor = command("doctor", "check what live events need here (macOS, root, eslogger, Full Disk Access, osquery)")
    doctor.add_argument("--config", metavar="FILE", help="TOML configuration to check and use")
    doctor.add_argument("--socket", help="osquery's extension manager socket (default: the usual paths)")
    return ap


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (osq-esf demo | head): stop quietly, as a shell tool does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    ap = build_parser()
    # A misspelled or unknown flag is an error that names it (argparse exits 2); an
    # extension that ran on without its flags would quietly ignore its config.
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help()
        return 0
    if args.command == "tables":
        return cmd_tables(args)
    if args.command == "run":
        return cmd_run(args)
    from osq_esf import commands

    if args.command in ("query", "shell"):
        return commands.cmd_query(args)
    if args.command == "pack":
        return commands.cmd_pack(args)
    if args.command == "demo":
        return commands.cmd_demo(args)
    if args.command == "doctor":
        from osq_esf.doctor import main as doctor

        return doctor(args.config, args.socket)
    ap.error(f"unknown command {args.command}")
    return 2


def cmd_tables(args) -> int:
    from osq_esf.kinds import default_kinds
    from osq_esf.schema import markdown

    kinds = default_kinds()
    specs = kinds.specs
    if args.format == "md":
        sys.stdout.write(markdown(specs, kinds.introduced()))
    elif args.format == "json":
        import json

        json.dump({n: [{"name": c.name, "type": c.type, "options": c.options} for c in s.columns]
                   for n, s in specs.items()}, sys.stdout, indent=1)
        print()
    else:
        for s in specs.values():
            print(f"{s.name:20} {s.description}")
    return 0


def cmd_run(args) -> int:
    from osq_esf.app import App, AppError
    from osq_esf.logs import configure

    try:
        configure(args.verbose, args.log_file, args.syslog)
    except OSError as e:
        print(f"osq-esf: cannot open --log-file {args.log_file}: {e.strerror}", file=sys.stderr)
        return 2
    # A SIGHUP's default action is to exit: until the app can reload, one only notes it.
    early_hup = threading.Event()
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda _s, _f: early_hup.set())
    try:
        app = App.from_args(args)
    except AppError as e:
        log.error("%s", e)
        return 2
    done = threading.Event()

    def on_signal(signum, _frame):
        app.server.stop(f"signal {signal.Signals(signum).name}")
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if app.reloader is not None and hasattr(signal, "SIGHUP"):
        # Reload off the signal handler: it takes the pipeline lock, which the main thread must not wait for.
        def reload_on_hup(_s=None, _f=None):
            threading.Thread(target=app.reloader.reload, args=("SIGHUP",), name="reload", daemon=True).start()

        signal.signal(signal.SIGHUP, reload_on_hup)
        if early_hup.is_set():  # sent while starting: the config may have changed since it was read
            reload_on_hup()
    try:
        app.start(args.socket, args.timeout, args.interval, drain_first=args.register_after_drain)
    except AppError as e:
        if not args.standalone:
            log.error("%s", e)
            app.close()
            return 1
        # A LaunchDaemon may start before osquery: keep the sources running and wait for it.
        log.warning("%s; waiting for osquery", e)
        if not app.reattach(args.socket, args.timeout, args.interval, done):
            app.close()
            return 0
    # Wake up now and then: a signal the kernel hands to another thread runs its Python
    # handler only when the main thread executes bytecode, and a bare wait() never does.
    while True:
        while not app.server.stopped.wait(0.5):
            pass
        # Standalone: osquery went away or stopped gracefully (shutdown()); a signal to us still stops us.
        osquery_left = app.server.manager_lost or app.server.shutdown_requested
        if not (args.standalone and osquery_left and not done.is_set()):
            break
        log.warning("%s; keeping %d buffered events and waiting for osquery to come back",
                    app.server.stop_reason, sum(len(r) for r in app.pipeline.rings.values()))
        if not app.reattach(args.socket, args.timeout, args.interval, done):
            break
    log.info("stopping: %s", app.server.stop_reason)
    app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
