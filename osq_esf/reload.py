"""Reloading the rules: on SIGHUP, and when osquery's ``custom_osq_esf_config`` option changes.

The effective configuration is the option when it is set (TOML text, or an absolute
path to a TOML file: a TOML document cannot start with ``/``), else the ``--config``
file, else the defaults.  A reload parses and compiles everything first and swaps the
compiled rules in under the pipeline lock, so events are never judged by half a
config and the rings are untouched.  A bad config is logged, kept in ``last_error``
and the rules in force stay.  Source, rings, clients, eslogger and lineage settings are read
at start only; a reload that changes them says so in the log.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time

from osq_esf.config import Config, ConfigError, load_config_file, parse_config
from osq_esf.rules import RuleError, Rules, RulesConfig
from osq_esf.rules.redact import safe_text

log = logging.getLogger(__name__)

OPTION = "custom_osq_esf_config"


class ConfigReloader:
    """Owns where the config comes from and swaps compiled rules into ``pipeline``."""

    def __init__(self, pipeline, path: str | None = None, allow_unsafe: bool = False,
                 started_with: Config | None = None):
        self.pipeline = pipeline
        self.path = path
        self.allow_unsafe = allow_unsafe
        self.option = ""  # the last value of the osquery option seen ("" = unset)
        self.started_with = started_with or Config()
        self.last_error: str | None = None
        self.reloads = 0  # reloads that took effect
        self.refused = 0  # reloads refused (the rules in force stayed)
        self.changed: float | None = None  # when the last reload was attempted (UNIX time)
        self._lock = threading.Lock()

    def compile(self, cfg: Config | None) -> Rules:
        try:
            return Rules(cfg.rules if cfg is not None else RulesConfig(), self.pipeline.layouts, self.pipeline.kinds)
        except RuleError as e:  # a column the running tables lack (the specs were checked at parse)
            raise ConfigError(str(e)) from None

    def install_initial(self) -> None:
        self.pipeline.install_rules(self.compile(self.started_with))

    def read(self) -> Config | None:
        """The effective configuration now (raises ConfigError)."""
        value = self.option.strip()
        if value:
            if value.startswith("/") and "\n" not in value:
                return load_config_file(value, self.allow_unsafe)
            return parse_config(self.option, f"osquery option {OPTION}")
        if self.path:
            return load_config_file(self.path, self.allow_unsafe)
        return None

    def reload(self, why: str) -> bool:
        """Re-read and swap in the rules; False (old rules kept) when the config is invalid."""
        with self._lock:
            try:
                cfg = self.read()
                rules = self.compile(cfg)
            except ConfigError as e:
                self.last_error = safe_text(str(e))  # a refused value may be a secret
                self.refused += 1
                self.changed = time.time()
                log.error("config reload (%s) refused, the previous rules stay in force: %s", why, self.last_error)
                return False
            self.pipeline.install_rules(rules)
            self.reloads += 1
            self.changed = time.time()
            self.last_error = None
            if _restart_only(cfg or Config()) != _restart_only(self.started_with):
                log.warning("config reload (%s): source, rings, clients, eslogger and lineage settings take effect "
                            "at the next start; mutes, filters and redaction changed now", why)
            log.info("config reloaded (%s): %d mutes, %d filters, %d redaction rules", why,
                     len(rules.mutes), len(rules.filters), len(rules.redact_rules))
            return True

    def option_changed(self, value: str | None) -> bool:
        """Note the option's current value; reload when it differs from the last one seen."""
        value = value or ""
        if value == self.option:
            return False
        self.option = value
        self.reload(f"osquery option {OPTION} changed")
        return True

    def poll_options(self, manager_path: str, interval: float, stopped: threading.Event) -> None:
        """Poll the manager's options() (the SDKs read them once; osquery's `ExtensionManager.options()`)."""
        from osq_esf.extension.server import manager_client

        interval = max(interval, 0.2)
        while not stopped.is_set():
            try:
                client, trans = manager_client(manager_path, max(interval, 1.0) * 3)
                try:
                    options = client.options()
                finally:
                    trans.close()
            except Exception as e:  # the manager watcher decides whether osquery is gone
                log.debug("options() failed: %s", e)
            else:
                info = (options or {}).get(OPTION)
                self.option_changed(getattr(info, "value", None))
            stopped.wait(interval)

    def rows(self) -> list[dict]:
        """es_mutes rows of the rules in force."""
        rules = self.pipeline.rules
        if rules is None:
            return []
        with self.pipeline.lock:
            return rules.rows()


def _restart_only(cfg: Config) -> Config:
    return dataclasses.replace(cfg, rules=RulesConfig())
