"""Tables: a spec plus where its rows come from, answering osquery's generate.

EventTable serves a ring; StatusTable serves a small list computed on demand (sources,
health, mutes...).  Both answer with the encoded ``list<map<string,string>>`` body and
its row count, which the extension server wraps into the thrift reply.
"""

from __future__ import annotations

from operator import attrgetter, itemgetter
from typing import Callable

from osq_esf.extension.constraints import Plan, pid_predicate, plan_from_context
from osq_esf.extension import encode
from osq_esf.extension.encode import ColumnEncoder, encode_dict_rows, map_headers, process_blob, string
from osq_esf.process import PROCESS_COLUMNS
from osq_esf.rings import NULL_INT, EventRing
from osq_esf.schema import SpecError, TableSpec

# Message-level columns every event table stores besides time and eid.
MESSAGE_INTS = ("time_nsec", "version", "seq_num", "global_seq_num", "mach_time", "thread_id")
MESSAGE_OBJS = ("event_type", "client")
# Real-parent columns (groups "lineage" and "lineage_parent") appended by the pipeline's lineage
# stage after the extractor's own, in this order (osq_esf/lineage.py); NULL when the stage is off.
# parent_path comes last so es_iokit_open, whose parent_path is the IORegistry one, can leave it out.
LINEAGE_INTS = ("rppid", "rp_pidversion")
LINEAGE_OBJS = ("rp_path", "rp_reason", "launchd_job", "parent_path")
LINEAGE_GROUPS = ("lineage", "lineage_parent")
LINEAGE_NULLS = ((None,) * len(LINEAGE_INTS), (None,) * len(LINEAGE_OBJS))
# Integer columns whose values rarely repeat: caching their encodings would only churn.
_UNIQUE_INTS = {"eid", "time_nsec", "seq_num", "global_seq_num", "mach_time"}
# Rows per encoded chunk of a generate reply: big enough for C-level speed, small enough
# that a chunk's join (about a millisecond) never keeps a ping waiting.
CHUNK_ROWS = 2048
_ENCODED, _FIRST, _SECOND = attrgetter("encoded"), itemgetter(0), itemgetter(1)


class SpecTable:
    """What the extension server needs of any table: its name and osquery routes, from the spec."""

    spec: TableSpec

    @property
    def name(self) -> str:
        return self.spec.name

    def routes(self) -> list[dict[str, str]]:
        return self.spec.routes()


class EventTable(SpecTable):
    """One event table: its spec, its ring and the column encoders."""

    def __init__(self, spec: TableSpec, ints: tuple[str, ...], objs: tuple[str, ...], capacity: int,
                 max_bytes: int = 0, lock=None):
        self.spec = spec
        # Lineage columns the spec includes follow the extractor's; the pipeline appends all of
        # them, and the ring ignores trailing values a table does not declare.
        lineage = {c.name for c in spec.columns if c.group in LINEAGE_GROUPS}
        lin_ints = LINEAGE_INTS if lineage else ()
        lin_objs = LINEAGE_OBJS[:len(lineage) - len(lin_ints)]
        if lineage != {*lin_ints, *lin_objs}:
            raise SpecError(f"{spec.name}: lineage columns must be {LINEAGE_INTS + LINEAGE_OBJS} or all but the last")
        self.int_names = MESSAGE_INTS + tuple(ints) + lin_ints
        self.obj_names = MESSAGE_OBJS + tuple(objs) + lin_objs
        declared = set(spec.column_names)
        provided = {"time", "eid", *PROCESS_COLUMNS, *self.int_names, *self.obj_names}
        if declared != provided:
            raise SpecError(
                f"{spec.name}: spec and code disagree; only in spec: {sorted(declared - provided)}, "
                f"only in code: {sorted(provided - declared)}"
            )
        # The extractor's own text columns (paths, command lines) repeat: the ring shares them.
        self.ring = EventRing(self.int_names, self.obj_names, capacity, max_bytes, lock, intern=objs)
        numeric = {c.name: c.numeric for c in spec.columns}
        self._enc = {n: ColumnEncoder(n, numeric[n]) for n in spec.column_names}
        self._proc_keys = tuple(string(n.encode()) for n in PROCESS_COLUMNS)
        self._proc_numeric = tuple(numeric[n] for n in PROCESS_COLUMNS)
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

    def generate(self, context) -> tuple[int, bytes]:
        """Rows for a generate request: (count, encoded maps)."""
        n, chunks = self.generate_chunks(context)
        return n, b"".join(chunks)

    def generate_chunks(self, context):
        """(count, iterator of encoded row chunks): the rows are encoded while being sent.

        Only the snapshot is taken under the lock.  Chunks of CHUNK_ROWS keep each
        C-level join short, so other threads (a ping) get the GIL between them, and
        the reply never exists whole in memory.
        """
        plan = plan_from_context(context)
        if plan.empty:
            return 0, iter(())
        with self.ring.lock:
            lo, hi = self.ring.bounds(plan.time_lo, plan.time_hi, plan.eid_lo, plan.eid_hi)
            snap = self.ring.snapshot(lo, hi)
        ctxs, eids, times, cols = snap.ctx, snap.eid, snap.time, snap.cols
        pid_ok = pid_predicate(plan)
        if pid_ok is not None:
            keep = [i for i, c in enumerate(ctxs) if pid_ok(c.pid)]
            if len(keep) != len(ctxs):
                ctxs = [ctxs[i] for i in keep]
                eids = [eids[i] for i in keep]
                times = [times[i] for i in keep]
                cols = [[col[i] for i in keep] for col in cols]
        n = len(ctxs)
        if n == 0:
            return 0, iter(())
        return n, (self._encode_rows(ctxs[a:a + CHUNK_ROWS], eids[a:a + CHUNK_ROWS], times[a:a + CHUNK_ROWS],
                                     [c[a:a + CHUNK_ROWS] for c in cols], plan.cols_used)
                   for a in range(0, n, CHUNK_ROWS))

    def encode(self, snap, plan: Plan) -> tuple[int, bytes]:
        """Encode a whole snapshot (``plan`` supplies cols_used; ranges were applied by the snapshot)."""
        if snap.n == 0:
            return 0, b""
        return snap.n, self._encode_rows(snap.ctx, snap.eid, snap.time, snap.cols, plan.cols_used)

    def _process_encodings(self, ctxs) -> list[tuple[int, bytes]]:
        """Each row's process columns as (pair count, encoded pairs), made once per process."""
        encs = list(map(_ENCODED, ctxs))
        if None in encs:  # first time this process is sent: encode its columns once
            for c in {id(c): c for c, e in zip(ctxs, encs) if e is None}.values():
                c.encoded = process_blob(c, self._proc_keys, self._proc_numeric)
            encs = list(map(_ENCODED, ctxs))
        return encs

    def _encode_rows(self, ctxs, eids, times, cols, used) -> bytes:
        """Rows as thrift maps, byte for byte what TBinaryProtocol writes for the same dicts.

        With the compiled encoder, one C call writes the chunk.  Otherwise every column
        becomes one or two streams of pieces made by C-level maps; the rows are then one
        join over the streams zipped together.
        """
        if self._rowenc is not None:
            procs = None
            if used is None or not used.isdisjoint(PROCESS_COLUMNS):
                procs = self._process_encodings(ctxs)
            data = (eids, times, *cols)
            columns = [(key, kind, data[j]) for j, (name, key, kind) in enumerate(self._c_columns)
                       if used is None or name in used]
            return self._rowenc.encode_rows(len(ctxs), procs, columns)
        want = (lambda name: True) if used is None else (lambda name: name in used)
        streams = []
        fixed = 0
        counts = None
        if used is None or not used.isdisjoint(PROCESS_COLUMNS):
            encs = self._process_encodings(ctxs)
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

    def generate(self, context) -> tuple[int, bytes]:
        names = self.spec.column_names
        rows = [{k: r.get(k) for k in names} for r in self._rows()]
        return len(rows), encode_dict_rows(rows)
