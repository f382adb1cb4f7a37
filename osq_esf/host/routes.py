"""Table route lists -> table specs, the way osquery's `xCreate` reads them.

Sources: `osquery/sql/virtual_table.cpp` (xCreate), `osquery/core/tables.cpp`
(`columnDefinition`, `routeInfo`), `osquery/core/sql/column.h`.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Sequence

from .convert import c_strtoll


class ColumnOptions:
    DEFAULT = 0
    INDEX = 1
    REQUIRED = 2
    ADDITIONAL = 4
    OPTIMIZED = 8
    HIDDEN = 16
    COLLATEBINARY = 32
    COLLATENOCASE = 64
    COLLATERTRIM = 128
    COLLATEVERSION = 256
    COLLATEVERSION_ARCH = 512
    COLLATEVERSION_DPKG = 1024
    COLLATEVERSION_RHEL = 2048


class TableAttributes:
    NONE = 0
    UTILITY = 1
    CACHEABLE = 2
    EVENT_BASED = 4
    USER_BASED = 8
    KERNEL_REQUIRED = 16
    PENDING = 32


COLUMN_TYPES = ("TEXT", "INTEGER", "BIGINT", "UNSIGNED BIGINT", "DOUBLE", "BLOB")
UNKNOWN_TYPE = "UNKNOWN"

# First matching option wins, as in columnDefinition's else-if chain.
_COLLATIONS = (
    (ColumnOptions.COLLATEBINARY, "BINARY"),
    (ColumnOptions.COLLATENOCASE, "NOCASE"),
    (ColumnOptions.COLLATERTRIM, "RTRIM"),
    (ColumnOptions.COLLATEVERSION, "VERSION"),
    (ColumnOptions.COLLATEVERSION_ARCH, "VERSION_ARCH"),
    (ColumnOptions.COLLATEVERSION_DPKG, "VERSION_DPKG"),
    (ColumnOptions.COLLATEVERSION_RHEL, "VERSION_RHEL"),
)


def column_type_name(name: str) -> str:
    """osquery's `columnTypeName(columnTypeName(s))`: unknown -> "UNKNOWN"."""
    return name if name in COLUMN_TYPES else UNKNOWN_TYPE


def _to_long(text: str) -> int | None:
    # tryTo<long>(s) is std::stol base 10: prefix parse, range-checked.
    return c_strtoll(text, 10)


@dataclasses.dataclass(frozen=True)
class Column:
    """One entry of osquery's `VirtualTableContent::columns`."""

    name: str
    type: str  # type name; UNKNOWN for column aliases
    options: int  # after the extensions_default_index rewrite
    target: int | None = None  # column alias: index of the real column


@dataclasses.dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    definition: str  # "(`a` TEXT, ...)" as columnDefinition builds it
    attributes: int
    aliases: tuple[str, ...]  # table aliases -> views

    @property
    def create_statement(self) -> str:
        return "CREATE TABLE " + self.name + self.definition

    def resolved(self, index: int) -> Column:
        """The column whose value backs column `index` (alias -> target)."""
        column = self.columns[index]
        return self.columns[column.target] if column.target is not None else column


def table_spec(
    name: str,
    routes: Sequence[Mapping[str, str]],
    *,
    is_extension: bool,
    default_index: bool = True,
) -> TableSpec:
    """Build the spec for table `name` from its `columns` route list."""
    columns: list[Column] = []
    declared: list[tuple[str, str, int]] = []  # what columnDefinition sees
    declared_types: dict[str, str] = {}
    views: set[str] = set()
    attributes = TableAttributes.NONE
    for route in routes:
        kind = route.get("id")
        if kind is None:
            continue
        cname = route.get("name")
        if kind == "column" and cname is not None and "type" in route:
            ctype = column_type_name(route["type"])
            raw = _to_long(route["op"]) if "op" in route else None
            options = raw if raw is not None else ColumnOptions.DEFAULT
            declared.append((cname, ctype, options))
            declared_types[cname] = ctype
            if is_extension and default_index and options == ColumnOptions.DEFAULT:
                # --extensions_default_index (osquery issue 6006): only a
                # plain op-0 column becomes INDEX; any other bit keeps it.
                options = ColumnOptions.INDEX
            columns.append(Column(cname, ctype, options))
        elif kind == "alias":
            if "alias" in route:
                views.add(route["alias"])
        elif kind == "columnAlias" and cname is not None:
            target = route.get("target")
            if target is None or target not in declared_types:
                # columnDefinition only declares an alias whose target was
                # declared before it; osquery's xCreate would still append it
                # to its column list and misalign indexes. Skip it on both.
                continue
            target_index = next(i for i, c in enumerate(columns) if c.name == target)
            declared.append((cname, declared_types[target], ColumnOptions.HIDDEN))
            columns.append(Column(cname, UNKNOWN_TYPE, ColumnOptions.HIDDEN, target_index))
        elif kind == "attributes":
            value = _to_long(route["attributes"]) if "attributes" in route else None
            if value is not None:
                attributes = value
    return TableSpec(
        name=name,
        columns=tuple(columns),
        definition=column_definition(declared, is_extension=is_extension),
        attributes=attributes,
        aliases=tuple(sorted(views)),
    )


def column_definition(columns: Sequence[tuple[str, str, int]], *, is_extension: bool) -> str:
    """osquery's `columnDefinition(TableColumns, is_extension)`."""
    parts = []
    pkeys = []
    indexed = False
    without_rowid = False
    for cname, ctype, options in columns:
        part = "`" + cname + "` " + ctype
        if options & ColumnOptions.INDEX:
            indexed = True
        if options & (ColumnOptions.INDEX | ColumnOptions.ADDITIONAL):
            pkeys.append(cname)
            without_rowid = True
        if options & ColumnOptions.HIDDEN:
            part += " HIDDEN"
        for bit, collation in _COLLATIONS:
            if options & bit:
                part += " COLLATE " + collation
                break
        parts.append(part)
    # Only 'additional' columns: the whole row is the key.
    if not indexed and without_rowid:
        pkeys = [c[0] for c in columns]
    statement = "(" + ", ".join(parts)
    if pkeys:
        statement += ", PRIMARY KEY (" + ", ".join("`" + k + "`" for k in pkeys) + ")"
    statement += ")"
    # Extension tables keep their rowid so UPDATE/DELETE can address rows.
    if without_rowid and not is_extension:
        statement += " WITHOUT ROWID"
    return statement
