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


def macos_tuple(version: str) -> tuple[int, ...]:
    """``"10.15.4"`` -> (10, 15, 4), for comparing with the running macOS."""
    return tuple(int(x) for x in version.split(".") if x.isdigit())


# The ES message version each macOS release writes, from the release on.  1-8 and the rule that a
# type's oldest message version is its release's (10.15.1 -> 1, 12.0 -> 4) follow Santa's
# Source/common/TestUtils.mm (MaxSupportedESMessageVersionForCurrentOS, MinSupportedESMessageVersion);
# 9 is our reading for macOS 15.4, the release of TCC_MODIFY (eslogger v9 captures come from macOS
# 15); 10 is macOS 26 and 11 the macOS 27 beta (eslogger captures).  Version 3 only shipped in a beta.
MESSAGE_VERSIONS: tuple[tuple[tuple[int, ...], int], ...] = (
    ((10, 15, 0), 1), ((10, 15, 4), 2), ((11, 0), 4), ((12, 3), 5), ((13, 0), 6), ((14, 0), 7),
    ((15, 0), 8), ((15, 4), 9), ((26, 0), 10), ((27, 0), 11),
)


def message_version_of(macos: str) -> int:
    """The message version a macOS release writes (``"12.0"`` -> 4, ``"13.0.0"`` -> 6)."""
    release = macos_tuple(macos)
    return max(v for since, v in MESSAGE_VERSIONS if since <= release)


def first_message_version(short: str) -> int | None:
    """The oldest message version that can carry an event type: its macOS release's version."""
    t = BY_SHORT.get(short)
    return message_version_of(t.macos) if t else None
