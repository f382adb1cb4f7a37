"""Event kinds: each ES event type this build types, joined from its one declaration.

A kind is a table spec that names an eslogger event (``event = "rename"`` in
``tables/es_rename.toml``) plus Apple's facts about that event type (its number and the
macOS release that introduced it, from :mod:`osq_esf.events`).  Everything that needs
to know about event types asks a :class:`Kinds`: the decoder (one body Struct per kind),
the pipeline (number -> table, extractor, ring capacity), the rules (target-path column,
which tables a rule covers), the sources (numbers and names to subscribe) and the docs.
Event numbers no kind declares land in ``es_other_events``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from osq_esf import events
from osq_esf.bodies import body_struct, events_struct
from osq_esf.decode import Codec
from osq_esf.extract import HAND_WRITTEN
from osq_esf.layout import RowLayout
from osq_esf.schema import Enum, SpecError, TableSpec, load_enums, load_specs

OTHER_TABLE = "es_other_events"


@dataclass(frozen=True)
class EventKind:
    """One typed ES event kind (see the module docstring)."""

    type: events.EventType
    spec: TableSpec
    layout: RowLayout

    @property
    def short(self) -> str:
        return self.type.short

    @property
    def number(self) -> int:
        return self.type.number

    @property
    def macos(self) -> str:
        return self.type.macos

    @property
    def table(self) -> str:
        return self.spec.name

    @property
    def capacity(self) -> int:
        return self.spec.capacity

    @property
    def target(self) -> tuple[str, ...]:
        """The columns target-path mutes test (empty when the event has no target path)."""
        return self.spec.target


class Kinds:
    """Every declared kind, by eslogger name, by number and by table, plus their decoder."""

    def __init__(self, specs: dict[str, TableSpec], enums: dict[str, Enum]):
        self.specs = specs
        self.enums = enums
        self.by_short: dict[str, EventKind] = {}
        for spec in specs.values():
            if spec.kind != "event" or not spec.event:
                continue
            t = events.BY_SHORT.get(spec.event)
            if t is None or t.action != "NOTIFY":
                raise SpecError(f"{spec.name}: {spec.event!r} is not the eslogger name of an ES NOTIFY event")
            if spec.name != f"es_{spec.event}":
                raise SpecError(f"{spec.name}: the table of event {spec.event!r} is named es_{spec.event}")
            self.by_short[spec.event] = EventKind(t, spec, RowLayout(spec))
        self.by_number = {k.number: k for k in self.by_short.values()}
        self.by_table = {k.table: k for k in self.by_short.values()}
        if OTHER_TABLE not in specs:
            raise SpecError(f"{OTHER_TABLE}.toml is missing: unknown event numbers need it")
        self.other_layout = RowLayout(specs[OTHER_TABLE])
        # The Struct each kind's body decodes into: its hand-written one, or one built from its sources.
        self.bodies: dict[str, type] = {}
        for k in self:
            hw = HAND_WRITTEN.get(k.spec.extractor) if k.spec.extractor else None
            self.bodies[k.short] = hw.body if hw is not None else body_struct(k.spec)
        self._codec: Codec | None = None

    def __iter__(self):
        return iter(self.by_short.values())

    def __len__(self) -> int:
        return len(self.by_short)

    def layouts(self) -> dict[str, RowLayout]:
        """Every event table's layout, es_other_events included."""
        out = {k.table: k.layout for k in self}
        out[OTHER_TABLE] = self.other_layout
        return out

    @property
    def codec(self) -> Codec:
        """The line decoder, with one body Struct per kind (built on first use)."""
        if self._codec is None:
            self._codec = Codec(events_struct(self.bodies))
        return self._codec

    def introduced(self) -> dict[str, str]:
        """eslogger name -> the macOS release that introduced it, for the docs."""
        return {k.short: k.macos for k in self}


def load_kinds(specs: dict[str, TableSpec] | None = None) -> Kinds:
    return Kinds(specs if specs is not None else load_specs(), load_enums())


@cache
def default_kinds() -> Kinds:
    """The kinds of the installed table specs (built once per process)."""
    return load_kinds()
