"""Filters: drop or keep events by any column of their table, after acquisition.

A rule is a condition tree over the row's columns plus an action::

    [[filters.rule]]
    name = "tmp-reads"
    tables = ["es_open"]            # optional: default is every event table with the columns
    action = "drop"                 # drop: remove what matches; keep: remove what does not
    all = [ { column = "filename", prefix = "/private/tmp/" },
            { column = "fflag", lt = 2 } ]

A node is ``{all = [...]}``, ``{any = [...]}``, ``{not = {...}}`` or a leaf
``{column = "...", <op> = value}`` with op one of equals, not_equals, prefix, glob,
regex, lt, le, gt, ge.  Like SQL, a NULL column matches no operator.  Rules run in
order; the first rule that removes an event gets the hit.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

from osq_esf.layout import ACTOR_COLUMNS
from osq_esf.process import PROCESS_COLUMNS
from osq_esf.rules import base
from osq_esf.rules.base import RuleError

TEXT_OPS = ("prefix", "glob", "regex")
NUMERIC_OPS = {"lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge}
ANY_OPS = ("equals", "not_equals")
OPS = (*ANY_OPS, *TEXT_OPS, *NUMERIC_OPS)
# eid is assigned when the row enters its ring, after the filters have run.
UNFILTERABLE = frozenset({"eid"})


@dataclass(eq=False)
class FilterRule:
    name: str
    action: str  # drop | keep
    tables: tuple[str, ...]
    node: tuple  # ("all"|"any", [nodes]) | ("not", node) | ("leaf", column, op, value)
    origin: str = "config"
    hits: int = 0

    @property
    def identity(self) -> tuple:
        return (self.name, self.action, self.tables, repr(self.node))

    def describe(self) -> str:
        return render(self.node)


def render(node) -> str:
    kind = node[0]
    if kind == "leaf":
        _, column, op, value = node
        if isinstance(value, tuple):
            value = value[0] if len(value) == 1 else list(value)
        return f"{column} {op} {value!r}"
    if kind == "not":
        return f"not({render(node[1])})"
    return f"{kind}(" + ", ".join(render(n) for n in node[1]) + ")"


def columns_of(node) -> set[str]:
    if node[0] == "leaf":
        return {node[1]}
    if node[0] == "not":
        return columns_of(node[1])
    return set().union(*(columns_of(n) for n in node[1]))


def _parse_node(raw, at: str, types: dict[str, str]) -> tuple:
    """One condition; ``types`` maps every column in scope to 'numeric' or 'text'."""
    if not isinstance(raw, dict):
        raise RuleError(at, "a condition must be a table: {all=[...]}, {any=[...]}, {not={...}} or {column=..., <op>=...}")
    combos = [k for k in ("all", "any", "not") if k in raw]
    if combos:
        if len(raw) != 1:
            raise RuleError(at, f"'{combos[0]}' must be alone in its table (found {', '.join(raw)})")
        k = combos[0]
        if k == "not":
            return ("not", _parse_node(raw[k], f"{at}.not", types))
        items = raw[k]
        if not isinstance(items, list) or not items:
            raise RuleError(f"{at}.{k}", "must be a non-empty list of conditions")
        return (k, [_parse_node(n, f"{at}.{k}[{i}]", types) for i, n in enumerate(items)])
    if "column" not in raw:
        raise RuleError(at, "needs 'column' and one operator, or one of all/any/not")
    column = raw["column"]
    if not isinstance(column, str) or column not in types:
        known = ", ".join(sorted(types))
        raise RuleError(f"{at}.column", f"unknown column {column!r} for this rule's tables (known: {known})")
    ops = [k for k in raw if k != "column"]
    if len(ops) != 1 or ops[0] not in OPS:
        raise RuleError(at, f"needs exactly one operator among {', '.join(OPS)} (found {', '.join(ops) or 'none'})")
    op, value = ops[0], raw[ops[0]]
    where = f"{at}.{op}"
    numeric = types[column] == "numeric"
    if op in TEXT_OPS:
        if numeric:
            raise RuleError(where, f"{op} needs a text column; {column} is numeric")
        if op == "regex":
            base.regex(value, where)
        else:  # prefix and glob take one string or a list (any of them)
            value = base.strings(value, where)
    elif op in NUMERIC_OPS:
        if not numeric:
            raise RuleError(where, f"{op} needs a numeric column; {column} is text")
        value = base.integer(value, where)
    else:
        items = value if isinstance(value, list) else [value]
        if not items:
            raise RuleError(where, "must not be an empty list")
        for v in items:
            if numeric and (not isinstance(v, (int, bool))):
                raise RuleError(where, f"{column} is numeric: give a number (or true/false), not {v!r}")
            if not numeric and not isinstance(v, str):
                raise RuleError(where, f"{column} is text: give a string, not {v!r}")
        value = tuple(int(v) if isinstance(v, bool) else v for v in items)
        if op == "not_equals" and len(value) > 1:
            raise RuleError(where, "takes one value (use not = {column=..., equals=[...]} for a list)")
    return ("leaf", column, op, value)


def parse_filters(raw, taken: set[str], table_columns: dict[str, dict[str, str]]) -> tuple[FilterRule, ...]:
    """``[[filters.rule]]``; ``table_columns`` maps event table -> {column: 'numeric'|'text'}."""
    raw = base.table_of(raw, "filters")
    base.check_keys(raw, {"rule"}, "filters")
    out = []
    for i, r in enumerate(base.list_of_tables(raw.get("rule", []), "filters.rule")):
        at = f"filters.rule[{i}]"
        base.check_keys(r, {"name", "tables", "action", "all", "any", "not", "column", *OPS}, at)
        name = base.name(r.get("name"), f"{at}.name", f"filter-{i + 1}", taken)
        action = r.get("action")
        if action not in ("drop", "keep"):
            raise RuleError(f"{at}.action", "must be \"drop\" or \"keep\"")
        if "tables" in r:
            tables = base.strings(r["tables"], f"{at}.tables")
            bad = [t for t in tables if t not in table_columns]
            if bad:
                raise RuleError(f"{at}.tables", f"not event tables: {', '.join(bad)} (known: {', '.join(sorted(table_columns))})")
        else:
            tables = tuple(table_columns)
        cond = {k: v for k, v in r.items() if k not in ("name", "tables", "action")}
        # Columns in scope: those present in every listed table (all tables when implicit:
        # the scope then narrows to the tables that have every column the rule names).
        scope = [table_columns[t] for t in tables]
        types = dict(scope[0]) if "tables" in r else {c: k for cols in scope for c, k in cols.items()}
        if "tables" in r:
            for cols in scope[1:]:
                types = {c: k for c, k in types.items() if cols.get(c) == k}
        node = _parse_node(cond, at, types)
        if "tables" not in r:
            used = columns_of(node)
            tables = tuple(t for t in tables if used <= set(table_columns[t]))
        out.append(FilterRule(name, action, tables, node))
    return tuple(out)


def column_types(specs) -> dict[str, dict[str, str]]:
    """{event table: {column: 'numeric'|'text'}} from the table specs."""
    return {
        s.name: {c.name: ("numeric" if c.numeric else "text") for c in s.columns if c.name not in UNFILTERABLE}
        for s in specs.values() if s.kind == "event"
    }


# -- compiled form --------------------------------------------------------------------

def _leaf(layout, column: str, test):
    """(actor, time, ints, objs) -> test(the column's value), reading it where the row holds it
    (osq_esf.layout.RowLayout)."""
    try:
        kind, k = layout.where(column)
    except KeyError:
        raise RuleError("filters", f"column {column} is not available in {layout.name}") from None
    if kind == "time":
        return lambda c, s, i, o: test(s)
    if kind == "obj":
        return lambda c, s, i, o: test(o[k])
    if kind == "int":
        return lambda c, s, i, o: test(i[k])
    if k < len(PROCESS_COLUMNS):
        return lambda c, s, i, o: test(c.ctx.values[k])
    k -= len(PROCESS_COLUMNS)
    return lambda c, s, i, o: test(c.lineage[k])


def _leaf_test(op: str, value):
    if op == "equals":
        if len(value) == 1:
            v0 = value[0]
            return lambda x: x is not None and x == v0
        vs = frozenset(value)
        return lambda x: x is not None and x in vs
    if op == "not_equals":
        v0 = value[0]
        return lambda x: x is not None and x != v0
    if op == "prefix":
        return lambda x: x is not None and x.startswith(value)
    if op == "glob":
        rx = base.glob_regex(value).match
        return lambda x: x is not None and rx(x) is not None
    if op == "regex":
        rx = base.regex(value, "regex").search
        return lambda x: x is not None and rx(x) is not None
    cmp = NUMERIC_OPS[op]
    return lambda x: x is not None and cmp(x, value)


def compile_node(node, table):
    """A predicate (actor, time, ints, objs) -> bool for one table (no generators: this runs per event)."""
    kind = node[0]
    if kind == "leaf":
        _, column, op, value = node
        return _leaf(table, column, _leaf_test(op, value))
    if kind == "not":
        inner = compile_node(node[1], table)
        return lambda c, s, i, o: not inner(c, s, i, o)
    parts = tuple(compile_node(n, table) for n in node[1])
    if len(parts) == 1:
        return parts[0]
    if kind == "all":
        if len(parts) == 2:
            a, b = parts
            return lambda c, s, i, o: a(c, s, i, o) and b(c, s, i, o)

        def every(c, s, i, o):
            for p in parts:
                if not p(c, s, i, o):
                    return False
            return True

        return every
    if len(parts) == 2:
        a, b = parts
        return lambda c, s, i, o: a(c, s, i, o) or b(c, s, i, o)

    def some(c, s, i, o):
        for p in parts:
            if p(c, s, i, o):
                return True
        return False

    return some


def compile_rule(rule: FilterRule, table):
    """A predicate (actor, time, ints, objs) that is True when ``rule`` removes the event."""
    pred = compile_node(rule.node, table)
    if rule.action == "drop":
        return pred
    return lambda c, s, i, o: not pred(c, s, i, o)


def process_only(rule: FilterRule) -> bool:
    """True when the rule reads only process and lineage columns: decided once per row actor."""
    return columns_of(rule.node) <= set(ACTOR_COLUMNS)
