"""The built-in secret finder: argv/env items, shell text and error samples, in linear time.

Any local user controls what an exec carries, and redaction runs on every exec, so
nothing here may cost more than a constant times the input.  The finder uses plain
string scanning (``str.find``/``rfind``/``partition``, each from a position that only
moves forward) and no regular expression with an unbounded or nested quantifier
(:func:`linear_regex` refuses those).  A value longer than ``max_value`` characters
is masked whole (``<redacted:oversize>``) instead of being scanned.

:class:`Finder` works item by item, like the program saw its arguments:

* names: ``NAME=value`` (env, ``env NAME=value cmd``, ``key=value`` pairs inside a
  value) and options (``--name=value``, ``--name value``, ``-name value``, ``-Dname=value``)
  whose name has a secret word (:func:`name_category`);
* programs that take a password in a short option (``mysql -pX``, ``sshpass -p X``,
  ``security add-generic-password -w X``, ``dscl . -passwd /Users/u X``, ``curl -u u:X``);
* values anywhere: URL userinfo, auth headers, ``pass:X`` specifiers, private-key blocks;
* text with spaces (``sh -c '...'``, ``ssh host 'cmd'``) is split like a shell would and
  scanned as a command line of its own (two levels deep).

Each finding names a rule; :class:`Finder` asks its ``mask`` callback for the text
(``<redacted:rule>``) so the caller counts hits and may have turned the rule off.
"""

from __future__ import annotations

import re

try:  # Python 3.11+: the parser behind re, without the deprecated module names
    from re import _constants as sre_constants
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants
    import sre_parse

MAX_VALUE = 65536  # characters of one argv/env value that are scanned; longer is masked whole
MAX_NAME = 256  # a longer "name" is not a variable or option name
TEXT_DEPTH = 2  # sh -c "bash -c '...'": levels of quoted command text that are scanned
SAMPLE_BYTES = 200  # of a bad line kept for es_decode_errors
TEXT_LIMIT = 300  # characters of an error text kept

# -- names -----------------------------------------------------------------------------

CATEGORIES = ("token", "secret", "password", "api-key", "private-key", "credential", "session", "cookie")
_EXACT = {
    "token": "token", "tokens": "token", "secret": "secret", "secrets": "secret",
    "password": "password", "passwd": "password", "passphrase": "password", "pass": "password",
    "apikey": "api-key", "privatekey": "private-key", "credential": "credential",
    "credentials": "credential", "cookie": "cookie", "cookies": "cookie",
}
_SUFFIXES = (("password", "password"), ("passwd", "password"), ("passphrase", "password"),
             ("token", "token"), ("secret", "secret"), ("apikey", "api-key"), ("privatekey", "private-key"))
_PAIRS = {("api", "key"): "api-key", ("private", "key"): "private-key"}
# Words ending in "pass" that are not passwords (GIT_ASKPASS names a program).
_NOT_PASS = frozenset(("askpass", "bypass", "compass", "encompass", "overpass", "underpass", "surpass",
                       "trespass", "multipass", "firstpass", "onepass", "twopass"))
# A last word that makes the value a reference to the secret, not the secret itself.
_REFERENCE = frozenset(("file", "files", "path", "dir", "env", "stdin", "prompt", "cmd", "command", "helper",
                        "length", "len", "type", "id", "name", "policy", "url", "uri", "fd", "store", "source",
                        "mode", "format", "expiry", "ttl", "timeout", "count", "min", "max", "sock", "socket"))
# Session names set by the OS for every login: identifiers, not secrets.
_OS_SESSION = frozenset(("TERM_SESSION_ID", "SECURITYSESSIONID", "XDG_SESSION_ID", "XDG_SESSION_TYPE",
                         "XDG_SESSION_CLASS", "XDG_SESSION_DESKTOP", "DESKTOP_SESSION", "SESSION_MANAGER",
                         "DBUS_SESSION_BUS_ADDRESS", "XDG_SESSION_PATH", "XDG_SESSION_SEAT"))


def words(name: str) -> list[str]:
    """Lower-case words of a name: split at every non-alphanumeric and at camelCase humps."""
    out, cur, prev_lower = [], [], False
    for ch in name:
        if ch.isalnum():
            if prev_lower and ch.isupper():
                out.append("".join(cur))
                cur = []
            cur.append(ch.lower())
            prev_lower = not ch.isupper()
        else:
            if cur:
                out.append("".join(cur))
                cur = []
            prev_lower = False
    if cur:
        out.append("".join(cur))
    return out


# name -> category (or None): names repeat on every exec (the environment's, the options'),
# and splitting one into words is most of the finder's cost per item.  Bounded: cleared when full.
_CATEGORIES: dict[str, str | None] = {}
CATEGORY_CACHE = 8192


def name_category(name: str) -> str | None:
    """The secret category of a variable, option or property name, or None.

    ``GITHUB_TOKEN``, ``db-password``, ``keyStorePassword``, ``MYSQL_PWD``, ``SSHPASS``,
    ``//registry/:_authToken``, ``OP_SESSION_x`` have one; ``TOKENIZERS_PARALLELISM``,
    ``PWD``, ``SSH_AUTH_SOCK``, ``--password-file``, ``--no-password`` have none.
    A pure function of the name, so answers are cached (:data:`CATEGORY_CACHE` names).
    """
    if not name or len(name) > MAX_NAME:
        return None
    try:
        return _CATEGORIES[name]
    except KeyError:
        pass
    cat = _category(name)
    if len(_CATEGORIES) >= CATEGORY_CACHE:
        _CATEGORIES.clear()
    _CATEGORIES[name] = cat
    return cat


def _category(name: str) -> str | None:
    """:func:`name_category` without the cache."""
    # str.lower and words()'s per-character lower differ only at a final sigma, never in ASCII.
    if _CANDIDATE.search(name.lower()) is None:
        return None
    return _category_of_words(name)


def _category_of_words(name: str) -> str | None:
    """:func:`_category` by splitting the name into words (what the pre-check stands in for)."""
    if name.upper() in _OS_SESSION:
        return None
    ws = words(name)
    if not ws or (ws[0] == "no" and len(ws) > 1) or (ws[-1] in _REFERENCE and len(ws) > 1):
        return None
    last = len(ws) - 1
    for i, w in enumerate(ws):
        cat = _EXACT.get(w)
        if cat is not None:
            return cat
        if w == "pwd" and last:  # MYSQL_PWD; PWD alone is the working directory
            return "password"
        if w == "auth" and i == last:  # npm's _auth, httpie's --auth; SSH_AUTH_SOCK is not
            return "credential"
        if i < last and (w, ws[i + 1]) in _PAIRS:
            return _PAIRS[w, ws[i + 1]]
        if "session" in w:
            return "session"
        for suffix, cat in _SUFFIXES:
            if w.endswith(suffix):
                return cat
        if w.endswith("pass") and w not in _NOT_PASS:
            return "password"
    return None


# -- programs ----------------------------------------------------------------------------

ATTACHED, SEPARATE, BOTH = 1, 2, 3  # where a password option's value is: -pX, -p X, either
USERPASS = 4  # the value is user<sep>password; only the password is masked
REST = 5  # every argument after the option (and after ``skip`` more) is a password
HEADER = "header"  # the next argument is a header's value (and the one after, when it was a scheme word)

_MYSQL = {"-p": (ATTACHED, 0)}
_MONGO = {"-p": (BOTH, 0)}
TOOLS: dict[str, dict[str, tuple[int, object]]] = {
    **{p: _MYSQL for p in ("mysql", "mysqldump", "mysqladmin", "mysqlimport", "mysqlshow", "mysqlcheck",
                           "mysqlpump", "mysqlslap", "mysqlbinlog", "mariadb", "mariadb-dump", "mariadb-admin")},
    **{p: _MONGO for p in ("mongo", "mongosh", "mongodump", "mongorestore", "mongoexport", "mongoimport",
                           "mongostat", "mongotop")},
    "sshpass": {"-p": (BOTH, 0)},
    "redis-cli": {"-a": (BOTH, 0)}, "valkey-cli": {"-a": (BOTH, 0)},
    "7z": {"-p": (ATTACHED, 0)}, "7za": {"-p": (ATTACHED, 0)}, "7zz": {"-p": (ATTACHED, 0)},
    "zip": {"-P": (BOTH, 0)}, "unzip": {"-P": (BOTH, 0)},
    "sqlcmd": {"-P": (BOTH, 0)},
    **{p: {"-w": (BOTH, 0)} for p in ("ldapsearch", "ldapmodify", "ldapadd", "ldapdelete", "ldapwhoami",
                                       "ldappasswd", "ldapcompare")},
    "curl": {"-u": (USERPASS, ":"), "--user": (USERPASS, ":"), "-U": (USERPASS, ":"),
             "--proxy-user": (USERPASS, ":")},
    "http": {"-a": (USERPASS, ":")}, "https": {"-a": (USERPASS, ":")}, "xh": {"-a": (USERPASS, ":")},
    "ab": {"-A": (USERPASS, ":"), "-P": (USERPASS, ":")},
    "lftp": {"-u": (USERPASS, ",")},
    **{p: {"-U": (USERPASS, "%")} for p in ("smbclient", "rpcclient", "smbcacls", "net")},
    # macOS: dscl -P password, dscl . -passwd /Users/u [old] new, dscl . -authonly u password
    "dscl": {"-P": (BOTH, 0), "-passwd": (REST, 1), "-authonly": (REST, 1)},
    "dsenableroot": {"-p": (SEPARATE, 0), "-r": (SEPARATE, 0)},
    "networksetup": {"-setairportnetwork": (REST, 2)},
}
# Options that are passwords only under one subcommand (security find-generic-password -w prints one).
SUBCOMMAND_TOOLS: dict[tuple[str, str], dict[str, tuple[int, object]]] = {
    ("security", "add-generic-password"): {"-w": (BOTH, 0)},
    ("security", "add-internet-password"): {"-w": (BOTH, 0)},
    ("security", "unlock-keychain"): {"-p": (BOTH, 0)},
    ("security", "create-keychain"): {"-p": (BOTH, 0)},
    ("security", "set-keychain-password"): {"-p": (BOTH, 0), "-o": (BOTH, 0)},
    ("security", "import"): {"-P": (BOTH, 0)},
    ("security", "export"): {"-P": (BOTH, 0)},
    ("security", "set-key-partition-list"): {"-k": (BOTH, 0)},
    **{(p, "login"): {"-p": (BOTH, 0)} for p in ("docker", "podman", "nerdctl", "buildah", "skopeo")},
}
_SUBCOMMAND_PROGRAMS = frozenset(p for p, _ in SUBCOMMAND_TOOLS)
_KNOWN_PROGRAMS = frozenset(TOOLS) | _SUBCOMMAND_PROGRAMS | {"htpasswd"}
_SHELL_BREAKS = frozenset((";", "&&", "||", "|", "&", "(", ")", "{", "}", "then", "do", "else", "`", "$("))

# -- values ------------------------------------------------------------------------------

# Header names, lower case, whose value is a credential.
AUTH_HEADERS = ("authorization:", "x-api-key:", "api-key:", "apikey:", "cookie:", "x-auth-token:",
                "private-token:", "x-vault-token:", "x-access-token:", "x-amz-security-token:", "x-goog-api-key:",
                "x-auth-key:")
_AUTH_SCHEMES = frozenset(("bearer", "basic", "token", "digest", "negotiate", "aws4-hmac-sha256"))
TOKEN_PREFIXES = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-",
                  "sk-", "sk_live_", "rk_live_", "ya29.", "npm_", "pypi-", "hf_")
TOKEN_USERINFO = 16  # a userinfo without ':' this long (or with a token prefix) is a token, not a user name
_HOST_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789[_-.")
# Lower-case substrings one of which is in every text a built-in can act on: most execs
# hold none and are never split.
HINTS = ("token", "secret", "pass", "pwd", "key", "credential", "auth", "cookie", "session", "@", "-p", "-a",
         "-u", "-w", "-k", "-o", "begin", "mysql", "mongo", "maria", "sshpass", "7z", "zip", "sqlcmd", "ldap",
         "dscl", "dsenableroot", "networksetup", "security", "login")


def _quote_end(text: str, i: int) -> int:
    """Index of the double quote closing the one at ``i`` (backslash escapes honoured), or len."""
    j = i + 1
    while True:
        k = text.find('"', j)
        if k < 0:
            return len(text)
        b = k - 1
        while b >= j and text[b] == "\\":
            b -= 1
        if (k - 1 - b) % 2 == 0:
            return k
        j = k + 1


def private_key_spans(s: str) -> list[tuple[int, int]]:
    """PEM/OpenSSH private-key blocks: from BEGIN to the end of the END line (or of ``s``)."""
    out, i = [], 0
    while True:
        b = s.find("-----BEGIN ", i)
        if b < 0:
            return out
        head_end = s.find("-----", b + 11, b + 80)
        if head_end < 0 or "PRIVATE KEY" not in s[b:head_end]:
            i = b + 11
            continue
        e = s.find("-----END ", head_end + 5)
        end = len(s) if e < 0 else s.find("-----", e + 9, e + 80)
        end = len(s) if end < 0 else end + 5
        out.append((b, end))
        i = end


def url_credential(s: str) -> tuple[int, int] | None:
    """The span of the password (or token) in a URL's userinfo inside ``s`` (no whitespace), or None.

    ``scheme://user:pa/ss@host`` and ``//user:p@ss@host`` mask ``pa/ss`` and ``p@ss`` (the
    last ``@`` ends the userinfo); ``https://ghp_x…@github.com`` masks the token; a path
    with ``@`` (``https://host/@user``) is not userinfo.
    """
    at = s.rfind("@")
    if at < 0 or at + 1 >= len(s) or s[at + 1] not in _HOST_START:
        return None
    start = s.find("://")
    a = start + 3 if start >= 0 else (2 if s.startswith("//") else -1)
    while 0 <= a <= at:
        colon = s.find(":", a, at)
        stop = colon if colon >= 0 else at
        if s.find("/", a, stop) < 0 and s.find("?", a, stop) < 0 and s.find("#", a, stop) < 0:
            if colon >= 0:
                return (colon + 1, at) if colon + 1 < at else None
            info = s[a:at]
            if len(info) >= TOKEN_USERINFO or info.startswith(TOKEN_PREFIXES):
                return a, at
            return None
        if colon < 0 and s.startswith(TOKEN_PREFIXES, a):  # a token is a token, even with a '/' in it
            return a, at
        nxt = s.find("://", a, at)
        a = nxt + 3 if nxt >= 0 else -1
    return None


def auth_header(s: str) -> tuple[int, int] | None:
    """The span of a credential header's value in ``s`` (``Authorization: Bearer x``), or None.

    The value runs to the end of ``s``, or of its line; an empty value (or a bare scheme
    word) gives an empty span at the end: the next argument is the value.
    """
    low = s.lower()
    best = -1
    for h in AUTH_HEADERS:
        j = low.find(h)
        if j >= 0 and (best < 0 or j < best):
            best, name = j, h
    if best < 0:
        return None
    v = best + len(name)
    while v < len(s) and s[v] in " \t":
        v += 1
    end = s.find("\n", v)
    end = len(s) if end < 0 else end
    return v, end


# -- linear-time regular expressions -------------------------------------------------------

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_POSSESSIVE = getattr(sre_constants, "POSSESSIVE_REPEAT", None)
if _POSSESSIVE is not None:
    _REPEATS.add(_POSSESSIVE)
_LOOKS = {sre_constants.ASSERT, sre_constants.ASSERT_NOT}
_BACKREFS = {sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS}
UNBOUNDED = sre_constants.MAXREPEAT
WINDOW_MAX = 4096  # the largest bounded repeat a built-in may scan with


def linear_problems(pattern: str, anchored: bool = False) -> list[str]:
    """Why ``pattern`` could take more than linear time under Python's ``re``; [] when it cannot.

    Refused: a repeat inside a repeat (nested quantifiers), alternatives inside a repeat
    (overlapping choices), backreferences, lookarounds, and, unless the pattern is only
    ever matched at a fixed position (``anchored``), any repeat that is unbounded or
    wider than WINDOW_MAX: ``search`` retries every start, so an unbounded scan from
    each of n positions is quadratic (the old url-credentials rule).
    """
    problems: list[str] = []

    def walk(items, in_repeat: bool) -> None:
        for op, av in items:
            if op in _REPEATS:
                lo, hi, body = av
                if in_repeat and hi != lo:
                    problems.append("nested quantifier")
                if hi == UNBOUNDED and not anchored:
                    problems.append("unbounded quantifier in a searched pattern (use a {0,N} window)")
                elif hi != UNBOUNDED and hi > WINDOW_MAX:
                    problems.append(f"window {hi} wider than {WINDOW_MAX}")
                walk(body, in_repeat or hi != lo)
            elif op is sre_constants.SUBPATTERN:
                walk(av[-1], in_repeat)
            elif op is sre_constants.BRANCH:
                if in_repeat:
                    problems.append("alternation inside a quantifier")
                for b in av[1]:
                    walk(b, in_repeat)
            elif op in _LOOKS or op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                problems.append("lookaround")
            elif op in _BACKREFS:
                problems.append("backreference")
            elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
                walk(av, in_repeat)

    walk(sre_parse.parse(pattern), False)
    return problems


def linear_regex(pattern: str, flags: int = 0, anchored: bool = False) -> re.Pattern:
    """``re.compile`` for built-in patterns, refusing any that :func:`linear_problems` flags."""
    problems = linear_problems(pattern, anchored)
    if problems:
        raise ValueError(f"{pattern!r} is not linear-time: {', '.join(dict.fromkeys(problems))}")
    return re.compile(pattern, flags)


# Runs of characters that need no quote handling, matched only at the scan position.
_PLAIN = linear_regex(r"[^\s'\"\\;|&()`]+", anchored=True)
_SPACE = linear_regex(r"[^\S\n]+", anchored=True)
_PAIR_SEP = linear_regex(r"[?&;,]")
# Every word _category_of_words accepts holds one of these (the exact names and suffixes hold
# "pass", "token", "secret", "key", ...; the pairs end in "key"): a name holding none has no category,
# and the usual unique name (a compiler's -I<path>, -D<hex>) is not split into words at all.
_CANDIDATE = linear_regex("token|secret|pass|key|credential|cookie|pwd|auth|session")


# -- the finder ----------------------------------------------------------------------------

class Finder:
    """Masks secrets in argv/env item lists and in text; ``mask(rule)`` gives the mask text
    (counting a hit) or None when that rule is off."""

    def __init__(self, mask, max_value: int = MAX_VALUE):
        self.mask = mask
        self.max_value = max_value
        self.scanned = 0  # characters handed to the scanners: a work counter for the tests

    # items --------------------------------------------------------------------------

    def items(self, items: list[str], depth: int = 0) -> list[str] | None:
        """Masked copy of an argv or env list, or None when nothing changed."""
        out, changed = list(items), False
        tools: dict[str, str | None] = {}  # known programs of the current command -> subcommand
        pending = None  # (rule, how): the next item is a value (how: None, HEADER or a USERPASS separator)
        rest = None  # [rule, items to skip]: every later item of the command is a password
        for k, item in enumerate(items):
            if item in _SHELL_BREAKS:
                tools.clear()
                pending = rest = None
                continue
            new = None
            if len(item) > self.max_value:
                new = self.mask("oversize")
            elif rest is not None:
                if rest[1] > 0:
                    rest[1] -= 1
                    continue
                new = self.mask(rest[0])
            elif pending is not None:
                rule, how = pending
                pending = None
                if how is None and not item.startswith("-"):
                    new = self.mask(rule)
                elif how is HEADER:
                    new = self.mask(rule)
                    if item.strip().lower() in _AUTH_SCHEMES:  # -H Authorization: Bearer x
                        pending = (rule, None)
                elif how is not None:
                    new = self._userpass(item, 0, how, rule)
            if new is None:
                new, pending, rest = self._item(item, k, items, tools, depth)
            if new is not None and new != item:
                out[k], changed = new, True
        return out if changed else None

    def _item(self, item: str, k: int, items: list[str], tools: dict, depth: int):
        """(masked item or None, what the next item is, REST state) for one item."""
        self.scanned += len(item)
        base = item.rsplit("/", 1)[-1] if "/" in item else item
        if base in _KNOWN_PROGRAMS:
            tools[base] = None
            return None, None, None
        if tools:
            if not item.startswith("-"):
                for prog in _SUBCOMMAND_PROGRAMS:
                    if prog in tools and tools[prog] is None:
                        tools[prog] = item
            found = self._tool_option(item, k, items, tools)
            if found is not None:
                return found
        if item.startswith("-") and len(item) > 1:
            found = self._option(item)
            if found is not None:
                return found
        return self._value(item, depth), self._header_next(item), None

    def _tool_option(self, item: str, k: int, items: list[str], tools: dict):
        if "htpasswd" in tools and item.startswith("-") and not item.startswith("--") and "b" in item \
                and k + 1 < len(items):
            # htpasswd -b[c] file user password: the last argument is the password
            return None, None, ["tool-password", len(items) - k - 2]
        for prog, sub in tools.items():
            spec = TOOLS.get(prog)
            for table in (spec, SUBCOMMAND_TOOLS.get((prog, sub)) if sub else None):
                if not table:
                    continue
                for flag, (how, arg) in table.items():
                    if item == flag:
                        if how == REST:
                            return None, None, ["tool-password", arg]
                        if how == ATTACHED:
                            continue
                        return None, ("tool-password", arg if how == USERPASS else None), None
                    if how in (ATTACHED, BOTH, USERPASS) and len(flag) == 2 and item.startswith(flag) \
                            and len(item) > 2:
                        if how == USERPASS:
                            return self._userpass(item, 2, arg, "tool-password"), None, None
                        m = self.mask("tool-password")
                        return (None if m is None else flag + m), None, None
                    if how == USERPASS and item.startswith(flag + "="):
                        return self._userpass(item, len(flag) + 1, arg, "tool-password"), None, None
        return None

    def _userpass(self, item: str, at: int, sep: str, rule: str) -> str | None:
        cut = item.find(sep, at)
        if cut < 0 or cut + 1 >= len(item):
            return None
        m = self.mask(rule)
        return None if m is None else item[:cut + 1] + m

    def _option(self, item: str):
        body = item[2:] if item.startswith("--") else item[1:]
        name, eq, value = body.partition("=")
        if not name or not name[0].isalnum() or any(c.isspace() for c in name[:MAX_NAME + 1]):
            return None
        cat = name_category(name)
        if cat is None:
            return None
        if eq:
            if not value:
                return None
            m = self.mask(f"arg-{cat}")
            return (None if m is None else item[:len(item) - len(value)] + m), None, None
        return None, (f"arg-{cat}", None), None

    def _header_next(self, item: str):
        """``-H "Authorization:" "Bearer x"``: a header name alone makes the next item its value."""
        if ":" not in item:
            return None
        span = auth_header(item)
        if span is None:
            return None
        v, end = span
        rest = item[v:end].strip().lower()
        return ("auth-header", HEADER) if not rest or rest in _AUTH_SCHEMES else None

    def _value(self, item: str, depth: int) -> str | None:
        """Masks inside one value: assignments, key=value pairs, URLs, headers, pass:, keys, text."""
        if "-----BEGIN " in item:
            keys = private_key_spans(item)
            if keys:
                return self._apply(item, [(b, e, "private-key") for b, e in keys])
        eq = item.find("=")
        if eq > 0 and not item.startswith("-") and _assignable(item, eq):
            cat = name_category(item[:eq])
            if cat is not None:  # NAME=value: the whole value, spaces and all
                m = self.mask(f"env-{cat}") if eq + 1 < len(item) else None
                return None if m is None else item[:eq + 1] + m
        header = auth_header(item) if ":" in item else None
        if _has_space(item):
            if header is not None and not _has_space(item[:header[0]].strip()):
                return self._apply(item, [(*header, "auth-header")])  # "Authorization: Bearer x"
            if depth < TEXT_DEPTH:
                return self.text(item, depth + 1)
        spans: list[tuple[int, int, str]] = []
        if eq > 0:
            spans += self._pairs(item)
        if item.startswith("pass:") and len(item) > 5:
            spans.append((5, len(item), "pass-spec"))
        if "@" in item:
            span = url_credential(item)
            if span is not None:
                spans.append((*span, "url-credentials"))
        if header is not None and header[1] > header[0] \
                and item[header[0]:header[1]].strip().lower() not in _AUTH_SCHEMES:
            spans.append((*header, "auth-header"))
        return self._apply(item, spans) if spans else None

    def _pairs(self, item: str) -> list[tuple[int, int, str]]:
        """``?user=u&password=x``, ``Server=h;Password=x``: key=value pairs inside a value."""
        out, start = [], 0
        for m in (*_PAIR_SEP.finditer(item), None):
            end = len(item) if m is None else m.start()
            eq = item.find("=", start, end)
            if eq > start and eq + 1 < end:
                cat = name_category(item[start:eq])
                if cat is not None:
                    out.append((eq + 1, end, f"arg-{cat}"))
            if m is not None:
                start = m.end()
        return out

    def _apply(self, s: str, spans: list[tuple[int, int, str]]) -> str | None:
        """``s`` with the spans replaced by masks (overlaps merged into the first)."""
        spans.sort()
        out, last, changed = [], 0, False
        for b, e, rule in spans:
            if b < last:
                b = last
            if e <= b:
                continue
            m = self.mask(rule)
            if m is None:
                continue
            out += [s[last:b], m]
            last, changed = e, True
        if not changed:
            return None
        out.append(s[last:])
        return "".join(out)

    # text ---------------------------------------------------------------------------

    def text(self, text: str, depth: int = 1) -> str | None:
        """Masked copy of shell-like text (``sh -c`` scripts, log and error texts), or None."""
        if len(text) > self.max_value:
            return self.mask("oversize")
        keys = private_key_spans(text) if "-----BEGIN " in text else []
        if keys:
            masked = self._apply(text, [(b, e, "private-key") for b, e in keys])
            if masked is not None:
                return self.text(masked, depth) or masked
        toks = shell_tokens(text)
        self.scanned += len(text)
        masked = self.items([t for _, _, t in toks], depth) if toks else None
        if masked is None:
            return None
        out, last = [], 0
        for (b, e, old), new in zip(toks, masked):
            if new != old:
                out += [text[last:b], _requote(new)]
                last = e
        out.append(text[last:])
        return "".join(out)

    def json_sample(self, text: str) -> str | None:
        """A (possibly cut) JSON line with the secrets in its string literals masked.

        The literals, in order, read like an argv (keys included): ``"args":["mysql","-pX"``.
        A literal cut off by the sample's end is masked whole: its end could be the part
        that made it recognisable (``https://u:pa`` before the ``@``).
        """
        spans: list[tuple[int, int]] = []  # contents of each literal
        i = text.find('"')
        while i >= 0:
            e = _quote_end(text, i)
            spans.append((i + 1, e))
            if e >= len(text):
                break
            i = text.find('"', e + 1)
        self.scanned += len(text)
        if not spans:
            return self.text(text)
        items = [text[b:e].replace('\\"', '"').replace("\\\\", "\\") for b, e in spans]
        masked = self.items(items) or list(items)
        cut = spans[-1][1] >= len(text)
        if cut and items[-1]:
            m = self.mask("oversize")
            masked[-1] = items[-1] if m is None else m
        out, last = [], 0
        for (b, e), old, new in zip(spans, items, masked):
            if new != old:
                out += [text[last:b], new.replace("\\", "\\\\").replace('"', '\\"')]
                last = e
        if last == 0:
            return None
        out.append(text[last:])
        return "".join(out)


def _assignable(item: str, eq: int) -> bool:
    """Is ``item[:eq]`` a variable or config key (``GH_TOKEN``, ``//registry/:_authToken``),
    not part of a URL or a list whose pairs are judged one by one?"""
    if eq > MAX_NAME or item.find("://", 0, eq) >= 0:
        return False
    for c in " \t\n?&;,@":
        if item.find(c, 0, eq) >= 0:
            return False
    return True


def _has_space(s: str) -> bool:
    return " " in s or "\n" in s or "\t" in s


def _requote(s: str) -> str:
    if not s or _has_space(s) or '"' in s or "'" in s:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return s


def shell_tokens(text: str) -> list[tuple[int, int, str]]:
    """Words of shell-like text as (start, end, unquoted value); operators (; | &&) and
    newlines are words of their own, so a command's program can be told apart."""
    out: list[tuple[int, int, str]] = []
    i, n = 0, len(text)
    while i < n:
        m = _SPACE.match(text, i)
        if m is not None:
            i = m.end()
            continue
        c = text[i]
        if c == "\n" or c in ";|&()`":
            j = i + 1
            while j < n and j < i + 2 and text[j] in "|&":
                j += 1
            out.append((i, j, ";" if c == "\n" else text[i:j]))
            i = j
            continue
        start, parts = i, []
        while i < n:
            c = text[i]
            if c == "'":
                j = text.find("'", i + 1)
                j = n if j < 0 else j
                parts.append(text[i + 1:j])
                i = j + 1
            elif c == '"':
                j = _quote_end(text, i)
                parts.append(text[i + 1:j].replace('\\"', '"').replace("\\\\", "\\"))
                i = j + 1
            elif c == "\\":
                parts.append(text[i + 1:i + 2])
                i += 2
            else:
                m = _PLAIN.match(text, i)
                if m is None:  # whitespace or an operator ends the word
                    break
                parts.append(m.group())
                i = m.end()
        if i == start:  # cannot happen (every character is space, operator or word), but never loop
            i += 1
        i = min(i, n)
        out.append((start, i, "".join(parts)))
    return out
