"""One pass per event: decode -> lineage -> mute/filter -> redact -> ring, with counters.

Sources hand batches of raw lines to :meth:`Pipeline.ingest` through the :class:`~osq_esf.stages.Sink`
face.  A batch goes through four phases, holding the pipeline lock only where shared
state changes:

1. decode every line (no lock);
2. under the lock: intern the acting process, extract the table's columns (the kind's
   declared extractor), resolve the real parent, judge the event by the rules;
3. redact the rows that were kept (no lock: a pathological argument never stalls a ping);
4. under the lock: write each table's rows to its ring in one call, then account the
   accepted events' sequence numbers and every counter, so es_health's identity holds
   whenever anyone can read it.

Every line is accounted for: it becomes a row, is removed by a rule, or is counted as a
decode error (with a bounded sample kept for es_decode_errors).  Nothing here reaches
back to the sources, and nothing here imports the thrift layer.
"""

from __future__ import annotations

import logging
import threading
import time as _time
from collections import Counter, deque
from dataclasses import dataclass, field
from operator import attrgetter

from osq_esf import events
from osq_esf.decode import DecodeError, parse_time, raw_event_json
from osq_esf.bodies import attribute as _attr
from osq_esf.extract import build_extractor
from osq_esf.health import Health, TypeCounts
from osq_esf.kinds import OTHER_TABLE, Kinds
from osq_esf.layout import LINEAGE_NULLS, RowLayout
from osq_esf.lineage import PROCESS_EVENTS
from osq_esf.process import Actor, ProcessPool
from osq_esf.rings import Budget, EventRing
from osq_esf.rules.redact import DEFAULT_REDACTOR
from osq_esf.stages import Disposition

log = logging.getLogger(__name__)

ERROR_SAMPLES = 100
# Event numbers no kind declares keep their own name (unknown(N)) up to this many; the rest share
# one, so a stream of invented numbers cannot grow es_health or the eviction counts without bound.
UNKNOWN_TYPES = 64
UNKNOWN_OTHER = "unknown(other)"
_EVENT_TYPE = attrgetter("event_type")
# All rings together (``[rings] max_bytes``): far under the 200 MB osqueryd's watchdog allows an
# extension (--enable_extensions_watchdog), with room for the interpreter and the process tables.
DEFAULT_TOTAL_BYTES = 64 << 20
# One table's share of it unless ``[rings.<table>] max_bytes`` says otherwise: a flood of one
# table cannot take the whole budget from the quiet ones.
DEFAULT_TABLE_SHARE = 0.5


@dataclass
class SourceState:
    """Counters and state of one source (a replay, or one live ES client)."""

    name: str
    kind: str
    spec: str = ""
    live: bool = False  # events happen now, on this machine (usernames are resolved)
    state: str = "starting"
    lines: int = 0
    events: int = 0
    decode_errors: int = 0
    last_error: str | None = None
    since: float = field(default_factory=_time.time)
    subscribed: tuple[str, ...] = ()  # event types asked of ES
    skipped: str | None = None  # event types left out, and why

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


class UserNames:
    """uid -> user name on the machine running the extension, cached (bounded)."""

    def __init__(self, limit: int = 4096):
        self._names: dict[int, str | None] = {}
        self._limit = limit

    def __call__(self, uid: int | None) -> str | None:
        if uid is None or uid < 0:
            return None
        try:
            return self._names[uid]
        except KeyError:
            pass
        import pwd

        try:
            name = pwd.getpwuid(uid).pw_name
        except (KeyError, OverflowError):
            name = None
        if len(self._names) >= self._limit:
            self._names.clear()
        self._names[uid] = name
        return name


class Route:
    """How an event number becomes a row: its layout, ring, extractor and names."""

    __slots__ = ("short", "attr", "layout", "ring", "fn")

    def __init__(self, short: str, attr: str, layout: RowLayout, ring: EventRing, fn):
        self.short, self.attr, self.layout, self.ring, self.fn = short, attr, layout, ring, fn


class Judged:
    """One batch after phase 2: what phases 3 and 4 need, and no more per event."""

    __slots__ = ("pending", "seen", "muted", "filtered", "typed", "redactions", "short_of")

    def __init__(self, short_of: dict[int, str]):
        self.pending: dict[Route, list] = {}  # route -> its rows kept, (time, actor, ints, objs)
        self.seen: list = []  # messages of the events kept or removed by a rule, in arrival order
        self.muted: list = []  # messages a mute rule removed
        self.filtered: list = []  # messages a filter removed
        self.typed: list = []  # (short, message) of lines refused after they had a type
        self.redactions: list = []  # (route, redact) to run on the pending rows
        self.short_of = short_of  # event number -> type name; shared until an unknown type appears

    def name(self, number: int, short: str) -> None:
        """Name an event number no kind declares, for this batch (the shared map is not grown)."""
        if self.short_of.get(number) != short:
            self.short_of = {**self.short_of, number: short}


class Pipeline:
    """The ingest core: stages, one ring per event table, the counters (see the module docstring)."""

    def __init__(self, kinds: Kinds, capacity: dict[str, int] | None = None,
                 max_bytes: dict[str, int] | None = None, *, total_bytes: int = DEFAULT_TOTAL_BYTES,
                 lineage=None, rules=None, sequence=None):
        self.lock = threading.Lock()
        self.kinds = kinds
        self.pool = ProcessPool()
        self.codec = kinds.codec
        self.sources: list[SourceState] = []
        self.error_samples: deque[DecodeErrorSample] = deque(maxlen=ERROR_SAMPLES)
        capacity = capacity or {}
        max_bytes = max_bytes or {}
        self.layouts = kinds.layouts()
        self.budget = Budget(total_bytes)
        share = int(total_bytes * DEFAULT_TABLE_SHARE)
        self.rings: dict[str, EventRing] = {}
        for name, layout in self.layouts.items():
            cap = capacity.get(name, layout.spec.capacity)  # the declaration's default
            # The extractor's own text columns (paths, command lines) repeat: the ring shares them.
            self.rings[name] = EventRing(layout.int_names, layout.obj_names, cap, max_bytes.get(name, share),
                                         self.lock, intern=layout.own_objs, budget=self.budget)
        self._routes: dict[int, Route] = {}
        for k in kinds:
            fn = build_extractor(k.spec, k.layout, kinds.enums, self.pool.get)
            self._routes[k.number] = Route(k.short, _attr(k.short), k.layout, self.rings[k.table], fn)
        self._other = Route("", "", kinds.other_layout, self.rings[OTHER_TABLE], None)
        self._short_of = {number: route.short for number, route in self._routes.items()}
        self.health = Health()
        # Stages (osq_esf.stages); each may be None.  sequence is normally the Health object.
        self.sequence = sequence
        self.lineage = lineage
        self.rules = rules
        self.users = UserNames()
        self._unknown: dict[int, str] = {}

    def _unknown_name(self, number: int) -> str:
        """``unknown(N)`` for an event number no kind declares (bounded, see UNKNOWN_TYPES)."""
        name = self._unknown.get(number)
        if name is None:
            name = events.short_name(number) if len(self._unknown) < UNKNOWN_TYPES else UNKNOWN_OTHER
            if name != UNKNOWN_OTHER:
                self._unknown[number] = name
        return name

    # -- the Sink face (osq_esf.stages.Sink) ------------------------------------------

    def add_source(self, name: str, kind: str, spec: str = "", live: bool = False) -> SourceState:
        st = SourceState(name, kind, spec, live)
        with self.lock:
            self.sources.append(st)
        return st

    def declare(self, client: str, shorts) -> None:
        """Show a client's subscribed types in es_health before their first event."""
        with self.lock:
            self.health.declare(client, shorts)

    def restarted(self, client: str) -> None:
        """A live client came back (a new ES client): its sequence numbers start again."""
        with self.lock:
            self.health.restarted(client)

    def unformatted(self, client: str, short: str, count: int) -> None:
        """Messages a source received but could not turn into lines (es_health.unformatted)."""
        with self.lock:
            self.health.unformatted(client, short, count)

    def mute_rules(self) -> tuple[object, list]:
        """(the rules in force, their mute rules), for a source that mirrors mutes into the kernel."""
        rules = self.rules
        return rules, (list(rules.mutes) if rules is not None else [])

    def mark_applied(self, rules, names, where: str) -> None:
        """Record where a source applied these rules (es_mutes.applied), if they are still in force."""
        with self.lock:
            if rules is self.rules and rules is not None:
                for name in names:
                    rules.applied[name] = where

    def install_rules(self, rules) -> None:
        """Swap in compiled rules (start and every reload): events are never judged by half a config."""
        with self.lock:
            if self.rules is not None and rules is not None:
                rules.adopt_counts(self.rules)
            self.rules = rules

    # -- ingest -------------------------------------------------------------------------

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
        with self.lock:
            src.lines += 1
            self._error(src, head, why, src.lines)

    def ingest(self, src: SourceState, lines) -> int:
        """Decode and buffer a batch of lines from ``src``; returns the events buffered."""
        decoded, errors, last_number = self.codec.decode_lines(lines, src.lines + 1)
        with self.lock:
            src.lines = last_number
            for line, number, why in errors:
                self._error(src, line, why, number)
            if not decoded:
                return 0
            judged = self._judge(src, decoded)
            rules = self.rules
        # Phase 3: redaction of the rows kept, without the lock; its hits are added in phase 4.
        hits = None
        if judged.redactions:
            with rules.redactor.tally() as hits:
                for route, redact in judged.redactions:
                    rows = judged.pending[route]
                    for i, (t, actor, ints, objs) in enumerate(rows):
                        new = redact(objs)
                        if new is not objs:
                            rows[i] = (t, actor, ints, new)
        return self._commit(src, decoded, judged, hits)

    def _judge(self, src: SourceState, decoded) -> "Judged":
        """Phase 2 (under the lock): every decoded line becomes a pending row, a dropped event or an error.

        Per event it keeps only what every event needs (the row, or the message in ``seen``);
        which line a row came from is worked out again only for a row the ring refuses.
        """
        client = src.name
        routes, other = self._routes, self._other
        known, context, pool_get = self.pool.known, self.pool.get_raw, self.pool.get
        lineage, rules = self.lineage, self.rules
        lineage_cached = lineage.cached if lineage is not None else None  # observe()'s hit path, inline
        users = self.users if src.live else None
        out = Judged(self._short_of)
        plans: dict = {}  # route -> the rules' plan for it (or None), for this batch
        pending = out.pending
        seen = out.seen
        seen_append = seen.append
        muted_append, filtered_append = out.muted.append, out.filtered.append
        muted = Disposition.MUTED
        for msg, line, line_number in decoded:
            short = None
            try:
                # The acting process first: an invalid one fails the line before it has a type.
                raw = msg.process
                ctx = known(bytes(raw)) or context(raw)
                et = msg.event_type
                route = routes.get(et)
                if route is None:
                    route, short = other, self._unknown_name(et)
                    out.name(et, short)
                    own_ints, own_objs = (et,), (raw_event_json(line),)
                else:
                    short = route.short
                    ev = getattr(msg.event, route.attr)
                    if ev is None:
                        raise DecodeError(f"event_type {et} but no event.{short}")
                    proc, own_ints, own_objs = route.fn(msg, ev, ctx, users)
                    if proc is not None:
                        ctx = pool_get(proc)
                sec, nsec = parse_time(msg.time)
                thread = msg.thread
                ints = (nsec, msg.version, msg.seq_num, msg.global_seq_num, msg.mach_time,
                        thread.thread_id if thread is not None else None, *own_ints)
                objs = (short, client, *own_objs)
                # Without the stage the lineage columns are NULL, so rows keep their shape.
                if lineage is None:
                    actor = Actor.bare(ctx, LINEAGE_NULLS)
                else:
                    actor = (short not in PROCESS_EVENTS and lineage_cached(ctx)) or lineage.observe(short, msg, ctx)
                if rules is not None:
                    plan = plans.get(route, plans)  # one plan per route and batch, called directly
                    if plan is plans:
                        plan = plans[route] = rules.plan_of(route.layout, short)
                    if plan is not None:
                        disposition = plan(actor, sec, ints, objs)
                        if disposition:  # removed by a rule (None or KEEP: kept)
                            (muted_append if disposition == muted else filtered_append)(msg)
                            seen_append(msg)
                            continue
            except Exception as e:  # a DecodeError, or anything else: one line never stops the batch
                why = str(e) if isinstance(e, DecodeError) else f"{type(e).__name__}: {e}"
                self._error(src, line, why, line_number)
                if short is not None:  # the line had a type: a typed decode error, counted in es_health
                    out.typed.append((short, msg))
                continue
            rows = pending.get(route)
            if rows is None:
                rows = pending[route] = []
            rows.append((sec, actor, ints, objs))
            seen_append(msg)
        if rules is not None:
            for route in pending:
                redact = rules.redaction_of(route.layout)
                if redact is not None:
                    out.redactions.append((route, redact))
        return out

    def _commit(self, src: SourceState, decoded, judged: "Judged", redaction_hits=None) -> int:
        """Phase 4 (under the lock): ring writes, then sequence numbers and counters.

        The counters are tallied per type for the batch (rows stored, events muted, filtered and
        refused) instead of per event; received is their sum, as es_health's identity says.
        """
        client = src.name
        short_of = judged.short_of
        typed = judged.typed
        n = 0
        with self.lock:
            if redaction_hits and self.rules is not None:
                self.rules.add_redaction_hits(redaction_hits)
            stored: dict[str, int] = {}
            refused_msgs = None
            for route, rows in judged.pending.items():
                bad = self._misshapen(route, rows[0])
                if bad is not None:  # an extractor bug: refuse the rows rather than shift columns
                    refused = range(len(rows))
                else:
                    refused = route.ring.extend(rows)
                    bad = "an integer field does not fit 64 bits"
                if refused:
                    origins = self._origins(route, decoded, judged)
                    refused_msgs = refused_msgs if refused_msgs is not None else set()
                    for i in refused:
                        msg, line, number = origins[i]
                        typed.append((short_of[msg.event_type], msg))
                        refused_msgs.add(id(msg))
                        self._error(src, line, bad, number)
                kept = len(rows) - len(refused)
                n += kept
                if route is self._other:  # unknown types share a route: the row's own event_type column
                    gone = set(refused)
                    for i, row in enumerate(rows):
                        if i not in gone:
                            stored[row[3][0]] = stored.get(row[3][0], 0) + 1
                elif kept:
                    stored[route.short] = stored.get(route.short, 0) + kept
            self.budget.enforce()
            counts = self.health.types_of(client)
            shorts = short_of.__getitem__
            muted = Counter(map(shorts, map(_EVENT_TYPE, judged.muted)))
            filtered = Counter(map(shorts, map(_EVENT_TYPE, judged.filtered)))
            errors = Counter(short for short, _ in typed)
            for short in (stored.keys() | muted.keys() | filtered.keys() | errors.keys()) - counts.keys():
                counts[short] = TypeCounts()
            for tally, counter in ((stored, "appended"), (muted, "muted"), (filtered, "filtered"),
                                   (errors, "decode_errors")):
                for short, k in tally.items():  # a few types per batch
                    tc = counts[short]
                    tc.received += k
                    setattr(tc, counter, getattr(tc, counter) + k)
            sequence = self.sequence
            if sequence is not None:  # only accepted events move the sequence baselines
                seen = judged.seen
                if refused_msgs:
                    seen = [m for m in seen if id(m) not in refused_msgs]
                sequence.observe_all(client, seen, short_of)
            warnings = sequence.take_warnings() if sequence is not None else None
            src.events += n
        if warnings:  # logged outside the lock
            for w in warnings:
                log.warning(w)
        return n

    def _origins(self, route: Route, decoded, judged: "Judged") -> list:
        """(message, line, line number) of each row pending for ``route``, in row order: the rows are
        the route's events in ``seen`` that no rule removed.  Only a refused row needs it."""
        dropped = {id(m) for m in judged.muted} | {id(m) for m in judged.filtered}
        where = {id(m): (m, line, number) for m, line, number in decoded}
        routes, other = self._routes, self._other
        return [where[id(m)] for m in judged.seen
                if id(m) not in dropped and routes.get(m.event_type, other) is route]

    @staticmethod
    def _misshapen(route: Route, row) -> str | None:
        """Why a route's rows do not fit its layout, or None.  An extractor's output always has
        one shape, so the first row of a batch stands for all of them."""
        layout = route.layout
        ints, objs = row[2], row[3]
        if len(ints) == len(layout.int_names) and len(objs) == len(layout.obj_names):
            return None
        return (f"internal error: the {layout.name} extractor wrote {len(ints)} integer and {len(objs)} text "
                f"values, the layout has {len(layout.int_names)} and {len(layout.obj_names)}; the event is "
                "refused rather than stored in the wrong columns")

    # -- status rows ------------------------------------------------------------------

    def source_rows(self) -> list[dict]:
        with self.lock:
            return [
                {"name": s.name, "kind": s.kind, "spec": s.spec, "state": s.state, "lines": s.lines,
                 "decode_errors": s.decode_errors, "last_error": s.last_error,
                 "subscribed": ",".join(s.subscribed) or None, "skipped": s.skipped}
                for s in self.sources
            ]

    def decode_error_rows(self) -> list[dict]:
        with self.lock:
            samples = list(self.error_samples)
        return [{"source": e.source, "line_number": e.line_number, "error": e.error, "sample": e.sample}
                for e in samples]
