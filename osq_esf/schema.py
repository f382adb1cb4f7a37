"""Table specs: load tables/*.toml, validate them, and turn them into osquery routes and docs.

The specs are the single place tables are declared.  An event table's spec is also the
declaration of its ES event kind: which eslogger event fills it, its default ring
capacity, which column mutes treat as the target path, and for every column of its
own where the value comes from in eslogger's JSON (``source``), how it is turned into
a column value (``transform``), from which message version it exists (``since``) and
whether an enum or bit set gives it a readable ``_name``/``_names`` twin.  Decoding
(:mod:`osq_esf.bodies`), extraction (:mod:`osq_esf.extract`), rings, rules, the native
source and the docs all derive from it (docs/architecture.md).

Event tables include column groups from ``_groups.toml``; enums live in ``_enums.toml``;
``kind = "status"`` tables describe the extension itself.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TYPES = ("TEXT", "INTEGER", "BIGINT", "UNSIGNED BIGINT", "DOUBLE", "BLOB")
# osquery ColumnOptions (osquery/core/sql/column.h).
OPTIONS = {"index": 1, "required": 2, "additional": 4, "optimized": 8, "hidden": 16,
           "collate_binary": 32, "collate_nocase": 64, "collate_rtrim": 128}

# How a source value becomes a column value (osq_esf.extract implements each one).
#   text              a JSON number written as text (uint64 ids that do not fit BIGINT's sign)
#   destination_path  create/rename's union: existing_file.path, or new_path.dir.path + "/" + filename
#   path_join         two sources, a directory path and a name in it, joined with "/" (link, clone, uipc_bind)
#   path_or_string    a field eslogger writes as a file object or as a bare path string
#   json              the value as canonical JSON text: compact, keys sorted, audit tokens as objects
#   argv              a list of strings joined like a command line (quoted where needed)
#   count             the number of items of a list
#   time              an RFC 3339 time as UNIX seconds
#   lower             text lower-cased (hex digests)
#   exit_status       WEXITSTATUS of a wait status, NULL unless the process exited normally
#   term_signal       WTERMSIG of a wait status, NULL unless a signal ended the process
TRANSFORMS = ("text", "destination_path", "path_join", "path_or_string", "json", "argv", "count", "time", "lower",
              "exit_status", "term_signal")
# Values the pipeline resolves at ingest instead of reading them from the event (``resolve``):
#   username          the user name of the row's process's uid, on a live source only (NULL on replay)
RESOLVERS = ("username",)
# A PROCESS column expands into one column per attribute of the process it names.
PROCESS_ATTRS: tuple[tuple[str, str, str], ...] = (
    ("pid", "BIGINT", "pid"),
    ("pidversion", "BIGINT", "pidversion"),
    ("path", "TEXT", "executable path"),
    ("signing_id", "TEXT", "code-signing id"),
    ("team_id", "TEXT", "team id"),
    ("platform_binary", "INTEGER", "1 if an Apple platform binary"),
)
# Attributes an audit token alone can give when the process object is null.
TOKEN_ATTRS = ("pid", "pidversion")
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_PATH = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
# Ring capacity when a spec gives none.
DEFAULT_CAPACITY = 10_000


class SpecError(ValueError):
    """A table spec that does not hold together; names the file and key."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    options: int
    description: str
    group: str  # "" for a table's own columns
    # Where an event table's own column comes from (None for groups and status tables).
    source: tuple[str, ...] = ()  # dotted paths in the event body; the first present one wins (path_join: both)
    transform: str = ""
    since: int = 0  # message version that introduced the field (0: every version)
    enum: str = ""  # the enum (or bit set, with bits=True) that names this column's values
    bits: bool = False
    process: str = ""  # for an expanded PROCESS column: the attribute (pid, path, ...)
    token: tuple[str, ...] = ()  # for an expanded PROCESS column: the audit tokens to fall back on (first present)
    named: str = ""  # for an enum's _name column: the column it names
    redact: str = ""  # argv | env | text | json: masked by the redaction stage
    resolve: str = ""  # a value resolved at ingest (RESOLVERS) instead of read from the event

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
    # Event tables only: the declaration of the event kind that fills the table.
    event: str = ""  # eslogger's name of the event ("" for es_other_events and status tables)
    capacity: int = DEFAULT_CAPACITY  # default ring capacity (rows)
    # Columns holding the paths target-path mutes test (() when there is none); an event with two
    # (rename, link, ...) is muted only when both are, and selected when either is, as ES does.
    target: tuple[str, ...] = ()
    process_path: str = ""  # column process-path mutes test instead of the acting process's path
    extractor: str = ""  # a hand-written extractor (osq_esf.extract.HAND_WRITTEN); "" = generic
    client: str = ""  # the default ES client that subscribes the event ("" = not collected by default)
    notes: str = ""  # porting notes for docs/tables.md

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def own_columns(self) -> tuple[Column, ...]:
        """The columns the extractor fills (not the shared groups)."""
        return tuple(c for c in self.columns if not c.group)

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


@dataclass(frozen=True, eq=False)
class Enum:
    """Names of an ES enum's values, or of a bit set's bits (``bits = true``)."""

    name: str
    values: dict[int, str]
    bits: bool = False
    # A bit set's texts by mask: a handful of masks recur (open's flags, code-signing flags).
    _texts: dict = field(default_factory=dict, repr=False)

    def name_of(self, value) -> str | None:
        """The value's name, or a bit set's ``NAME|NAME|0x...`` (unknown bits as hex); None for None."""
        if value is None:
            return None
        if not self.bits:
            return self.values.get(value)
        text = self._texts.get(value)
        if text is None:
            parts, rest = [], value & 0xFFFFFFFFFFFFFFFF
            for bit, name in self.values.items():
                if bit and rest & bit == bit:
                    parts.append(name)
                    rest &= ~bit
            if rest:
                parts.append(hex(rest))
            text = "|".join(parts) if parts else self.values.get(0, "")
            if len(self._texts) < 4096:
                self._texts[value] = text
        return text


def _options(c: dict, at: str, name: str) -> int:
    bits = 0
    for opt in c.get("options", []):
        if opt not in OPTIONS:
            raise SpecError(f"{at} ({name}): unknown option {opt!r}")
        bits |= OPTIONS[opt]
    return bits


_COLUMN_KEYS = {"name", "type", "options", "description", "source", "transform", "since", "enum", "token",
                "redact", "resolve", "attrs"}


def _columns(raw: list, group: str, where: str, enums: dict[str, Enum]) -> list[Column]:
    cols = []
    for i, c in enumerate(raw):
        at = f"{where}[{i}]"
        try:
            name, typ = c["name"], c["type"]
        except KeyError as e:
            raise SpecError(f"{at}: missing key {e.args[0]!r}") from None
        unknown = set(c) - _COLUMN_KEYS
        if unknown:
            raise SpecError(f"{at} ({name}): unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(name, str) or not _NAME.match(name):
            raise SpecError(f"{at}: column name {name!r} must be lower-case letters, digits and _")
        if not c.get("description"):
            raise SpecError(f"{at} ({name}): every column needs a description")
        source = c.get("source", ())
        source = (source,) if isinstance(source, str) else tuple(source)
        for s in source:
            if not isinstance(s, str) or not _PATH.match(s):
                raise SpecError(f"{at} ({name}): source {s!r} is not a dotted path of JSON keys")
        if source and group:
            raise SpecError(f"{at} ({name}): group columns are filled by the pipeline, not from a source")
        transform = c.get("transform", "")
        if transform and transform not in TRANSFORMS:
            raise SpecError(f"{at} ({name}): transform {transform!r} is not one of {', '.join(TRANSFORMS)}")
        if transform == "path_join" and len(source) != 2:
            raise SpecError(f"{at} ({name}): path_join joins exactly two sources (a directory's path and a name)")
        since = c.get("since", 0)
        if not isinstance(since, int) or isinstance(since, bool) or not 0 <= since <= 64:
            raise SpecError(f"{at} ({name}): since must be a message version (an integer)")
        redact = c.get("redact", "")
        if redact not in ("", "argv", "env", "text", "json"):
            raise SpecError(f"{at} ({name}): redact must be argv, env, text or json")
        # A json column is redacted as json, and only JSON is: a json transform, or JSON the
        # pipeline writes itself (no source: es_other_events' event).
        if redact and (redact == "json") != (c.get("transform") == "json" or (redact == "json" and not source)):
            raise SpecError(f"{at} ({name}): a json column is redacted as json, and only a json column is")
        resolve = c.get("resolve", "")
        if resolve and (resolve not in RESOLVERS or source):
            raise SpecError(f"{at} ({name}): resolve must be one of {', '.join(RESOLVERS)}, without a source")
        base = Column(name, typ, _options(c, at, name), c["description"], group, source, transform, since,
                      redact=redact, resolve=resolve)
        if typ == "PROCESS":
            cols.extend(_process_columns(base, c.get("token", ""), c.get("attrs"), at))
            continue
        if c.get("attrs"):
            raise SpecError(f"{at} ({name}): attrs is for PROCESS columns")
        if typ not in TYPES:
            raise SpecError(f"{at} ({name}): type {typ!r} is not one of {', '.join(TYPES + ('PROCESS',))}")
        if c.get("token"):
            raise SpecError(f"{at} ({name}): token is for PROCESS columns")
        enum_name = c.get("enum", "")
        if enum_name:
            if enum_name not in enums:
                raise SpecError(f"{at} ({name}): unknown enum {enum_name!r} (declare it in _enums.toml)")
            if not base.numeric:
                raise SpecError(f"{at} ({name}): an enum names the values of a numeric column")
            e = enums[enum_name]
            base = replace(base, enum=enum_name, bits=e.bits)
            cols.append(base)
            suffix = "_names" if e.bits else "_name"
            what = "bits" if e.bits else "values"
            cols.append(Column(name + suffix, "TEXT", 0, f"`{name}` by name ({e.name} {what} as ES names them).",
                               group, base.source, "", base.since, enum_name, e.bits, named=name))
            continue
        cols.append(base)
    return cols


def _process_columns(base: Column, token, attrs, at: str) -> list[Column]:
    """A PROCESS column (an es_process_t inside the event) as one column per attribute
    (``attrs`` picks some of PROCESS_ATTRS; all by default).  ``source`` and ``token`` may
    list alternatives (the arms of a union): the first present one wins."""
    token = (token,) if isinstance(token, str) and token else tuple(token or ())
    for t in token:
        if not isinstance(t, str) or not _PATH.match(t):
            raise SpecError(f"{at} ({base.name}): token {t!r} is not a dotted path")
    if base.transform or not (base.source or token):
        raise SpecError(f"{at} ({base.name}): a PROCESS column needs a source or a token, and takes no transform")
    known = [a for a, _, _ in PROCESS_ATTRS]
    if attrs is not None and (not isinstance(attrs, list) or not attrs or any(a not in known for a in attrs)):
        raise SpecError(f"{at} ({base.name}): attrs must be a non-empty list among {', '.join(known)}")
    if not base.source and (attrs is None or any(a not in TOKEN_ATTRS for a in attrs)):
        # An audit token alone (xp_malware_remediated's remediated process) gives only the ids.
        raise SpecError(f"{at} ({base.name}): a PROCESS column with only a token has attrs among "
                        f"{', '.join(TOKEN_ATTRS)}")
    out = []
    for attr, typ, what in PROCESS_ATTRS:
        if attrs is not None and attr not in attrs:
            continue
        fallback = " (from the audit token when the process is null)" if token and attr in TOKEN_ATTRS else ""
        out.append(Column(f"{base.name}_{attr}", typ, 0, f"{base.description.rstrip('.')}: {what}{fallback}.",
                          "", base.source, "", base.since, process=attr, token=token if attr in TOKEN_ATTRS else ()))
    return out


def _enums(text: str) -> dict[str, Enum]:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"_enums.toml: {e}") from None
    out = {}
    for name, table in raw.items():
        if not isinstance(table, dict):
            raise SpecError(f"_enums.toml: {name} must be a table")
        bits = table.get("bits", False)
        values = {}
        for k, v in table.items():
            if k == "bits":
                continue
            try:
                number = int(k, 0)
            except ValueError:
                raise SpecError(f"_enums.toml: {name}.{k}: keys are numbers (\"0\", \"0x40\")") from None
            if not isinstance(v, str) or not v:
                raise SpecError(f"_enums.toml: {name}.{k}: the name must be a non-empty string")
            values[number] = v
        out[name] = Enum(name, values, bool(bits))
    return out


_SPEC_KEYS = {"name", "description", "kind", "event_types", "groups", "columns", "examples", "event", "capacity",
              "target", "process_path", "extractor", "client", "notes"}


def parse_specs(files: dict[str, str]) -> dict[str, TableSpec]:
    """Build specs from {filename: toml text}; ``_groups.toml`` supplies the shared groups and
    ``_enums.toml`` the enums."""
    enums = _enums(files.get("_enums.toml", ""))
    groups_raw = tomllib.loads(files.get("_groups.toml", ""))
    groups = {g: _columns(cols, g, f"_groups.toml {g}", enums) for g, cols in groups_raw.items()}
    specs: dict[str, TableSpec] = {}
    events_seen: dict[str, str] = {}
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
        unknown = set(raw) - _SPEC_KEYS
        if unknown:
            raise SpecError(f"{fname}: unknown key(s) {', '.join(sorted(unknown))}")
        cols: list[Column] = []
        kind = raw.get("kind", "event")
        event = raw.get("event", "")
        # Every event table has the message, process and lineage groups (osq_esf.layout).
        for g in raw.get("groups", ["message", "process", "lineage"] if kind == "event" else []):
            if g not in groups:
                raise SpecError(f"{fname}: unknown group {g!r}")
            cols.extend(groups[g])
        cols.extend(_columns(raw.get("columns", []), "", f"{fname} columns", enums))
        seen = set()
        for c in cols:
            if c.name in seen:
                raise SpecError(f"{fname}: column {c.name!r} declared twice")
            seen.add(c.name)
        if event:
            if event in events_seen:
                raise SpecError(f"{fname}: event {event!r} is already declared by {events_seen[event]}")
            events_seen[event] = fname
        capacity = raw.get("capacity", DEFAULT_CAPACITY)
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise SpecError(f"{fname}: capacity must be a positive integer")
        target = raw.get("target", ())
        target = (target,) if isinstance(target, str) else tuple(target)
        if "process_path" in raw and not isinstance(raw["process_path"], str):
            raise SpecError(f"{fname}: process_path names one column")
        for key, col in [("target", t) for t in target] + [("process_path", raw.get("process_path", ""))]:
            if col and col not in seen:
                raise SpecError(f"{fname}: {key} names {col!r}, which is not a column of the table")
        examples = tuple((e["description"], e["sql"]) for e in raw.get("examples", []))
        event_types = tuple(raw.get("event_types", [event] if event else []))
        client = raw.get("client", "")
        if client and not _NAME.match(client):
            raise SpecError(f"{fname}: client must be lower-case letters, digits and _")
        specs[name] = TableSpec(name, raw.get("description", ""), kind, event_types, tuple(cols), examples,
                                event, capacity, target, raw.get("process_path", ""),
                                raw.get("extractor", ""), client, raw.get("notes", ""))
        if kind == "event" and not event and name != "es_other_events":
            raise SpecError(f"{fname}: an event table declares its eslogger event (event = \"...\")")
        if kind == "event" and event and not raw.get("extractor"):
            _check_sources(specs[name], fname)
    return specs


def _check_sources(spec: TableSpec, fname: str) -> None:
    """A generic extractor needs a source (or a resolver) for every own column; that the
    paths form one tree is checked when the body Struct is built (osq_esf.bodies)."""
    for c in spec.own_columns:
        if not (c.source or c.token or c.named or c.resolve):
            raise SpecError(f"{fname} ({c.name}): a column of a generic table needs a source")


def load_specs() -> dict[str, TableSpec]:
    """The specs installed with the package (tables/ in the source tree)."""
    root = resources.files("osq_esf._specs")
    files = {p.name: p.read_text() for p in root.iterdir() if p.name.endswith(".toml")}
    return parse_specs(files)


@cache
def load_enums() -> dict[str, Enum]:
    """The enums installed with the package (tables/_enums.toml), loaded once."""
    return _enums(resources.files("osq_esf._specs").joinpath("_enums.toml").read_text())


def markdown(specs: dict[str, TableSpec], introduced: dict[str, str] | None = None) -> str:
    """docs/tables.md, generated from the specs (`osq-esf tables --format md`).

    ``introduced`` maps an eslogger event name to the macOS release that added it.
    """
    introduced = introduced or {}
    out = ["# Tables", "", "Generated from `tables/*.toml` by `osq-esf tables --format md`; do not edit.", ""]
    out += _porting_notes()
    for kind, title in (("event", "Event tables"), ("status", "Status tables")):
        out += [f"## {title}", ""]
        for s in (s for s in specs.values() if s.kind == kind):
            out += [f"### `{s.name}`", "", s.description, ""]
            if s.event:
                facts = [f"ES event `{s.event}`"]
                if s.event in introduced:
                    facts.append(f"since macOS {introduced[s.event]}")
                facts.append(f"default ring {s.capacity:,} rows")
                if s.target:
                    facts.append("target-path mutes test " + " and ".join(f"`{t}`" for t in s.target))
                out += ["; ".join(facts) + ".", ""]
            elif s.event_types:
                out += ["ES event types: " + ", ".join(f"`{t}`" for t in s.event_types), ""]
            if s.notes:
                out += [s.notes, ""]
            out += ["| column | type | options | source | description |", "|---|---|---|---|---|"]
            for c in s.columns:
                opts = ", ".join(k for k, v in OPTIONS.items() if c.options & v)
                desc = c.description.replace("|", "\\|")
                src = " or ".join(f"`{p}`" for p in c.source)
                if c.transform:
                    src += f" ({c.transform})"
                if c.since:
                    src += f" v{c.since}+"
                out.append(f"| `{c.name}` | {c.type} | {opts} | {src} | {desc} |")
            out.append("")
            for desc, sql in s.examples:
                out += [f"*{desc}*", "", "```sql", sql, "```", ""]
    return "\n".join(out)


def _porting_notes() -> list[str]:
    return [
        "## Porting from osquery's es_process_events / es_process_file_events", "",
        "- Column names follow osquery's where they overlap, so most queries port by renaming the table "
        "(`es_process_events` with `event_type = 'exec'` is `es_exec`; `es_process_file_events` splits into "
        "`es_open`, `es_write`, `es_create`, `es_rename`, ...; its `dest_filename` is `es_rename.dest_filename`).",
        "- NULL where osquery writes `''`: a value ES did not give (an older message version, a process without "
        "a team id, no controlling tty) is SQL NULL here. `WHERE team_id = ''` becomes `WHERE team_id IS NULL`.",
        "- `cmdline` and `env` have no trailing space (osquery appends one after the last item); an argument "
        "holding a space or quote is quoted the same way.",
        "- `euid` is the effective uid (osquery's es_process_events puts the egid there).",
        "- `time` is the ES message's own time, not when the row was stored; `eid` is a hidden, strictly "
        "increasing row id.",
        "- `username` (es_exec, es_fork, es_exit) is resolved on the Mac that captured the event, from the "
        "process's uid; it is NULL for replayed recordings, never looked up on the replaying host.",
        "",
    ]
