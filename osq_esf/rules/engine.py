"""The compiled rules the pipeline calls for every event: a per-type plan (mute, filter), then redact.

Built once per configuration (at start and on each reload) from a
:class:`~osq_esf.rules.RulesConfig` and the pipeline's tables.  Per event type it
compiles one closure the first time the type is seen; mute results that depend only
on the acting process are cached per interned process context, so a busy daemon's
file events cost one dict lookup.  Mute and filter hits are bumped by the pipeline's thread
under the pipeline lock, which is also the lock a reload swaps rules under; redaction runs
without it and its hits are added under it (:meth:`Rules.add_redaction_hits`).
"""

from __future__ import annotations

from osq_esf.rules.filters import compile_rule, process_only
from osq_esf.rules.mutes import dimension_checks, run_checks
from osq_esf.rules.redact import Redactor
from osq_esf.stages import Disposition

_UNSET = object()
CACHE_LIMIT = 8192  # distinct row actors remembered per event type (each pins its context)
PLAN_LIMIT = 4096  # distinct event types (unknown(N) included)
MUTED, FILTERED = Disposition.MUTED, Disposition.FILTERED


class Rules:
    """Mutes, filters and redaction for one configuration, compiled for the event tables' ``layouts``."""

    def __init__(self, cfg, layouts: dict, kinds=None):
        self.config = cfg
        self.mutes = cfg.mutes.active()
        self.filters = list(cfg.filters)
        self.redact_rules = cfg.redaction.active()
        self.redactor = Redactor(self.redact_rules, cfg.redaction.max_value)
        self.layouts = layouts
        self.kinds = kinds
        self.filters_of = {
            name: [(rule, compile_rule(rule, layout), process_only(rule)) for rule in self.filters
                   if name in rule.tables]
            for name, layout in layouts.items()
        }
        # Where each rule is applied; a native source that maps a mute onto the kernel
        # (es_mute_path_events) records itself here, the pipeline then never sees those events.
        self.applied: dict[str, str] = {}
        self._plans: dict[tuple, object] = {}
        self._redactions: dict[str, object] = {}
        self._redact_rule = {r.identity: r for r in self.redact_rules}

    # -- per event ------------------------------------------------------------------

    def plan_of(self, layout, short: str):
        """The compiled rules for ``short`` in ``layout``'s table: ``plan(actor, time, ints, objs)``
        returns None to keep the event or a :class:`Disposition` to drop it (after counting the
        hit); None when no rule applies.  The pipeline keeps it for a batch and calls it per event."""
        key = (layout.name, short)
        plan = self._plans.get(key, _UNSET)
        if plan is _UNSET:
            plan = self._plan(layout, short)
            if len(self._plans) >= PLAN_LIMIT:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def redaction_of(self, layout):
        """``redact(objs) -> objs`` masking the table's declared secret columns; None when it has none
        (or redaction is off).  Runs outside the pipeline lock."""
        if not self.redactor:
            return None
        fn = self._redactions.get(layout.name, _UNSET)
        if fn is _UNSET:
            fn = self._redactions[layout.name] = _redaction(layout, self.redactor)
        return fn

    def _plan(self, layout, short: str):
        cached, per_event, keyed_by_row = dimension_checks(self.mutes, layout, short)
        filters = tuple(self.filters_of.get(layout.name, ()))
        # The column a cached process check reads from the row (exec's caller_path) joins the cache key.
        key_at = layout.obj_index(layout.spec.process_path) if keyed_by_row else None
        return _make_plan(cached, per_event, filters, key_at, layout.spec.target)

    # -- reload and status ----------------------------------------------------------

    def adopt_counts(self, old: "Rules") -> None:
        """Keep the hits of rules that a reload left unchanged (caller holds the pipeline lock)."""
        before = {r.identity: r.hits for r in (*old.mutes, *old.filters, *old.redact_rules)}
        for r in (*self.mutes, *self.filters, *self.redact_rules):
            r.hits = before.get(r.identity, 0)

    def add_redaction_hits(self, hits: dict) -> None:
        """Add the hits a batch's redaction tallied without the lock (caller holds the pipeline lock).

        The batch may have been masked by rules a reload replaced meanwhile: its hits go to the rule
        of the same identity now in force, as :meth:`adopt_counts` carries the earlier ones."""
        for rule, n in hits.items():
            target = self._redact_rule.get(rule.identity)
            if target is not None:
                target.hits += n

    def rows(self) -> list[dict]:
        """es_mutes: one row per mute, filter and redaction rule."""
        out = []
        for r in self.mutes:
            out.append({
                "name": r.name, "kind": "mute", "action": r.action, "dimension": r.dimension,
                "match": r.describe(), "event_types": "*" if r.events is None else ",".join(sorted(r.events)),
                "tables": ",".join(_mute_tables(r, self.layouts, self.kinds)), "origin": r.origin,
                "applied": self.applied.get(r.name, "pipeline"), "native": r.native(), "hits": r.hits,
            })
        for r in self.filters:
            out.append({
                "name": r.name, "kind": "filter", "action": r.action, "dimension": None,
                "match": r.describe(), "event_types": None, "tables": ",".join(r.tables), "origin": r.origin,
                "applied": "pipeline", "native": None, "hits": r.hits,
            })
        redacted = [n for n, layout in self.layouts.items() if any(c.redact for c in layout.spec.own_columns)]
        redacted_events = sorted(self.layouts[n].spec.event for n in redacted if self.layouts[n].spec.event)
        for r in self.redact_rules:
            out.append({
                "name": r.name, "kind": "redact", "action": "mask", "dimension": r.kind,
                "match": r.regex, "event_types": ",".join(redacted_events), "tables": ",".join(sorted(redacted)),
                "origin": r.origin, "applied": "pipeline", "native": None, "hits": r.hits,
            })
        return out


def _mute_tables(rule, layouts: dict, kinds) -> list[str]:
    """The tables whose events the rule can remove (target rules: only tables with a target)."""
    out = []
    for name, layout in layouts.items():
        if rule.dimension == "target_path" and not layout.spec.target:
            continue
        if rule.events is None:
            out.append(name)
        elif layout.spec.event:
            if layout.spec.event in rule.events:
                out.append(name)
        elif kinds is not None and any(s not in kinds.by_short for s in rule.events):
            out.append(name)  # es_other_events holds the types no table declares
    return out


def _make_plan(cached: list, per_event: list, filters: tuple, key_at: int | None, target_columns: tuple = ()):
    """The per-event-type closure; None when nothing applies to the type.

    What depends only on the row's actor (process mutes, filters on process and lineage
    columns) is decided once per actor and cached; per event remain a target path read from
    the event and filters on the event's own columns.  Ordering is kept exact: mutes before
    filters, and filters in config order.
    """
    if not cached and not per_event and not filters:
        return None
    cache: dict = {}
    proc_filters = tuple((pos, rule, pred) for pos, (rule, pred, po) in enumerate(filters) if po)
    event_filters = tuple((pos, rule, pred) for pos, (rule, pred, po) in enumerate(filters) if not po)
    no_filter = (len(filters), None)

    def decide_actor(actor, objs):
        """(muting rule, selecting rules, (position, rule) of the first actor filter that removes)."""
        muter, selected = run_checks(cached, actor, objs) if cached else (None, ())
        if muter is None:
            for pos, rule, pred in proc_filters:
                if pred(actor, None, None, objs):
                    return muter, selected, (pos, rule)
        return muter, selected, no_filter

    # The target path: its rules' values are tested inline, so the usual miss costs an index
    # and a startswith.
    tcheck = per_event[0] if per_event else None
    # Inline only a single target path: two (rename) follow ES's all-or-any rule in run_checks.
    inline = tcheck is not None and not tcheck.inverted and tcheck.any is not None and len(target_columns) == 1
    tlits, tprefs, tglob = (tcheck.literals, tcheck.prefixes, tcheck.glob) if inline else (frozenset(), (), None)
    tget = tcheck.get if tcheck is not None else None

    def plan(actor, time, ints, objs):
        key = actor if key_at is None else (actor, objs[key_at])
        r = cache.get(key)
        if r is None:
            r = decide_actor(actor, objs)
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[key] = r
        muter, selected, (fpos, frule) = r
        if muter is not None:
            muter.hits += 1
            return MUTED
        if tcheck is not None:
            if inline:
                tv = tget(actor, objs)
                go = tv is not None and (tv in tlits or tv.startswith(tprefs) or (tglob is not None and tglob(tv) is not None))
            else:
                go = True
            if go:
                muter, more = run_checks(per_event, actor, objs)
                if muter is not None:
                    muter.hits += 1
                    return MUTED
                selected += more
        for rule in selected:
            rule.hits += 1
        for pos, rule, removes in event_filters:
            if pos > fpos:
                break
            if removes(actor, time, ints, objs):
                rule.hits += 1
                return FILTERED
        if frule is not None:
            frule.hits += 1
            return FILTERED
        return None

    return plan


def _redaction(layout, redactor):
    """``redact(objs) -> objs`` for a layout's columns declared ``redact``; None when it has none.

    argv and env columns hold items joined like a command line (extract.quote_join): they are
    split, masked item by item and joined again; a ``text`` column is scanned as free text; a
    ``json`` column's strings are masked like argv items and the JSON written again.
    """
    maskers = {"argv": redactor.joined, "env": redactor.joined, "text": redactor.text, "json": redactor.json}
    targets = tuple((layout.obj_index(c.name), maskers[c.redact]) for c in layout.spec.own_columns if c.redact)
    if not targets:
        return None

    def redact(objs):
        out = None
        for i, masker in targets:
            v = objs[i]
            new = masker(v)
            if new is not v:
                if out is None:
                    out = list(objs)
                out[i] = new
        return objs if out is None else tuple(out)

    return redact
