"""Table specs: load tables/*.toml, validate them, and turn them into osquery routes and docs.

The specs are the single place columns are declared.  Event tables include column
groups from ``_groups.toml``; ``kind = "status"`` tables describe the extension itself.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TYPES = ("TEXT", "INTEGER", "BIGINT", "UNSIGNED BIGINT", "DOUBLE", "BLOB")
# osquery ColumnOptions (osquery/core/sql/column.h).
OPTIONS = {"index": 1, "required": 2, "additional": 4, "optimized": 8, "hidden": 16,
           "collate_binary": 32, "collate_nocase": 64, "collate_rtrim": 128}


class SpecError(ValueError):
    """A table spec that does not hold together; names the file and key."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    options: int
    description: str
    group: str  # "" for a table's own columns

    @property
    def hidden(self) -> bool:
        return bool(self.options & OPTIONS["hidden"])

    @property
    def numeric(self) -> bool:
        return self.type != "TEXT" and self.type != "BLOB"


@dataclass(frozen=True)
class TableSpec:
    name: str
    description: str
    kind: str  # "event" or "status"
    event_types: tuple[str, ...]
    columns: tuple[Column, ...]
    examples: tuple[tuple[str, str], ...] = field(default=())

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    def routes(self) -> list[dict[str, str]]:
        """osquery's route list: one entry per column, then the table attributes (none)."""
        out = [{"id": "column", "name": c.name, "type": c.type, "op": str(c.options)} for c in self.columns]
        # Not EVENT_BASED on purpose: rows carry a unique eid and osquery's differential
        # logging then reports each buffered event once (docs/decisions.md).
        out.append({"id": "attributes", "attributes": "0"})
        return out


def _columns(raw: list, group: str, where: str) -> list[Column]:
    cols = []
    for i, c in enumerate(raw):
        at = f"{where}[{i}]"
        try:
            name, typ = c["name"], c["type"]
        except KeyError as e:
            raise SpecError(f"{at}: missing key {e.args[0]!r}") from None
        if typ not in TYPES:
            raise SpecError(f"{at} ({name}): type {typ!r} is not one of {', '.join(TYPES)}")
        bits = 0
        for opt in c.get("options", []):
            if opt not in OPTIONS:
                raise SpecError(f"{at} ({name}): unknown option {opt!r}")
            bits |= OPTIONS[opt]
        if not c.get("description"):
            raise SpecError(f"{at} ({name}): every column needs a description")
        cols.append(Column(name, typ, bits, c["description"], group))
    return cols


def parse_specs(files: dict[str, str]) -> dict[str, TableSpec]:
    """Build specs from {filename: toml text}; ``_groups.toml`` supplies the shared groups."""
    groups_raw = tomllib.loads(files.get("_groups.toml", ""))
    groups = {g: _columns(cols, g, f"_groups.toml {g}") for g, cols in groups_raw.items()}
    specs: dict[str, TableSpec] = {}
    for fname, text in sorted(files.items()):
        if fname.startswith("_"):
            continue
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise SpecError(f"{fname}: {e}") from None
        name = raw.get("name")
        if not name or fname != f"{name}.toml":
            raise SpecError(f"{fname}: 'name' must match the file name")
        cols: list[Column] = []
        for g in raw.get("groups", []):
            if g not in groups:
                raise SpecError(f"{fname}: unknown group {g!r}")
            cols.extend(groups[g])
        cols.extend(_columns(raw.get("columns", []), "", f"{fname} columns"))
        seen = set()
        for c in cols:
            if c.name in seen:
                raise SpecError(f"{fname}: column {c.name!r} declared twice")
            seen.add(c.name)
        examples = tuple((e["description"], e["sql"]) for e in raw.get("examples", []))
        specs[name] = TableSpec(name, raw.get("description", ""), raw.get("kind", "event"),
                                tuple(raw.get("event_types", [])), tuple(cols), examples)
    return specs


def load_specs() -> dict[str, TableSpec]:
    """The specs installed with the package (tables/ in the source tree)."""
    root = resources.files("osq_esf._specs")
    files = {p.name: p.read_text() for p in root.iterdir() if p.name.endswith(".toml")}
    return parse_specs(files)


def markdown(specs: dict[str, TableSpec]) -> str:
    """docs/tables.md, generated from the specs (`osq-esf tables --format md`)."""
    out = ["# Tables", "", "Generated from `tables/*.toml` by `osq-esf tables --format md`; do not edit.", ""]
    for kind, title in (("event", "Event tables"), ("status", "Status tables")):
        out += [f"## {title}", ""]
        for s in (s for s in specs.values() if s.kind == kind):
            out += [f"### `{s.name}`", "", s.description, ""]
            if s.event_types:
                out += ["ES event types: " + ", ".join(f"`{t}`" for t in s.event_types), ""]
            out += ["| column | type | options | description |", "|---|---|---|---|"]
            for c in s.columns:
                opts = ", ".join(k for k, v in OPTIONS.items() if c.options & v)
                desc = c.description.replace("|", "\\|")
                out.append(f"| `{c.name}` | {c.type} | {opts} | {desc} |")
            out.append("")
            for desc, sql in s.examples:
                out += [f"*{desc}*", "", "```sql", sql, "```", ""]
    return "\n".join(out)
