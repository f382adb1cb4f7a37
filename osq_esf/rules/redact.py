"""Redaction: mask secrets in es_exec ``cmdline`` and ``env`` before they are buffered.

The extractor has joined argv/env with :func:`osq_esf.extract.quote_join`, which is
reversible (an item is quoted exactly when it holds a space or a quote), so the
joined text is split back into items, masked item by item, and joined again.  A
cheap search over the whole text first skips the split for the usual exec that holds
no candidate.  A masked value names the rule: ``GITHUB_TOKEN=<redacted:env-token>``.

Rules come in three kinds:

* ``env_name``: a regex searched in variable names (``NAME=value`` items of env, and
  of argv as in ``env NAME=value cmd``); the whole value is masked.
* ``arg_flag``: a regex searched in option names (dashes stripped); masks the value of
  ``--name=value`` and the argument after ``--name``.
* ``pattern``: a regex searched in every item; masks the match, or only its group
  named ``secret`` when it has one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from osq_esf.extract import quote_join
from osq_esf.rules import base
from osq_esf.rules.base import RuleError

KINDS = ("env_name", "arg_flag", "pattern")

# Secret words, by category; the rule names are env-<category> and arg-<category>.
# Deliberately not "auth" or "key" alone: SSH_AUTH_SOCK and the like are not secrets,
# and PWD/OLDPWD are the working directory, not a password.
SECRET_WORDS = {
    "token": r"token",
    "secret": r"secret",  # also AWS_SECRET_ACCESS_KEY, CLIENT_SECRET
    "password": r"passw(?:or)?d|passphrase|(?:^|[^a-z])pass(?:$|[^a-z])",  # also --pass, SSH_PASS
    "api-key": r"api[-_]?key",
    "private-key": r"private[-_]?key",
    "credential": r"credential",
}
BUILTIN: tuple[tuple[str, str, str], ...] = (
    *((f"env-{c}", "env_name", w) for c, w in SECRET_WORDS.items()),
    *((f"arg-{c}", "arg_flag", w) for c, w in SECRET_WORDS.items()),
    # scheme://user:password@host: only the password is masked.
    ("url-credentials", "pattern", r"[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*:(?P<secret>[^\s@/]+)@"),
    # curl -H "Authorization: Bearer x" and friends.
    ("auth-header", "pattern", r"(?i:authorization):\s*(?P<secret>.+)"),
)
BUILTIN_NAMES = tuple(n for n, _, _ in BUILTIN)
# Lower-case words every text a built-in rule can act on contains: substring tests on
# the lower-cased text let the usual exec skip the split (a case-insensitive regex
# alternation is ten times slower); config rules derive a regex from their own.
BUILTIN_HINTS = ("token", "secret", "pass", "key", "credential", "authorization")
# url-credentials needs both (DOCKER_HOST=unix:///... alone is common and harmless).

_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.S)
_FLAG = re.compile(r"--?([A-Za-z0-9][A-Za-z0-9_.-]*)(?:=(.*))?", re.S)


@dataclass(eq=False)
class RedactRule:
    name: str
    kind: str  # env_name | arg_flag | pattern
    regex: str
    origin: str = "config"
    hits: int = 0

    @property
    def identity(self) -> tuple:
        return (self.name, self.kind, self.regex)

    def describe(self) -> str:
        return f"{self.kind} {self.regex}"


@dataclass
class RedactionConfig:
    defaults: bool = True
    disable: frozenset = frozenset()
    rules: tuple[RedactRule, ...] = ()

    def active(self) -> list[RedactRule]:
        out = list(self.rules)
        if self.defaults:
            out += [RedactRule(n, k, rx, "default") for n, k, rx in BUILTIN if n not in self.disable]
        return out


def parse_redaction(raw, taken: set[str]) -> RedactionConfig:
    """``[redaction]``: defaults, disable, and ``[[redaction.rule]]``."""
    raw = base.table_of(raw, "redaction")
    base.check_keys(raw, {"defaults", "disable", "rule"}, "redaction")
    cfg = RedactionConfig()
    if "defaults" in raw:
        cfg.defaults = base.boolean(raw["defaults"], "redaction.defaults")
    if "disable" in raw:
        names = base.strings(raw["disable"], "redaction.disable") if raw["disable"] != [] else ()
        bad = [n for n in names if n not in BUILTIN_NAMES]
        if bad:
            raise RuleError("redaction.disable", f"unknown built-in rule(s) {', '.join(bad)} "
                                                 f"(built-ins: {', '.join(BUILTIN_NAMES)})")
        cfg.disable = frozenset(names)
    reserved = set(BUILTIN_NAMES)
    rules = []
    for i, r in enumerate(base.list_of_tables(raw.get("rule", []), "redaction.rule")):
        at = f"redaction.rule[{i}]"
        base.check_keys(r, {"name", *KINDS}, at)
        kinds = [k for k in KINDS if k in r]
        if len(kinds) != 1:
            raise RuleError(at, f"needs exactly one of {', '.join(KINDS)}")
        kind = kinds[0]
        flags = re.I if kind != "pattern" else 0
        base.regex(r[kind], f"{at}.{kind}", flags)
        name = base.name(r.get("name"), f"{at}.name", f"redact-{i + 1}", taken)
        if name in reserved:
            raise RuleError(f"{at}.name", f"{name!r} is a built-in rule name; disable it with redaction.disable")
        rules.append(RedactRule(name, kind, r[kind]))
    cfg.rules = tuple(rules)
    return cfg


def split_joined(text: str) -> list[str]:
    """Inverse of :func:`quote_join` for a non-empty item list."""
    items, i, n = [], 0, len(text)
    while True:
        if i < n and text[i] == '"':
            buf, i = [], i + 1
            while i < n and text[i] != '"':
                if text[i] == "\\" and i + 1 < n:
                    i += 1
                buf.append(text[i])
                i += 1
            items.append("".join(buf))
            i += 1  # the closing quote
        else:
            j = text.find(" ", i)
            j = n if j < 0 else j
            items.append(text[i:j])
            i = j
        if i >= n:
            return items
        i += 1  # the separating space


def mask(rule: RedactRule) -> str:
    return f"<redacted:{rule.name}>"


def _trigger_part(regex: str, kind: str) -> str | None:
    """``regex`` made usable inside one search over the joined text, or None."""
    core = regex
    if kind != "pattern":  # names are matched item by item: an outer anchor only narrows
        core = core[1:] if core.startswith("^") else core
        core = core[:-1] if core.endswith("$") and not core.endswith("\\$") else core
    if re.search(r"[\^$]|\\[AZbB]|\(\?(?![P:])", core):
        return None
    return core


class Redactor:
    """Masks argv/env items with the active rules; counts hits per rule."""

    def __init__(self, rules: list[RedactRule]):
        self.rules = rules
        self.env_rules = [(r, re.compile(r.regex, re.I).search) for r in rules if r.kind == "env_name"]
        self.flag_rules = [(r, re.compile(r.regex, re.I).search) for r in rules if r.kind == "arg_flag"]
        self.patterns = [(r, re.compile(r.regex)) for r in rules if r.kind == "pattern"]
        # Any text a rule could act on matches this union; a text that does not is left
        # alone without being split.  A rule whose regex cannot join the union safely
        # (inner anchors, inline flags, lookarounds) makes every text go through the split.
        self._words = BUILTIN_HINTS if any(r.origin == "default" for r in rules) else ()
        parts = [_trigger_part(r.regex, r.kind) for r in rules if r.origin != "default"]
        self._always = any(p is None for p in parts)
        self._search = re.compile("|".join(f"(?:{p})" for p in parts), re.I).search if parts and not self._always else None

    def __bool__(self) -> bool:
        return bool(self.rules)

    def _name_rule(self, rules, name: str):
        for rule, search in rules:
            if search(name):
                return rule
        return None

    def items(self, items: list[str]) -> list[str] | None:
        """Masked copy of ``items``, or None when nothing was masked."""
        out, changed, mask_next = list(items), False, None
        candidate = self._candidate
        for k, item in enumerate(items):
            if mask_next is not None:
                out[k], changed, mask_next = mask(mask_next), True, None
                continue
            if not candidate(item):
                continue
            m = _ASSIGN.fullmatch(item)
            if m is not None:
                rule = self._name_rule(self.env_rules, m.group(1))
                if rule is not None:
                    rule.hits += 1
                    out[k], changed = f"{m.group(1)}={mask(rule)}", True
                    continue
            m = _FLAG.fullmatch(item)
            if m is not None:
                rule = self._name_rule(self.flag_rules, m.group(1))
                if rule is not None:
                    if m.group(2) is not None:
                        rule.hits += 1
                        out[k], changed = item[: m.start(2)] + mask(rule), True
                        continue
                    if k + 1 < len(items) and not items[k + 1].startswith("-"):
                        rule.hits += 1
                        mask_next = rule
                    continue
            for rule, rx in self.patterns:
                new = self._sub(rule, rx, out[k])
                if new is not None:
                    out[k], changed = new, True
        return out if changed else None

    @staticmethod
    def _sub(rule: RedactRule, rx: re.Pattern, text: str) -> str | None:
        parts, last, hit = [], 0, False
        for m in rx.finditer(text):
            start, end = (m.span("secret") if "secret" in rx.groupindex and m.group("secret") is not None
                          else m.span())
            if end <= start:
                continue
            parts += [text[last:start], mask(rule)]
            last, hit = end, True
            rule.hits += 1
        if not hit:
            return None
        parts.append(text[last:])
        return "".join(parts)

    def _candidate(self, text: str) -> bool:
        """Could any rule act on ``text`` (a whole joined text, or one item)?

        A superset test: False means certainly not, so most items skip the regexes.
        """
        if self._always:
            return True
        if self._words:
            low = text.lower()
            for w in self._words:
                if w in low:
                    return True
            if "://" in low and "@" in low:
                return True
        return self._search is not None and self._search(text) is not None

    def joined(self, text: str | None) -> str | None:
        """Redact a quote_join'ed text; the same object back when nothing matched."""
        if not text:
            return text
        # A backslash means quote_join escaped something, which could hide a pattern
        # match from the search over the whole text: split such texts unconditionally.
        if "\\" not in text and not self._candidate(text):
            return text
        masked = self.items(split_joined(text))
        return text if masked is None else quote_join(masked)
