"""Tables: a spec plus where its rows come from, answering osquery's generate.

EventTable serves a ring; StatusTable serves a small list computed on demand (sources,
health, mutes...).  Both answer with the encoded ``list<map<string,string>>`` body and
its row count, which the extension server wraps into the thrift reply.
"""

from __future__ import annotations

from itertools import chain
from typing import Callable

from osq_esf.extension.constraints import Plan, plan_from_context
from osq_esf.extension.encode import ColumnEncoder, encode_dict_rows, map_header, process_blob, string
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


class EventTable:
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
        self.ring = EventRing(self.int_names, self.obj_names, capacity, max_bytes, lock)
        numeric = {c.name: c.numeric for c in spec.columns}
        self._enc = {n: ColumnEncoder(n, numeric[n]) for n in spec.column_names}
        self._proc_keys = tuple(string(n.encode()) for n in PROCESS_COLUMNS)
        self._proc_numeric = tuple(numeric[n] for n in PROCESS_COLUMNS)

    @property
    def name(self) -> str:
        return self.spec.name

    def routes(self) -> list[dict[str, str]]:
        return self.spec.routes()

    def generate(self, context) -> tuple[int, bytes]:
        """Rows for a generate request: (count, encoded maps)."""
        plan = plan_from_context(context)
        if plan.empty:
            return 0, b""
        with self.ring.lock:
            lo, hi = self.ring.bounds(plan.time_lo, plan.time_hi, plan.eid_lo, plan.eid_hi)
            snap = self.ring.snapshot(lo, hi)
        return self.encode(snap, plan)

    def encode(self, snap, plan: Plan) -> tuple[int, bytes]:
        ctxs, eids, times, cols = snap.ctx, snap.eid, snap.time, snap.cols
        if plan.pids is not None:
            keep = [i for i, c in enumerate(ctxs) if c.pid in plan.pids]
            if len(keep) != len(ctxs):
                ctxs = [ctxs[i] for i in keep]
                eids = [eids[i] for i in keep]
                times = [times[i] for i in keep]
                cols = [[col[i] for i in keep] for col in cols]
        n = len(ctxs)
        if n == 0:
            return 0, b""
        used = plan.cols_used
        want = (lambda name: True) if used is None else (lambda name: name in used)
        streams = []
        counts = [0] * n
        if used is None or not used.isdisjoint(PROCESS_COLUMNS):
            blobs = []
            for i, c in enumerate(ctxs):
                enc = c.encoded
                if enc is None:
                    enc = c.encoded = process_blob(c, self._proc_keys, self._proc_numeric)
                counts[i] = enc[0]
                blobs.append(enc[1])
            streams.append(blobs)
        fixed = 0
        if want("eid"):
            streams.append(self._enc["eid"].unique_int_pieces(eids, NULL_INT))
            fixed += 1
        if want("time"):
            streams.append(self._enc["time"].pieces(times))
            fixed += 1
        for name, col in zip(self.int_names, cols):
            if want(name):
                enc = self._enc[name]
                if name in _UNIQUE_INTS:
                    streams.append(enc.unique_int_pieces(col, NULL_INT))
                else:
                    streams.append(enc.pieces([None if v == NULL_INT else v for v in col]))
                fixed += 1
        for name, col in zip(self.obj_names, cols[len(self.int_names):]):
            if want(name):
                enc = self._enc[name]
                streams.append(enc.pieces(col))
                fixed += 1
                if enc.nullable_text and None in col:
                    for i, v in enumerate(col):
                        if v is None:
                            counts[i] -= 1
        headers = [map_header(fixed + c) for c in counts]
        return n, b"".join(chain.from_iterable(zip(headers, *streams)))


class StatusTable:
    """A small table computed on demand from the extension's own state."""

    def __init__(self, spec: TableSpec, rows: Callable[[], list[dict]]):
        self.spec = spec
        self._rows = rows
        if spec.kind != "status":
            raise SpecError(f"{spec.name}: StatusTable needs kind = 'status'")

    @property
    def name(self) -> str:
        return self.spec.name

    def routes(self) -> list[dict[str, str]]:
        return self.spec.routes()

    def generate(self, context) -> tuple[int, bytes]:
        names = self.spec.column_names
        rows = [{k: r.get(k) for k in names} for r in self._rows()]
        return len(rows), encode_dict_rows(rows)
