"""osquery packs: reading them as osqueryd does, and checking them strictly.

Reading follows osquery (a5b14f63): `stripConfigComments` in
`osquery/config/config.cpp` (lines starting with `#` or `//` are dropped,
a backslash-newline joins lines) and `Pack::initialize` in
`osquery/config/packs.cpp` (platform/version/shard/discovery per pack;
query, interval, snapshot, removed, platform, version, shard, denylist,
startup_priority per query; `description` and `value` are metadata only).
osqueryd skips an invalid query with a warning; `load_pack` keeps those
warnings in `Pack.skipped`.

`check_pack` is stricter, for packs this project ships: see its docstring.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from typing import Callable, Iterable

MAX_INTERVAL = 604800  # kMaxQueryInterval
DEFAULT_INTERVAL = 3600  # --schedule_default_interval
NO_STARTUP_PRIORITY = 2**64 - 1  # UINT64_MAX: not run at startup
RESERVED_PREFIXES = ("query.", "cache.", "config_views.")  # kReservedDbPrefixes
RESERVED_SUFFIXES = ("epoch", "counter")  # kReservedDbSuffixes
PACK_KEYS = {"queries", "platform", "version", "shard", "discovery", "oncall"}
QUERY_KEYS = {"query", "interval", "snapshot", "removed", "platform", "version", "shard", "denylist",
              "startup_priority", "description", "value"}


class PackError(ValueError):
    """The pack file cannot be read at all (not JSON, not an object)."""


@dataclasses.dataclass
class ScheduledQuery:
    pack: str
    name: str
    query: str
    interval: int
    snapshot: bool = False
    removed: bool = True
    denylist: bool = True
    startup_priority: int = NO_STARTUP_PRIORITY
    description: str = ""
    raw: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Pack:
    name: str
    queries: list[ScheduledQuery]
    platform: str = ""
    version: str = ""
    shard: int = 0
    discovery: list[str] = dataclasses.field(default_factory=list)
    raw: dict = dataclasses.field(default_factory=dict)
    skipped: list[str] = dataclasses.field(default_factory=list)  # osqueryd's warnings


def strip_config_comments(text: str) -> str:
    """stripConfigComments: drop `#` and `//` lines, join backslash-newlines, trim lines."""
    out = []
    for line in text.replace("\\\n", "").split("\n"):
        trimmed = line.strip()
        if trimmed.startswith("#") or trimmed.startswith("//"):
            continue
        out.append(trimmed)
    return "\n".join(out)


def _unique_keys(pairs):
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise PackError("duplicate key %r" % key)
        seen[key] = value
    return seen


def parse_pack_json(text: str, source: str = "pack") -> dict:
    try:
        obj = json.loads(strip_config_comments(text), object_pairs_hook=_unique_keys)
    except json.JSONDecodeError as exc:
        raise PackError("%s: not JSON: %s (line %d, column %d of the file without comment lines)"
                        % (source, exc.msg, exc.lineno, exc.colno)) from None
    except PackError as exc:
        raise PackError("%s: %s" % (source, exc)) from None
    if not isinstance(obj, dict):
        raise PackError("%s: a pack is a JSON object" % source)
    return obj


def pack_name_of(path: str) -> str:
    """`osq-esf-detections.conf` -> `osq-esf-detections` (the name in osquery's `packs` map)."""
    base = os.path.basename(path)
    return base.rsplit(".", 1)[0] if "." in base else base


def load_pack(path: str, name: str | None = None) -> Pack:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise PackError("%s: %s" % (path, exc.strerror)) from None
    except UnicodeDecodeError:
        raise PackError("%s: not UTF-8" % path) from None
    return pack_from_json(parse_pack_json(text, path), name or pack_name_of(path))


def _as_bool(value) -> bool:
    """JSON::valueToBool: true/false, numbers non-zero, strings "true"/"1"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.lower() in ("true", "1")
    return False


def _as_size(value) -> int:
    """JSON::valueToSize: numbers, and strings of digits; anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else 0
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def pack_from_json(obj: dict, name: str) -> Pack:
    """Pack::initialize: the queries osqueryd would schedule, sorted as it sorts them."""
    pack = Pack(name=name, queries=[], raw=obj)
    if isinstance(obj.get("platform"), str):
        pack.platform = obj["platform"]
    if isinstance(obj.get("version"), str):
        pack.version = obj["version"]
    if "shard" in obj:
        pack.shard = _as_size(obj["shard"])
    if isinstance(obj.get("discovery"), list):
        pack.discovery = [q for q in obj["discovery"] if isinstance(q, str)]
    queries = obj.get("queries")
    if not isinstance(queries, dict):
        pack.skipped.append("No queries defined for pack %s" % name)
        return pack
    for query_name, q in queries.items():
        if not isinstance(q, dict):
            pack.skipped.append("The pack %s contains an invalid query" % name)
            continue
        if query_name.startswith(RESERVED_PREFIXES) or query_name.endswith(RESERVED_SUFFIXES):
            pack.skipped.append("Invalid query name: %s (reserved prefix or suffix)" % query_name)
            continue
        if not isinstance(q.get("query"), str):
            pack.skipped.append("No query string defined for query %s" % query_name)
            continue
        interval = _as_size(q["interval"]) if "interval" in q else DEFAULT_INTERVAL
        if interval <= 0 or interval > MAX_INTERVAL or not q["query"]:
            pack.skipped.append("Query has invalid interval: %s: %s" % (query_name, interval))
            continue
        pack.queries.append(ScheduledQuery(
            pack=name, name=query_name, query=q["query"], interval=interval,
            snapshot=_as_bool(q.get("snapshot", False)), removed=_as_bool(q.get("removed", True)),
            denylist=_as_bool(q.get("denylist", True)),
            startup_priority=_as_size(q["startup_priority"]) if "startup_priority" in q else NO_STARTUP_PRIORITY,
            description=q.get("description") if isinstance(q.get("description"), str) else "",
            raw=q,
        ))
    pack.queries.sort(key=lambda sq: (sq.startup_priority, sq.name))
    return pack


def platform_matches(platform: str, host_platform: str = "darwin") -> bool:
    """checkPlatform (osquery/core/system.cpp) on a macOS host."""
    if not platform or platform == "null" or "any" in platform or "all" in platform:
        return True
    if "posix" in platform and host_platform in ("darwin", "linux", "freebsd"):
        return True
    return host_platform in platform


# -- strict checks for shipped packs --------------------------------------------------

ATTACK_TECHNIQUE = re.compile(r"\bT1\d{3}(?:\.\d{3})?\b")
# time > (SELECT unix_time FROM time) - N, or the strftime('%s','now') form; any table alias.
TIME_WINDOW = re.compile(
    r"(?:\b\w+\.)?\btime\s*>=?\s*(?:\(\s*select\s+unix_time\s+from\s+time\s*\)"
    r"|(?:cast\s*\(\s*)?strftime\s*\(\s*'%s'\s*,\s*'now'\s*\)(?:\s+as\s+integer\s*\))?)\s*-\s*(\d+)",
    re.IGNORECASE)
REQUIRED_RESULT_COLUMNS = ("pid", "path", "time")


def window_bounds(interval: int) -> tuple[int, int]:
    """Smallest and largest accepted window for a query run every `interval` seconds.

    At least the interval plus osquery's 10 % splay, so no event falls between
    two runs; at most three intervals, so a run reads little more than it must.
    """
    return interval + -(-interval // 10), 3 * interval


@dataclasses.dataclass
class QueryFacts:
    """What the host knows about one query (from preparing it, not running it)."""

    tables: set[str]
    columns: list[str]


def check_pack(obj: dict, pack: Pack, describe: Callable[[str], QueryFacts],
               event_tables: Iterable[str], required_discovery: str = "osquery_extensions") -> list[str]:
    """Every reason `pack` is not fit to ship; empty when it is.

    - shape: only keys osquery reads (plus description/value), `platform`
      includes darwin, `version` is set, `discovery` checks
      `required_discovery`, no query osqueryd would skip, each query has a
      description and an explicit interval, `removed` not set on snapshots;
    - every query and discovery query prepares in the host against the
      registered tables (`describe` raises on a bad query);
    - a query reading an event table (a detection) has a time window
      `time > (SELECT unix_time FROM time) - N` with N within
      `window_bounds(interval)`, returns pid, path and time columns, and
      names a MITRE ATT&CK technique (T1234 or T1234.001) in its description.
    """
    problems = ["%s: %s" % (pack.name, warning) for warning in pack.skipped]
    event_tables = set(event_tables)
    problems += ["unknown pack key %r" % key for key in obj if key not in PACK_KEYS]
    if "darwin" not in pack.platform or not platform_matches(pack.platform):
        problems.append("pack platform must include darwin (is %r)" % pack.platform)
    if not pack.version:
        problems.append("pack has no minimum osquery version")
    if not any(required_discovery in q for q in pack.discovery):
        problems.append("pack discovery does not check %s" % required_discovery)
    for sql in pack.discovery:
        try:
            describe(sql)
        except Exception as exc:  # noqa: BLE001 - the host's error text is the message
            problems.append("discovery query fails: %s: %s" % (sql, exc))
    for sq in pack.queries:
        where = "query %s" % sq.name
        problems += ["%s: unknown key %r" % (where, key) for key in sq.raw if key not in QUERY_KEYS]
        if "interval" not in sq.raw:
            problems.append("%s: no interval (osqueryd would use %d s)" % (where, DEFAULT_INTERVAL))
        if not sq.description.strip():
            problems.append("%s: no description" % where)
        if sq.snapshot and "removed" in sq.raw:
            problems.append("%s: removed has no effect on a snapshot query" % where)
        try:
            facts = describe(sq.query)
        except Exception as exc:  # noqa: BLE001
            problems.append("%s: does not prepare: %s" % (where, exc))
            continue
        if not facts.tables & event_tables:
            continue
        windows = [int(n) for n in TIME_WINDOW.findall(sq.query)]
        low, high = window_bounds(sq.interval)
        if not windows:
            problems.append("%s: reads %s without a time window "
                            "(time > (SELECT unix_time FROM time) - N)"
                            % (where, ", ".join(sorted(facts.tables & event_tables))))
        for n in windows:
            if not low <= n <= high:
                problems.append("%s: window %d s does not match interval %d s (use %d..%d)"
                                % (where, n, sq.interval, low, high))
        missing = [c for c in REQUIRED_RESULT_COLUMNS if c not in facts.columns]
        if missing:
            problems.append("%s: result lacks %s" % (where, ", ".join(missing)))
        if not ATTACK_TECHNIQUE.search(sq.description):
            problems.append("%s: description names no MITRE ATT&CK technique (T1234[.001])" % where)
    return problems
