"""Configuration file (TOML): ring sizes now; mutes, filters and redaction come next.

An invalid file is refused whole, with the key (and line where it can be found).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

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
class Config:
    capacity: dict[str, int] = field(default_factory=dict)
    max_bytes: dict[str, int] = field(default_factory=dict)
    lineage: LineageConfig = field(default_factory=LineageConfig)

    def ring_kwargs(self) -> dict:
        return {"capacity": self.capacity, "max_bytes": self.max_bytes}


def _line_of(text: str, key: str) -> str:
    for i, line in enumerate(text.splitlines(), 1):
        if line.strip().startswith(key.split(".")[-1]) or f"[{key}]" in line:
            return f" (line {i})"
    return ""


def parse_config(text: str, origin: str = "<config>") -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{origin}: {e}") from None
    cfg = Config()
    rings = raw.pop("rings", {})
    if not isinstance(rings, dict):
        raise ConfigError(f"{origin}: 'rings' must be a table{_line_of(text, 'rings')}")
    for table, opts in rings.items():
        if not isinstance(opts, dict):
            raise ConfigError(f"{origin}: rings.{table} must be a table{_line_of(text, 'rings.' + table)}")
        for k, v in opts.items():
            key = f"rings.{table}.{k}"
            if k not in ("capacity", "max_bytes"):
                raise ConfigError(f"{origin}: unknown key {key}{_line_of(text, key)}")
            if not isinstance(v, int) or isinstance(v, bool) or v < (1 if k == "capacity" else 0):
                raise ConfigError(f"{origin}: {key} must be a positive integer{_line_of(text, key)}")
            (cfg.capacity if k == "capacity" else cfg.max_bytes)[table] = v
    cfg.lineage = _parse_lineage(raw.pop("lineage", {}), text, origin)
    if raw:
        k = next(iter(raw))
        raise ConfigError(f"{origin}: unknown key {k}{_line_of(text, k)}")
    return cfg


def _parse_lineage(section, text: str, origin: str) -> LineageConfig:
    if not isinstance(section, dict):
        raise ConfigError(f"{origin}: 'lineage' must be a table{_line_of(text, 'lineage')}")
    out = LineageConfig()
    for k, v in section.items():
        key = f"lineage.{k}"
        if k in ("enabled", "process_events"):
            if not isinstance(v, bool):
                raise ConfigError(f"{origin}: {key} must be true or false{_line_of(text, key)}")
        elif k in ("exited_seconds", "exited_max", "max_processes"):
            low = 1 if k == "max_processes" else 0
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                what = "a positive" if low else "a non-negative"
                raise ConfigError(f"{origin}: {key} must be {what} integer{_line_of(text, key)}")
        else:
            raise ConfigError(f"{origin}: unknown key {key}{_line_of(text, key)}")
        setattr(out, k, v)
    return out


def load_config_file(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    return parse_config(text, path)
