"""The extension process: pipeline + sources + tables + server, wired once.

Flow is one way: sources -> pipeline (decode, mute/filter, rings) -> tables -> server.
"""

from __future__ import annotations

import logging
import threading

from osq_esf import __version__
from osq_esf.extension.server import ExtensionServer, RegistrationError, SocketPathError
from osq_esf.extension.tables import EventTable, ProcessesTable, StatusTable
from osq_esf.kinds import load_kinds
from osq_esf.lineage import Lineage
from osq_esf.pipeline import Pipeline
from osq_esf.schema import SpecError
from osq_esf.sources import SourceError, default_source_spec, make_sources
from osq_esf.status import stage_rows

log = logging.getLogger(__name__)

EXTENSION_NAME = "osq_esf"


class AppError(RuntimeError):
    """Something the user must fix before the extension can run; the text says what."""


def load_config(path: str | None, allow_unsafe: bool = False):
    if not path:
        return None
    from osq_esf.config import ConfigError, load_config_file

    try:
        return load_config_file(path, allow_unsafe)
    except ConfigError as e:
        raise AppError(str(e)) from None


class App:
    def __init__(self, pipeline: Pipeline, sources, status_tables=()):
        self.pipeline = pipeline
        self.sources = list(sources)
        tables = [EventTable(layout, pipeline.rings[name]) for name, layout in pipeline.layouts.items()]
        tables += list(status_tables)
        self.server = ExtensionServer(tables, name=EXTENSION_NAME, version=__version__)
        self.reloader = None  # a ConfigReloader once from_args has installed the rules

    @classmethod
    def from_args(cls, args) -> "App":
        allow_unsafe = getattr(args, "allow_unsafe_config", False)
        config = load_config(getattr(args, "config", None), allow_unsafe)
        try:
            kinds = load_kinds()
        except SpecError as e:
            raise AppError(f"broken table specs: {e}") from None
        pipeline = Pipeline(kinds, **(config.ring_kwargs() if config else {}))
        pipeline.lineage = Lineage.from_config(config.lineage if config else None, pipeline.pool)
        pipeline.sequence = pipeline.health  # seq_num/global_seq_num gap accounting (es_health)
        # Mutes, filters and redaction are always installed: the default mutes and the
        # secret masking apply even without a config file.
        from osq_esf.config import ConfigError
        from osq_esf.reload import ConfigReloader

        reloader = ConfigReloader(pipeline, getattr(args, "config", None), allow_unsafe, config)
        try:
            reloader.install_initial()
        except ConfigError as e:
            raise AppError(str(e)) from None
        source_specs = list(args.source)
        if not source_specs:
            default = default_source_spec(config.live if config else "auto")
            if default is None:
                raise AppError(
                    "no --source given and this is not macOS 11 or later, so there is no live source; "
                    "replay a recording with --source replay:PATH (see `osq-esf demo`)"
                )
            source_specs = [default]
        try:
            sources = make_sources(source_specs, pipeline, getattr(args, "speed", 0.0), config)
        except SourceError as e:
            raise AppError(str(e)) from None
        specs = kinds.specs
        status = [
            StatusTable(specs["es_sources"], pipeline.source_rows),
            StatusTable(specs["es_decode_errors"], pipeline.decode_error_rows),
            # Empty when [lineage] enabled = false: the table exists either way.
            ProcessesTable(specs["es_processes"], pipeline.lineage, pipeline.lock),
            StatusTable(specs["es_mutes"], reloader.rows),
            StatusTable(specs["es_health"], lambda: pipeline.health.rows(pipeline)),
            StatusTable(specs["es_stages"], lambda: stage_rows(pipeline, reloader)),
        ]
        app = cls(pipeline, sources, status)
        app.reloader = reloader
        return app

    def start(self, manager_socket: str, timeout: float, interval: float, drain_first: bool = False) -> None:
        for s in self.sources:
            s.start()
        if drain_first:  # sources that end (replays) are read before the tables appear
            for s in self.sources:
                s.join()
        self.attach(manager_socket, timeout, interval)

    def attach(self, manager_socket: str, timeout: float, interval: float) -> None:
        """Register with osquery and serve, with the watch (and options) threads."""
        try:
            self.server.register(manager_socket, timeout)
        except RegistrationError as e:
            raise AppError(str(e)) from None
        try:
            self.server.listen()
        except (SocketPathError, OSError) as e:  # registered but cannot serve: say so, leave no trace
            self.server.deregister()
            self.server.uuid = 0
            raise AppError(str(e)) from None
        log.info("registered as uuid %d, serving %s", self.server.uuid, self.server.socket_path)
        threading.Thread(target=self.server.watch_manager, args=(interval,), name="manager-watch",
                         daemon=True).start()
        if self.reloader is not None:  # osquery's custom_osq_esf_config option
            threading.Thread(target=self.reloader.poll_options, args=(manager_socket, interval, self.server.stopped),
                             name="options-poll", daemon=True).start()

    def reattach(self, manager_socket: str, timeout: float, interval: float, give_up: threading.Event) -> bool:
        """Standalone mode: wait for osquery to come back and register again, keeping the rings.

        Backs off exponentially (1 s to 30 s); returns False if ``give_up`` is set first.
        """
        delay = 1.0
        while not give_up.is_set():
            self.server.rearm()
            try:
                self.attach(manager_socket, timeout, interval)
                return True
            except AppError as e:
                log.info("osquery not back yet: %s", e)
            give_up.wait(delay)
            delay = min(delay * 2, 30.0)
        return False

    def close(self) -> None:
        for s in self.sources:
            s.stop()
        for s in self.sources:
            s.join(timeout=5)
        if self.server.uuid and self.server.stop_reason not in ("shutdown requested by osquery",):
            self.server.deregister()
        self.server.stop("closing")
