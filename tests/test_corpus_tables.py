"""Generated corpora replayed through the pipeline: every event lands in its typed table, decoded.

The expectations come from the table declarations themselves: for each of a table's own
columns with a ``source``, the row holds what the event's JSON holds there (the value itself
for plain columns, the enum's name for ``_name`` columns, a process's attribute for PROCESS
columns, something for transformed ones) and NULL where the JSON has nothing or the message
version predates the field.  A type no table declares yet is skipped, saying so.
"""

from __future__ import annotations

import json
from collections import Counter
from functools import lru_cache

import pytest

from osq_esf.corpus import generate
from osq_esf.corpus import scenarios as sc
from osq_esf.corpus.world import SHORT
from osq_esf.kinds import OTHER_TABLE
from tests.pipelines import make_pipeline, ring_rows

CORPORA = {  # name -> generate() arguments
    "demo": dict(scenario="demo", seed=7),  # the bundled recording
    "types v10 array": dict(scenario="types", events=600, seed=5, version=10, token_form="array"),
    "types v8 object": dict(scenario="types", events=400, seed=6, version=8, token_form="object"),
    "types mixed": dict(scenario="types", events=900, seed=7, version="mixed", token_form="mixed"),
}
# Transforms whose result is NULL exactly when the source is (exit_status/term_signal are not).
NULL_WITH_SOURCE = {"text", "destination_path", "path_or_string", "json", "argv", "count", "time", "lower"}
TOKEN_INDEX = {"pid": 5, "pidversion": 7}


@lru_cache(maxsize=None)
def replayed(name: str):
    """(pipeline, source state, messages by type) of one corpus, replayed with no rules."""
    args = dict(CORPORA[name])
    lines = generate(args.pop("scenario"), **args).lines
    p, src = make_pipeline()
    p.ingest(src, lines)
    by_type: dict[str, list[dict]] = {}
    for line in lines:
        m = json.loads(line)
        by_type.setdefault(SHORT[m["event_type"]], []).append(m)
    return p, src, by_type


def _at(obj, path: str):
    for key in path.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _first(body: dict, paths) -> object:
    return next((v for v in (_at(body, s) for s in paths) if v is not None), None)


def _token_attr(token, attr: str):
    if token is None:
        return None
    return token[TOKEN_INDEX[attr]] if isinstance(token, list) else token[attr]


def _process_attr(proc, tokens, attr: str):
    """What a PROCESS column's attribute should hold: from the process, else its token."""
    if proc is None:
        return _token_attr(tokens, attr) if attr in TOKEN_INDEX else None
    if attr in TOKEN_INDEX:
        return _token_attr(proc["audit_token"], attr)
    return {"path": proc["executable"]["path"], "signing_id": proc["signing_id"], "team_id": proc["team_id"],
            "platform_binary": int(proc["is_platform_binary"])}[attr]


def expected(column, enums, body: dict, version: int, hand_written: bool):
    """(how, value): what the row must hold for ``column``: ``True`` that value, ``"present"``
    NULL exactly when ``value`` is None (transforms, hand-written extractors), False unknowable."""
    if column.since and version < column.since:
        return True, None
    if hand_written and not column.process and not column.named:
        return "present", _first(body, column.source)
    if column.process:
        proc = _first(body, column.source)
        return True, _process_attr(proc, _first(body, column.token), column.process)
    value = _first(body, column.source)
    if column.named:
        return True, None if value is None else enums[column.enum].name_of(value)
    if column.transform == "path_join":
        parts = [_at(body, s) for s in column.source]
        return "present", None if None in parts else True
    if column.transform in NULL_WITH_SOURCE:
        return "present", None if value is None else True
    if column.transform:
        return False, None
    return True, int(value) if type(value) is bool else value


def check_rows(p, event: str, msgs: list[dict]) -> int:
    """Compare every row of ``event``'s table with its message; returns the columns compared."""
    kind = p.kinds.by_short[event]
    rows = ring_rows(p, kind.table)
    assert len(rows) == len(msgs), f"{kind.table}: {len(rows)} rows for {len(msgs)} messages"
    compared = 0
    for row, m in zip(rows, msgs):
        assert row["event_type"] == event and row["version"] == m["version"]
        assert row["pid"] == _token_attr(m["process"]["audit_token"], "pid")
        body = m["event"][event]
        for c in kind.spec.own_columns:
            if not c.source or c.resolve:
                continue
            how, want = expected(c, p.kinds.enums, body, m["version"], bool(kind.spec.extractor))
            got = row[c.name]
            if how == "present":
                assert (got is None) == (want is None), (kind.table, c.name, got, body)
            elif how:
                assert got == want, (kind.table, c.name, got, want)
            compared += 1
    return compared


@pytest.mark.parametrize("corpus", sorted(CORPORA))
def test_a_replayed_corpus_decodes_entirely_into_typed_tables(corpus):
    p, src, by_type = replayed(corpus)
    assert src.decode_errors == 0
    declared = [t for t in by_type if t in p.kinds.by_short]
    undeclared = sorted(set(by_type) - set(declared))
    other = ring_rows(p, OTHER_TABLE)
    assert Counter(r["event_type"] for r in other) == {t: len(by_type[t]) for t in undeclared}
    for t in declared:
        assert len(ring_rows(p, p.kinds.by_short[t].table)) == len(by_type[t]), t
    if corpus.startswith("types v10"):
        assert len(by_type) == 104


def _types_in(corpus: str) -> list[str]:
    args = dict(CORPORA[corpus])
    return sorted({SHORT[json.loads(line)["event_type"]] for line in generate(args.pop("scenario"), **args).lines})


@pytest.mark.parametrize("event", sorted(SHORT.values()))
def test_every_type_fills_its_declared_columns(event):
    """Over the 'types' corpora (both token forms, versions 8, 10 and mixed) and the demo."""
    compared = 0
    for corpus in CORPORA:
        p, _, by_type = replayed(corpus)
        if event not in p.kinds.by_short:
            pytest.skip(f"no es_{event} table is declared yet (tables/es_{event}.toml): it goes to {OTHER_TABLE}")
        if event in by_type:
            compared += check_rows(p, event, by_type[event])
    own = [c for c in p.kinds.by_short[event].spec.own_columns if c.source and not c.resolve]
    assert compared >= len(own) * 3 or not own


def test_the_demo_story_reads_from_its_tables():
    """The facts the brief names, in the columns a detection would query."""
    p, _, _ = replayed("demo")

    def rows(table: str) -> list[dict]:
        if table.removeprefix("es_") not in p.kinds.by_short:
            pytest.skip(f"{table} is not declared yet")
        return ring_rows(p, table)

    btm = {r["item_url"]: r for r in rows("es_btm_launch_item_add")}
    first = btm[sc.DEMO_LAUNCH_AGENT_URL]
    assert first["instigator_path"] == sc.DEMO_PAYLOAD and first["instigator_team_id"] is None
    assert first["executable_path"] == sc.DEMO_PAYLOAD and first["path"].endswith("/backgroundtaskmanagementd")
    second = btm[sc.DEMO_RENAMED_AGENT_URL]
    assert second["instigator_path"] is None and second["instigator_pid"]  # from instigator_token alone
    (grant, reset) = rows("es_tcc_modify")
    assert (grant["service"], grant["identity"], grant["instigator_path"]) == (
        sc.DEMO_TCC_SERVICE, sc.DEMO_PAYLOAD, sc.DEMO_SYSTEM_SETTINGS)
    assert reset["update_type"] == 3
    assert sc.DEMO_RENAMED_AGENT in {r["dest_filename"] for r in rows("es_rename")}
    assert {sc.DEMO_LAUNCH_AGENT, sc.DEMO_PAYLOAD, sc.DEMO_DMG} <= {r["filename"] for r in rows("es_create")}
    assert sc.DEMO_HIDDEN_ADMIN in {r["user_name"] for r in rows("es_od_create_user")}
    assert {r["target_path"] for r in rows("es_remote_thread_create")} == {
        next(r["target_path"] for r in rows("es_get_task"))}
