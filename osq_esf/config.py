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
class Config:
    capacity: dict[str, int] = field(default_factory=dict)
    max_bytes: dict[str, int] = field(default_factory=dict)

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
    if raw:
        k = next(iter(raw))
        raise ConfigError(f"{origin}: unknown key {k}{_line_of(text, k)}")
    return cfg


def load_config_file(path: str) -> Config:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}") from None
    return parse_config(text, path)
