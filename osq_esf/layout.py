"""Row layout: where every column of an event table's row lives, resolved once per table.

A row travels the pipeline and sits in its ring as ``(time, actor, ints, objs)``:

* ``time`` (UNIX seconds) and the ring's own ``eid``;
* ``actor`` (:class:`osq_esf.process.Actor`): one reference standing for the process
  group (:data:`osq_esf.process.PROCESS_COLUMNS`) and the lineage group
  (:data:`LINEAGE_COLUMNS`) of columns;
* ``ints``: the message's integer columns (:data:`MESSAGE_INTS`) then the table's own
  numeric columns in declaration order;
* ``objs``: the message's text columns (:data:`MESSAGE_OBJS`) then the table's own text
  columns in declaration order.

The table's spec is the only declaration: :class:`RowLayout` derives the order from it
and refuses a spec whose group columns are not the ones the pipeline fills, and
extractors are built (or checked) against the same layout (:mod:`osq_esf.extract`).
"""

from __future__ import annotations


from osq_esf.process import PROCESS_COLUMNS
from osq_esf.schema import SpecError, TableSpec

# Written by the pipeline for every event, in this order.
MESSAGE_INTS = ("time_nsec", "version", "seq_num", "global_seq_num", "mach_time", "thread_id")
MESSAGE_OBJS = ("event_type", "client")
# Written by the lineage stage (osq_esf.lineage), in this order; NULL when it is off.
LINEAGE_COLUMNS = ("rppid", "rp_pidversion", "rp_path", "rp_reason", "launchd_job", "parent_path",
                   "responsible_path")
LINEAGE_NULLS = (None,) * len(LINEAGE_COLUMNS)
ACTOR_COLUMNS = PROCESS_COLUMNS + LINEAGE_COLUMNS
# Groups every event table includes, in this order (tables/_groups.toml).
EVENT_GROUPS = ("message", "process", "lineage")
RING_COLUMNS = ("time", "eid")


class RowLayout:
    """The resolved layout of one event table (see the module docstring)."""

    def __init__(self, spec: TableSpec):
        self.spec = spec
        own = [c for c in spec.own_columns]
        self.own_ints = tuple(c.name for c in own if c.numeric)
        self.own_objs = tuple(c.name for c in own if not c.numeric)
        self.int_names = MESSAGE_INTS + self.own_ints
        self.obj_names = MESSAGE_OBJS + self.own_objs
        grouped = {c.name for c in spec.columns if c.group}
        expected = {*RING_COLUMNS, *ACTOR_COLUMNS, *MESSAGE_INTS, *MESSAGE_OBJS}
        if grouped != expected:
            raise SpecError(f"{spec.name}: an event table includes exactly the groups {', '.join(EVENT_GROUPS)} "
                            f"(missing: {sorted(expected - grouped)}, unexpected: {sorted(grouped - expected)})")
        self._where: dict[str, tuple[str, int]] = {}
        for i, n in enumerate(ACTOR_COLUMNS):
            self._where[n] = ("actor", i)
        for i, n in enumerate(self.int_names):
            self._where[n] = ("int", i)
        for i, n in enumerate(self.obj_names):
            self._where[n] = ("obj", i)
        self._where["time"] = ("time", 0)

    @property
    def name(self) -> str:
        return self.spec.name

    def where(self, column: str) -> tuple[str, int]:
        """("actor" | "int" | "obj" | "time", index) of a column; KeyError for eid or unknown names."""
        return self._where[column]

    def obj_index(self, column: str) -> int:
        kind, i = self._where[column]
        if kind != "obj":
            raise SpecError(f"{self.name}: {column} is not a text column of the event")
        return i

    def check_row(self, ints: tuple, objs: tuple) -> None:
        """Refuse a row whose shape or value types disagree with the layout (the contract tests)."""
        if len(ints) != len(self.int_names) or len(objs) != len(self.obj_names):
            raise SpecError(f"{self.name}: a row has {len(ints)} integer and {len(objs)} text values; the layout "
                            f"has {len(self.int_names)} and {len(self.obj_names)}")
        for n, v in zip(self.int_names, ints):
            if v is not None and type(v) not in (int, bool):
                raise SpecError(f"{self.name}: column {n} is numeric, the row holds {type(v).__name__} {v!r}")
        for n, v in zip(self.obj_names, objs):
            if v is not None and type(v) is not str:
                raise SpecError(f"{self.name}: column {n} is text, the row holds {type(v).__name__} {v!r}")
