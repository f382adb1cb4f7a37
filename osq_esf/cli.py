"""Command line: osq-esf run | query | shell | demo | tables | doctor."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from osq_esf import __version__

log = logging.getLogger("osq_esf")


def _add_source_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--source", action="append", default=[], metavar="SPEC",
                   help="event source: replay:PATH (PATH may be .gz or - for stdin); repeatable")
    p.add_argument("--speed", type=float, default=0.0,
                   help="replay pacing: 0 = as fast as possible (default), 1 = real time, 2 = twice as fast")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (docs/configuration.md)")
    p.add_argument("--allow-unsafe-config", action="store_true",
                   help="accept a config file that is world-writable or owned by another user (development only, "
                        "like osquery's --allow_unsafe)")


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="osq-esf", description="Apple Endpoint Security events as osquery tables.")
    ap.add_argument("--version", action="version", version=f"osq-esf {__version__}")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run as an osquery extension (what osqueryd autoloads)")
    # The flags osqueryd passes to an autoloaded extension (osquery-extensions.md §7.3).
    run.add_argument("--socket", required=True, help="osquery's extension manager socket")
    run.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for the manager")
    run.add_argument("--interval", type=float, default=3.0, help="seconds between liveness pings")
    run.add_argument("--verbose", action="store_true", help="log at INFO level")
    run.add_argument("--standalone", action="store_true",
                     help="keep running when osquery goes away and register again when it is back, keeping "
                          "the buffered events (for a LaunchDaemon, not for autoload)")
    run.add_argument("--register-after-drain", action="store_true",
                     help="register only once every replay source has been read (for one-shot osqueryi runs)")
    _add_source_args(run)

    tables = sub.add_parser("tables", help="list the tables, or write docs/tables.md")
    tables.add_argument("--format", choices=("text", "md", "json"), default="text")

    for name, helptext in (("query", "run one SQL query against replayed events"),
                           ("shell", "interactive SQL against replayed events")):
        q = sub.add_parser(name, help=helptext)
        q.add_argument("--replay", action="append", default=[], metavar="PATH", help="recording to replay; repeatable")
        q.add_argument("--format", choices=("table", "json", "csv"), default="table")
        q.add_argument("--engine", choices=("auto", "embedded", "osqueryi"), default="auto",
                       help="auto uses osqueryi when it is on PATH, else the embedded host")
        q.add_argument("--verbose", action="store_true")
        _add_source_args(q)
        if name == "query":
            q.add_argument("sql", help="the SQL to run")

    demo = sub.add_parser("demo", help="replay the bundled (generated) recording and run illuminating queries")
    demo.add_argument("--format", choices=("table", "json", "csv"), default="table")

    doctor = sub.add_parser("doctor", help="check what live events need here (macOS, root, eslogger, Full Disk Access, osquery)")
    doctor.add_argument("--config", metavar="FILE", help="TOML configuration to check and use")
    doctor.add_argument("--socket", help="osquery's extension manager socket (default: the usual paths)")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args, unknown = ap.parse_known_args(argv)
    if unknown and args.command != "run":
        ap.error("unrecognized arguments: " + " ".join(unknown))
    if unknown:
        # osqueryd may pass flags a newer release invented; an extension must not die of them.
        print(f"osq-esf: ignoring unknown flags: {' '.join(unknown)}", file=sys.stderr)
    if args.command is None:
        ap.print_help()
        return 0
    if args.command == "tables":
        return cmd_tables(args)
    if args.command == "run":
        return cmd_run(args)
    if args.command in ("query", "shell"):
        from osq_esf.commands import cmd_query

        return cmd_query(args)
    if args.command == "demo":
        from osq_esf.commands import cmd_demo

        return cmd_demo(args)
    if args.command == "doctor":
        from osq_esf.doctor import main as doctor

        return doctor(args.config, args.socket)
    ap.error(f"unknown command {args.command}")
    return 2


def cmd_tables(args) -> int:
    from osq_esf.schema import load_specs, markdown

    specs = load_specs()
    if args.format == "md":
        sys.stdout.write(markdown(specs))
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

    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="osq-esf %(levelname)s %(name)s: %(message)s")
    # thrift logs a traceback for every refused connect; our own messages say it better.
    logging.getLogger("thrift").setLevel(logging.CRITICAL)
    # A SIGHUP's default action is to exit: until the app can reload, one only notes it.
    early_hup = threading.Event()
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda _s, _f: early_hup.set())
    try:
        app = App.from_args(args)
    except AppError as e:
        print(f"osq-esf: {e}", file=sys.stderr)
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
        print(f"osq-esf: {e}", file=sys.stderr)
        app.close()
        return 1
    # Wake up now and then: a signal the kernel hands to another thread runs its Python
    # handler only when the main thread executes bytecode, and a bare wait() never does.
    while True:
        while not app.server.stopped.wait(0.5):
            pass
        if not (args.standalone and app.server.manager_lost and not done.is_set()):
            break
        log.warning("%s; keeping %d buffered events and waiting for osquery to come back",
                    app.server.stop_reason, sum(len(t.ring) for t in app.pipeline.tables.values()))
        if not app.reattach(args.socket, args.timeout, args.interval, done):
            break
    log.info("stopping: %s", app.server.stop_reason)
    app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
