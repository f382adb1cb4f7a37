"""osqueryd's scheduler and filesystem result log, in simulated time.

Each rule is osquery's (a5b14f63):

- when: `SchedulerRunner::start` (`osquery/dispatcher/scheduler.cpp`)
  counts seconds from the start time `i` and runs a query when
  `i % splayed_interval == 0`, or at the first step when it has a
  `startup_priority`; queries run pack by pack, in the pack's order
  (`startup_priority`, then name). Splay (`splayValue`, packs.cpp) is
  random within +-`schedule_splay_percent`; here it is 0 unless asked for,
  so runs fall on exact multiples of the interval and results repeat.
- discovery: a pack runs only while every discovery query returns rows,
  re-checked every `pack_refresh_interval` (3600) seconds
  (`Pack::checkDiscovery`).
- what is logged: `launchQuery` + `Query::addNewResults`
  (`osquery/core/query.cpp`): the first run of a query logs every row as
  "added" with counter 0; later runs log the difference with the previous
  run (rows compared whole, as multisets) with counter + 1, nothing when
  nothing changed; `removed: false` drops the removed rows; a snapshot
  query logs all its rows every run.
- how: `serializeQueryLogItemAsEvents` / `serializeQueryLogItem`: one line
  per added or removed row, `{"name", "hostIdentifier", "calendarTime",
  "unixTime", "epoch", "counter", "numerics", "columns", "action"}` with
  columns sorted by name and every value a string (`logger_numerics`
  false); snapshots as one `{"snapshot": [...], "action": "snapshot", ...}`
  line; the name is `pack<delimiter><pack><delimiter><query>`
  (`getQueryName`, config.cpp); strings escaped as `escapeNonPrintableBytes`
  does (sql.cpp).
"""

from __future__ import annotations

import collections
import dataclasses
import heapq
import random
import sys
import time as _time
from typing import Callable, Iterable, Iterator, TextIO

from .context import json_string
from .convert import cast_variant
from .packs import NO_STARTUP_PRIORITY, Pack, ScheduledQuery, platform_matches

PACK_REFRESH_INTERVAL = 3600  # --pack_refresh_interval


class SimulatedClock:
    """UNIX seconds that only move when told; pass it as the host's clock."""

    def __init__(self, now: int = 0):
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


def escape_nonprintable(text: str) -> str:
    """escapeNonPrintableBytes: control bytes and invalid UTF-8 become \\xHH."""
    if text.isprintable() and text.isascii():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20:
            out.append("\\x%02X" % code)
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append("\\x%02X" % (code - 0xDC00))
        else:
            out.append(ch)
    return "".join(out)


def calendar_time(unix: int) -> str:
    """getAsciiTime: asctime() of the UTC time, trimmed, plus " UTC"."""
    return _time.asctime(_time.gmtime(unix)).strip() + " UTC"


def query_name(pack: str, name: str, delimiter: str = "_") -> str:
    """getQueryName: the `main` pack (the top-level schedule) keeps bare names."""
    return name if pack == "main" else "pack" + delimiter + pack + delimiter + name


Row = dict  # column name -> SQLite value


class ResultLog:
    """osqueryd's filesystem logger result lines (event format) on a stream."""

    def __init__(self, out: TextIO, host_identifier: str, epoch: int = 0):
        self.out = out
        self.host_identifier = host_identifier
        self.epoch = epoch

    def _header(self, name: str, unix: int, counter: int) -> str:
        return ('"name":%s,"hostIdentifier":%s,"calendarTime":%s,"unixTime":%d,"epoch":%d,"counter":%d,'
                '"numerics":false' % (json_string(name), json_string(self.host_identifier),
                                      json_string(calendar_time(unix)), unix, self.epoch, counter))

    @staticmethod
    def _row(row: Row) -> str:
        return "{" + ",".join("%s:%s" % (json_string(k), json_string(escape_nonprintable(cast_variant(row[k]))))
                              for k in sorted(row)) + "}"

    def differential(self, name: str, unix: int, counter: int, added: list[Row], removed: list[Row]) -> None:
        header = self._header(name, unix, counter)
        for action, rows in (("removed", removed), ("added", added)):  # "removed" first, as osquery
            for row in rows:
                self.out.write('{%s,"columns":%s,"action":"%s"}\n' % (header, self._row(row), action))

    def snapshot(self, name: str, unix: int, rows: list[Row]) -> None:
        self.out.write('{"snapshot":[%s],"action":"snapshot",%s}\n'
                       % (",".join(self._row(r) for r in rows), self._header(name, unix, 0)))


def _row_key(row: Row):
    return tuple(sorted(row.items(), key=lambda kv: kv[0]))


@dataclasses.dataclass
class _State:
    """What osqueryd keeps in RocksDB for one scheduled query."""

    previous: collections.Counter | None = None  # None: never run in this epoch
    previous_rows: dict = dataclasses.field(default_factory=dict)  # key -> a row, for "removed"
    counter: int = 0


@dataclasses.dataclass
class Scheduled:
    query: ScheduledQuery
    name: str  # the logged name
    splayed_interval: int
    pack: Pack


class Scheduler:
    """Runs packs against a host in simulated time and writes result lines.

    `run_sql(sql)` returns the first statement's `Result` (columns, rows) and
    raises on an SQL error; `clock` is the host's clock, set before each run.
    """

    def __init__(self, packs: Iterable[Pack], run_sql: Callable, clock: SimulatedClock, log: ResultLog,
                 *, delimiter: str = "_", splay_percent: int = 0, seed: int | None = None,
                 errors: TextIO = sys.stderr, host_platform: str = "darwin"):
        self.run_sql = run_sql
        self.clock = clock
        self.log = log
        self.errors = errors
        self.failures = 0
        self.runs = 0
        self._discovery: dict[str, tuple[int, bool]] = {}
        self._state: dict[str, _State] = collections.defaultdict(_State)
        self._last_run: dict[str, int] = {}
        rng = random.Random(seed)
        self.scheduled: list[Scheduled] = []
        for pack in packs:
            for warning in pack.skipped:
                self._error("pack %s: %s" % (pack.name, warning))
            if not platform_matches(pack.platform, host_platform):
                continue
            for q in pack.queries:
                if "platform" in q.raw and isinstance(q.raw["platform"], str) \
                        and not platform_matches(q.raw["platform"], host_platform):
                    continue
                self.scheduled.append(Scheduled(q, query_name(pack.name, q.name, delimiter),
                                                _splay(q.interval, splay_percent, rng), pack))

    def _error(self, message: str) -> None:
        self.errors.write("osq-esf pack: %s\n" % message)

    # -- when --------------------------------------------------------------------------

    def ticks(self, start: int) -> Iterator[tuple[int, list[Scheduled]]]:
        """(time, queries due then, in osqueryd's order) from `start` on, forever."""
        order = {id(s): i for i, s in enumerate(self.scheduled)}
        heap = []
        for s in self.scheduled:
            first = -(-start // s.splayed_interval) * s.splayed_interval
            if s.query.startup_priority != NO_STARTUP_PRIORITY:
                first = start  # first loop; later runs stay on the multiples
            heapq.heappush(heap, (first, order[id(s)]))
        while heap:
            now = heap[0][0]
            due = []
            while heap and heap[0][0] == now:
                _, index = heapq.heappop(heap)
                s = self.scheduled[index]
                due.append(s)
                following = (now // s.splayed_interval + 1) * s.splayed_interval
                heapq.heappush(heap, (following, index))
            yield now, sorted(due, key=lambda s: order[id(s)])

    # -- what ----------------------------------------------------------------------------

    def _pack_active(self, pack: Pack, now: int) -> bool:
        cached = self._discovery.get(pack.name)
        if cached is not None and now - cached[0] < PACK_REFRESH_INTERVAL:
            return cached[1]
        active = True
        for sql in pack.discovery:
            try:
                if not self.run_sql(sql).rows:
                    active = False
                    break
            except Exception as exc:  # noqa: BLE001 - osquery logs and treats the pack as inactive
                self._error("Discovery query failed (%s): %s" % (sql, exc))
                active = False
                break
        self._discovery[pack.name] = (now, active)
        return active

    def run_due(self, now: int, due: list[Scheduled]) -> None:
        self.clock.now = now
        for s in due:
            if not self._pack_active(s.pack, now):
                continue
            self._launch(s, now)

    def run_all(self, now: int) -> None:
        """Every query once more at `now` (the recording's end), except those just run at `now`."""
        self.run_due(now, [s for s in self.scheduled if self._last_run.get(s.name) != now])

    def _launch(self, s: Scheduled, now: int) -> None:
        self._last_run[s.name] = now
        self.runs += 1
        try:
            result = self.run_sql(s.query.query)
        except Exception as exc:  # noqa: BLE001 - osqueryd logs the error and goes on
            self.failures += 1
            self._error("Error executing scheduled query %s: %s" % (s.name, exc))
            return
        rows = [dict(zip(result.columns, values)) for values in result.rows]
        if s.query.snapshot:
            self.log.snapshot(s.name, now, rows)
            return
        state = self._state[s.name]
        current = collections.Counter(_row_key(r) for r in rows)
        if state.previous is None:  # a new epoch: everything is "added", counter 0
            added, removed, state.counter = rows, [], 0
        else:
            remaining = state.previous.copy()
            added = []
            for row in rows:
                key = _row_key(row)
                if remaining[key] > 0:
                    remaining[key] -= 1
                else:
                    added.append(row)
            removed = [state.previous_rows[key] for key in sorted(remaining.elements(), key=repr)]
            if not added and not removed:
                return
            state.counter += 1
        state.previous = current
        state.previous_rows = {_row_key(r): r for r in rows}
        if not s.query.removed:
            removed = []
        self.log.differential(s.name, now, state.counter, added, removed)


def _splay(interval: int, percent: int, rng: random.Random) -> int:
    """splayValue: uniform in interval +- percent, at least 1; 0 % keeps the interval."""
    if percent <= 0 or percent > 100:
        return interval
    difference = int(interval * percent / 100)
    low, high = max(1, interval - difference), interval + difference
    return high if low == high else rng.randint(low, high)


def run_schedule(scheduler: Scheduler, start: int, advance: Callable[[int], int | None]) -> int:
    """Drive `scheduler` from `start` while `advance(t)` (which feeds events up
    to time t) has not reported the recording's end before t; then run every
    query once more at that end. `advance` returns None while events remain,
    else the end time. Returns the end time."""
    end = None
    for now, due in scheduler.ticks(start):
        end = advance(now)
        if end is not None and now > end:
            break
        scheduler.run_due(now, due)
    if end is None:
        end = advance(2**62)
    scheduler.run_all(end)
    return end
