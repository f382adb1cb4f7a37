"""The flag set `options()` reports, and runtime updates to it.

osquery's `ExtensionManagerInterface::options()` returns every gflag as
{value, default_value, type} plus config options named `custom_*` with
type "string" and an empty default (`Flag::flags()`, core/flags.cpp).
Defaults below are osquery's macOS defaults at a5b14f63d98c.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Mapping


@dataclasses.dataclass
class Flag:
    value: str
    default_value: str
    type: str


# (name, type, default) — the flags an extension plausibly reads.
_DEFAULTS: tuple[tuple[str, str, str], ...] = (
    ("allow_unsafe", "bool", "false"),
    ("config_path", "string", "/var/osquery/osquery.conf"),
    ("config_plugin", "string", "filesystem"),
    ("config_refresh", "uint64", "0"),
    ("database_path", "string", "/var/osquery/osquery.db"),
    ("disable_database", "bool", "false"),
    ("disable_endpointsecurity", "bool", "true"),
    ("disable_endpointsecurity_fim", "bool", "true"),
    ("disable_events", "bool", "false"),
    ("disable_extensions", "bool", "false"),
    ("disable_logging", "bool", "false"),
    ("disable_watchdog", "bool", "false"),
    ("distributed_plugin", "string", "tls"),
    ("enable_extensions_watchdog", "bool", "false"),
    ("es_fim_enable_open_events", "bool", "false"),
    ("es_fim_mute_path_literal", "string", ""),
    ("es_fim_mute_path_prefix", "string", ""),
    ("events_expiry", "uint64", "3600"),
    ("events_max", "uint64", "50000"),
    ("events_optimize", "bool", "true"),
    ("extensions_autoload", "string", "/var/osquery/extensions.load"),
    ("extensions_default_index", "bool", "true"),
    ("extensions_interval", "string", "3"),
    ("extensions_require", "string", ""),
    ("extensions_socket", "string", "/var/osquery/osquery.em"),
    ("extensions_timeout", "string", "3"),
    ("host_identifier", "string", "hostname"),
    ("logger_path", "string", "/var/log/osquery/"),
    ("logger_plugin", "string", "filesystem"),
    ("nullvalue", "string", ""),
    ("pidfile", "string", "/var/osquery/osqueryd.pidfile"),
    ("schedule_splay_percent", "uint64", "10"),
    ("table_delay", "uint64", "0"),
    ("thrift_string_size_limit", "int32", "0"),
    ("thrift_timeout", "uint32", "300"),
    ("thrift_verbose", "bool", "false"),
    ("verbose", "bool", "false"),
    ("watchdog_level", "int32", "0"),
)


def number_text(value: float) -> str:
    """Render a seconds value the way a flag string would hold it."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Flags:
    """Thread-safe flag store with osquery's update rules."""

    def __init__(self, overrides: Mapping[str, str] | None = None):
        self._lock = threading.Lock()
        self._flags = {name: Flag(default, default, kind) for name, kind, default in _DEFAULTS}
        self._custom: dict[str, str] = {}
        for name, value in (overrides or {}).items():
            self.set(name, value)

    def set(self, name: str, value: str) -> None:
        """Flag::updateValue: known flags and `custom_*` names only."""
        if not isinstance(value, str):
            raise TypeError("flag values are strings, got %r" % (value,))
        with self._lock:
            if name in self._flags:
                self._flags[name].value = value
            elif name.startswith("custom_"):
                self._custom[name] = value
            else:
                raise KeyError("Flag not found: %s" % name)

    def get(self, name: str) -> str:
        with self._lock:
            if name in self._custom:
                return self._custom[name]
            return self._flags[name].value

    def get_bool(self, name: str) -> bool:
        # gflags parses these spellings for bools.
        return self.get(name).strip().lower() in ("1", "true", "t", "yes", "y")

    def snapshot(self) -> dict[str, Flag]:
        """All flags plus custom options, as `options()` returns them."""
        with self._lock:
            out = {name: dataclasses.replace(flag) for name, flag in self._flags.items()}
            for name, value in self._custom.items():
                out[name] = Flag(value, "", "string")
            return out
