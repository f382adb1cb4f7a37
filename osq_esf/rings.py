"""Bounded per-table ring buffers, stored by column, inside one global byte budget.

A ring holds, per buffered event, one reference to the row's interned
:class:`~osq_esf.process.Actor` plus the table's own columns: 64-bit integers in
``array('q')`` (8 bytes, no int objects) and everything else in lists of interned values.
The oldest event is evicted first, by count, by the table's byte budget, and by the
global :class:`Budget` all rings of a pipeline share.  An evicted row lets go of its
strings at once (its slots are cleared), so a byte budget bounds memory, not only a count.

Because ``eid`` only grows and ``time`` almost only grows, ranges on either are found by
bisection: for ``time`` the ring keeps a running maximum and the largest disorder seen
("skew"), which makes the bounds exact supersets even when several clients interleave
slightly out of order.
"""

from __future__ import annotations

import itertools
import sys
import threading
from array import array
from collections import Counter

NULL_INT = -(2**63)  # stands for SQL NULL in integer columns
MIN_SLOTS = 64  # a ring's slot arrays never shrink below this

# One counter for every ring of the process, so eid is unique across tables.
_EIDS = itertools.count(1)
_getsizeof = sys.getsizeof


def _interned(col):
    """The column with each string replaced by its interned copy (None and others kept).

    sys.intern keeps a string only while something refers to it, so evicted paths go too.
    """
    try:
        return list(map(sys.intern, col))
    except TypeError:  # a None (NULL) among them
        return [sys.intern(v) if type(v) is str else v for v in col]


class Snapshot:
    """A consistent copy of a ring's rows [lo, hi) taken under the lock."""

    __slots__ = ("ctx", "cols", "eid", "time", "n")

    def __init__(self, ctx, cols, eid, time):
        self.ctx, self.cols, self.eid, self.time = ctx, cols, eid, time
        self.n = len(ctx)


class Budget:
    """The byte budget every ring of one pipeline shares (``[rings] max_bytes``).

    Each ring accounts its rows' estimated bytes (:meth:`EventRing.row_size`).  When the
    sum passes ``limit``, the ring fullest relative to its own cap gives back its oldest
    rows first: a flood of one table evicts that table before it touches a quiet one.
    ``limit`` 0 means no global bound.
    """

    def __init__(self, limit: int = 0):
        self.limit = limit
        self.rings: list[EventRing] = []
        self.evictions = 0  # rows evicted because of the global limit
        # The rings' bytes added up as they change (each ring reports its deltas): enforce() runs
        # on every batch, and summing a hundred rings each time cost ~2 us per event in small batches.
        self.used = 0

    def enforce(self) -> None:
        """Evict until the rings fit the limit (caller holds the rings' lock)."""
        if not self.limit:
            return
        used = self.used
        while used > self.limit:
            candidates = [r for r in self.rings if r._count > 1]  # a ring's newest row always stays
            if not candidates:
                return
            ring = max(candidates, key=lambda r: r._bytes / (r.max_bytes or self.limit))
            before = ring._bytes
            # Give back the excess, or an eighth of the ring, whichever is smaller (at least one row),
            # then look again: the fullest ring may have changed.
            ring.evict_bytes(max(before - (used - self.limit), before - max(before // 8, 1)))
            self.evictions += ring._evicted_last
            used -= before - ring._bytes


class EventRing:
    """Ring buffer for one table.  ``int_cols`` live in arrays, ``obj_cols`` in lists."""

    def __init__(self, int_cols, obj_cols, capacity: int, max_bytes: int = 0, lock=None, intern=(),
                 budget: Budget | None = None):
        """``intern`` names the object columns whose strings repeat (paths): the batched path
        stores one shared copy of each instead of one per row.  ``max_bytes`` bounds the
        table's bytes (0: only the count and the global ``budget`` do)."""
        if capacity < 1:
            raise ValueError("ring capacity must be >= 1")
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.lock = lock or threading.Lock()
        self.int_names = tuple(int_cols)
        self.obj_names = tuple(obj_cols)
        self._eid = array("q")
        self._time = array("q")
        self._tmax = array("q")
        self._ctx: list = []
        self._ints = [array("q") for _ in self.int_names]
        self._objs: list[list] = [[] for _ in self.obj_names]
        self._sizes = array("q")
        self._intern = tuple(name in intern for name in self.obj_names)
        # eid, time, running max, actor reference, size, then one 8-byte slot per column
        self._slot_bytes = 8 * (5 + len(self.int_names) + len(self.obj_names))
        self._start = 0  # physical index of the oldest row
        self._count = 0
        self._bytes = 0
        self._last_tmax = NULL_INT
        self._evicted_last = 0
        self.skew = 0
        self.received = 0
        self.evicted = 0
        # Evictions per (event_type, client), for es_health's conservation identity; only for
        # rings whose first two object columns are those (every event table's are).
        self.evicted_by: dict[tuple, int] = {}
        self._attribute = self.obj_names[:2] == ("event_type", "client")
        self.budget = budget
        if budget is not None:
            budget.rings.append(self)

    def __len__(self) -> int:
        return self._count

    @property
    def buffered_bytes(self) -> int:
        return self._bytes

    def row_size(self, objs, actor=None) -> int:
        """Estimated bytes of one row: its slots plus what its strings hold (``sys.getsizeof``,
        so wide characters count as wide).  An upper bound: interned text shared between rows
        is counted for each of them.  The first row to store an actor also pays for it and, the
        first time, for its process context (:meth:`osq_esf.process.Actor.charge`): a storm of
        short-lived processes would otherwise hold several times the budget in contexts."""
        size = self._slot_bytes
        for o in objs:
            if o.__class__ is str:
                size += _getsizeof(o)
        try:
            unpaid = actor.unpaid
        except AttributeError:  # no actor (rows written by tests and tools)
            return size
        return size + actor.charge() if unpaid else size

    # -- writing -------------------------------------------------------------------------

    def append(self, time: int, ctx, ints, objs, size: int | None = None) -> int:
        """Add one event (caller holds ``lock``); returns its eid.

        ``ints`` and ``objs`` follow ``int_cols``/``obj_cols``; None in ``ints`` is NULL.
        """
        eid = next(_EIDS)
        tmax = time if time > self._last_tmax else self._last_tmax
        if self._last_tmax - time > self.skew:
            self.skew = self._last_tmax - time
        self._last_tmax = tmax
        self.received += 1
        if size is None:
            size = self.row_size(objs, ctx)
        if self._count == self.capacity:
            self._evict(1)
        self._room(1)
        pos = (self._start + self._count) % len(self._ctx)
        self._eid[pos] = eid
        self._time[pos] = time
        self._tmax[pos] = tmax
        self._ctx[pos] = ctx
        for col, v in zip(self._ints, ints):
            col[pos] = NULL_INT if v is None else v
        for col, v in zip(self._objs, objs):
            col[pos] = v
        self._sizes[pos] = size
        self._count += 1
        self._bytes += size
        if self.budget is not None:
            self.budget.used += size
        self._trim()
        return eid

    def extend(self, rows) -> list[int]:
        """Add a batch of ``(time, ctx, ints, objs)`` rows (caller holds ``lock``).

        The same result as ``append`` per row, but each column is written with one
        C-level ``extend`` or slice assignment per batch instead of a Python loop per
        row: this is most of the ingest budget.  Rows get consecutive eids.  Returns
        the indices of rows refused because an integer does not fit 64 bits; every
        column is converted before anything is written, so a refusal never leaves the
        columns uneven.
        """
        if len(rows) < 4:
            return self._append_each(rows)
        times, ctxs, int_rows, obj_rows = zip(*rows)
        try:
            times = array("q", times)
            int_cols = [array("q", [NULL_INT if v is None else v for v in col] if None in col else col)
                        for col in zip(*int_rows)] if self._ints else []
        except (OverflowError, TypeError):
            return self._append_each(rows)
        k = len(rows)
        sizes = array("q", map(self.row_size, obj_rows, ctxs))
        eids = array("q", itertools.islice(_EIDS, k))
        tmaxs = array("q", itertools.accumulate(times, max, initial=self._last_tmax))[1:]
        if tmaxs != times:  # some row is older than one before it: track the largest disorder
            skew = max(m - t for m, t in zip(tmaxs, times))
            if skew > self.skew:
                self.skew = skew
        self._last_tmax = tmaxs[-1]
        self.received += k
        obj_cols = list(zip(*obj_rows)) if self._objs else []
        for i, share in enumerate(self._intern):
            if share:
                obj_cols[i] = _interned(obj_cols[i])
        cap = self.capacity
        if k > cap:  # more rows than the ring holds: the first ones would be evicted at once
            skip = k - cap
            self.evicted += skip
            if self._attribute:
                self._count_evicted(obj_cols[0], obj_cols[1], 0, skip)
            eids, times, tmaxs, sizes = eids[skip:], times[skip:], tmaxs[skip:], sizes[skip:]
            ctxs = ctxs[skip:]
            int_cols = [c[skip:] for c in int_cols]
            obj_cols = [c[skip:] for c in obj_cols]
            k = cap
        # Make room for the batch by count, then write it in the free slots after the newest row.
        if self._count + k > cap:
            self._evict(self._count + k - cap)
        self._room(k)
        columns = [(self._eid, eids), (self._time, times), (self._tmax, tmaxs), (self._ctx, ctxs),
                   (self._sizes, sizes)]
        columns += zip(self._ints, int_cols)
        columns += zip(self._objs, obj_cols)
        plen = len(self._ctx)
        done = 0
        while done < k:  # the free slots follow the last row, in at most two contiguous pieces
            pos = (self._start + self._count + done) % plen
            m = min(k - done, plen - pos)
            for col, vals in columns:
                col[pos:pos + m] = vals[done:done + m]
            done += m
        self._count += k
        added = sum(sizes)
        self._bytes += added
        if self.budget is not None:
            self.budget.used += added
        self._trim()
        return []

    def _append_each(self, rows) -> list[int]:
        refused = []
        for i, (time, ctx, ints, objs) in enumerate(rows):
            try:
                array("q", [time] + [NULL_INT if v is None else v for v in ints])
            except (OverflowError, TypeError):
                refused.append(i)
                continue
            self.append(time, ctx, ints, objs)
        return refused

    # -- slots ---------------------------------------------------------------------------

    def _columns(self) -> list:
        return [self._eid, self._time, self._tmax, self._ctx, self._sizes, *self._ints, *self._objs]

    def _room(self, k: int) -> None:
        """Make sure ``k`` more rows have free slots (the caller made room by count).

        The slots grow with the rows kept, not with the rows ever written: a ring held down
        by a byte budget reuses the slots its evicted rows left instead of growing to its
        capacity, so the slot arrays stay near what the budget accounts.
        """
        plen = len(self._ctx)
        need = self._count + k
        if need > plen:
            self._resize(min(self.capacity, max(need, plen + (plen >> 2), MIN_SLOTS)))

    def _resize(self, size: int) -> None:
        """Give the ring ``size`` slots (at least its rows), the rows moved to the front in order."""
        plen, s, n = len(self._ctx), self._start, self._count
        for col in self._columns():
            if n and s:
                col[:] = col[s:] + col[:s]  # oldest row first (the free slots end up after the newest)
            if size > plen:
                if isinstance(col, list):
                    col.extend([None] * (size - plen))
                else:
                    col.frombytes(bytes(8 * (size - plen)))
            elif size < plen:
                del col[size:]
        self._start = 0

    def _shrink(self) -> None:
        """Hand back slots when the rows kept fill less than a quarter of them (a table whose share
        of the global budget went to others must not keep a flood's worth of slots)."""
        plen = len(self._ctx)
        if plen > MIN_SLOTS and self._count < plen >> 2:
            self._resize(max(MIN_SLOTS, self._count + (self._count >> 1)))

    # -- eviction ------------------------------------------------------------------------

    def _trim(self) -> None:
        """Evict the oldest rows while the table is over its own byte budget (never the newest)."""
        if self.max_bytes and self._bytes > self.max_bytes and self._count > 1:
            self.evict_bytes(self.max_bytes)

    def evict_bytes(self, target: int) -> None:
        """Evict the oldest rows until the ring holds at most ``target`` bytes (at least one row
        is evicted when it is over; the newest row always stays)."""
        self._evicted_last = 0
        if self._bytes <= target or self._count <= 1:
            return
        plen = len(self._ctx)
        excess = self._bytes - target
        n, freed, i = 0, 0, self._start
        while freed < excess and n < self._count - 1:
            freed += self._sizes[i]
            n += 1
            i = i + 1 if i + 1 < plen else 0
        self._evict(n)
        self._evicted_last = n
        self._shrink()

    def _evict(self, n: int) -> None:
        """Drop the ``n`` oldest rows: count them, attribute them, and clear their slots so the
        strings and actors they held can be freed."""
        if n <= 0:
            return
        plen = len(self._ctx)
        s = self._start
        for lo, hi in ((s, min(s + n, plen)), (0, max(0, s + n - plen))):
            if hi <= lo:
                continue
            if self._attribute:
                self._count_evicted(self._objs[0], self._objs[1], lo, hi)
            freed = sum(self._sizes[lo:hi])
            self._bytes -= freed
            if self.budget is not None:
                self.budget.used -= freed
            blank = [None] * (hi - lo)
            self._ctx[lo:hi] = blank
            for col in self._objs:
                col[lo:hi] = blank
        self._count -= n
        self.evicted += n
        self._start = (s + n) % plen if self._count else 0

    def _count_evicted(self, types, clients, lo: int, hi: int) -> None:
        """Attribute the evicted rows [lo, hi) of the given columns (one C-level count per batch)."""
        by = self.evicted_by
        for key, n in Counter(zip(types[lo:hi], clients[lo:hi])).items():
            by[key] = by.get(key, 0) + n

    # -- reading ---------------------------------------------------------------------

    def _phys(self, i: int) -> int:
        return (self._start + i) % len(self._ctx)

    def _first(self, arr, pred_lt) -> int:
        """Smallest logical i with not pred_lt(arr[i]) (arr is monotone over logical order)."""
        lo, hi = 0, self._count
        while lo < hi:
            mid = (lo + hi) // 2
            if pred_lt(arr[self._phys(mid)]):
                lo = mid + 1
            else:
                hi = mid
        return lo

    def bounds(self, time_lo=None, time_hi=None, eid_lo=None, eid_hi=None) -> tuple[int, int]:
        """Logical [lo, hi) holding every row with time/eid inside the given inclusive bounds."""
        lo, hi = 0, self._count
        if eid_lo is not None:
            lo = max(lo, self._first(self._eid, lambda v: v < eid_lo))
        if eid_hi is not None:
            hi = min(hi, self._first(self._eid, lambda v: v <= eid_hi))
        if time_lo is not None:
            lo = max(lo, self._first(self._tmax, lambda v: v < time_lo))
        if time_hi is not None:
            # Rows past the first whose running max exceeds time_hi + skew are all later.
            limit = time_hi + self.skew
            hi = min(hi, self._first(self._tmax, lambda v: v <= limit))
        return lo, max(lo, hi)

    def snapshot(self, lo: int = 0, hi: int | None = None) -> Snapshot:
        """Copy logical rows [lo, hi) (caller holds ``lock``)."""
        hi = self._count if hi is None else hi
        if hi <= lo:
            return Snapshot([], [[] for _ in self.int_names + self.obj_names], array("q"), array("q"))
        a, b = self._phys(lo), self._phys(hi - 1) + 1

        def cut(col):
            if a < b:
                return col[a:b]
            return col[a:] + col[:b]

        cols = [cut(c) for c in self._ints] + [cut(c) for c in self._objs]
        return Snapshot(cut(self._ctx), cols, cut(self._eid), cut(self._time))
