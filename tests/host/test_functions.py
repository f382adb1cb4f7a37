"""osquery's SQL additions in the embedded host, against osquery's own documented examples and tests."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from osq_esf.host import functions
from osq_esf.host.errors import QueryError


def one(host, sql):
    try:
        return host.query(sql).rows[0]
    except Exception as exc:  # apsw errors -> the message, like the runner's QueryError
        raise QueryError(str(exc)) from None


def test_string_functions_match_osquery_docs(host):
    # docs/wiki/introduction/sql.md and osquery/sql/tests/sql.cpp
    assert one(host, "SELECT split('/foo/bar', '/', 0), split('/foo/bar', '/', 1), split('/foo/bar', '/', 2)") \
        == ("foo", "bar", None)
    assert one(host, "SELECT split('500', 1, 0), split('1001', 1, 0)") == ("500", "00")
    assert one(host, "SELECT regex_split('1001', '[1-5]', 1), regex_split('a,b', ',', 5)") == ("00", None)
    assert one(host, r"SELECT regex_match('hello world. Goodbye', '(\w+) \w+', 0),"
                     r" regex_match('hello world. Goodbye', '(\w+) \w+', 1)") == ("hello world", "hello")
    assert one(host, "SELECT regex_match('hello world', '', 0), regex_match('foo/bar', 'x', 0)") == ("", None)
    assert one(host, "SELECT concat('hello', NULL, ' ', 'world'), concat_ws(' ', 'hello', NULL, 'world')") \
        == ("hello world", "hello world")
    # concatFunc appends the separator after every non-NULL argument but the last one.
    assert one(host, "SELECT concat_ws('-', 'a', NULL), concat_ws(NULL, 'a', 'b')") == ("a-", "ab")
    assert one(host, "SELECT inet_aton('1.0.1.5'), inet_aton('::1'), inet_aton('nope')") == (16777477, None, None)
    assert one(host, "SELECT parent_directory('/usr/bin/ls'), parent_directory('ls')") == ("/usr/bin", None)


def test_hashing_and_encoding(host):
    assert one(host, "SELECT md5('abc'), sha1('abc'), sha256('abc')") == tuple(
        hashlib.new(n, b"abc").hexdigest() for n in ("md5", "sha1", "sha256"))
    assert one(host, "SELECT to_base64('CPU0'), from_base64('Q1BVMA=='), from_base64('%%%')") == ("Q1BVMA==", "CPU0", "")
    assert one(host, "SELECT conditional_to_base64('CPU0'), conditional_to_base64('CPU0' || char(183))") \
        == ("CPU0", "Q1BVMMK3")
    assert one(host, "SELECT community_id_v1('66.35.250.204', '128.232.110.120', 80, 34855, 6),"
                     " community_id_v1('66.35.250.204', '2001:0:3238:DFE1:63::FEFB', 80, 2347, 6, 37),"
                     " community_id_v1('nope', '1.2.3.4', 1, 2, 6)") \
        == ("1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:jmJ2ORP31di4mtsQPIKzyoEb3yo=", None)
    with pytest.raises(QueryError, match="saddr cannot be parsed"):
        one(host, "SELECT community_id_v1_strict('nope', '1.2.3.4', 1, 2, 6)")


def test_math_follows_osquery_not_sqlite(host):
    # osquery's log() is the natural logarithm; SQLite's own is base 10.
    log_e, ceil, cot = one(host, "SELECT log(exp(1)), ceil(1.2), cot(1)")
    assert log_e == pytest.approx(1.0) and ceil == 2.0 and isinstance(ceil, float)
    assert cot == pytest.approx(0.6420926159343306)
    assert one(host, "SELECT sqrt(-1), power(2, 10), pi() > 3.14") == (None, 1024.0, 1)


def test_network_and_version(host):
    assert one(host, "SELECT in_cidr_block('10.0.0.0/8', '10.1.2.3'), in_cidr_block('10.0.0.0/8', '11.0.0.1'),"
                     " in_cidr_block('2001:db8::/32', '2001:db8::1')") == (1, 0, 1)
    with pytest.raises(QueryError, match="CIDR for IP address v4 cannot be parsed"):
        one(host, "SELECT in_cidr_block('10.0.0.1', '10.0.0.1')")
    assert one(host, "SELECT version_compare('1.0', '1.0'), version_compare('1.0', '1.1'), "
                     "version_compare('1.10', '1.9'), version_compare('1:1.0', '2.0', 'DPKG')") == (0, -1, 1, 1)
    assert one(host, "SELECT count(*) FROM (SELECT '1.10' AS v UNION SELECT '1.9') WHERE v > '1.9' COLLATE VERSION") \
        == (1,)


def test_regexp_operator_is_absent_as_in_osquery(host):
    with pytest.raises(QueryError, match="no such function: REGEXP"):
        one(host, "SELECT 'a' REGEXP 'a'")


def test_regexes_are_re2_bounded_and_refuse_what_re2_cannot_do(host):
    assert type(functions._compile("a+")).__module__.startswith("re2")
    with pytest.raises(QueryError, match="Invalid regex"):
        one(host, r"SELECT regex_match('aa', '(a)\1', 0)")
    with pytest.raises(QueryError, match="too big"):
        one(host, "SELECT regex_match('x', '%s', 0)" % ("a" * 256))
    with pytest.raises(QueryError, match="Invalid regex"):
        one(host, "SELECT regex_split('x', '%s', 0)" % ("a" * 257))
    # A pattern that backtracks exponentially in a backtracking engine is linear here.
    assert one(host, "SELECT regex_match('%s', '(a+)+$', 0)" % ("a" * 40 + "b")) == (None,)


@given(st.text(alphabet="ab/ \t", max_size=30), st.sampled_from(["/", "/ ", "ab"]))
def test_token_split_drops_empty_parts_and_trims(text, tokens):
    parts = functions._token_split(text, tokens)
    assert all(p == p.strip() for p in parts)
    assert "".join(parts).replace(" ", "").replace("\t", "") == \
        "".join(ch for ch in text if ch not in tokens and ch not in " \t")


def test_clock_drives_time_table_and_sqlite_now(make_host):
    now = [1700000000.0]
    host = make_host(clock=lambda: now[0])
    assert one(host, "SELECT unix_time FROM time") == (1700000000,)
    now[0] += 90
    assert one(host, "SELECT (SELECT unix_time FROM time), CAST(strftime('%s', 'now') AS INTEGER), unixepoch()") \
        == (1700000090,) * 3
