"""Pipelines as the app wires them, and their rows read back, for tests."""

from __future__ import annotations

from osq_esf.kinds import default_kinds
from osq_esf.layout import ACTOR_COLUMNS
from osq_esf.pipeline import Pipeline
from osq_esf.rings import NULL_INT


def make_pipeline(config_text: str | None = None, *, lineage=False, sequence: bool = True, capacity=None,
                  max_bytes=None, kinds=None, source: str | None = "test", live: bool = False):
    """(pipeline, source state): the sequence stage on, lineage when asked (True, or a stage),
    the rules of ``config_text`` when given (the defaults with ""), one source to ingest with
    (None when ``source`` is None)."""
    from osq_esf.lineage import Lineage

    p = Pipeline(kinds or default_kinds(), capacity, max_bytes)
    if sequence:
        p.sequence = p.health
    if lineage is True:
        p.lineage = Lineage(pool=p.pool)
    elif lineage:
        p.lineage = lineage
    if config_text is not None:
        install_config(p, config_text)
    if source is None:
        return p, None
    return p, p.add_source(source, "eslogger" if live else "replay", live=live)


def install_config(p: Pipeline, config_text: str) -> None:
    from osq_esf.config import parse_config
    from osq_esf.rules import Rules, RulesConfig

    cfg = parse_config(config_text, "test") if config_text else None
    p.install_rules(Rules(cfg.rules if cfg else RulesConfig(), p.layouts, p.kinds))


def ring_rows(p: Pipeline, table: str) -> list[dict]:
    """A ring's rows as Python values (NULL as None), actor columns included, oldest first."""
    ring, layout = p.rings[table], p.layouts[table]
    with ring.lock:
        snap = ring.snapshot()
    names = layout.int_names + layout.obj_names
    out = []
    for k in range(snap.n):
        actor = snap.ctx[k]
        r = dict(zip(ACTOR_COLUMNS, actor.values))
        r.update({n: col[k] for n, col in zip(names, snap.cols)})
        r = {n: (None if v == NULL_INT else v) for n, v in r.items()}
        r["time"], r["eid"] = snap.time[k], snap.eid[k]
        out.append(r)
    return out


def table_rows(p: Pipeline, table: str, context: str = "") -> list[dict]:
    """A table's rows as osquery receives them (all text), through the real reply encoder."""
    from osq_esf.extension.constraints import plan_from_context
    from osq_esf.extension.tables import EventTable
    from tests.test_protocol import decode_rows

    t = EventTable(p.layouts[table], p.rings[table])
    n, chunks = t.generate(plan_from_context(context))
    return decode_rows(n, b"".join(chunks))


def event_table(p: Pipeline, name: str):
    """The served table of one of ``p``'s rings, as the app builds it."""
    from osq_esf.extension.tables import EventTable

    return EventTable(p.layouts[name], p.rings[name])


def event_tables(p: Pipeline) -> list:
    return [event_table(p, n) for n in p.layouts]
