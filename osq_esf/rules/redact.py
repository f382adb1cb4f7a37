"""Redaction: mask secrets in argv, env and any other text before it is buffered or logged.

The extractor has joined argv/env with :func:`osq_esf.extract.quote_join`, which is
reversible (an item is quoted exactly when it holds a space or a quote), so the
joined text is split back into items, masked item by item, and joined again.  A
cheap substring test over the whole text first skips the split for the usual exec
that holds no candidate.  A masked value names the rule: ``GITHUB_TOKEN=<redacted:env-token>``.

The built-in rules (:data:`BUILTIN`) are the linear-time finder of
:mod:`osq_esf.rules.secrets`.  Configured rules come in three kinds, each a regular
expression run by RE2 (linear time whatever the pattern; see docs/decisions.md):

* ``env_name``: searched in variable names (``NAME=value`` items of env, and of argv
  as in ``env NAME=value cmd``); the whole value is masked.
* ``arg_flag``: searched in option names (dashes stripped); masks the value of
  ``--name=value`` and the argument after ``--name``.
* ``pattern``: searched in every item; masks the match, or only its group named
  ``secret`` when it has one.

Entry points for any text that reaches a table, a log line or an error:
:meth:`Redactor.argv`, :meth:`Redactor.env`, :meth:`Redactor.text`,
:meth:`Redactor.sample` (a capped, redacted sample of a raw line) and the module's
:func:`redact_argv`, :func:`redact_env`, :func:`redact_text`, :func:`safe_sample`,
:func:`safe_text`, which use the built-in rules.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass

import msgspec

from osq_esf.extract import quote_join
from osq_esf.rules import base
from osq_esf.rules.base import RuleError
from osq_esf.rules.secrets import (CATEGORIES, HINTS, MAX_VALUE, SAMPLE_BYTES, TEXT_LIMIT, Finder)

KINDS = ("env_name", "arg_flag", "pattern")

# The built-ins: (name, kind, what it matches), shown in es_mutes.  env-*/arg-* follow
# the secret words of osq_esf.rules.secrets.name_category.
BUILTIN: tuple[tuple[str, str, str], ...] = (
    *((f"env-{c}", "env_name", f"NAME=value, NAME has a {c} word") for c in CATEGORIES),
    *((f"arg-{c}", "arg_flag", f"--name=value, --name value, -Dname=value, key=value pairs; name has a {c} word")
      for c in CATEGORIES),
    ("url-credentials", "pattern", "scheme://user:PASSWORD@host, scheme://TOKEN@host"),
    ("auth-header", "pattern", "Authorization:, X-Api-Key:, Cookie: ... headers, in one or two arguments"),
    ("tool-password", "program", "mysql -pX, sshpass -p X, redis-cli -a X, curl -u user:X, security -w X, "
                                 "dscl -passwd, htpasswd -b ..."),
    ("pass-spec", "pattern", "pass:X (openssl -passin and friends)"),
    ("private-key", "pattern", "-----BEGIN ... PRIVATE KEY----- blocks"),
    ("oversize", "limit", "a value longer than redaction.max_value characters (or cut off by a sample's limit), "
                          "masked whole"),
)
BUILTIN_NAMES = tuple(n for n, _, _ in BUILTIN)
MAX_VALUE_RANGE = (1024, 1 << 20)

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
    max_value: int = MAX_VALUE  # characters of one value scanned; a longer one is masked whole

    def active(self) -> list[RedactRule]:
        out = list(self.rules)
        if self.defaults:
            out += [RedactRule(n, k, rx, "default") for n, k, rx in BUILTIN if n not in self.disable]
        return out


def parse_redaction(raw, taken: set[str]) -> RedactionConfig:
    """``[redaction]``: defaults, disable, and ``[[redaction.rule]]``."""
    raw = base.table_of(raw, "redaction")
    base.check_keys(raw, {"defaults", "disable", "rule", "max_value"}, "redaction")
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
    if "max_value" in raw:
        v, (lo, hi) = base.integer(raw["max_value"], "redaction.max_value"), MAX_VALUE_RANGE
        if not lo <= v <= hi:
            raise RuleError("redaction.max_value", f"must be between {lo} and {hi} characters, not {v}")
        cfg.max_value = v
    reserved = set(BUILTIN_NAMES)
    rules = []
    for i, r in enumerate(base.list_of_tables(raw.get("rule", []), "redaction.rule")):
        at = f"redaction.rule[{i}]"
        base.check_keys(r, {"name", *KINDS}, at)
        kinds = [k for k in KINDS if k in r]
        if len(kinds) != 1:
            raise RuleError(at, f"needs exactly one of {', '.join(KINDS)}")
        kind = kinds[0]
        base.regex(r[kind], f"{at}.{kind}", ignore_case=kind != "pattern")
        name = base.name(r.get("name"), f"{at}.name", f"redact-{i + 1}", taken)
        if name in reserved:
            raise RuleError(f"{at}.name", f"{name!r} is a built-in rule name; disable it with redaction.disable")
        rules.append(RedactRule(name, kind, r[kind]))
    cfg.rules = tuple(rules)
    return cfg


# Bounds of Redactor's memory of clean joined texts: entries, characters in all, one text's length.
CLEAN_TEXTS = 4096
CLEAN_CHARS = 4 << 20
CLEAN_TEXT = 65536


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


class Redactor:
    """Masks argv/env items and texts with the active rules; counts hits per rule.

    Several source threads redact at once, outside the pipeline lock, so a hit is never a bare
    increment of ``rule.hits``: inside :meth:`tally` it goes to the calling thread's own count,
    which the pipeline adds under its lock; elsewhere it is added under a lock of the redactor's.
    """

    def __init__(self, rules: list[RedactRule], max_value: int = MAX_VALUE):
        self.rules = rules
        self._builtin = {r.name: r for r in rules if r.origin == "default"}
        config = [r for r in rules if r.origin != "default"]
        self.env_rules = [(r, base.regex(r.regex, r.name, ignore_case=True).search) for r in config if r.kind == "env_name"]
        self.flag_rules = [(r, base.regex(r.regex, r.name, ignore_case=True).search) for r in config if r.kind == "arg_flag"]
        self.patterns = [(r, base.regex(r.regex, r.name)) for r in config if r.kind == "pattern"]
        self.finder = Finder(self._mask, max_value)
        self.max_value = max_value
        # A configured rule can match anything: with one, every text is split and scanned.
        self._always = bool(config)
        # Joined texts (argv, env) known to come back unchanged: a session's environment repeats
        # on every command it runs, and scanning one costs ~100-300 us.  Only texts that no rule
        # can have counted a hit on go in (see joined), so a hit replays nothing; bounded.
        self._clean: set[str] = set()
        self._clean_chars = 0
        self._local = threading.local()  # .hits: the tally of the calling thread, or None
        self._hits_lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.rules)

    def _mask(self, name: str) -> str | None:
        rule = self._builtin.get(name)
        if rule is None:
            return None
        self.count(rule)
        return mask(rule)

    # -- hit counts ------------------------------------------------------------------

    def count(self, rule: RedactRule) -> None:
        """One more value masked by ``rule`` (exact whatever the threads, see the class)."""
        tally = getattr(self._local, "hits", None)
        if tally is not None:
            tally[rule] = tally.get(rule, 0) + 1
            return
        with self._hits_lock:
            rule.hits += 1

    @contextmanager
    def tally(self):
        """Count this thread's hits into the dict yielded instead of the rules, for the caller to
        add where it holds the lock readers of ``hits`` take (:meth:`Rules.add_redaction_hits`)."""
        hits = self._local.hits = {}
        try:
            yield hits
        finally:
            self._local.hits = None

    # -- entry points ----------------------------------------------------------------

    def argv(self, items: list[str]) -> list[str]:
        """``items`` (an argv) with secrets masked; the same list when nothing was."""
        return self.items(items) or items

    env = argv  # env items are NAME=value; the same rules apply

    def text(self, text: str | None) -> str | None:
        """Free text (a command string, a log or error message) with secrets masked."""
        if not text or not self._candidate(text):
            return text
        out = self.finder.text(text, 1) if self._builtin else None
        out = out or text
        return self._configured_text(out)

    def json(self, text: str | None) -> str | None:
        """JSON text (a ``json`` column) with secrets in its string values masked; the same object
        back when nothing was.  The strings are masked as the items of an argv (a flag and the
        value after it, NAME=value ...), and the JSON is written again, so it stays valid."""
        if not text or ("\\" not in text and not self._candidate(text)):
            return text
        try:
            root = msgspec.json.decode(text)
        except msgspec.DecodeError:
            return self.text(text)
        # Each container's strings are one argv: a flag in one list never takes a value in another.
        changed, stack = False, [root] if type(root) in (list, dict) else []
        while stack:
            node = stack.pop()
            keys = []
            for key, v in (enumerate(node) if type(node) is list else node.items()):
                if type(v) is str:
                    keys.append(key)
                elif type(v) in (list, dict):
                    stack.append(v)
            masked = self.items([node[key] for key in keys]) if keys else None
            if masked is not None:
                changed = True
                for key, v in zip(keys, masked):
                    node[key] = v
        if not changed:
            return self.text(text) if type(root) is str else text
        return msgspec.json.encode(root).decode()

    def sample(self, data: bytes, limit: int = SAMPLE_BYTES) -> str:
        """A redacted sample of a raw line, at most about ``limit`` characters.

        A JSON line's string literals are read like an argv; a literal cut by the limit is
        masked whole.  The result is capped after masking.
        """
        text = data[:limit].decode("utf-8", "replace").rstrip("\r\n")
        if self._builtin and text.lstrip().startswith(("{", "[")):
            text = self.finder.json_sample(text) or text
        elif self._candidate(text):
            text = self.text(text) or text
        return _cap(text, limit + 40)

    def error_text(self, text: str, limit: int = TEXT_LIMIT) -> str:
        """An error message that may quote input values: redacted, then capped."""
        if len(text) > 2 * limit:
            text = text[:2 * limit]
        return _cap(self.text(text) or text, limit)

    def items(self, items: list[str]) -> list[str] | None:
        """Masked copy of ``items``, or None when nothing was masked."""
        out = self.finder.items(items) if self._builtin else None
        if self.env_rules or self.flag_rules or self.patterns:
            out = self._configured(out or list(items), out is not None)
        return out

    def joined(self, text: str | None) -> str | None:
        """Redact a quote_join'ed text; the same object back when nothing matched."""
        if not text or text in self._clean:
            return text
        # A backslash means quote_join escaped something: split such texts unconditionally.
        if "\\" not in text and not self._candidate(text):
            return text
        masked = self.items(split_joined(text))
        if masked is not None:
            return quote_join(masked)
        # Unchanged, so no rule masked anything; a mask is counted as a hit even when it equals
        # the text it replaces, so a text holding a mask's own wording is never remembered.
        if "<redacted:" not in text and len(text) <= CLEAN_TEXT:
            with self._hits_lock:  # sources redact in their own threads: the bound must hold for all
                if len(self._clean) >= CLEAN_TEXTS or self._clean_chars > CLEAN_CHARS:
                    self._clean.clear()
                    self._clean_chars = 0
                self._clean.add(text)
                self._clean_chars += len(text)
        return text

    # -- configured rules --------------------------------------------------------------

    def _configured(self, items: list[str], changed: bool) -> list[str] | None:
        out, mask_next = items, None
        for k, item in enumerate(items):
            if len(item) > self.max_value:
                continue  # masked whole by the built-ins, or too long to scan
            if mask_next is not None:
                out[k], changed, mask_next = mask(mask_next), True, None
                continue
            if "=" in item and not item.startswith("-"):
                name = item.partition("=")[0]
                rule = self._name_rule(self.env_rules, name)
                if rule is not None:
                    self.count(rule)
                    out[k], changed = f"{name}={mask(rule)}", True
                    continue
            if item.startswith("-"):
                name, eq, value = item.lstrip("-").partition("=")
                rule = self._name_rule(self.flag_rules, name) if name else None
                if rule is not None:
                    if eq:
                        self.count(rule)
                        out[k], changed = item[:len(item) - len(value)] + mask(rule), True
                        continue
                    if k + 1 < len(items) and not items[k + 1].startswith("-"):
                        self.count(rule)
                        mask_next = rule
                    continue
            for rule, rx in self.patterns:
                new = _sub(rule, rx, out[k], self.count)
                if new is not None:
                    out[k], changed = new, True
        return out if changed else None

    def _configured_text(self, text: str) -> str:
        for rule, rx in self.patterns:
            text = _sub(rule, rx, text, self.count) or text
        return text

    @staticmethod
    def _name_rule(rules, name: str):
        for rule, search in rules:
            if search(name):
                return rule
        return None

    def _candidate(self, text: str) -> bool:
        """Could any rule act on ``text``?  A superset test: False means certainly not."""
        if self._always:
            return True
        if not self._builtin:
            return False
        if len(text) > self.max_value:
            return True
        low = text.lower()
        for w in HINTS:
            if w in low:
                return True
        return False


def _sub(rule: RedactRule, rx, text: str, count) -> str | None:
    """``text`` with each match of ``rx`` (or its ``secret`` group) masked; None without one."""
    parts, last, hit = [], 0, False
    group = rx.groupindex.get("secret")
    for m in rx.finditer(text):
        start, end = m.span(group) if group is not None and m.group(group) is not None else m.span()
        if end <= start or start < last:
            continue
        parts += [text[last:start], mask(rule)]
        last, hit = end, True
        count(rule)
    if not hit:
        return None
    parts.append(text[last:])
    return "".join(parts)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"…(+{len(text) - limit} chars)"


def default_redactor() -> Redactor:
    """The built-in rules, for texts redacted without a configuration at hand."""
    return Redactor(RedactionConfig().active())


DEFAULT_REDACTOR = default_redactor()


def redact_argv(items: list[str]) -> list[str]:
    return DEFAULT_REDACTOR.argv(items)


def redact_env(items: list[str]) -> list[str]:
    return DEFAULT_REDACTOR.env(items)


def redact_text(text: str | None) -> str | None:
    return DEFAULT_REDACTOR.text(text)


def safe_sample(data: bytes, limit: int = SAMPLE_BYTES) -> str:
    return DEFAULT_REDACTOR.sample(data, limit)


def safe_text(text: str, limit: int = TEXT_LIMIT) -> str:
    return DEFAULT_REDACTOR.error_text(text, limit)
