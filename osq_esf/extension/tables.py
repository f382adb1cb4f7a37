"""The tables osquery sees: every one answers ``generate(plan)`` with its encoded rows.

One small protocol (:class:`Table`): a name, osquery's routes, and ``generate(plan)``
returning ``(row count, iterable of encoded row chunks)``, where ``plan`` is the request's
constraint context parsed once by the server (:mod:`osq_esf.extension.constraints`).

* :class:`EventTable` serves one ring of the pipeline (storage stays in
  :mod:`osq_esf.rings`; encoding is here, so the ingest core never imports this layer);
* :class:`StatusTable` serves a small list computed on demand (sources, health, mutes...);
* :class:`ProcessesTable` serves the lineage stage's process table (es_processes).
"""

from __future__ import annotations

import json
from operator import attrgetter, itemgetter
from typing import Callable, Iterable, Protocol

from osq_esf.extension import encode
from osq_esf.extension.constraints import Plan, pid_predicate
from osq_esf.extension.encode import ColumnEncoder, encode_dict_rows, map_headers, process_blob, string
from osq_esf.layout import ACTOR_COLUMNS, RowLayout
from osq_esf.rings import NULL_INT, EventRing
from osq_esf.schema import SpecError, TableSpec

# Integer columns whose values rarely repeat: caching their encodings would only churn.
_UNIQUE_INTS = {"eid", "time_nsec", "seq_num", "global_seq_num", "mach_time"}
# Rows per encoded chunk of a generate reply: big enough that the gaps between chunks on the
# socket (~0.1 ms each, measured) stay few, small enough that encoding one (~1 ms with the
# compiled encoder, holding the GIL) never keeps a ping waiting long.
CHUNK_ROWS = 4096
_ENCODED, _FIRST, _SECOND = attrgetter("encoded"), itemgetter(0), itemgetter(1)
_ACTOR_SET = frozenset(ACTOR_COLUMNS)
_UNSET = object()
# Column sets (colsUsed) whose blobs an Actor keeps for narrow queries; more distinct sets
# than this start its small cache again (scheduled queries repeat a handful of sets).
NARROW_SETS = 4


class Table(Protocol):
    name: str

    def routes(self) -> list[dict[str, str]]: ...
    def generate(self, plan: Plan) -> tuple[int, Iterable[bytes]]: ...


class SpecTable:
    """What the extension server needs of any table: its name and osquery routes, from the spec."""

    spec: TableSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def routes(self) -> list[dict[str, str]]:
        return self.spec.routes()


class EventTable(SpecTable):
    """One event table: its layout, the pipeline's ring for it, and the column encoders."""

    def __init__(self, layout: RowLayout, ring: EventRing):
        spec = self.spec = layout.spec
        if ring.int_names != layout.int_names or ring.obj_names != layout.obj_names:
            raise SpecError(f"{spec.name}: the ring's columns are not the layout's")
        self.layout = layout
        self.ring = ring
        self.int_names, self.obj_names = layout.int_names, layout.obj_names
        numeric = {c.name: c.numeric for c in spec.columns}
        self._enc = {n: ColumnEncoder(n, numeric[n]) for n in spec.column_names}
        self._proc_keys = tuple(string(n.encode()) for n in ACTOR_COLUMNS)
        self._proc_numeric = tuple(numeric[n] for n in ACTOR_COLUMNS)
        # The compiled encoder's column descriptors, in the Python path's order: integer
        # columns are numeric (NULL sent as ""), object columns text (NULL left out).
        rowenc = encode.rowenc
        if rowenc is not None and all(numeric[n] for n in ("eid", "time", *self.int_names)) \
                and not any(numeric[n] for n in self.obj_names):
            self._rowenc = rowenc
            self._c_columns = tuple((n, self._enc[n].key, rowenc.KIND_INT) for n in ("eid", "time", *self.int_names)) \
                + tuple((n, self._enc[n].key, rowenc.KIND_TEXT) for n in self.obj_names)
        else:
            self._rowenc = None

    def generate(self, plan: Plan):
        """(count, iterator of encoded row chunks): the rows are encoded while being sent.

        Only the snapshot is taken under the lock.  Chunks of CHUNK_ROWS keep each
        C-level join short, so other threads (a ping) get the GIL between them, and
        the reply never exists whole in memory.
        """
        if plan.empty:
            return 0, iter(())
        with self.ring.lock:
            lo, hi = self.ring.bounds(plan.time_lo, plan.time_hi, plan.eid_lo, plan.eid_hi)
            snap = self.ring.snapshot(lo, hi)
        ctxs, eids, times, cols = snap.ctx, snap.eid, snap.time, snap.cols
        pid_ok = pid_predicate(plan)
        if pid_ok is not None:
            keep = [i for i, a in enumerate(ctxs) if pid_ok(a.pid)]
            if len(keep) != len(ctxs):
                ctxs = [ctxs[i] for i in keep]
                eids = [eids[i] for i in keep]
                times = [times[i] for i in keep]
                cols = [[col[i] for i in keep] for col in cols]
        n = len(ctxs)
        if n == 0:
            return 0, iter(())
        out = plan.out if self._rowenc is not None else None
        return n, self._chunks(n, ctxs, eids, times, cols, plan.cols_used, out)

    def _chunks(self, n, ctxs, eids, times, cols, used, out):
        """The encoded chunks; with ``out`` (a bytearray, compiled encoder only) each is a view of
        it, released before the next chunk is written into the same memory.  The process blobs
        are looked up once for all the rows (per distinct actor), not per chunk."""
        procs = self._process_encodings(ctxs, used)
        for a in range(0, n, CHUNK_ROWS):
            b = a + CHUNK_ROWS
            args = (ctxs[a:b], eids[a:b], times[a:b], [c[a:b] for c in cols], used,
                    procs[a:b] if procs is not None else None)
            if out is None:
                yield self._encode_rows(*args)
            else:
                length = self._encode_rows(*args, out=out)  # before any view: the buffer may grow
                with memoryview(out) as whole, whole[:length] as view:
                    yield view

    def encode(self, snap, plan: Plan) -> tuple[int, bytes]:
        """Encode a whole snapshot (``plan`` supplies cols_used; ranges were applied by the snapshot)."""
        if snap.n == 0:
            return 0, b""
        return snap.n, self._encode_rows(snap.ctx, snap.eid, snap.time, snap.cols, plan.cols_used)

    def _process_encodings(self, ctxs, used=None) -> list[tuple[int, bytes]] | None:
        """Each row's process and lineage columns as (pair count, encoded pairs), made once per
        actor: all of them, or only those in ``used`` (a query's colsUsed); None when it uses none."""
        if used is not None and not _ACTOR_SET <= used:
            return self._narrow_encodings(ctxs, used)
        encs = list(map(_ENCODED, ctxs))
        if None in encs:  # first time this process is sent: encode its columns once
            for c in {id(c): c for c, e in zip(ctxs, encs) if e is None}.values():
                c.encoded = process_blob(c.values, self._proc_keys, self._proc_numeric)
            encs = list(map(_ENCODED, ctxs))
        return encs

    def _narrow_encodings(self, ctxs, used) -> list[tuple[int, bytes]] | None:
        """Blobs of only the actor columns a narrow query uses, cached per actor and column set.

        A row's actor is one of a few hundred, so the work is per distinct actor: one
        C-level pass dedupes them, another maps every row to its actor's blob.
        """
        sig = tuple(i for i, n in enumerate(ACTOR_COLUMNS) if n in used)
        if not sig:
            return None
        keys, numeric = self._proc_keys, self._proc_numeric
        blobs = {}
        for a in dict.fromkeys(ctxs):
            cache = a.narrow
            enc = cache.get(sig) if cache is not None else None
            if enc is None:
                values = a.values
                enc = process_blob([values[i] for i in sig], [keys[i] for i in sig], [numeric[i] for i in sig])
                if cache is None or len(cache) >= NARROW_SETS:
                    cache = a.narrow = {}
                cache[sig] = enc
            blobs[a] = enc
        return list(map(blobs.__getitem__, ctxs))

    def _encode_rows(self, ctxs, eids, times, cols, used, procs=_UNSET, out: bytearray | None = None):
        """Rows as thrift maps, byte for byte what TBinaryProtocol writes for the same dicts.

        With the compiled encoder, one C call writes the chunk.  Otherwise every column
        becomes one or two streams of pieces made by C-level maps; the rows are then one
        join over the streams zipped together.
        """
        if procs is _UNSET:
            procs = self._process_encodings(ctxs, used)
        if self._rowenc is not None:
            data = (eids, times, *cols)
            columns = [(key, kind, data[j]) for j, (name, key, kind) in enumerate(self._c_columns)
                       if used is None or name in used]
            if out is not None:  # written into the caller's buffer: the length comes back
                return self._rowenc.encode_rows(len(ctxs), procs, columns, out)
            return self._rowenc.encode_rows(len(ctxs), procs, columns)
        want = (lambda name: True) if used is None else (lambda name: name in used)
        streams = []
        fixed = 0
        counts = None
        encs = procs
        if encs is not None:
            counts = list(map(_FIRST, encs))
            streams.append(list(map(_SECOND, encs)))
        if want("eid"):
            streams += self._enc["eid"].unique_int_streams(eids, NULL_INT)
            fixed += 1
        if want("time"):
            streams.append(self._enc["time"].int_pieces(times))
            fixed += 1
        for name, col in zip(self.int_names, cols):
            if want(name):
                enc = self._enc[name]
                if name in _UNIQUE_INTS:
                    streams += enc.unique_int_streams(col, NULL_INT)
                else:
                    streams.append(enc.int_pieces(col))
                fixed += 1
        nulls = []  # per text column with some NULLs: the rows that leave it out
        for name, col in zip(self.obj_names, cols[len(self.int_names):]):
            if want(name):
                enc = self._enc[name]
                if enc.nullable_text and None in col:
                    if col.count(None) == len(col):
                        continue  # NULL in every row: no stream, no entry
                    nulls.append([i for i, v in enumerate(col) if v is None])
                streams.append(enc.pieces(col))
                fixed += 1
        n = len(ctxs)
        if counts is None:
            counts = [fixed] * n
        else:
            counts = list(map(fixed.__add__, counts))
        for rows in nulls:
            for i in rows:
                counts[i] -= 1
        # Interleave by extended-slice assignment (C speed), then one join over a list.
        k = len(streams) + 1
        out = [b""] * (n * k)
        out[0::k] = map_headers(counts)
        for j, stream in enumerate(streams, 1):
            out[j::k] = stream
        return b"".join(out)


class StatusTable(SpecTable):
    """A small table computed on demand from the extension's own state."""

    def __init__(self, spec: TableSpec, rows: Callable[[], list[dict]]):
        self.spec = spec
        self._rows = rows
        if spec.kind != "status":
            raise SpecError(f"{spec.name}: StatusTable needs kind = 'status'")

    def generate(self, plan: Plan):
        if plan.empty:
            return 0, ()
        names = self.spec.column_names
        rows = [{k: r.get(k) for k in names} for r in self._rows()]
        return len(rows), (encode_dict_rows(rows),)


class ProcessesTable(StatusTable):
    """es_processes: the live and recently ended processes of the lineage stage's table."""

    def __init__(self, spec: TableSpec, lineage, lock):
        super().__init__(spec, lambda: [])
        self.lineage = lineage
        self.lock = lock

    def generate(self, plan: Plan):
        if plan.empty or self.lineage is None:
            return 0, ()
        from osq_esf.lineage import ancestry_text

        used = plan.cols_used
        chain = used is None or "ancestry" in used or "ancestry_json" in used
        names = self.spec.column_names
        with self.lock:  # the lineage stage mutates the table under the pipeline's lock
            rows = [self._row(r, chain) for r in list(self.lineage.records.values())
                    if plan.pids is None or r.pid in plan.pids]
        if chain:  # formatting the chains is the costly part: outside the lock
            for r in rows:
                steps = r["ancestry_json"]
                r["ancestry"] = ancestry_text(steps)
                r["ancestry_json"] = json.dumps(steps, separators=(",", ":"))
        rows = [{k: r.get(k) for k in names} for r in rows]
        return len(rows), (encode_dict_rows(rows),)

    def _row(self, rec, chain: bool) -> dict:
        """The row of a record; with ``chain``, its ancestry steps (formatted by generate)."""
        lin = self.lineage
        c = rec.ctx
        rppid, rp_pv, rp_path, reason, job, parent_path, responsible_path = lin.resolution(rec)
        row = {
            "pid": rec.pid, "pidversion": rec.pidversion, "path": c.path, "signing_id": c.signing_id,
            "team_id": c.team_id, "platform_binary": c.platform_binary, "uid": c.uid, "euid": c.euid,
            "start_time": c.start_time, "first_seen": rec.first_seen, "created_by": rec.created_by,
            "state": rec.state, "end_time": rec.end_time, "exit_code": rec.exit_code,
            "caller_path": rec.caller_path, "parent": c.ppid, "parent_pidversion": c.parent_pidversion,
            "parent_path": parent_path, "original_parent": c.original_ppid,
            "responsible_pid": c.responsible_pid, "responsible_pidversion": c.responsible_pidversion,
            "responsible_path": responsible_path,
            "rppid": rppid, "rp_pidversion": rp_pv, "rp_path": rp_path, "rp_reason": reason,
            "launchd_job": job,
        }
        if chain:
            row["ancestry_json"] = lin.ancestry(rec)
        return row
