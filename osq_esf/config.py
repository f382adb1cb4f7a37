"""Configuration file (TOML): source, rings, lineage, clients, eslogger, mutes, filters, redaction.

An invalid file is refused whole, with the key (and line where it can be found).
"""

from __future__ import annotations

import math
import os
import re
import stat
import sys
from dataclasses import dataclass, field

from osq_esf.rules import SECTIONS as RULE_SECTIONS
from osq_esf.sources.base import MAX_LINE
from osq_esf.rules import RuleError, RulesConfig, parse_rules
from osq_esf.rules import base

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class ConfigError(ValueError):
    """An invalid configuration; names the file, key and line."""


@dataclass
class LineageConfig:
    """``[lineage]``: the process table behind the real-parent columns (docs/lineage.md)."""

    enabled: bool = True
    exited_seconds: int = 600  # how long an exited process stays (event time)
    exited_max: int = 10_000  # how many exited processes stay
    max_processes: int = 50_000  # the whole table, live ones included
    # Live sources subscribe to fork/exec/exit even when only other events are asked for.
    process_events: bool = True


@dataclass
class InputConfig:
    """``[input]``: bounds on what a source may hand the decoder."""

    # The biggest legal exec is 1 MiB of argv+env (ARG_MAX), up to 6 bytes each once JSON
    # escapes it (\u0001), plus the rest of the message: 16 MiB leaves room.
    max_line_bytes: int = MAX_LINE


@dataclass
class EsloggerConfig:
    """``[eslogger]``: which binary the live source runs and how it restarts it."""

    binary: str | None = None  # None: /usr/bin/eslogger on macOS
    backoff_initial: float = 0.5  # seconds before the first restart
    backoff_max: float = 30.0  # cap of the doubling delay


# ``[source] live``: the live source ``osq-esf run`` starts when no --source is given.
LIVE_SOURCES = ("auto", "eslogger", "native")


@dataclass
class Config:
    live: str = "auto"  # LIVE_SOURCES; auto: eslogger on macOS 13+, native on 11 and 12
    capacity: dict[str, int] = field(default_factory=dict)
    max_bytes: dict[str, int] = field(default_factory=dict)
    total_bytes: int | None = None  # [rings] max_bytes: every ring together (None: the default)
    lineage: LineageConfig = field(default_factory=LineageConfig)
    # ``[clients]``: client name -> eslogger event names (one eslogger child each); empty = defaults.
    clients: dict[str, list[str]] = field(default_factory=dict)
    eslogger: EsloggerConfig = field(default_factory=EsloggerConfig)
    input: InputConfig = field(default_factory=InputConfig)
    # [mutes], [filters], [redaction] (osq_esf/rules, docs/configuration.md)
    rules: RulesConfig = field(default_factory=RulesConfig)

    def ring_kwargs(self) -> dict:
        kw = {"capacity": self.capacity, "max_bytes": self.max_bytes}
        if self.total_bytes is not None:
            kw["total_bytes"] = self.total_bytes
        return kw


def _line_of(text: str, key: str) -> str:
    n = find_line(text, key)
    return f" (line {n})" if n else ""


def find_line(text: str, key: str) -> int | None:
    """Line (1-based) of a dotted key such as ``mutes.rule[2].events``, or of its nearest parent.

    Follows ``[table]`` and ``[[array]]`` headers (the n-th header for ``[n]``), then
    ``name =`` inside the block found so far.
    """
    lines = text.splitlines()
    path: list[str] = []
    cursor, found = 0, None
    for name, index in re.findall(r"([^.\[\]]+)((?:\[\d+\])?)", key):
        path.append(name.strip())
        dotted = r"\s*\.\s*".join(re.escape(p) for p in path)
        nth = int(index[1:-1]) if index else 0
        arrays = [i for i, ln in enumerate(lines) if re.match(rf"\s*\[\[\s*{dotted}\s*\]\]", ln)]
        if arrays:
            if nth < len(arrays):
                cursor = found = arrays[nth]
            continue
        tables = [i for i, ln in enumerate(lines) if re.match(rf"\s*\[\s*{dotted}\s*(\](?!\])|\.)", ln)]
        if tables:
            cursor = found = tables[0]
            continue
        for i in range(cursor + (found is not None), len(lines)):
            if found is not None and lines[i].lstrip().startswith("["):
                break  # the next table: the key is not in this block
            if re.search(rf"(^|[\s{{,]){re.escape(path[-1])}\s*=", lines[i]):
                cursor = found = i
                break
    return None if found is None else found + 1


def parse_config(text: str, origin: str = "<config>") -> Config:
    """Parse and validate a whole file; any bad value refuses it with its key and line.

    Every section parser raises the keyed :class:`RuleError`; it becomes a ConfigError
    with the origin and line here, in one place.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{origin}: {e}") from None
    cfg = Config()
    try:
        unknown = [k for k in raw
                   if k not in {"source", "rings", "lineage", "clients", "eslogger", "input", *RULE_SECTIONS}]
        if unknown:
            raise RuleError(unknown[0], "unknown section")
        cfg.live = _parse_source(raw.get("source", {}))
        cfg.capacity, cfg.max_bytes, cfg.total_bytes = _parse_rings(raw.get("rings", {}))
        cfg.input = _parse_input(raw.get("input", {}))
        cfg.lineage = _parse_lineage(raw.get("lineage", {}))
        cfg.clients = _parse_clients(raw.get("clients", {}))
        cfg.eslogger = _parse_eslogger(raw.get("eslogger", {}))
        cfg.rules = parse_rules({k: raw[k] for k in RULE_SECTIONS if k in raw})
    except RuleError as e:
        raise ConfigError(f"{origin}: {e.key}: {e.message}{_line_of(text, e.key)}") from None
    return cfg


# Upper bounds: a value past them is a typo or an attack, and would exhaust memory or
# overflow a counter before it did anything useful.
RANGES = {
    "capacity": (1, 100_000_000),
    "max_bytes": (0, 1 << 40),
    "exited_seconds": (0, 30 * 86400),
    "exited_max": (0, 10_000_000),
    "max_processes": (1, 10_000_000),
    "max_line_bytes": (1 << 20, 1 << 30),
    "backoff_initial": (0.01, 3600.0),
    "backoff_max": (0.01, 86400.0),
}


def _count(v, key: str) -> int:
    """An integer within RANGES of its key's last part (TOML booleans are not integers here)."""
    lo, hi = RANGES[key.rsplit(".", 1)[-1]]
    if not lo <= base.integer(v, key) <= hi:
        raise RuleError(key, f"must be an integer from {lo} to {hi}, not {v}")
    return v


def _seconds(v, key: str) -> float:
    """A finite number of seconds within RANGES (nan, inf and 1e300 are refused)."""
    lo, hi = RANGES[key.rsplit(".", 1)[-1]]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
        raise RuleError(key, f"must be a number of seconds from {lo:g} to {hi:g}, not {v!r}")
    return float(v)


def _parse_source(section) -> str:
    """``[source]``: ``live``, the source used when the command line names none."""
    base.check_keys(base.table_of(section, "source"), {"live"}, "source")
    live = section.get("live", "auto")
    if live not in LIVE_SOURCES:
        raise RuleError("source.live", f"must be one of {', '.join(map(repr, LIVE_SOURCES))}, not {live!r}")
    return live


def _parse_rings(section) -> tuple[dict[str, int], dict[str, int], int | None]:
    """``[rings]``: ``max_bytes`` for all rings together, and ``[rings.<table>]`` capacity/max_bytes."""
    from osq_esf.schema import load_specs

    specs = load_specs()
    capacity: dict[str, int] = {}
    max_bytes: dict[str, int] = {}
    total = None
    for table, opts in base.table_of(section, "rings").items():
        if table == "max_bytes":
            total = _count(opts, "rings.max_bytes")
            continue
        key = f"rings.{table}"
        spec = specs.get(table)
        if spec is None or spec.kind != "event":  # [rings.es_opne] must not be silently ignored
            raise RuleError(key, f"no event table named {table!r} (see `osq-esf tables`)")
        base.check_keys(base.table_of(opts, key), {"capacity", "max_bytes"}, key)
        if "capacity" in opts:
            capacity[table] = _count(opts["capacity"], f"{key}.capacity")
        if "max_bytes" in opts:
            max_bytes[table] = _count(opts["max_bytes"], f"{key}.max_bytes")
    return capacity, max_bytes, total


def _parse_input(section) -> InputConfig:
    out = InputConfig()
    base.check_keys(base.table_of(section, "input"), {"max_line_bytes"}, "input")
    if "max_line_bytes" in section:
        out.max_line_bytes = _count(section["max_line_bytes"], "input.max_line_bytes")
    return out


def _parse_lineage(section) -> LineageConfig:
    out = LineageConfig()
    base.check_keys(base.table_of(section, "lineage"),
                    {"enabled", "process_events", "exited_seconds", "exited_max", "max_processes"}, "lineage")
    for k, v in section.items():
        key = f"lineage.{k}"
        if k in ("enabled", "process_events"):
            setattr(out, k, base.boolean(v, key))
        else:
            setattr(out, k, _count(v, key))
    return out


_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def _parse_clients(section) -> dict[str, list[str]]:
    owner: dict[str, str] = {}
    for name, evs in base.table_of(section, "clients").items():
        key = f"clients.{name}"
        if not _NAME.match(name):
            raise RuleError(key, "a client name is lower-case letters, digits and _")
        if not isinstance(evs, list) or not evs or not all(isinstance(e, str) and _NAME.match(e) for e in evs):
            raise RuleError(key, 'must be a non-empty list of eslogger event names such as ["exec", "fork"]')
        for e in evs:
            if e in owner:  # two children subscribed to one type would store every event twice
                raise RuleError(key, f"event {e!r} is already in clients.{owner[e]}")
            owner[e] = name
    return {n: list(dict.fromkeys(v)) for n, v in section.items()}


def _parse_eslogger(section) -> EsloggerConfig:
    out = EsloggerConfig()
    base.check_keys(base.table_of(section, "eslogger"), {"binary", "backoff_initial", "backoff_max"}, "eslogger")
    for k, v in section.items():
        key = f"eslogger.{k}"
        if k == "binary":
            if not isinstance(v, str) or not v.startswith("/"):
                raise RuleError(key, "must be an absolute path")
        else:
            v = _seconds(v, key)
        setattr(out, k, v)
    if out.backoff_max < out.backoff_initial:
        raise RuleError("eslogger.backoff_max", "must be >= backoff_initial")
    return out


def check_permissions(path: str, fd: int) -> None:
    """Refuse a config others could change, like osquery's safePermissions
    (osquery's `safePermissions` in `osquery/filesystem/filesystem.cpp`): a regular file, owned by
    root or by us, not world-writable."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path}: not a regular file")
    if st.st_uid not in (0, os.getuid(), os.geteuid()):
        raise ConfigError(f"{path}: unsafe permissions: owned by uid {st.st_uid}, neither root nor the user "
                          f"running osq-esf (uid {os.geteuid()}); chown it, or pass --allow-unsafe-config "
                          "(development only)")
    if st.st_mode & stat.S_IWOTH:
        raise ConfigError(f"{path}: unsafe permissions: world-writable (mode {stat.S_IMODE(st.st_mode):04o}); "
                          "chmod o-w it, or pass --allow-unsafe-config (development only)")


MAX_CONFIG_BYTES = 4 << 20


def load_config_file(path: str, allow_unsafe: bool = False) -> Config:
    """Read, check and parse a config file; ``allow_unsafe`` skips the permission check."""
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer (it would hang start-up, or
        # a reload thread and every reload after it); anything but a regular file is refused.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        with open(fd, encoding="utf-8", closefd=True) as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise ConfigError(f"{path}: not a regular file")
            if st.st_size > MAX_CONFIG_BYTES:
                raise ConfigError(f"{path}: {st.st_size} bytes; a configuration is at most {MAX_CONFIG_BYTES}")
            os.set_blocking(fd, True)
            if not allow_unsafe:
                check_permissions(path, fd)  # the file we read, not a name that may change
            text = f.read(MAX_CONFIG_BYTES + 1)
            if len(text) > MAX_CONFIG_BYTES:  # it grew after the size check: never parse a cut file
                raise ConfigError(f"{path}: grew past {MAX_CONFIG_BYTES} bytes while it was read")
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    return parse_config(text, path)
