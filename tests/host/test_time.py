"""osquery's `time` table (specs/utility/time.table, tables/utility/time.cpp)."""

from __future__ import annotations

import calendar
import time

import pytest

from osq_esf.host.core_tables import time_row

COLUMNS = ["weekday", "year", "month", "day", "hour", "minutes", "seconds", "timezone",
           "local_timezone", "unix_time", "timestamp", "datetime", "iso_8601"]


def test_columns_follow_the_macos_spec(host):
    assert host.query("SELECT * FROM time").columns == COLUMNS
    assert host.table_schema("time").endswith("`iso_8601` TEXT, `date_time` TEXT HIDDEN)")


def test_values_describe_now_in_utc(host):
    before = int(time.time())
    (row,) = host.query("SELECT * FROM time").rows
    after = int(time.time())
    values = dict(zip(COLUMNS, row))
    assert before <= values["unix_time"] <= after
    tm = time.gmtime(values["unix_time"])
    assert (values["year"], values["month"], values["day"]) == (tm.tm_year, tm.tm_mon, tm.tm_mday)
    assert (values["hour"], values["minutes"], values["seconds"]) == (tm.tm_hour, tm.tm_min, tm.tm_sec)
    assert values["timezone"] == "UTC"
    assert calendar.timegm(time.strptime(values["iso_8601"], "%Y-%m-%dT%H:%M:%SZ")) == values["unix_time"]
    assert values["datetime"] == values["iso_8601"]


def test_fixed_instant_formats():
    row = time_row(1_000_000_000)  # 2001-09-09T01:46:40Z, a Sunday
    assert row["weekday"] == "Sunday"
    assert row["timestamp"] == "Sun Sep  9 01:46:40 2001 UTC"
    assert row["iso_8601"] == row["datetime"] == "2001-09-09T01:46:40Z"
    assert (row["year"], row["month"], row["day"], row["unix_time"]) == ("2001", "9", "9", "1000000000")


def test_date_time_alias_reads_datetime(host):
    ((alias, real),) = host.query("SELECT date_time, datetime FROM time").rows
    assert alias == real


@pytest.mark.parametrize("tz, expected", [
    ("ABC+3", "ABC"),
    ("LONGZONE+3", "UTC"),  # does not fit osquery's char[8]: strftime fails -> "UTC"
])
def test_local_timezone(monkeypatch, tz, expected):
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert time_row(0)["local_timezone"] == expected
    finally:
        monkeypatch.undo()
        time.tzset()
