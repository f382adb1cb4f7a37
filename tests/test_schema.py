"""Table specs: valid, agreeing with the code, and documented in the committed docs/tables.md."""

from __future__ import annotations

import pytest

from osq_esf.schema import SpecError, load_specs, markdown, parse_specs
from tests.conftest import REPO

SPECS = load_specs()


def test_docs_tables_md_is_generated_from_the_specs():
    committed = (REPO / "docs" / "tables.md").read_text()
    assert committed == markdown(SPECS), "docs/tables.md is stale: run `make docs` (osq-esf tables --format md)"


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

    p = Pipeline(SPECS)
    assert {n for n, s in SPECS.items() if s.kind == "event"} == set(p.tables)


def test_a_column_missing_from_the_code_is_refused():
    from osq_esf.tables import EventTable

    spec = SPECS["es_write"]
    with pytest.raises(SpecError, match="only in spec"):
        EventTable(spec, (), (), 10)  # no 'filename' provided


@pytest.mark.parametrize("text,msg", [
    ('name = "t"\n[[columns]]\nname = "a"\ntype = "STRING"\ndescription = "x"', "type"),
    ('name = "t"\n[[columns]]\nname = "a"\ntype = "TEXT"', "description"),
    ('name = "t"\n[[columns]]\nname = "a"\ntype = "TEXT"\ndescription = "x"\noptions = ["fast"]', "option"),
    ('name = "other"', "file name"),
    ('name = "t"\ngroups = ["nope"]', "group"),
])
def test_broken_specs_name_the_problem(text, msg):
    with pytest.raises(SpecError, match=msg):
        parse_specs({"t.toml": text})
