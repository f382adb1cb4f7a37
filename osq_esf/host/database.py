"""The host's SQLite: a primary in-memory database plus transient ones.

Mirrors `osquery/sql/sqlite_util.cpp`: the primary connection is used when
free; under contention a query gets a transient database that attaches
every table again (asking each extension for its `columns`). Writes to the
schema go through osquery's authorizer allowlist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import threading
from typing import Callable, Iterator, Sequence

import apsw

from . import functions
from .convert import cast_variant
from .routes import TableAttributes, column_type_name
from .vtable import Settings, TableError, TableModule, TableSource

log = logging.getLogger(__name__)

# kMemoryDBSettings, applied before the authorizer is installed.
_MEMORY_DB_PRAGMAS = (
    "PRAGMA auto_vacuum=FULL; PRAGMA cache_size=0; PRAGMA count_changes=OFF; "
    "PRAGMA default_temp_store=0; PRAGMA journal_mode=OFF; PRAGMA page_count=0; "
    "PRAGMA synchronous=OFF;"
)

# kAllowedSQLiteActionCodes / kAllowedSQLitePragmas (sqlite_util.h).
_ALLOWED_ACTIONS = frozenset(
    apsw.mapping_authorizer_function[name]
    for name in (
        "SQLITE_READ", "SQLITE_SELECT", "SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE",
        "SQLITE_CREATE_VTABLE", "SQLITE_DROP_VTABLE", "SQLITE_CREATE_VIEW", "SQLITE_DROP_VIEW",
        "SQLITE_CREATE_TABLE", "SQLITE_DROP_TABLE", "SQLITE_CREATE_TEMP_TABLE",
        "SQLITE_DROP_TEMP_TABLE", "SQLITE_CREATE_TEMP_VIEW", "SQLITE_DROP_TEMP_VIEW",
        "SQLITE_FUNCTION", "SQLITE_RECURSIVE", "SQLITE_TRANSACTION",
    )
)
_ALLOWED_PRAGMAS = frozenset(
    ("table_info", "table_xinfo", "function_list", "journal_mode", "case_sensitive_like",
     "collation_list")
)
_PRAGMA = apsw.mapping_authorizer_function["SQLITE_PRAGMA"]
_READ = apsw.mapping_authorizer_function["SQLITE_READ"]
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _authorizer(op, arg1, arg2, dbname, trigger):
    if op in _ALLOWED_ACTIONS:
        return apsw.SQLITE_OK
    if op == _PRAGMA and arg1 is not None and arg1.lower() in _ALLOWED_PRAGMAS:
        return apsw.SQLITE_OK
    log.error("Authorizer denied action %s %s %s", op, arg1, arg2)
    return apsw.SQLITE_DENY


@dataclasses.dataclass
class Result:
    """One statement's result: column names and rows of Python values.

    Unpacks as `columns, rows = result`.
    """

    columns: list[str]
    rows: list[tuple]

    def __iter__(self):
        return iter((self.columns, self.rows))


class AttachError(Exception):
    """Attaching a table failed; the message is SQLite's result-code name."""


def _code_name(exc: apsw.Error) -> str:
    code = getattr(exc, "result", apsw.SQLITE_ERROR) & 0xFF
    return apsw.mapping_result_codes.get(code, "SQLITE_ERROR")


class ClockVFS(apsw.VFS):
    """The default VFS with SQLite's notion of "now" taken from `clock`.

    SQLite asks the connection's VFS for the time behind 'now' (strftime,
    datetime, unixepoch, CURRENT_TIMESTAMP): with a simulated clock, queries
    written as `time > strftime('%s','now') - 60` see the simulated time too.
    """

    _JULIAN_EPOCH_MS = 210866760000000  # 1970-01-01 as a Julian day, in ms

    def __init__(self, name: str, clock: Callable[[], float]):
        self.clock = clock
        self.name = name
        super().__init__(name, "")

    def xCurrentTimeInt64(self) -> int:  # noqa: N802 - SQLite's name
        return int(self.clock() * 1000) + self._JULIAN_EPOCH_MS


class _Instance:
    """One SQLite database with its per-table modules and osquery's functions."""

    def __init__(self, settings: Settings, vfs: str | None = None):
        self.settings = settings
        self.conn = apsw.Connection(":memory:", vfs=vfs) if vfs else apsw.Connection(":memory:")
        self.conn.execute(_MEMORY_DB_PRAGMAS)
        functions.register(self.conn)
        self.conn.authorizer = _authorizer
        self.modules: dict[str, TableModule] = {}

    def attach(self, source: TableSource, routes=None) -> TableModule:
        """attachTableInternal: module + `CREATE VIRTUAL TABLE temp.<name>`."""
        if not _IDENTIFIER.fullmatch(source.name):
            # osquery splices the name into the SQL unquoted; anything that is
            # not a plain identifier fails there (or worse). Refuse it up front.
            raise AttachError("SQLITE_ERROR")
        module = self.modules.get(source.name)
        if module is None:
            module = TableModule(source, self.settings, routes)
            self.conn.create_module(
                source.name,
                module,
                use_bestindex_object=True,
                # Core tables have no xUpdate: SQLite itself then reports
                # "table X may not be modified".
                read_only=not source.is_extension,
            )
            self.modules[source.name] = module
        else:
            module.source, module.routes = source, routes
        try:
            self.conn.execute("CREATE VIRTUAL TABLE temp.%s USING %s" % (source.name, source.name))
        except apsw.Error as exc:
            log.error("Error creating virtual table: %s (%s)", source.name, exc)
            raise AttachError(_code_name(exc)) from None
        finally:
            module.routes = None  # later xConnects ask the source
        for alias in module.spec.aliases if module.spec else ():
            # osquery runs "CREATE VIEW alias AS SELECT * FROM name" and
            # ignores the result; a non-TEMP view cannot see a temp table in
            # current SQLite, so the view is made TEMP to keep the alias usable.
            if _IDENTIFIER.fullmatch(alias):
                with contextlib.suppress(apsw.Error):
                    self.conn.execute("CREATE TEMP VIEW %s AS SELECT * FROM %s" % (alias, source.name))
        return module

    def detach(self, name: str) -> None:
        try:
            self.conn.execute("DROP TABLE IF EXISTS temp.%s" % name)
        except apsw.Error as exc:
            log.error("Error detaching table: %s (%s)", name, exc)

    def close(self) -> None:
        self.conn.close()


class Database:
    """Primary database plus on-demand transient ones."""

    def __init__(self, settings: Settings, all_tables: Callable[[], Sequence[TableSource]],
                 vfs: str | None = None):
        self.settings = settings
        self._all_tables = all_tables
        self._vfs = vfs
        self._primary = _Instance(settings, vfs)
        self._primary_lock = threading.RLock()
        self._closed = False

    # -- attach / detach on the primary ----------------------------------

    def attach(self, source: TableSource, routes=None):
        """Attach `source` on the primary; returns its TableSpec."""
        with self._primary_lock:
            return self._primary.attach(source, routes).spec

    def detach(self, name: str) -> None:
        with self._primary_lock:
            self._primary.detach(name)

    def spec(self, name: str):
        module = self._primary.modules.get(name)
        return module.spec if module else None

    # -- connections -----------------------------------------------------

    @contextlib.contextmanager
    def connection(self) -> Iterator[apsw.Connection]:
        """The primary if free, else a transient database (SQLiteDBManager::get)."""
        if self._primary_lock.acquire(blocking=False):
            try:
                yield self._primary.conn
            finally:
                self._primary_lock.release()
            return
        log.debug("DBManager contention: opening transient SQLite database")
        instance = self._transient()
        try:
            yield instance.conn
        finally:
            instance.close()

    def _transient(self) -> _Instance:
        """attachVirtualTables on a fresh database."""
        instance = _Instance(self.settings, self._vfs)
        for source in self._all_tables():
            try:
                routes = source.columns()
            except TableError:
                continue
            if any(_pending(route) for route in routes):
                continue
            with contextlib.suppress(AttachError):
                instance.attach(source)
        return instance

    def close(self) -> None:
        with self._primary_lock:
            if not self._closed:
                self._closed = True
                self._primary.close()

    # -- running SQL -------------------------------------------------------

    def execute(self, sql: str) -> list[Result]:
        """Run every statement in `sql`; one Result per statement."""
        with self.connection() as conn:
            return _run(conn, sql)

    def query(self, sql: str) -> list[dict[str, str]]:
        """osquery::query: all rows of all statements as text maps."""
        out = []
        for result in self.execute(sql):
            for row in result.rows:
                out.append({name: cast_variant(value) for name, value in zip(result.columns, row)})
        return out

    def query_columns(self, sql: str) -> list[tuple[str, str]]:
        """getQueryColumnsInternal: (name, type) of the first statement."""
        return self.describe(sql)[0]

    def describe(self, sql: str) -> tuple[list[tuple[str, str]], set[str]]:
        """Prepare (never run) the first statement: its (name, type) columns and the tables it reads."""
        with self.connection() as conn:
            cursor = conn.cursor()
            seen: list = []
            tables: set[str] = set()

            def first_only(_cursor, statement, _bindings):
                seen.append((statement, _cursor.description))
                return False  # prepare, do not run

            def reads(op, arg1, arg2, dbname, trigger):
                if op == _READ and arg1:
                    tables.add(arg1)
                return _authorizer(op, arg1, arg2, dbname, trigger)

            cursor.exec_trace = first_only
            conn.authorizer = reads
            try:
                with contextlib.suppress(apsw.ExecTraceAbort):
                    cursor.execute(sql)
            finally:
                conn.authorizer = _authorizer
            if not seen:
                return [], tables
            statement, description = seen[0]
            columns = [[name, column_type_name(decl) if decl else "UNKNOWN"]
                       for name, decl, *_ in description]
            if any(decl is None for _, decl, *_ in description):
                _apply_planner_types(conn.execute("EXPLAIN " + statement).fetchall(), columns)
            return [(name, ctype) for name, ctype in columns], tables


def _pending(route) -> bool:
    if route.get("id") != "attributes":
        return False
    attributes = route.get("attributes", "")
    return attributes.lstrip("-").isdigit() and int(attributes) & TableAttributes.PENDING > 0


def split_statements(sql: str) -> list[str]:
    """`sql` cut after each `;` that ends a complete statement (sqlite3_complete)."""
    statements, begin = [], 0
    position = sql.find(";")
    while position >= 0:
        if apsw.complete(sql[begin:position + 1]):
            statements.append(sql[begin:position + 1])
            begin = position + 1
        position = sql.find(";", position + 1)
    if sql[begin:].strip():
        statements.append(sql[begin:])
    return statements


def _run(conn: apsw.Connection, sql: str) -> list[Result]:
    """Each statement's result, statement by statement; on an error the
    exception carries the results of the statements before it as
    `partial_results` (osqueryi prints those before the error)."""
    results: list[Result] = []
    for statement in split_statements(sql):
        cursor = conn.cursor()
        started: list[Result] = []

        def statement_started(_cursor, _statement, _bindings, started=started):
            started.append(Result([d[0] for d in _cursor.description], []))
            return True

        cursor.exec_trace = statement_started
        try:
            for row in cursor.execute(statement):
                started[-1].rows.append(row)
        except apsw.Error as exc:
            exc.partial_results = results
            raise
        results.extend(started)
    return results


# QueryPlanner::applyTypes: infer expression types from the VDBE program.
_ARITHMETIC = ("BitAnd", "BitOr", "ShiftLeft", "ShiftRight", "Add", "Subtract",
               "Multiply", "Divide", "Remainder")
_COMPARATORS = ("Not", "IsNull", "NotNull", "Ne", "Eq", "Gt", "Le", "Lt", "Ge",
                "IfNeg", "IfNotZero")
_OPCODE_TYPES = {
    "Concat": (4, "TEXT"), "AggStep": (4, "BIGINT"), "AggStep0": (4, "BIGINT"),
    "Integer": (3, "INTEGER"), "Int64": (3, "BIGINT"), "String": (3, "TEXT"),
    "String8": (3, "TEXT"), "Or": (4, "INTEGER"), "And": (4, "INTEGER"),
    **{op: (4, "BIGINT") for op in _ARITHMETIC},
    **{op: (3, "INTEGER") for op in _COMPARATORS},
}  # opcode -> (index of the p-register in an EXPLAIN row, type)
_CAST_TYPES = {ord("A"): "BLOB", ord("B"): "TEXT", ord("C"): "UNKNOWN", ord("D"): "BIGINT",
               ord("E"): "DOUBLE"}


def _apply_planner_types(program, columns: list[list[str]]) -> None:
    types: dict[int, str] = {}
    for row in program:
        opcode, p1, p2, p3 = row[1], row[2], row[3], row[4]
        if opcode == "ResultRow":
            for register in sorted(types):
                index = register - p1
                if 0 <= index < len(columns):
                    columns[index][1] = types[register]
        if opcode == "Copy":
            for i in range(p3 + 1):
                if p1 + i in types:
                    types[p2 + i] = types.pop(p1 + i)
        elif opcode == "Cast":
            types[p1] = _CAST_TYPES.get(p2, "UNKNOWN")
        if opcode in _OPCODE_TYPES:
            position, ctype = _OPCODE_TYPES[opcode]
            types[row[position]] = ctype
