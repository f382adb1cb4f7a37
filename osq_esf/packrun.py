"""`osq-esf pack`: packs run over recordings the way osqueryd would run them, in the recordings' time.

A tool beside the embedded host, not part of the product path. The extension
runs in this process (the same `App` osqueryd would autoload, registered with
an embedded host over the real socket and protocol), but its replay sources
are never started: this module feeds their lines to the pipeline itself, up
to each scheduled run's simulated time, so the rings, evictions and status
tables at that run are what a live extension would have held then. The
host's `time` table and SQLite's 'now' follow the same simulated clock
(osq_esf.host.scheduler). Feeding in-process keeps every run deterministic;
a child process would need a handshake per run.
"""

from __future__ import annotations

import heapq
import math
import os
import shutil
import socket
import sys
import tempfile
import types
from typing import Iterator, TextIO

from osq_esf.app import App, AppError
from osq_esf.host import QueryError
from osq_esf.host.manager import Host
from osq_esf.host.packs import Pack, PackError, QueryFacts, check_pack, load_pack
from osq_esf.host.scheduler import ResultLog, Scheduler, SimulatedClock, run_schedule
from osq_esf.sources.base import BATCH
from osq_esf.sources.replay import ReplaySource, open_recording


class RecordingError(ValueError):
    pass


def _timed_lines(path: str) -> Iterator[tuple[float, bytes]]:
    """(time, line) for every line; an untimed line (a decode error to be) keeps the
    previous time, and times never step back (clients interleave slightly)."""
    last = None
    f = open_recording(path)
    try:
        for line in f:
            t = ReplaySource._message_time(line)
            if t is not None and (last is None or t > last):
                last = t
            yield (last if last is not None else -math.inf), line
    finally:
        if f is not sys.stdin.buffer:
            f.close()


def time_range(paths: list[str]) -> tuple[float, float]:
    """First and last event time across `paths` (UNIX seconds)."""
    first = last = None
    for path in paths:
        for t, _ in _timed_lines(path):
            if t == -math.inf:
                continue
            first = t if first is None else min(first, t)
            last = t if last is None else max(last, t)
    if first is None:
        raise RecordingError("no timestamped event in %s" % ", ".join(paths))
    return first, last


class RecordingFeed:
    """Lines of several recordings merged by time, fed to their sources up to a time."""

    def __init__(self, pipeline, sources: list[ReplaySource], paths: list[str]):
        self.pipeline = pipeline
        streams = [((t, i, line) for t, line in _timed_lines(path)) for i, path in enumerate(paths)]
        self._merged = heapq.merge(*streams, key=lambda item: (item[0], item[1]))
        self._sources = sources
        self._pending = None
        self.last_time = None
        self.done = False
        for s in sources:
            s.state.set_state("running")

    def first_time(self) -> float:
        """The first event's time; lines before it that carry no time are ingested (as errors) first."""
        self.advance(-math.inf)
        self._peek()
        if self._pending is None:
            raise RecordingError("the recordings hold no timestamped event")
        return self._pending[0]

    def _peek(self) -> None:
        if self._pending is None and not self.done:
            self._pending = next(self._merged, None)
            if self._pending is None:
                self.done = True
                for s in self._sources:
                    s.state.set_state("drained")

    def advance(self, until: float) -> int | None:
        """Ingest every line timed at or before `until`; the end time once all are in."""
        batch, owner = [], None
        while True:
            self._peek()
            if self._pending is None or self._pending[0] > until:
                break
            t, index, line = self._pending
            self._pending = None
            if t != -math.inf:
                self.last_time = t
            if owner is not None and (index != owner or len(batch) >= BATCH):
                self.pipeline.ingest(self._sources[owner].state, batch)
                batch = []
            owner = index
            batch.append(line)
        if batch:
            self.pipeline.ingest(self._sources[owner].state, batch)
        if self.done:
            return math.ceil(self.last_time) if self.last_time is not None else int(until)
        return None


class InProcessExtension:
    """The osq-esf extension (sources unstarted) registered with an embedded host on a private socket."""

    def __init__(self, recordings: list[str], config: str | None, allow_unsafe_config: bool, clock):
        for path in recordings:
            if path == "-":
                raise RecordingError("osq-esf pack reads recordings from files, not stdin")
        args = types.SimpleNamespace(config=config, allow_unsafe_config=allow_unsafe_config, speed=0.0,
                                     source=["replay:" + os.path.abspath(p) for p in recordings] or
                                     ["replay:" + os.devnull])
        self.app = App.from_args(args)
        self.dir = tempfile.mkdtemp(prefix="osq-esf-pack-", dir="/tmp")
        self.host = Host(os.path.join(self.dir, "osquery.em"), interval=3600, timeout=5, clock=clock).start()
        try:
            self.app.attach(self.host.socket_path, 5, 3600)
        except AppError:
            self.close()
            raise

    def query(self, sql: str):
        try:
            return self.host.query(sql)
        except Exception as exc:  # apsw errors carry SQLite's text
            raise QueryError(str(exc)) from None

    def describe(self, sql: str) -> QueryFacts:
        columns, tables = self.host.database.describe(sql)
        return QueryFacts(tables, [name for name, _ in columns])

    def close(self) -> None:
        self.app.close()
        self.host.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def event_tables() -> set[str]:
    from osq_esf.schema import load_specs

    return {name for name, spec in load_specs().items() if spec.kind == "event"}


def check_pack_file(path: str, config: str | None = None, allow_unsafe_config: bool = False) -> list[str]:
    """Every problem `check_pack` finds in the pack at `path`, against the real tables."""
    pack = load_pack(path)  # read once; its errors (not UTF-8, not JSON) are PackErrors
    ext = InProcessExtension([], config, allow_unsafe_config, SimulatedClock(0))
    try:
        return check_pack(pack.raw, pack, ext.describe, event_tables())
    finally:
        ext.close()


def run_packs(pack_paths: list[str], recordings: list[str], out: TextIO, *, config: str | None = None,
              allow_unsafe_config: bool = False, host_identifier: str | None = None, delimiter: str = "_",
              splay_percent: int = 0, seed: int | None = None, errors: TextIO = sys.stderr) -> Scheduler:
    """Run the packs over the recordings; result lines go to `out`. Returns the finished scheduler."""
    packs: list[Pack] = [load_pack(p) for p in pack_paths]
    clock = SimulatedClock()
    ext = InProcessExtension(recordings, config, allow_unsafe_config, clock)
    try:
        feed = RecordingFeed(ext.app.pipeline, [s for s in ext.app.sources if isinstance(s, ReplaySource)],
                             recordings)
        start = math.floor(feed.first_time())
        clock.now = start
        log = ResultLog(out, host_identifier or socket.gethostname())
        scheduler = Scheduler(packs, ext.query, clock, log, delimiter=delimiter, splay_percent=splay_percent,
                              seed=seed, errors=errors)
        run_schedule(scheduler, start, feed.advance)
        return scheduler
    finally:
        ext.close()


__all__ = ["PackError", "RecordingError", "check_pack_file", "run_packs", "time_range"]
