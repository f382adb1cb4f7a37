"""apsw virtual tables that behave like osquery's (`osquery/sql/virtual_table.cpp`).

`BestIndexObject` is osquery's `xBestIndex`, `Filter` its `xFilter` and the
`Update*` methods its `xUpdate`. Rows come from a `TableSource`: an
extension over thrift, or a core table implemented in Python.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import logging
from typing import Callable, Protocol, Sequence

import apsw

from .context import build_context, json_value
from .convert import c_strtoll, parse_bigint, parse_double, parse_integer, sqlite_text
from .routes import ColumnOptions, TableAttributes, TableSpec, table_spec

log = logging.getLogger(__name__)

# SQLite's constraint operators (raw `op` values osquery forwards as-is).
OP_EQ = 2
OP_GT, OP_LE, OP_LT, OP_GE = 4, 8, 16, 32
OP_LIMIT, OP_OFFSET = 73, 74
# osquery's internal marker for an OPTIMIZED column's IN list (tables.h IN_OP).
IN_OP = 3
_INEQUALITIES = frozenset((OP_GT, OP_LE, OP_LT, OP_GE))

# "We consider the max-cost as an error-state, e.g., unusable constraints."
MAX_INDEX_COST = 1000000.0

_index_ids = itertools.count()  # osquery's kConstraintIndexID


class TableError(Exception):
    """A table source failed; the message becomes the SQLite error."""


class TableSource(Protocol):
    name: str
    is_extension: bool

    def columns(self) -> list[dict[str, str]]: ...

    def generate(self, request: dict[str, str]) -> list[dict[str, str]]: ...

    def write(self, request: dict[str, str]) -> list[dict[str, str]]: ...


@dataclasses.dataclass
class Settings:
    """Host knobs the tables read at use time (osquery reads FLAGS_ live)."""

    default_index: Callable[[], bool] = lambda: True
    events_disabled: Callable[[], bool] = lambda: False
    # SQLite >= 3.38 offers LIMIT/OFFSET (ops 73/74) to xBestIndex with
    # iColumn 0 and osquery's xBestIndex does not filter them, but the team's
    # reference (§4.5) specifies "LIMIT is never passed"; off by default.
    forward_limit: bool = False


class TableModule:
    """apsw module for one table name on one connection.

    `routes`, when given, answers xCreate's `columns` request instead of the
    source: at registration osquery answers from the broadcast routes.
    """

    def __init__(self, source: TableSource, settings: Settings, routes=None):
        self.source = source
        self.settings = settings
        self.routes = routes
        self.spec: TableSpec | None = None

    def Create(self, connection, modulename, databasename, tablename, *args):  # noqa: N802
        try:
            routes = self.routes if self.routes is not None else self.source.columns()
        except TableError as exc:
            raise apsw.SQLError(str(exc)) from None
        if not routes:
            raise apsw.SQLError("SQL logic error")
        self.spec = table_spec(
            self.source.name,
            routes,
            is_extension=self.source.is_extension,
            default_index=self.settings.default_index(),
        )
        return self.spec.create_statement, VirtualTable(self.spec, self.source, self.settings)

    Connect = Create


def _sensible(column_type: str, op: int) -> bool:
    # sensibleComparison: TEXT inequalities are left to SQLite.
    return not (column_type == "TEXT" and op in _INEQUALITIES)


def _in_order(value):
    # SQLite iterates an IN list's ephemeral index in sort order:
    # NULL < numbers < text < blob.
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float)):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    return (3, bytes(value))


def _text_column(rows, key):
    return [row.get(key) for row in rows]


def _converted(parse):
    def column(rows, key):
        out = []
        append = out.append
        for row in rows:
            text = row.get(key)
            append(None if text is None else parse(text))
        return out
    return column


def _bigint_column(rows, key):
    # Inlined fast path for plain decimals (no sign, no leading zero, <= 18
    # digits, so always within int64); everything else goes through stoll.
    out = []
    append = out.append
    for row in rows:
        text = row.get(key)
        if text is None:
            append(None)
        elif text.isdigit() and text.isascii() and len(text) < 19 and (text[0] != "0" or len(text) == 1):
            append(int(text))
        else:
            append(parse_bigint(text))
    return out


def _null_column(rows, key):
    # UNKNOWN type: osquery logs "Error unknown column type" and sets nothing.
    return [None] * len(rows)


_COLUMN_READERS = {
    "TEXT": _text_column,
    "BLOB": _text_column,  # served as text, as osquery does
    "INTEGER": _converted(parse_integer),
    "BIGINT": _bigint_column,
    "UNSIGNED BIGINT": _bigint_column,
    "DOUBLE": _converted(parse_double),
}


def _reader(spec: TableSpec, index: int):
    """(reply key, whole-column converter) for column `index`."""
    column = spec.resolved(index)
    return column.name, _COLUMN_READERS.get(column.type, _null_column)


class VirtualTable:
    def __init__(self, spec: TableSpec, source: TableSource, settings: Settings):
        self.spec = spec
        self.source = source
        self.settings = settings
        self.readers = [_reader(spec, i) for i in range(len(spec.columns))]

    # -- planning ---------------------------------------------------------

    def BestIndexObject(self, info: apsw.IndexInfo) -> bool:  # noqa: N802
        columns = self.spec.columns
        plan: list[tuple[int, int]] = []  # (column index, op) in argv order
        cost = MAX_INDEX_COST
        has_required_columns = False
        has_required_constraints = False
        for i in range(info.nConstraint):
            if not info.get_aConstraint_usable(i):
                continue
            index = info.get_aConstraint_iColumn(i)
            if index < 0 or index >= len(columns):
                continue
            op = info.get_aConstraint_op(i)
            if op in (OP_LIMIT, OP_OFFSET) and not self.settings.forward_limit:
                continue
            column = columns[index]
            if not _sensible(column.type, op):
                cost += 10
                continue
            if column.options & ColumnOptions.REQUIRED:
                has_required_constraints = True
                cost = 1
            elif column.options & (ColumnOptions.INDEX | ColumnOptions.ADDITIONAL):
                cost = 1
            else:
                continue  # not indexed: SQLite filters it
            if info.get_aConstraintUsage_in(i) and column.options & ColumnOptions.OPTIMIZED:
                info.set_aConstraintUsage_in(i, True)  # whole IN list at once
                op = IN_OP
            plan.append((index, op))
            # omit is never set: SQLite re-checks every term.
            info.set_aConstraintUsage_argvIndex(i, len(plan))

        used_bits = info.colUsed
        bitset = 0
        for bit in used_bits:
            bitset |= 1 << bit
        cols_used: list[str] = []
        if bitset:
            for i, column in enumerate(columns):
                bit = min(i, 63)
                if not bitset >> bit & 1:
                    continue
                name = column.name
                if column.target is not None:
                    # Report the real column, in both the names and the bits.
                    bitset &= ~(1 << bit)
                    bitset |= 1 << min(column.target, 63)
                    name = columns[column.target].name
                if name not in cols_used:
                    cols_used.append(name)
                if column.options & ColumnOptions.REQUIRED:
                    has_required_columns = True
        if has_required_columns and not has_required_constraints:
            cost = MAX_INDEX_COST
        info.idxNum = next(_index_ids) & 0x7FFFFFFF
        info.idxStr = json.dumps([plan, cols_used, bitset])
        info.estimatedCost = cost
        return True

    def Open(self):  # noqa: N802
        return Cursor(self)

    def Disconnect(self):  # noqa: N802
        pass

    Destroy = Disconnect

    # -- writes (extension tables only) ---------------------------------

    def UpdateDeleteRow(self, rowid):  # noqa: N802
        self._write({"action": "delete", "id": str(rowid)})

    def UpdateInsertRow(self, rowid, fields):  # noqa: N802
        request = {"action": "insert", "json_value_array": self._values(fields)}
        if rowid is not None:
            request["auto_rowid"] = "true"
            request["id"] = str(rowid)
        else:
            request["auto_rowid"] = "false"
        response = self._write(request)
        if rowid is not None:
            return None
        if "id" not in response:
            raise apsw.SQLError("SQL logic error")  # "The plugin did not return a row id"
        new_id = c_strtoll(response["id"], 10)
        if new_id is None:
            raise apsw.SQLError("SQL logic error")
        return new_id

    def UpdateChangeRow(self, row, newrowid, fields):  # noqa: N802
        request = {"action": "update", "id": str(row)}
        if newrowid != row:
            request["new_id"] = str(newrowid)
        request["json_value_array"] = self._values(fields)
        self._write(request)

    def _values(self, fields: Sequence) -> str:
        """serializeUpdateParameters: type-checked JSON array of the row."""
        columns = self.spec.columns
        if len(fields) != len(columns):
            raise apsw.RangeError("column index out of range")
        out = []
        for column, value in zip(columns, fields):
            required = column.options in (ColumnOptions.INDEX, ColumnOptions.REQUIRED)
            if value is None:
                if required:
                    # Exact equality in osquery: with extensions_default_index
                    # every plain column is INDEX, so NULL there is refused.
                    raise apsw.MismatchError("datatype mismatch")
            elif isinstance(value, int):
                if column.type not in ("INTEGER", "BIGINT", "UNSIGNED BIGINT"):
                    raise apsw.MismatchError("datatype mismatch")
            elif isinstance(value, float):
                if column.type != "DOUBLE":
                    raise apsw.MismatchError("datatype mismatch")
            elif isinstance(value, str):
                if column.type != "TEXT":
                    raise apsw.MismatchError("datatype mismatch")
            elif column.type != "BLOB":
                raise apsw.MismatchError("datatype mismatch")
            out.append(json_value(value))
        return "[" + ",".join(out) + "]"

    def _write(self, request: dict[str, str]) -> dict[str, str]:
        # xUpdate's QueryContext has no constraints and no colsUsed.
        request["context"] = build_context((), {})
        try:
            response = self.source.write(request)
        except TableError as exc:
            raise apsw.SQLError(str(exc)) from None
        if len(response) != 1 or "status" not in response[0]:
            raise apsw.SQLError("SQL logic error")
        row = response[0]
        status = row["status"]
        if status == "readonly":
            raise apsw.ReadOnlyError("table %s may not be modified" % self.spec.name)
        if status == "failure":
            raise apsw.SQLError(row.get("message", "SQL logic error"))
        if status == "constraint":
            raise apsw.ConstraintError("constraint failed")
        if status != "success":
            raise apsw.SQLError("SQL logic error")
        return row


class Cursor:
    def __init__(self, table: VirtualTable):
        self.table = table
        self.rows: list[dict[str, str]] = []
        self.index = 0
        # Column values are converted a whole column at a time, on first use:
        # SQLite asks only for the columns a statement reads.
        self.values: list[list | None] = [None] * len(table.readers)

    def Filter(self, indexnum, indexname, constraintargs):  # noqa: N802
        table = self.table
        spec = table.spec
        plan, cols_used, bitset = json.loads(indexname)
        constraints: dict[str, list[tuple[int, str]]] = {}
        for (index, op), value in zip(plan, constraintargs):
            name = spec.columns[index].name
            if op == IN_OP:
                # All values of an OPTIMIZED column's IN list, as EQUALS; an
                # empty string is kept here ("safe" in osquery's lambda).
                for item in sorted(value, key=_in_order):
                    expr = sqlite_text(item)
                    if expr is not None:
                        constraints.setdefault(name, []).append((OP_EQ, expr))
                continue
            expr = sqlite_text(value)
            if expr is None or expr == "":
                continue
            constraints.setdefault(name, []).append((op, expr))

        required = [c.name for c in spec.columns if c.options & ColumnOptions.REQUIRED]
        if required and not any(
            spec.columns[index].options & ColumnOptions.REQUIRED for index, _ in plan
        ):
            raise apsw.ConstraintError(
                "Table %s was queried without a required column in the WHERE clause" % spec.name
            )

        if spec.attributes & TableAttributes.EVENT_BASED and table.settings.events_disabled():
            log.warning("Table %s is event-based but events are disabled", spec.name)
        context = build_context(
            ((c.name, c.type) for c in spec.columns), constraints, cols_used, bitset
        )
        try:
            self.rows = table.source.generate({"action": "generate", "context": context})
        except TableError as exc:
            raise apsw.SQLError(str(exc)) from None
        self.index = 0
        self.values = [None] * len(table.readers)

    def Eof(self):  # noqa: N802
        return self.index >= len(self.rows)

    def Next(self):  # noqa: N802
        self.index += 1

    def Column(self, number):  # noqa: N802
        try:
            return self.values[number][self.index]
        except TypeError:  # not converted yet (or rowid: -1)
            if number < 0:
                return self.Rowid()
            key, reader = self.table.readers[number]
            column = self.values[number] = reader(self.rows, key)
            return column[self.index]

    def Rowid(self):  # noqa: N802
        text = self.rows[self.index].get("rowid")
        if text is None:
            return self.index
        rowid = c_strtoll(text, 10)
        if rowid is None:
            raise apsw.SQLError("SQL logic error")  # "Invalid rowid value returned"
        return rowid

    def Close(self):  # noqa: N802
        self.rows = []
        self.values = []
