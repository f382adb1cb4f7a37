"""ES event types as Apple defines them: number <-> name <-> the macOS that introduced it.

The facts come from `data/es_event_types.csv` (values 0-147, built from HarfangLab/endpoint-sec
`types.rs`).  Numbers above the known range are kept as ``unknown(N)`` rather than rejected:
newer macOS releases add types.  Which table an event fills is declared by the table specs
(:mod:`osq_esf.kinds`), not here.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class EventType:
    number: int
    name: str  # ES_EVENT_TYPE_NOTIFY_OPEN
    action: str  # AUTH | NOTIFY
    macos: str  # release that introduced it
    short: str  # eslogger's name ("open"); "" for AUTH types


def _load() -> dict[int, EventType]:
    text = resources.files("osq_esf").joinpath("data/es_event_types.csv").read_text()
    rows = csv.DictReader(text.splitlines())
    return {
        int(r["value"]): EventType(
            int(r["value"]), r["name"], r["action"], r["introduced_macos"], r["eslogger_short_name"]
        )
        for r in rows
    }


BY_NUMBER: dict[int, EventType] = _load()
BY_SHORT: dict[str, EventType] = {t.short: t for t in BY_NUMBER.values() if t.short}

def short_name(number: int) -> str:
    """eslogger's short name for a type number, or ``unknown(N)``."""
    t = BY_NUMBER.get(number)
    if t is None:
        return f"unknown({number})"
    return t.short or t.name.removeprefix("ES_EVENT_TYPE_").lower()


def number_of(short: str) -> int | None:
    t = BY_SHORT.get(short)
    return t.number if t else None


def macos_version_of(short: str) -> str | None:
    t = BY_SHORT.get(short)
    return t.macos if t else None


def macos_tuple(version: str) -> tuple[int, ...]:
    """``"10.15.4"`` -> (10, 15, 4), for comparing with the running macOS."""
    return tuple(int(x) for x in version.split(".") if x.isdigit())
