"""The compiled rules the pipeline calls for every event: a per-type plan (mute, filter), then redact.

Built once per configuration (at start and on each reload) from a
:class:`~osq_esf.rules.RulesConfig` and the pipeline's tables.  Per event type it
compiles one closure the first time the type is seen; mute results that depend only
on the acting process are cached per interned process context, so a busy daemon's
file events cost one dict lookup.  Counters are bumped by the pipeline's thread
under the pipeline lock, which is also the lock a reload swaps rules under.
"""

from __future__ import annotations

from osq_esf import events
from osq_esf.rules.filters import compile_rule, process_only
from osq_esf.rules.mutes import dimension_checks, run_checks
from osq_esf.rules.redact import Redactor

_UNSET = object()
CACHE_LIMIT = 65536  # distinct process contexts remembered per event type
PLAN_LIMIT = 4096  # distinct event types (unknown(N) included)
TARGET_TABLES = ("es_open", "es_write", "es_exec")  # tables with a target path


class Rules:
    """Mutes, filters and redaction for one configuration, compiled for ``tables``."""

    def __init__(self, cfg, tables: dict):
        self.config = cfg
        self.mutes = cfg.mutes.active()
        self.filters = list(cfg.filters)
        self.redact_rules = cfg.redaction.active()
        self.redactor = Redactor(self.redact_rules, cfg.redaction.max_value)
        self.tables = tables
        self.filters_of = {
            name: [(rule, compile_rule(rule, t), process_only(rule)) for rule in self.filters if name in rule.tables]
            for name, t in tables.items()
        }
        ex = tables.get("es_exec")
        self._exec_table = ex if self.redactor else None
        self.redacted_table = self._exec_table  # redact() changes nothing for any other table
        if ex is not None:
            self._cmdline_at = ex.obj_names.index("cmdline")
            self._env_at = ex.obj_names.index("env")
        # Where each rule is applied; a native source that maps a mute onto the kernel
        # (es_mute_path_events) records itself here, the pipeline then never sees those events.
        self.applied: dict[str, str] = {}
        self._plans: dict[str, object] = {}

    # -- per event ------------------------------------------------------------------

    def plan_of(self, table, short: str):
        """The compiled rules for ``short``: ``plan(ctx, time, ints, objs)`` returns None to keep
        the event or "muted"/"filtered" to drop it (after counting the hit); None when no rule
        applies.  The pipeline keeps it for a batch and calls it per event."""
        plan = self._plans.get(short, _UNSET)
        return self._plan(table, short) if plan is _UNSET else plan

    def redact(self, table, objs: tuple) -> tuple:
        """``objs`` with secrets masked in es_exec's cmdline and env."""
        if table is not self._exec_table:
            return objs
        i, j = self._cmdline_at, self._env_at
        cmd, env = objs[i], objs[j]
        cmd2, env2 = self.redactor.joined(cmd), self.redactor.joined(env)
        if cmd2 is cmd and env2 is env:
            return objs
        out = list(objs)
        out[i], out[j] = cmd2, env2
        return tuple(out)

    def _plan(self, table, short: str):
        proc, target = dimension_checks(self.mutes, table, short)
        filters = tuple(self.filters_of.get(table.name, ()))
        target_at = table.obj_names.index("filename") if target else None
        # exec's process mutes read the caller's path from the row: it joins the cache key.
        caller_at = table.obj_names.index("caller_path") if short == "exec" else None
        plan = _make_plan(proc, target, target_at, filters, caller_at)
        if len(self._plans) >= PLAN_LIMIT:
            self._plans.clear()
        self._plans[short] = plan
        return plan

    # -- reload and status ----------------------------------------------------------

    def adopt_counts(self, old: "Rules") -> None:
        """Keep the hits of rules that a reload left unchanged (caller holds the pipeline lock)."""
        before = {r.identity: r.hits for r in (*old.mutes, *old.filters, *old.redact_rules)}
        for r in (*self.mutes, *self.filters, *self.redact_rules):
            r.hits = before.get(r.identity, 0)

    def rows(self) -> list[dict]:
        """es_mutes: one row per mute, filter and redaction rule."""
        out = []
        for r in self.mutes:
            out.append({
                "name": r.name, "kind": "mute", "action": r.action, "dimension": r.dimension,
                "match": r.describe(), "event_types": "*" if r.events is None else ",".join(sorted(r.events)),
                "tables": ",".join(_mute_tables(r, self.tables)), "origin": r.origin,
                "applied": self.applied.get(r.name, "pipeline"), "native": r.native(), "hits": r.hits,
            })
        for r in self.filters:
            out.append({
                "name": r.name, "kind": "filter", "action": r.action, "dimension": None,
                "match": r.describe(), "event_types": None, "tables": ",".join(r.tables), "origin": r.origin,
                "applied": "pipeline", "native": None, "hits": r.hits,
            })
        for r in self.redact_rules:
            out.append({
                "name": r.name, "kind": "redact", "action": "mask", "dimension": r.kind,
                "match": r.regex, "event_types": "exec", "tables": "es_exec", "origin": r.origin,
                "applied": "pipeline", "native": None, "hits": r.hits,
            })
        return out


def _mute_tables(rule, tables: dict) -> list[str]:
    """The tables whose events the rule can remove (target rules: only tables with a target)."""
    out = []
    for name in tables:
        if rule.dimension == "target_path" and name not in TARGET_TABLES:
            continue
        if rule.events is None:
            out.append(name)
            continue
        own = [s for s, t in events.TABLE_OF_SHORT.items() if t == name]
        if own and any(s in rule.events for s in own):
            out.append(name)
        elif not own and any(s not in events.TABLE_OF_SHORT for s in rule.events):
            out.append(name)
    return out


def _make_plan(proc: list, target: list, target_at: int | None, filters: tuple, caller_at: int | None):
    """The per-event-type closure; None when nothing applies to the type.

    What depends only on the acting process (process mutes, filters on process
    columns) is decided once per interned context and cached; per event remain the
    target path (open/write) and filters on the event's own columns.  Ordering is
    kept exact: mutes before filters, and filters in config order.
    """
    if not proc and not target and not filters:
        return None
    cache: dict = {}
    proc_filters = tuple((pos, rule, pred) for pos, (rule, pred, po) in enumerate(filters) if po)
    event_filters = tuple((pos, rule, pred) for pos, (rule, pred, po) in enumerate(filters) if not po)
    no_filter = (len(filters), None)

    def decide_process(ctx, objs):
        """(muting rule, selecting rules, (position, rule) of the first process filter that removes)."""
        muter, selected = run_checks(proc, ctx, objs) if proc else (None, ())
        if muter is None:
            for pos, rule, pred in proc_filters:
                if pred(ctx, None, None, objs):
                    return muter, selected, (pos, rule)
        return muter, selected, no_filter

    # The target path (open/write): its rules' values are tested inline, so the usual miss
    # costs an index and a startswith.
    tcheck = target[0] if target else None
    inline = tcheck is not None and not tcheck.inverted and tcheck.any is not None
    tlits, tprefs, tglob = (tcheck.literals, tcheck.prefixes, tcheck.glob) if inline else (frozenset(), (), None)

    def plan(ctx, time, ints, objs):
        key = ctx if caller_at is None else (ctx, objs[caller_at])
        r = cache.get(key)
        if r is None:
            r = decide_process(ctx, objs)
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[key] = r
        muter, selected, (fpos, frule) = r
        if muter is not None:
            muter.hits += 1
            return "muted"
        if tcheck is not None:
            if inline:
                tv = objs[target_at]
                go = tv is not None and (tv in tlits or tv.startswith(tprefs) or (tglob is not None and tglob(tv) is not None))
            else:
                go = True
            if go:
                muter, more = run_checks(target, ctx, objs)
                if muter is not None:
                    muter.hits += 1
                    return "muted"
                selected += more
        for rule in selected:
            rule.hits += 1
        for pos, rule, removes in event_filters:
            if pos > fpos:
                break
            if removes(ctx, time, ints, objs):
                rule.hits += 1
                return "filtered"
        if frule is not None:
            frule.hits += 1
            return "filtered"
        return None

    return plan
