"""Context JSON serialization and osquery's value casts, as pure functions."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, strategies as st

from osq_esf.host.context import build_context, json_double, json_string
from osq_esf.host.convert import (
    c_strtoll,
    cast_variant,
    parse_bigint,
    parse_double,
    parse_integer,
    sqlite_text,
)

AFFINITIES = st.sampled_from(["TEXT", "INTEGER", "BIGINT", "UNSIGNED BIGINT", "DOUBLE", "BLOB",
                              "UNKNOWN"])
NAMES = st.text(min_size=1, max_size=12)
OPS = st.sampled_from([2, 4, 8, 16, 32, 64, 65, 66, 67, 68, 69, 72])


@st.composite
def contexts(draw):
    columns = draw(st.lists(st.tuples(NAMES, AFFINITIES), min_size=1, max_size=8,
                            unique_by=lambda c: c[0]))
    names = [n for n, _ in columns]
    constraints = {}
    for name in draw(st.lists(st.sampled_from(names), unique=True)):
        constraints[name] = draw(st.lists(st.tuples(OPS, st.text(max_size=20)), min_size=1,
                                          max_size=4))
    used = draw(st.lists(st.sampled_from(names), unique=True))
    bitset = draw(st.integers(0, 2**64 - 1))
    return columns, constraints, used, bitset


@given(contexts())
def test_context_round_trips(case):
    columns, constraints, used, bitset = case
    text = build_context(columns, constraints, used, bitset)
    doc = json.loads(text)
    assert list(doc) == ["constraints", "colsUsed", "colsUsedBitset"]
    assert [c["name"] for c in doc["constraints"]] == sorted(n for n, _ in columns)
    for entry in doc["constraints"]:
        assert list(entry) == ["name", "list", "affinity"]
        assert entry["affinity"] == dict(columns)[entry["name"]]
        assert [(i["op"], i["expr"]) for i in entry["list"]] == list(
            constraints.get(entry["name"], []))
        assert all(type(i["op"]) is int and list(i) == ["op", "expr"] for i in entry["list"])
    assert doc["colsUsed"] == used and doc["colsUsedBitset"] == bitset


@given(st.text())
def test_json_string_escapes_like_rapidjson(text):
    quoted = json_string(text)
    assert json.loads(quoted) == text
    body = quoted[1:-1]
    assert all(ord(ch) >= 0x20 for ch in body)  # controls escaped
    for ch in text:
        if ord(ch) > 0x7F:
            assert ch in body  # non-ASCII written raw, never \u-escaped


def test_json_string_exact_forms():
    assert json_string('a"b\\c/d') == '"a\\"b\\\\c/d"'
    assert json_string("\b\t\n\f\r\x01\x1f\x7f") == '"\\b\\t\\n\\f\\r\\u0001\\u001F\x7f"'
    assert json_string("é✓") == '"é✓"'


def test_write_context_has_no_cols_used():
    assert build_context((), {}) == '{"constraints":[]}'


@pytest.mark.parametrize("value, text", [
    (1.0, "1.0"), (0.5, "0.5"), (-2.25, "-2.25"), (100.0, "100.0"), (1e20, "100000000000000000000.0"),
    (1e21, "1e21"), (1.5e-7, "1.5e-7"), (1e-6, "0.000001"), (123456.789, "123456.789"),
    (0.0, "0.0"), (-0.0, "-0.0"), (1.2345e30, "1.2345e30"),
])
def test_json_double_matches_rapidjson(value, text):
    assert json_double(value) == text


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_json_double_round_trips(value):
    assert float(json_double(value)) == value


@pytest.mark.parametrize("text, expected", [
    ("42", 42), ("-42", -42), ("+7", 7), ("  12", 12), ("12abc", 12), ("0x1f", 31), ("0X1F", 31),
    ("017", 15), ("08", 0), ("0x", 0), ("-0x10", -16), ("", None), ("abc", None), ("-", None),
    (" ", None), ("9223372036854775807", 2**63 - 1), ("9223372036854775808", None),
    ("-9223372036854775808", -(2**63)), ("1.9", 1), ("١٢", None),
])
def test_bigint_cells_follow_stoll_base_zero(text, expected):
    assert parse_bigint(text) == expected


@given(st.integers(-(2**63), 2**63 - 1))
def test_bigint_round_trips_decimal_and_hex(n):
    assert parse_bigint(str(n)) == n
    assert parse_bigint(("-" if n < 0 else "") + hex(abs(n))) == n


@pytest.mark.parametrize("text, expected", [
    ("5", 5), ("2147483647", 2147483647), ("2147483648", -2147483648), ("4294967297", 1),
    ("8589934593", 1), ("-4294967295", 1),
    ("-1", -1), ("", None), ("x", None),
])
def test_integer_cells_are_truncated_to_32_bits(text, expected):
    assert parse_integer(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("1.5", 1.5), (" 2.5", 2.5), ("-3", -3.0), (".5", 0.5), ("5.", 5.0), ("1e3", 1000.0),
    ("0x1p3", 8.0), ("inf", math.inf), ("-Infinity", -math.inf), ("1e999", math.inf),
    ("1.5x", None), ("2.5 ", None), ("", None), ("1e", None), ("1_0", None), ("abc", None),
])
def test_double_cells_need_a_full_strtod_match(text, expected):
    assert parse_double(text) == expected


def test_double_nan_cell():
    assert math.isnan(parse_double("nan"))


def test_strtoll_base_ten_for_rowids():
    assert c_strtoll("41", 10) == 41 and c_strtoll("0x10", 10) == 0 and c_strtoll("z", 10) is None


@pytest.mark.parametrize("value, text", [
    (None, ""), (7, "7"), (2.5, "2.5"), (3.0, "3.0"), (1e20, "1e+20.0"), (0.1, "0.1"),
    (1 / 3, "0.333333333333333"), ("s", "s"),
])
def test_cast_variant(value, text):
    assert cast_variant(value) == text


def test_sqlite_text_uses_sqlite_rendering():
    assert sqlite_text(1.0) == "1.0" and sqlite_text(float("inf")) == "Inf"
    assert sqlite_text(b"ab") == "ab" and sqlite_text(None) is None and sqlite_text(-3) == "-3"
