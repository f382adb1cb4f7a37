"""What the rule modules share: the validation error and small value parsers.

Parsers raise :class:`RuleError` with the dotted key of the offending value
(``mutes.rule[2].events``); :mod:`osq_esf.config` turns it into a ConfigError
with the file name and line.
"""

from __future__ import annotations

import fnmatch
import re

import re2

from osq_esf import events


class RuleError(ValueError):
    """An invalid configuration value (rules and every other section); ``key`` is its dotted path."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


def strings(raw, key: str) -> tuple[str, ...]:
    """A string or a non-empty list of non-empty strings."""
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items or not all(isinstance(s, str) and s for s in items):
        raise RuleError(key, "must be a non-empty string or a non-empty list of strings")
    return tuple(items)


def integer(raw, key: str) -> int:
    """A TOML integer; like TOML's own, it must fit 64 bits."""
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise RuleError(key, f"must be an integer, not {raw!r}")
    if not -(1 << 63) <= raw < (1 << 63):
        raise RuleError(key, f"{raw} does not fit 64 bits")
    return raw


def boolean(raw, key: str) -> bool:
    if not isinstance(raw, bool):
        raise RuleError(key, f"must be true or false, not {raw!r}")
    return raw


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error is raised with its key instead


def regex(pattern, key: str, ignore_case: bool = False):
    """A configured regular expression, compiled by RE2 (docs/decisions.md): matching is
    linear in the text whatever the pattern, so no config can stall the pipeline, and
    what RE2 cannot do in linear time (backreferences, lookarounds) is refused here."""
    if not isinstance(pattern, str) or not pattern:
        raise RuleError(key, "must be a non-empty regular expression string")
    try:
        return re2.compile(("(?i)" if ignore_case else "") + pattern, _RE2_OPTIONS)
    except re2.error as e:
        why = e.args[0].decode("utf-8", "replace") if e.args and isinstance(e.args[0], bytes) else str(e)
        raise RuleError(key, f"invalid regular expression (RE2 syntax, linear time: no backreferences "
                             f"or lookarounds): {why}") from None


def glob_regex(patterns: tuple[str, ...]) -> re.Pattern:
    """One compiled alternation of shell globs; ``*`` also matches ``/`` (fnmatch rules)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def event_types(raw, key: str) -> frozenset[str] | None:
    """``events = [...]`` as eslogger short names; None (all types) when absent."""
    if raw is None:
        return None
    names = strings(raw, key)
    unknown = [n for n in names if n not in events.BY_SHORT]
    if unknown:
        raise RuleError(key, f"unknown event type(s) {', '.join(unknown)}: use eslogger's names (exec, open, ...)")
    return frozenset(names)


def name(raw, key: str, default: str, taken: set[str]) -> str:
    """A rule name, unique across mutes, filters and redaction rules."""
    if raw is None:
        raw = default
    if not isinstance(raw, str) or not re.fullmatch(r"[A-Za-z0-9_.:-]+", raw):
        raise RuleError(key, "must be a word of letters, digits, '_', '.', ':' or '-'")
    if raw in taken:
        raise RuleError(key, f"rule name {raw!r} is used twice")
    taken.add(raw)
    return raw


def check_keys(raw: dict, allowed: set[str], key: str) -> None:
    for k in raw:
        if k not in allowed:
            raise RuleError(f"{key}.{k}", f"unknown key (expected one of {', '.join(sorted(allowed))})")


def table_of(raw, key: str) -> dict:
    if not isinstance(raw, dict):
        raise RuleError(key, "must be a table")
    return raw


def list_of_tables(raw, key: str) -> list[dict]:
    if not isinstance(raw, list) or not all(isinstance(r, dict) for r in raw):
        raise RuleError(key, "must be an array of tables ([[...]])")
    return raw
