"""Table specs: valid, agreeing with the code, and documented in the committed docs/tables.md."""

from __future__ import annotations

import pytest

from osq_esf.kinds import default_kinds
from osq_esf.schema import SpecError, load_specs, markdown, parse_specs
from tests.conftest import REPO

SPECS = load_specs()


def test_docs_tables_md_is_generated_from_the_specs():
    committed = (REPO / "docs" / "tables.md").read_text()
    assert committed == markdown(SPECS, default_kinds().introduced()), "docs/tables.md is stale: run `make docs` (osq-esf tables --format md)"


def test_mission_tables_have_the_promised_columns():
    common = {"version", "seq_num", "global_seq_num", "time", "eid", "pid", "pidversion", "parent",
              "original_parent", "responsible_pid", "path", "uid", "euid", "gid", "egid", "signing_id",
              "team_id", "cdhash", "platform_binary", "codesigning_flags", "session_id"}
    extra = {
        "es_exec": {"cmdline", "cmdline_count", "env", "env_count", "cwd", "caller_path"},
        "es_open": {"filename", "fflag", "fflag_names"},
        "es_write": {"filename"},
        "es_iokit_open": {"user_client_class", "user_client_type", "parent_path", "parent_registry_id"},
    }
    for table, cols in extra.items():
        assert common | cols <= set(SPECS[table].column_names), table
        assert SPECS[table].column("eid").hidden


def test_every_column_has_a_type_and_description():
    for spec in SPECS.values():
        for c in spec.columns:
            assert c.description and c.type


def test_the_pipeline_builds_every_event_table_from_its_spec():
    from osq_esf.pipeline import Pipeline

    p = Pipeline(default_kinds())
    assert {n for n, s in SPECS.items() if s.kind == "event"} == set(p.rings) == set(p.layouts)


def test_a_hand_written_extractor_must_write_the_declared_columns_in_order():
    import dataclasses

    from osq_esf.extract import build_extractor
    from osq_esf.layout import RowLayout

    spec = SPECS["es_open"]
    build_extractor(spec, RowLayout(spec), {}, None)  # as declared: accepted
    groups = tuple(c for c in spec.columns if c.group)
    own = {c.name: c for c in spec.columns if not c.group}
    swapped = dataclasses.replace(spec, columns=groups + (own["fflag_names"], own["fflag"], own["filename"]))
    with pytest.raises(SpecError, match="hand-written open extractor"):
        build_extractor(swapped, RowLayout(swapped), {}, None)  # two text columns in the other order
    dropped = dataclasses.replace(spec, columns=groups + (own["filename"], own["fflag"]))
    with pytest.raises(SpecError, match="hand-written open extractor"):
        build_extractor(dropped, RowLayout(dropped), {}, None)


def test_an_event_table_without_the_pipeline_groups_is_refused():
    from osq_esf.layout import RowLayout

    spec = SPECS["es_write"]
    import dataclasses

    no_lineage = dataclasses.replace(spec, columns=tuple(c for c in spec.columns if c.group != "lineage"))
    with pytest.raises(SpecError, match="exactly the groups"):
        RowLayout(no_lineage)


@pytest.mark.parametrize("text,msg", [
    ('name = "t"\nkind = "status"\n[[columns]]\nname = "a"\ntype = "STRING"\ndescription = "x"', "type"),
    ('name = "t"\nkind = "status"\n[[columns]]\nname = "a"\ntype = "TEXT"', "description"),
    ('name = "t"\nkind = "status"\n[[columns]]\nname = "a"\ntype = "TEXT"\ndescription = "x"\noptions = ["fast"]',
     "option"),
    ('name = "other"', "file name"),
    ('name = "t"\ngroups = ["nope"]', "group"),
])
def test_broken_specs_name_the_problem(text, msg):
    with pytest.raises(SpecError, match=msg):
        parse_specs({"t.toml": text})
