"""Per client × event type accounting: what was received, kept, dropped and lost.

Two jobs, both under the pipeline lock:

* **Conservation counters.**  For every client (an eslogger child, or a replay source)
  and event type: ``received`` = ``buffered + evicted + muted + filtered + decode_errors``,
  exactly.  The pipeline counts received/appended/typed decode errors, the rules stage's
  verdicts arrive through ``Pipeline.dropped``, and the rings attribute every eviction
  to the (event_type, client) of the row they overwrite.  Messages the native shim
  could not turn into a line (a type newer than its SDK) never arrive, so they are
  counted apart in ``unformatted``, outside the identity.
* **Sequence accounting** (the pipeline's ``sequence`` stage).  The kernel drops
  events silently when a client's queue is full; the only trace is a jump in
  ``seq_num`` (per client and type) or ``global_seq_num`` (per client).  The recipe is
  Santa's (`Source/santad/Metrics.mm`) and the rules are Mac Monitor's
  (`SequenceGapCounterTests.swift`): the first
  number sets the baseline, a forward jump of k+1 is one gap of k lost, a repeat or a
  backwards step is a *regression* (counted apart, and it becomes the new baseline),
  and a restart of the client resets every baseline (counted as a restart, not a loss).
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

TOTAL = "*"  # event_type of a client's total row
# es_health's columns are BIGINT: a count derived from numbers a recording controls (lost, from
# sequence gaps) stops there instead of growing past what osquery can read.
COUNT_MAX = (1 << 63) - 1
WARN_INTERVAL = 10.0  # seconds between two loss warnings of one client


class TypeCounts:
    """Counters of one client × event type; mutated under the pipeline lock."""

    __slots__ = ("received", "appended", "muted", "filtered", "decode_errors", "unformatted",
                 "seq_gaps", "lost", "regressions", "last_seq", "unreported")

    def __init__(self):
        self.received = self.appended = self.muted = self.filtered = self.decode_errors = self.unformatted = 0
        self.seq_gaps = self.lost = self.regressions = 0
        self.last_seq: int | None = None
        self.unreported = 0  # lost since the last warning


class ClientCounts:
    """One client: its types, its global sequence and its restarts."""

    __slots__ = ("types", "seq_gaps", "lost", "regressions", "last_seq", "restarts",
                 "unreported", "unreported_regressions", "last_warning")

    def __init__(self):
        self.types: dict[str, TypeCounts] = {}
        self.seq_gaps = self.lost = self.regressions = self.restarts = 0
        self.last_seq: int | None = None  # global_seq_num
        self.unreported = self.unreported_regressions = 0
        self.last_warning = float("-inf")


def _step(counts, seq: int) -> int:
    """Account one sequence number on ``counts``; returns the events lost before it."""
    last = counts.last_seq
    counts.last_seq = seq
    if last is None or seq == last + 1:
        return 0
    if seq > last:
        counts.seq_gaps += 1
        counts.lost = min(counts.lost + seq - last - 1, COUNT_MAX)
        return seq - last - 1
    counts.regressions += 1
    return 0


class Health:
    """All clients' counters, the sequence stage, and the loss warnings."""

    def __init__(self, warn_interval: float = WARN_INTERVAL):
        self.clients: dict[str, ClientCounts] = {}
        self.warn_interval = warn_interval
        self._pending = False  # some client has losses or regressions not yet logged

    def client(self, name: str) -> ClientCounts:
        c = self.clients.get(name)
        if c is None:
            c = self.clients[name] = ClientCounts()
        return c

    def types_of(self, client: str) -> dict[str, TypeCounts]:
        """The type -> counters map of a client (the pipeline looks it up once per batch)."""
        return self.client(client).types

    def declare(self, client: str, shorts) -> None:
        """Show a client's subscribed types in es_health before their first event."""
        types = self.client(client).types
        for s in shorts:
            types.setdefault(s, TypeCounts())

    def unformatted(self, client: str, short: str, count: int) -> None:
        """``count`` more messages the native shim could not format (they never became lines)."""
        types = self.types_of(client)
        tc = types.get(short) or types.setdefault(short, TypeCounts())
        tc.unformatted += count

    # -- the pipeline's sequence stage ------------------------------------------------

    def observe_all(self, client: str, msgs, short_of) -> None:
        """Account the seq_num (message v2+) and global_seq_num (v4+) of ``msgs``, a batch's accepted
        messages in arrival order; ``short_of`` maps an event_type to its type's name."""
        c = self.clients.get(client) or self.client(client)
        types = c.types
        glast = c.last_seq
        for msg in msgs:
            version = msg.version
            seq = msg.seq_num
            if seq is not None and version >= 2:
                short = short_of[msg.event_type]
                tc = types.get(short)
                if tc is None:
                    tc = types[short] = TypeCounts()
                last = tc.last_seq
                if last is not None and seq != last + 1:
                    self._irregular(c, tc, seq)
                else:
                    tc.last_seq = seq
            gseq = msg.global_seq_num
            if gseq is not None and version >= 4:
                if glast is not None and gseq != glast + 1:
                    c.last_seq = glast  # the baseline _step reads
                    self._irregular(c, c, gseq)
                glast = gseq
        c.last_seq = glast

    def _irregular(self, c: ClientCounts, counts, seq: int) -> None:
        """The slow path: a gap or a regression on ``counts`` (a type's or the client's)."""
        before = counts.regressions
        lost = _step(counts, seq)
        if lost:
            counts.unreported = min(counts.unreported + lost, COUNT_MAX)
        elif counts.regressions != before:
            c.unreported_regressions += 1
        self._pending = True

    def restarted(self, client: str) -> None:
        """A client came back (a new eslogger child): its numbers start again."""
        c = self.client(client)
        c.restarts += 1
        c.last_seq = None
        for tc in c.types.values():
            tc.last_seq = None

    def take_warnings(self) -> list[str]:
        """Loss warnings due now (at most one per client per ``warn_interval``); under the lock."""
        if not self._pending:
            return []
        now = time.monotonic()
        out = []
        pending = False
        for name, c in self.clients.items():
            per_type = [(s, tc.unreported) for s, tc in c.types.items() if tc.unreported]
            if not (per_type or c.unreported or c.unreported_regressions):
                continue
            if now - c.last_warning < self.warn_interval:
                pending = True
                continue
            c.last_warning = now
            if per_type or c.unreported:
                total = max(c.unreported, sum(n for _, n in per_type))
                detail = ", ".join(f"{s} {n}" for s, n in sorted(per_type, key=lambda x: (-x[1], x[0])))
                out.append(f"client {name} lost {total} events" + (f" ({detail})" if detail else "")
                           + " (kernel queue overflow: see es_health)")
            if c.unreported_regressions:
                out.append(f"client {name}: sequence numbers stepped back {c.unreported_regressions} times "
                           "(a repeat, or a restart not seen as one)")
            c.unreported = c.unreported_regressions = 0
            for tc in c.types.values():
                tc.unreported = 0
        self._pending = pending
        return out

    # -- es_health rows ---------------------------------------------------------------

    def rows(self, pipeline) -> list[dict]:
        """es_health: one row per client × type plus a total row per client (event_type '*')."""
        with pipeline.lock:
            evicted: dict[tuple[str, str], int] = {}
            for ring in pipeline.rings.values():
                for key, n in ring.evicted_by.items():
                    evicted[key] = evicted.get(key, 0) + n
            sources = {s.name: s for s in pipeline.sources}
            out = []
            # Every source has its total row, even one whose lines never decoded (no client yet).
            for name in sorted(set(self.clients) | set(sources)):
                c = self.clients.get(name) or ClientCounts()
                src = sources.get(name)
                state = src.state if src is not None else None
                since = int(src.since) if src is not None else None
                typed_errors = 0
                rows = []
                for short, tc in sorted(c.types.items()):
                    ev = evicted.get((short, name), 0)
                    typed_errors += tc.decode_errors
                    rows.append({
                        "client": name, "event_type": short, "received": tc.received,
                        "buffered": tc.appended - ev, "evicted": ev, "muted": tc.muted,
                        "filtered": tc.filtered, "decode_errors": tc.decode_errors, "unformatted": tc.unformatted,
                        "seq_gaps": tc.seq_gaps, "lost": tc.lost, "regressions": tc.regressions,
                        "restarts": c.restarts, "last_seq": tc.last_seq, "state": state, "since": since,
                    })
                # Lines that did not decode have no type: they belong to the total row only.
                untyped = (src.decode_errors - typed_errors) if src is not None else 0
                total = {"client": name, "event_type": TOTAL, "seq_gaps": c.seq_gaps, "lost": c.lost,
                         "regressions": c.regressions, "restarts": c.restarts, "last_seq": c.last_seq,
                         "state": state, "since": since}
                for k in ("received", "buffered", "evicted", "muted", "filtered", "decode_errors", "unformatted"):
                    total[k] = sum(r[k] for r in rows)
                total["received"] += untyped
                total["decode_errors"] += untyped
                out.append(total)
                out.extend(rows)
        return out
