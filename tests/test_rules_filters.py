"""Filters through the real decode path: every operator, combinations, keep/drop,
table scope, NULL semantics, and a hypothesis check against direct evaluation."""

from __future__ import annotations

import fnmatch
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rules_events import ingest_each, exec_line, fork_line, hits, open_line, pipeline_with, rows, write_line

NO_DEFAULTS = "[mutes]\ndefaults = false\n"


def filtered(rule: str, lines: list[bytes], extra: str = ""):
    p, src = pipeline_with(NO_DEFAULTS + extra + '[[filters.rule]]\nname = "f"\n' + rule + "\n")
    kept, verdicts = ingest_each(p, src, lines)
    verdicts = [v for _, v in verdicts]
    assert src.decode_errors == 0, src.last_error
    assert kept + len(verdicts) == len(lines)
    assert set(verdicts) <= {"filtered"}
    return p, len(verdicts)


OPERATORS = [
    ('column = "filename"\nequals = "/etc/hosts"', {"file": "/etc/hosts"}, {"file": "/etc/hosts2"}),
    ('column = "filename"\nequals = ["/a", "/etc/hosts"]', {"file": "/etc/hosts"}, {"file": "/b"}),
    ('column = "uid"\nequals = 0', {"uid": 0}, {"uid": 501}),
    ('column = "platform_binary"\nequals = true', {"platform": True}, {"platform": False}),
    ('column = "uid"\nnot_equals = 501', {"uid": 0}, {"uid": 501}),
    ('column = "filename"\nprefix = "/private/tmp/"', {"file": "/private/tmp/x"}, {"file": "/private/tmpx"}),
    ('column = "filename"\nglob = "/Users/*/Library/*.plist"', {"file": "/Users/a/Library/x.plist"},
     {"file": "/Users/a/Library/x.plistx"}),
    ('column = "path"\nregex = "/(curl|wget)$"', {"path": "/usr/bin/curl"}, {"path": "/usr/bin/curlx"}),
    ('column = "fflag"\nlt = 2', {"fflag": 1}, {"fflag": 2}),
    ('column = "fflag"\nle = 2', {"fflag": 2}, {"fflag": 3}),
    ('column = "uid"\ngt = 500', {"uid": 501}, {"uid": 500}),
    ('column = "uid"\nge = 501', {"uid": 501}, {"uid": 500}),
]


@pytest.mark.parametrize("cond, match, other", OPERATORS, ids=[o[0].split("\n")[1].split(" ")[0] for o in OPERATORS])
def test_each_operator_drops_what_it_matches(cond, match, other):
    p, n = filtered(f'action = "drop"\ntables = ["es_open"]\n{cond}', [open_line(**match), open_line(**other)])
    assert n == 1 and hits(p)["f"] == 1
    assert len(rows(p, "es_open")) == 1


def test_time_is_a_column_too():
    p, n = filtered('action = "drop"\ncolumn = "time"\nlt = 1791072001', [open_line(), write_line()])
    assert n == 0  # 2026-10-04T00:00:01Z is 1791072001
    p, n = filtered('action = "drop"\ncolumn = "time"\nle = 1791072001', [open_line(), write_line()])
    assert n == 2


def test_keep_removes_what_does_not_match():
    p, n = filtered('action = "keep"\ntables = ["es_open"]\ncolumn = "filename"\nprefix = "/Users/"',
                    [open_line(file="/Users/a"), open_line(file="/etc/x"), write_line(file="/etc/x")])
    assert n == 1  # es_write is not in the rule's tables
    assert [r["filename"] for r in rows(p, "es_open")] == ["/Users/a"]


def test_all_any_not_combine():
    rule = '''action = "drop"
all = [ { column = "filename", prefix = "/private/" },
        { any = [ { column = "uid", equals = 0 }, { column = "path", glob = "*/curl" } ] },
        { not = { column = "fflag", ge = 2 } } ]'''
    lines = [
        open_line(file="/private/a", uid=0, fflag=1),  # drop
        open_line(file="/private/a", uid=501, path="/usr/bin/curl", fflag=1),  # drop
        open_line(file="/private/a", uid=501, fflag=1),  # any fails
        open_line(file="/private/a", uid=0, fflag=2),  # not fails
        open_line(file="/Users/a", uid=0, fflag=1),  # prefix fails
    ]
    p, n = filtered(rule, lines)
    assert n == 2
    row = next(r for r in p.rules.rows() if r["name"] == "f")
    assert row["match"].startswith("all(filename prefix '/private/'")
    assert row["tables"] == "es_open"  # fflag is only in es_open


def test_default_scope_is_every_table_with_the_columns():
    p, n = filtered('action = "drop"\ncolumn = "filename"\nprefix = "/x"',
                    [open_line(file="/x/1"), write_line(file="/x/2"), fork_line(), exec_line()])
    assert n == 2
    row = next(r for r in p.rules.rows() if r["name"] == "f")
    assert row["tables"] == "es_open,es_write"


def test_null_matches_no_operator_like_sql():
    # team_id is NULL for the exec image; neither equals nor not_equals matches it.
    p, n = filtered('action = "drop"\ntables = ["es_exec"]\ncolumn = "team_id"\nnot_equals = "X"',
                    [exec_line(target_team_id=None), exec_line(target_team_id="Y")])
    assert n == 1 and [r["team_id"] for r in rows(p, "es_exec")] == [None]


def test_first_removing_rule_gets_the_hit_and_mutes_come_first():
    cfg = NO_DEFAULTS + '''[[mutes.rule]]
name = "m"
uid = 0
[[filters.rule]]
name = "a"
action = "drop"
column = "uid"
le = 501
[[filters.rule]]
name = "b"
action = "drop"
column = "uid"
le = 1000
'''
    p, src = pipeline_with(cfg)
    _, verdicts = ingest_each(p, src, [open_line(uid=0), open_line(uid=501), open_line(uid=900), open_line(uid=2000)])
    assert [v for _, v in verdicts] == ["muted", "filtered", "filtered"]
    assert (hits(p)["m"], hits(p)["a"], hits(p)["b"]) == (1, 1, 1)


def test_filters_apply_to_es_other_events_columns():
    from tests.rules_events import close_line

    p, n = filtered('action = "drop"\ntables = ["es_other_events"]\ncolumn = "event_type"\nequals = "close"',
                    [close_line(), open_line()])
    assert n == 1 and len(rows(p, "es_other_events")) == 0


# -- hypothesis: compiled leaves and trees agree with direct evaluation ----------------

TEXT = st.sampled_from(["/Users/a/x.plist", "/private/tmp/y", "/etc/hosts", "/Users/b/z.txt"])
LEAVES = st.one_of(
    st.tuples(st.just("filename"), st.sampled_from(["equals", "not_equals", "prefix", "glob", "regex"]),
              st.sampled_from(["/Users/", "/etc/hosts", "/Users/*.plist", "^/private/.*y$", "x"])),
    st.tuples(st.sampled_from(["uid", "fflag"]), st.sampled_from(["equals", "not_equals", "lt", "le", "gt", "ge"]),
              st.integers(0, 600)),
)
TREES = st.recursive(LEAVES, lambda kids: st.one_of(
    st.tuples(st.sampled_from(["all", "any"]), st.lists(kids, min_size=1, max_size=3)),
    st.tuples(st.just("not"), kids)), max_leaves=6)


def to_toml(node) -> str:
    if node[0] in ("all", "any"):
        return "{ " + node[0] + " = [" + ", ".join(to_toml(n) for n in node[1]) + "] }"
    if node[0] == "not":
        return "{ not = " + to_toml(node[1]) + " }"
    col, op, v = node
    return "{ column = " + json.dumps(col) + ", " + op + " = " + json.dumps(v) + " }"


def evaluate(node, ev) -> bool:
    if node[0] in ("all", "any"):
        return (all if node[0] == "all" else any)(evaluate(n, ev) for n in node[1])
    if node[0] == "not":
        return not evaluate(node[1], ev)
    col, op, v = node
    x = ev[col]
    return {"equals": lambda: x == v, "not_equals": lambda: x != v, "prefix": lambda: x.startswith(v),
            "glob": lambda: fnmatch.fnmatchcase(x, v), "regex": lambda: re.search(v, x) is not None,
            "lt": lambda: x < v, "le": lambda: x <= v, "gt": lambda: x > v, "ge": lambda: x >= v}[op]()


@settings(max_examples=80, deadline=None)
@given(tree=TREES, keep=st.booleans(),
       evs=st.lists(st.tuples(TEXT, st.integers(0, 600), st.integers(0, 600)), min_size=1, max_size=8))
def test_compiled_filters_agree_with_direct_evaluation(tree, keep, evs):
    rule = f'[[filters.rule]]\nname = "h"\ntables = ["es_open"]\naction = "{"keep" if keep else "drop"}"\n' \
           f"all = [{to_toml(tree)}]\n"
    p, src = pipeline_with(NO_DEFAULTS + rule)
    for file, uid, fflag in evs:
        match = evaluate(tree, {"filename": file, "uid": uid, "fflag": fflag})
        kept = p.ingest(src, [open_line(file=file, uid=uid, fflag=fflag)])
        assert kept == (1 if match == keep else 0)


@pytest.mark.parametrize("order", [("by-file", "by-process"), ("by-process", "by-file")])
def test_config_order_decides_the_hit_between_process_and_event_filters(order):
    # A filter on process columns is decided once per process, one on the event's own
    # columns per event; the first in config order still gets the hit.
    rules = {"by-file": 'column = "filename"\nprefix = "/tmp/"', "by-process": 'column = "path"\nprefix = "/usr/local/"'}
    cfg = NO_DEFAULTS + "".join(f'[[filters.rule]]\nname = "{n}"\naction = "drop"\ntables = ["es_open"]\n{rules[n]}\n'
                                for n in order)
    p, src = pipeline_with(cfg)
    assert p.ingest(src, [open_line(file="/tmp/x"), open_line(file="/tmp/y"), open_line(file="/Users/z")]) == 0
    h = hits(p)
    assert (h["by-file"], h["by-process"]) == ((2, 1) if order[0] == "by-file" else (0, 3))
