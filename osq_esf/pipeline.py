"""One pass per event: decode -> (mute, filter, redact, lineage) -> ring, with counters.

Sources hand batches of raw lines to :meth:`Pipeline.ingest`.  Decoding happens
outside the lock; inserting a batch takes the lock once, so a concurrent generate
waits at most one batch.  Every line is accounted for: it becomes a row, or it is
counted as a decode error (with a bounded sample kept for es_decode_errors).
Nothing here reaches back to the sources.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections import deque
from dataclasses import dataclass, field

from osq_esf import events
from osq_esf.decode import DecodeError, decode_lines, parse_time, raw_event_json
from osq_esf.extract import EXTRACTORS
from osq_esf.health import Health, TypeCounts
from osq_esf.lineage import PROCESS_EVENTS
from osq_esf.process import ProcessPool
from osq_esf.rules.redact import DEFAULT_REDACTOR
from osq_esf.schema import TableSpec
from osq_esf.tables import LINEAGE_NULLS, EventTable

log = logging.getLogger(__name__)

DEFAULT_CAPACITY = {
    "es_exec": 50_000,
    "es_open": 200_000,
    "es_write": 200_000,
    "es_iokit_open": 20_000,
    "es_fork": 50_000,
    "es_exit": 50_000,
    "es_other_events": 100_000,
}
ERROR_SAMPLES = 100


@dataclass
class SourceState:
    """Counters and state of one source (a replay, or one eslogger client)."""

    name: str
    kind: str
    spec: str = ""
    state: str = "starting"
    lines: int = 0
    events: int = 0
    decode_errors: int = 0
    last_error: str | None = None
    since: float = field(default_factory=_time.time)

    def set_state(self, state: str, error: str | None = None) -> None:
        self.state = state
        self.since = _time.time()
        if error:
            self.last_error = error


@dataclass(frozen=True)
class DecodeErrorSample:
    source: str
    line_number: int
    error: str
    sample: str


class Pipeline:
    def __init__(self, specs: dict[str, TableSpec], capacity: dict[str, int] | None = None,
                 max_bytes: dict[str, int] | None = None):
        self.lock = threading.Lock()
        self.pool = ProcessPool()
        self.sources: list[SourceState] = []
        self.error_samples: deque[DecodeErrorSample] = deque(maxlen=ERROR_SAMPLES)
        cap = {**DEFAULT_CAPACITY, **(capacity or {})}
        max_bytes = max_bytes or {}
        self.tables: dict[str, EventTable] = {}
        # event type number -> (table, extractor function, eslogger short name)
        self._routes: dict[int, tuple[EventTable, object, str]] = {}
        for short, ex in EXTRACTORS.items():
            name = events.TABLE_OF_SHORT[short]
            t = EventTable(specs[name], ex.ints, ex.objs, cap[name], max_bytes.get(name, 0), self.lock)
            self.tables[name] = t
            self._routes[events.number_of(short)] = (t, ex.fn, short)
        other = events.OTHER_TABLE
        self.other = EventTable(specs[other], ("event_type_id",), ("event",), cap[other],
                                max_bytes.get(other, 0), self.lock)
        self.tables[other] = self.other
        # Optional stages, each None until configured (see the issues that add them):
        #   sequence.observe(client, short, msg)            seq_num/global_seq_num gap accounting
        #   lineage.observe(short, msg, ctx) -> (ints, objs) real-parent columns appended to the row
        #   rules.plan_of(table, short) -> None | plan(ctx, time, ints, objs) -> None | "muted" | "filtered"
        #   rules.redact(table, objs) -> objs                 masks secrets in exec cmdline/env
        #   rules.redactor                                    masks decode error samples and texts
        self.sequence = None
        self.lineage = None
        self.rules = None
        # Per client × type counters behind es_health; always on (a few increments per event).
        # The sequence stage is normally this same object: ``pipeline.sequence = pipeline.health``.
        self.health = Health()

    def dropped(self, client: str, short: str, verdict: str) -> None:
        """An event a mute or filter removed (counted per client and type by es_health)."""
        self.health.dropped(client, short, verdict)

    def add_source(self, name: str, kind: str, spec: str = "") -> SourceState:
        st = SourceState(name, kind, spec)
        self.sources.append(st)
        return st

    def _error(self, src: SourceState, line: bytes, why: str, line_number: int) -> None:
        """Count a line that did not become a row and keep a sample of it for es_decode_errors."""
        src.decode_errors += 1
        # Samples and error texts are a side door for secrets: redacted and capped (issue 10).
        redactor = self.rules.redactor if self.rules is not None else DEFAULT_REDACTOR
        why = redactor.error_text(why)
        src.last_error = why
        sample = redactor.sample(line)
        self.error_samples.append(DecodeErrorSample(src.name, line_number, why, sample))

    def reject_line(self, src: SourceState, head: bytes, why: str) -> None:
        """A line a source could not hand over whole (longer than its cap): counted and
        sampled like an undecodable one, in its place in the line numbering."""
        src.lines += 1
        self._error(src, head, why, src.lines)

    def ingest(self, src: SourceState, lines) -> int:
        """Decode and buffer a batch of lines from ``src``; returns the events buffered."""
        decoded, errors, src.lines = decode_lines(lines, src.lines + 1)
        for line, number, why in errors:
            self._error(src, line, why, number)
        if not decoded:
            return 0
        client = src.name
        routes = self._routes
        known, context, pool_get = self.pool.known, self.pool.get_raw, self.pool.get
        other = self.other
        sequence, lineage, rules = self.sequence, self.lineage, self.rules
        dropped = self.dropped
        lineage_cached = lineage.cached if lineage is not None else None  # observe()'s hit path, inline
        plan_of = rules.plan_of if rules is not None else None
        redacted_table = rules.redacted_table if rules is not None else None
        plans: dict = {}  # short -> the rules' plan for it (or None), for this batch
        n = 0
        counts = self.health.types_of(client)
        pending: dict[EventTable, tuple[list, list]] = {}  # per table: rows, (line, number); one ring write per batch
        with self.lock:
            for msg, line, line_number in decoded:
                tc = None
                try:
                    # The acting process first: an invalid one fails the line before it has a type.
                    raw = msg.process
                    actor = known(bytes(raw)) or context(raw)
                    et = msg.event_type
                    route = routes.get(et)
                    if route is None:
                        table, short = other, events.short_name(et)
                        tc = counts.get(short) or counts.setdefault(short, TypeCounts())
                        tc.received += 1
                        ctx, ints, objs = actor, (et,), (raw_event_json(line),)
                    else:
                        table, fn, short = route
                        tc = counts.get(short) or counts.setdefault(short, TypeCounts())
                        tc.received += 1
                        ev = getattr(msg.event, short)
                        if ev is None:
                            raise DecodeError(f"event_type {et} but no event.{short}")
                        proc, ints, objs = fn(msg, ev, actor)
                        ctx = actor if proc is None else pool_get(proc)
                    sec, nsec = parse_time(msg.time)
                    # Sequence numbers are accounted before anything can drop the event.
                    if sequence is not None:
                        sequence.observe(client, short, msg)
                    thread = msg.thread
                    # Without the stage the lineage columns are NULL, so rows keep their shape.
                    if lineage is None:
                        extra_ints, extra_objs = LINEAGE_NULLS
                    else:
                        extra_ints, extra_objs = ((short not in PROCESS_EVENTS and lineage_cached(ctx))
                                                  or lineage.observe(short, msg, ctx))
                    ints = (nsec, msg.version, msg.seq_num, msg.global_seq_num, msg.mach_time,
                            thread.thread_id if thread is not None else None, *ints, *extra_ints)
                    objs = (short, client, *objs, *extra_objs)
                    if rules is not None:
                        plan = plans.get(short, plans)  # one plan per type and batch, called directly
                        if plan is plans:
                            plan = plans[short] = plan_of(table, short)
                        verdict = None if plan is None else plan(ctx, sec, ints, objs)
                        if verdict is not None:
                            dropped(client, short, verdict)
                            continue
                        if table is redacted_table:
                            objs = rules.redact(table, objs)
                    batch = pending.get(table)
                    if batch is None:
                        batch = pending[table] = ([], [])
                    batch[0].append((sec, ctx, ints, objs))
                    batch[1].append((line, line_number))
                    tc.appended += 1
                    n += 1
                except Exception as e:  # a DecodeError, or anything else: one line never stops the batch
                    if tc is not None:
                        tc.decode_errors += 1
                    why = str(e) if isinstance(e, DecodeError) else f"{type(e).__name__}: {e}"
                    self._error(src, line, why, line_number)
            for table, (rows, origins) in pending.items():
                for i in table.ring.extend(rows):
                    n -= 1
                    tc = counts[rows[i][3][0]]  # objs[0] is the event type
                    tc.appended -= 1
                    tc.decode_errors += 1
                    self._error(src, origins[i][0], "an integer field does not fit 64 bits", origins[i][1])
            warnings = sequence.take_warnings() if sequence is not None else None
        if warnings:  # logged outside the lock
            for w in warnings:
                log.warning(w)
        src.events += n
        return n

    # -- status rows ------------------------------------------------------------------

    def source_rows(self) -> list[dict]:
        return [
            {"name": s.name, "kind": s.kind, "spec": s.spec, "state": s.state, "lines": s.lines,
             "decode_errors": s.decode_errors, "last_error": s.last_error}
            for s in self.sources
        ]

    def decode_error_rows(self) -> list[dict]:
        return [
            {"source": e.source, "line_number": e.line_number, "error": e.error, "sample": e.sample}
            for e in list(self.error_samples)
        ]
