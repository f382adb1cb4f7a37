"""The extension process: pipeline + sources + tables + server, wired once.

Flow is one way: sources -> pipeline (decode, mute/filter, rings) -> tables -> server.
"""

from __future__ import annotations

import logging
import threading

from osq_esf import __version__
from osq_esf.extension.server import ExtensionServer, RegistrationError
from osq_esf.lineage import Lineage, ProcessesTable
from osq_esf.pipeline import Pipeline
from osq_esf.schema import SpecError, load_specs
from osq_esf.sources import SourceError, default_source_spec, make_sources
from osq_esf.tables import StatusTable

log = logging.getLogger(__name__)

EXTENSION_NAME = "osq_esf"


class AppError(RuntimeError):
    """Something the user must fix before the extension can run; the text says what."""


def load_config(path: str | None):
    if not path:
        return None
    from osq_esf.config import ConfigError, load_config_file

    try:
        return load_config_file(path)
    except ConfigError as e:
        raise AppError(str(e)) from None


class App:
    def __init__(self, pipeline: Pipeline, sources, status_tables=()):
        self.pipeline = pipeline
        self.sources = list(sources)
        tables = list(pipeline.tables.values()) + list(status_tables)
        self.server = ExtensionServer(tables, name=EXTENSION_NAME, version=__version__)

    @classmethod
    def from_args(cls, args) -> "App":
        config = load_config(getattr(args, "config", None))
        try:
            specs = load_specs()
        except SpecError as e:
            raise AppError(f"broken table specs: {e}") from None
        pipeline = Pipeline(specs, **(config.ring_kwargs() if config else {}))
        pipeline.lineage = Lineage.from_config(config.lineage if config else None)
        source_specs = list(args.source)
        if not source_specs:
            default = default_source_spec()
            if default is None:
                raise AppError(
                    "no --source given and this is not macOS 13 or later, so there is no live source; "
                    "replay a recording with --source replay:PATH (see `osq-esf demo`)"
                )
            source_specs = [default]
        try:
            sources = make_sources(source_specs, pipeline, getattr(args, "speed", 0.0), config)
        except SourceError as e:
            raise AppError(str(e)) from None
        status = [
            StatusTable(specs["es_sources"], pipeline.source_rows),
            StatusTable(specs["es_decode_errors"], pipeline.decode_error_rows),
            # Empty when [lineage] enabled = false: the table exists either way.
            ProcessesTable(specs["es_processes"], pipeline.lineage or Lineage(), pipeline.lock),
        ]
        return cls(pipeline, sources, status)

    def start(self, manager_socket: str, timeout: float, interval: float) -> None:
        for s in self.sources:
            s.start()
        try:
            self.server.register(manager_socket, timeout)
        except RegistrationError as e:
            raise AppError(str(e)) from None
        self.server.listen()
        log.info("registered as uuid %d, serving %s", self.server.uuid, self.server.socket_path)
        threading.Thread(target=self.server.watch_manager, args=(interval,), name="manager-watch",
                         daemon=True).start()

    def close(self) -> None:
        for s in self.sources:
            s.stop()
        for s in self.sources:
            s.join(timeout=5)
        if self.server.uuid and self.server.stop_reason not in ("shutdown requested by osquery",):
            self.server.deregister()
        self.server.stop("closing")
