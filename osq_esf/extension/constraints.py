"""Reading osquery's constraint context as a hint.

SQLite re-applies every WHERE term (osquery never sets ``omit``), so a table may
return a superset; what it must never do is drop a row SQLite would keep.  Only
what can be decided exactly is used: ranges and equality on integer columns
(``time``, ``eid``) and equality sets on ``pid``.  Anything unparsable is ignored.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

EQUALS, GREATER_THAN, LESS_THAN_OR_EQUALS, LESS_THAN, GREATER_THAN_OR_EQUALS = 2, 4, 8, 16, 32


@dataclass
class Plan:
    """What a generate request's constraints allow us to skip; every bound is inclusive."""

    time_lo: int | None = None
    time_hi: int | None = None
    eid_lo: int | None = None
    eid_hi: int | None = None
    pids: set[int] | None = None  # None: any pid
    pid_lo: int | None = None
    pid_hi: int | None = None
    empty: bool = False  # the constraints cannot all hold
    cols_used: set[str] | None = None  # None: unknown, send every column
    equals: dict[str, str] = field(default_factory=dict)
    # Where the reply path wants rows encoded (a reused buffer of its call slot), or None: then
    # each chunk is its own bytes.  With a buffer, each chunk is a view valid until the next.
    out: bytearray | None = None


def _number(expr: str) -> float | None:
    try:
        x = float(expr)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) or math.isinf(x) else x


def _range(op: int, x: float, lo, hi):
    """Tighten the inclusive integer range [lo, hi] by ``col <op> x``."""
    if op == EQUALS:
        if x != int(x):
            return 1, 0  # no integer equals a fraction
        lo = int(x) if lo is None else max(lo, int(x))
        hi = int(x) if hi is None else min(hi, int(x))
    elif op == GREATER_THAN:
        v = math.floor(x) + 1
        lo = v if lo is None else max(lo, v)
    elif op == GREATER_THAN_OR_EQUALS:
        v = math.ceil(x)
        lo = v if lo is None else max(lo, v)
    elif op == LESS_THAN:
        v = math.ceil(x) - 1
        hi = v if hi is None else min(hi, v)
    elif op == LESS_THAN_OR_EQUALS:
        v = math.floor(x)
        hi = v if hi is None else min(hi, v)
    return lo, hi


def plan_from_context(context) -> Plan:
    """Parse the ``context`` JSON (string or dict) of a generate request."""
    if isinstance(context, str):
        try:
            context = json.loads(context) if context else {}
        except ValueError:
            return Plan()
    plan = Plan()
    if not isinstance(context, dict):
        return plan
    used = context.get("colsUsed")
    if isinstance(used, list):
        plan.cols_used = {c for c in used if isinstance(c, str)}
    for c in context.get("constraints") or []:
        if not isinstance(c, dict):
            continue
        name = c.get("name")
        items = c.get("list")
        if not isinstance(items, list):
            continue  # old osquery sends "" for no constraints
        for item in items:
            if not isinstance(item, dict):
                continue
            try:
                op = int(item.get("op"))
            except (TypeError, ValueError):
                continue
            expr = item.get("expr")
            if name in ("time", "eid"):
                x = _number(expr)
                if x is None:
                    continue
                if name == "time":
                    plan.time_lo, plan.time_hi = _range(op, x, plan.time_lo, plan.time_hi)
                else:
                    plan.eid_lo, plan.eid_hi = _range(op, x, plan.eid_lo, plan.eid_hi)
            elif name == "pid" and op != EQUALS:
                x = _number(expr)
                if x is not None and op in (GREATER_THAN, GREATER_THAN_OR_EQUALS, LESS_THAN, LESS_THAN_OR_EQUALS):
                    plan.pid_lo, plan.pid_hi = _range(op, x, plan.pid_lo, plan.pid_hi)
            elif name == "pid" and op == EQUALS:
                x = _number(expr)
                if x is None:
                    continue
                # A union, not an intersection: several op-2 entries can mean IN (...) on
                # an OPTIMIZED column, and a superset is always safe.
                want = {int(x)} if x == int(x) else set()
                plan.pids = want if plan.pids is None else plan.pids | want
    for lo, hi in ((plan.time_lo, plan.time_hi), (plan.eid_lo, plan.eid_hi), (plan.pid_lo, plan.pid_hi)):
        if lo is not None and hi is not None and lo > hi:
            plan.empty = True
    if plan.pids is not None and not plan.pids:
        plan.empty = True
    return plan


def pid_predicate(plan: Plan):
    """A test on a row's pid from the plan's pid constraints, or None when there are none."""
    pids, lo, hi = plan.pids, plan.pid_lo, plan.pid_hi
    if pids is None and lo is None and hi is None:
        return None
    lo = -(2**63) if lo is None else lo
    hi = 2**63 if hi is None else hi
    if pids is None:
        return lambda pid: lo <= pid <= hi
    return lambda pid: pid in pids and lo <= pid <= hi
