"""Core tables the host implements itself: `time` and `osquery_extensions`.

Schemas follow osquery's specs (`specs/utility/time.table`,
`specs/utility/osquery_extensions.table`, macOS build: no `win_timestamp`)
and rows follow `tables/utility/time.cpp` and `genOsqueryExtensions`.
"""

from __future__ import annotations

import time as _time
from typing import Callable

from .routes import ColumnOptions, TableAttributes
from .vtable import TableError

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _column(name: str, ctype: str, options: int = ColumnOptions.DEFAULT) -> dict[str, str]:
    return {"id": "column", "name": name, "type": ctype, "op": str(options)}


class CoreTable:
    """A `TableSource` answered in-process (no thrift, no xUpdate)."""

    is_extension = False

    def __init__(self, name: str, routes: list[dict[str, str]], rows: Callable[[], list[dict[str, str]]]):
        self.name = name
        self.routes = routes
        self.rows = rows

    def columns(self) -> list[dict[str, str]]:
        return [dict(route) for route in self.routes]

    def generate(self, request: dict[str, str]) -> list[dict[str, str]]:
        return self.rows()

    def write(self, request: dict[str, str]) -> list[dict[str, str]]:
        raise TableError("table %s may not be modified" % self.name)


TIME_ROUTES = [
    _column("weekday", "TEXT"),
    _column("year", "INTEGER"),
    _column("month", "INTEGER"),
    _column("day", "INTEGER"),
    _column("hour", "INTEGER"),
    _column("minutes", "INTEGER"),
    _column("seconds", "INTEGER"),
    _column("timezone", "TEXT"),
    _column("local_timezone", "TEXT"),
    _column("unix_time", "INTEGER"),
    _column("timestamp", "TEXT"),
    _column("datetime", "TEXT"),
    _column("iso_8601", "TEXT"),
    {"id": "columnAlias", "name": "date_time", "target": "datetime"},
    {"id": "attributes", "attributes": str(TableAttributes.UTILITY)},
]


def time_row(now: float | None = None) -> dict[str, str]:
    """genTime: the current time in UTC, one row."""
    unix = int(_time.time() if now is None else now)
    gmt = _time.gmtime(unix)
    local_timezone = _time.strftime("%Z", _time.localtime(unix))
    if len(local_timezone) >= 8:
        local_timezone = ""  # strftime into char[8] fails: osquery logs, uses ""
    iso_8601 = _time.strftime("%Y-%m-%dT%H:%M:%SZ", gmt)
    return {
        "weekday": _WEEKDAYS[gmt.tm_wday],
        "year": str(gmt.tm_year),
        "month": str(gmt.tm_mon),
        "day": str(gmt.tm_mday),
        "hour": str(gmt.tm_hour),
        "minutes": str(gmt.tm_min),
        "seconds": str(gmt.tm_sec),
        "timezone": "UTC",
        "local_timezone": local_timezone or "UTC",
        "unix_time": str(unix),
        # toAsciiTime: asctime() trimmed, plus " UTC".
        "timestamp": _time.asctime(gmt).strip() + " UTC",
        "datetime": iso_8601,
        "iso_8601": iso_8601,
    }


def time_table(clock: Callable[[], float] | None = None) -> CoreTable:
    """The `time` table; `clock` (UNIX seconds) replaces the system clock, e.g. a recording's."""
    return CoreTable("time", TIME_ROUTES, lambda: [time_row(clock() if clock else None)])


EXTENSIONS_ROUTES = [
    _column("uuid", "BIGINT"),
    _column("name", "TEXT"),
    _column("version", "TEXT", ColumnOptions.COLLATEVERSION),
    _column("sdk_version", "TEXT", ColumnOptions.COLLATEVERSION),
    _column("path", "TEXT"),
    _column("type", "TEXT"),
    {"id": "attributes", "attributes": str(TableAttributes.UTILITY)},
]


def extensions_table(rows: Callable[[], list[dict[str, str]]]) -> CoreTable:
    return CoreTable("osquery_extensions", EXTENSIONS_ROUTES, rows)
