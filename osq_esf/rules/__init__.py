"""Mutes, filters and redaction: what the configuration says to drop or mask.

``parse_rules`` validates the ``[mutes]``, ``[filters]`` and ``[redaction]``
sections (docs/configuration.md); :class:`Rules` is their compiled form, the pipeline's
rules stage (``Pipeline.install_rules`` swaps it in atomically; osq_esf.reload decides
when).  Nothing here imports the configuration module: config -> rules, never back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from osq_esf.rules.base import RuleError
from osq_esf.rules.engine import Rules
from osq_esf.rules.filters import FilterRule, column_types, parse_filters
from osq_esf.rules.mutes import MutesConfig, parse_mutes
from osq_esf.rules.redact import RedactionConfig, parse_redaction

SECTIONS = ("mutes", "filters", "redaction")

__all__ = ["RuleError", "Rules", "RulesConfig", "parse_rules", "SECTIONS"]


@dataclass
class RulesConfig:
    mutes: MutesConfig = field(default_factory=MutesConfig)
    filters: tuple[FilterRule, ...] = ()
    redaction: RedactionConfig = field(default_factory=RedactionConfig)


def parse_rules(sections: dict, specs=None) -> RulesConfig:
    """Validate the rule sections (a dict with any of SECTIONS); raises RuleError."""
    taken: set[str] = set()
    cfg = RulesConfig()
    if "mutes" in sections:
        cfg.mutes = parse_mutes(sections["mutes"], taken)
    if "filters" in sections:
        if specs is None:
            from osq_esf.schema import load_specs

            specs = load_specs()
        cfg.filters = parse_filters(sections["filters"], taken, column_types(specs))
    if "redaction" in sections:
        cfg.redaction = parse_redaction(sections["redaction"], taken)
    return cfg
