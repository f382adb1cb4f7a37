"""The contracts between the pipeline and its stages, and what a source may ask of it.

The pipeline (:mod:`osq_esf.pipeline`) takes its stages in its constructor:

* ``sequence`` (:class:`SequenceStage`, normally :class:`osq_esf.health.Health`): seq_num /
  global_seq_num gap accounting, fed only events that were accepted;
* ``lineage`` (:class:`LineageStage`, :class:`osq_esf.lineage.Lineage`): the real parent of
  every row, as an interned :class:`osq_esf.process.Actor`;
* ``rules`` (:class:`RulesStage`, :class:`osq_esf.rules.Rules`): mutes and filters (a
  :class:`Disposition` per event) and redaction; swapped whole on a reload.

Sources see only a :class:`Sink`: they hand over lines and report their lifecycle, and
nothing flows back to them but the mute rules a kernel-muting source mirrors.
"""

from __future__ import annotations

import enum
from typing import Callable, Iterable, Optional, Protocol


class Disposition(enum.IntEnum):
    """What the rules decided for an event."""

    KEEP = 0
    MUTED = 1  # a mute rule (or an inverted dimension that did not select it) removed it
    FILTERED = 2  # a filter removed it


# plan(actor, time, ints, objs) -> Disposition | None (None: keep)
Plan = Callable[[object, int, tuple, tuple], Optional[Disposition]]


class SequenceStage(Protocol):
    def observe_all(self, client: str, msgs: list, short_of: dict) -> None: ...
    def take_warnings(self) -> list[str]: ...


class LineageStage(Protocol):
    # The hit path, for an event that is not fork/exec/exit: the cached Actor of a context, or None.
    cached: Callable

    def observe(self, short: str, msg, ctx) -> object: ...


class RulesStage(Protocol):
    redactor: object  # masks decode-error samples and texts too (osq_esf.rules.redact.Redactor)

    def plan_of(self, layout, short: str) -> Optional[Plan]: ...
    def redaction_of(self, layout) -> Optional[Callable[[tuple], tuple]]: ...


class Sink(Protocol):
    """The narrow face of the pipeline a source gets."""

    def add_source(self, name: str, kind: str, spec: str = "", live: bool = False): ...
    def ingest(self, state, lines: Iterable[bytes]) -> int: ...
    def reject_line(self, state, head: bytes, why: str) -> None: ...
    def declare(self, client: str, shorts: Iterable[str]) -> None: ...
    def restarted(self, client: str) -> None: ...
    def unformatted(self, client: str, short: str, count: int) -> None: ...
    def mute_rules(self) -> tuple[object, list]: ...
    def mark_applied(self, rules_version: object, names: Iterable[str], where: str) -> None: ...
