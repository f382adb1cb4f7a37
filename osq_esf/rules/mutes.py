"""Mutes: drop events by who acted or what they touched, ES-style.

A mute rule names one *dimension* and the values that match it:

=================  ==========================================  =======================
dimension          value tested                                 config keys
=================  ==========================================  =======================
process_path       executable of the process that acted         process_path (literal),
                   (a table's ``process_path`` column where     process_path_prefix,
                   declared: exec's caller, as ES mutes it)     process_path_glob
target_path        the table's declared ``target`` column: the  target_path (literal),
                   file acted on (open, write, create, ...),    target_path_prefix
                   the new image of exec
signing_id         code-signing id of the row's process         signing_id
team_id            team id of the row's process                 team_id
platform_binary    1 for Apple platform binaries                platform_binary
uid                real uid of the row's process                uid
=================  ==========================================  =======================

Semantics follow ES (the muting docs in Apple's `ESClient.h`): a rule mutes the event types in its
``events`` list (all types when absent).  A dimension listed in ``[mutes] invert``
*selects* instead, like ``es_invert_muting``: an event is kept only if some rule of
that dimension matches it for its type; events without a target path are never
affected by target rules.  Muting wins over selection; the first muting rule gets
the hit, and events an inverted dimension did not select are counted on that
dimension's own ``invert:<dimension>`` row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from osq_esf.process import PROCESS_COLUMNS
from osq_esf.rules import base
from osq_esf.rules.base import RuleError

# config key -> (dimension, match kind)
KEYS: dict[str, tuple[str, str]] = {
    "process_path": ("process_path", "literal"),
    "process_path_prefix": ("process_path", "prefix"),
    "process_path_glob": ("process_path", "glob"),
    "target_path": ("target_path", "literal"),
    "target_path_prefix": ("target_path", "prefix"),
    "signing_id": ("signing_id", "literal"),
    "team_id": ("team_id", "literal"),
    "platform_binary": ("platform_binary", "literal"),
    "uid": ("uid", "literal"),
}
DIMENSIONS = ("process_path", "target_path", "signing_id", "team_id", "platform_binary", "uid")

# The ES call a native client would use for a rule (`ESClient.h`); the
# other dimensions and globs have no kernel mute and are always applied in process.
NATIVE = {
    ("process_path", "literal"): "es_mute_path_events(ES_MUTE_PATH_TYPE_LITERAL)",
    ("process_path", "prefix"): "es_mute_path_events(ES_MUTE_PATH_TYPE_PREFIX)",
    ("target_path", "literal"): "es_mute_path_events(ES_MUTE_PATH_TYPE_TARGET_LITERAL)",
    ("target_path", "prefix"): "es_mute_path_events(ES_MUTE_PATH_TYPE_TARGET_PREFIX)",
}
NATIVE_INVERT = {"process_path": "es_invert_muting(ES_MUTE_INVERSION_TYPE_PATH)",
                 "target_path": "es_invert_muting(ES_MUTE_INVERSION_TYPE_TARGET_PATH)"}

# High-volume file events only: the default set never touches exec, fork or exit.
DEFAULT_EVENTS = frozenset(("open", "close", "write", "mmap", "dup", "stat", "access", "lookup",
                            "readlink", "fsgetpath", "getattrlist", "readdir"))
_METADATA = "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/"
# (name, config key, values, why) -- sources: Mac Monitor's MuteSet.swift
# (Mac Monitor's `MuteSet.swift`) and osquery's default muted paths
# (`osquery/events/darwin/endpointsecurity.h`).
# Every path is on the SIP-protected system volume, so only Apple's binaries can sit there.
DEFAULT_RULES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("default:spotlight", "process_path_prefix", (_METADATA,), "Spotlight: mds, mds_stores, mdworker"),
    ("default:cfprefsd", "process_path", ("/usr/sbin/cfprefsd",), "preferences daemon"),
    ("default:logd", "process_path", ("/usr/libexec/logd",), "unified log"),
    ("default:xpcproxy", "process_path", ("/usr/libexec/xpcproxy",), "launchd's exec trampoline (its file events)"),
    ("default:runningboardd", "process_path", ("/usr/libexec/runningboardd",), "process lifecycle daemon"),
    ("default:windowserver", "process_path",
     ("/System/Library/PrivateFrameworks/SkyLight.framework/Versions/A/Resources/WindowServer",), "WindowServer"),
    ("default:mtlcompiler", "process_path_prefix",
     ("/System/Library/Frameworks/Metal.framework/Versions/A/XPCServices/MTLCompilerService.xpc/",), "Metal shader compiler"),
    ("default:osquery-muted", "process_path", (
        "/System/Library/PrivateFrameworks/TCC.framework/Support/tccd",
        "/System/Library/PrivateFrameworks/TCC.framework/Resources/tccd",
        "/usr/sbin/securityd", "/usr/libexec/opendirectoryd", "/usr/libexec/sandboxd",
        "/usr/libexec/syspolicyd", "/usr/libexec/amfid", "/usr/libexec/watchdogd",
    ), "daemons osquery mutes for its file events"),
    ("default:dyld-cache", "target_path_prefix",
     ("/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/", "/private/var/db/dyld/"),
     "the dyld shared cache every process maps at launch"),
)


@dataclass(eq=False)
class MuteRule:
    name: str
    dimension: str
    match: str  # literal | prefix | glob
    values: tuple
    events: frozenset | None  # None: every event type
    origin: str = "config"  # config | default
    action: str = "mute"  # mute | select (dimension inverted) | mute-unselected (the invert row)
    hits: int = 0

    @property
    def identity(self) -> tuple:
        """What must be equal for a reloaded rule to keep its hit count."""
        return (self.name, self.dimension, self.match, self.values, self.events, self.action)

    def describe(self) -> str:
        if self.action == "mute-unselected":
            return f"events no {self.dimension} rule selects"
        return f"{self.match} " + ", ".join(str(v) for v in self.values)

    def applies_to(self, short: str) -> bool:
        return self.events is None or short in self.events

    def native(self) -> str | None:
        call = NATIVE.get((self.dimension, self.match))
        if self.action == "mute-unselected":
            return NATIVE_INVERT.get(self.dimension)
        if call and self.action == "select":
            call += " + " + NATIVE_INVERT[self.dimension]
        return call


@dataclass
class MutesConfig:
    defaults: bool = True
    invert: frozenset = frozenset()
    rules: tuple[MuteRule, ...] = ()

    def active(self) -> list[MuteRule]:
        """Config rules then defaults; defaults of an inverted dimension are left out
        (inverting would turn them into a selection, the trap `ESClient.h`'s `es_invert_muting` docs warn of)."""
        out = [r for r in self.rules]
        if self.defaults:
            for name, key, values, _why in DEFAULT_RULES:
                dim, match = KEYS[key]
                if dim not in self.invert:
                    out.append(MuteRule(name, dim, match, values, DEFAULT_EVENTS, "default"))
        for r in out:
            r.action = "select" if r.dimension in self.invert else "mute"
        for dim in DIMENSIONS:
            if dim in self.invert:
                out.append(MuteRule(f"invert:{dim}", dim, "literal", (), None, "config", "mute-unselected"))
        return out


def _values(key: str, raw, where: str) -> tuple:
    dim, _ = KEYS[key]
    if dim == "platform_binary":
        return (int(base.boolean(raw, where)),)
    if dim == "uid":
        items = raw if isinstance(raw, list) and raw else [raw]
        return tuple(base.integer(v, where) for v in items)
    return base.strings(raw, where)


def parse_mutes(raw, taken: set[str]) -> MutesConfig:
    """``[mutes]``: defaults, invert, and ``[[mutes.rule]]``."""
    raw = base.table_of(raw, "mutes")
    base.check_keys(raw, {"defaults", "invert", "rule"}, "mutes")
    cfg = MutesConfig()
    if "defaults" in raw:
        cfg.defaults = base.boolean(raw["defaults"], "mutes.defaults")
    if "invert" in raw:
        inv = raw["invert"]
        if not isinstance(inv, list) or any(d not in DIMENSIONS for d in inv):
            raise RuleError("mutes.invert", f"must be a list of dimensions among {', '.join(DIMENSIONS)}")
        cfg.invert = frozenset(inv)
    rules = []
    for i, r in enumerate(base.list_of_tables(raw.get("rule", []), "mutes.rule")):
        at = f"mutes.rule[{i}]"
        base.check_keys(r, {"name", "events", *KEYS}, at)
        dims = [k for k in r if k in KEYS]
        if len(dims) != 1:
            raise RuleError(at, f"needs exactly one of {', '.join(KEYS)} (found {len(dims) or 'none'}); "
                                "combine conditions with a filter instead")
        key = dims[0]
        dim, match = KEYS[key]
        values = _values(key, r[key], f"{at}.{key}")
        if match == "glob":
            base.glob_regex(values)  # fnmatch patterns always compile; kept for symmetry
        name = base.name(r.get("name"), f"{at}.name", f"mute-{i + 1}", taken)
        if name.startswith(("default:", "invert:")):
            raise RuleError(f"{at}.name", "names starting with 'default:' or 'invert:' are reserved")
        rules.append(MuteRule(name, dim, match, values, base.event_types(r.get("events"), f"{at}.events")))
    cfg.rules = tuple(rules)
    return cfg


# -- compiled form --------------------------------------------------------------------

_CTX_ATTR = {"signing_id": "signing_id", "team_id": "team_id", "platform_binary": "platform_binary", "uid": "uid"}
assert all(a in PROCESS_COLUMNS for a in _CTX_ATTR.values())


def value_test(rule: MuteRule):
    """A function value -> bool for one rule (None never matches)."""
    if rule.match == "prefix":
        prefixes = rule.values
        return lambda v: v is not None and v.startswith(prefixes)
    if rule.match == "glob":
        rx = base.glob_regex(rule.values).match
        return lambda v: v is not None and rx(v) is not None
    values = frozenset(rule.values)
    return values.__contains__


@dataclass
class DimensionCheck:
    """The rules of one dimension that apply to one event type, and how to get its value."""

    get: object  # (actor, objs) -> value
    rules: list = field(default_factory=list)  # [(rule, test)]
    inverted: bool = False
    unselected: MuteRule | None = None

    any: object = None  # value -> bool over all rules at once (path dimensions)
    # The pieces of ``any``, for callers that inline it: literal set, prefix tuple, glob matcher.
    literals: frozenset = frozenset()
    prefixes: tuple = ()
    glob: object = None

    def seal(self) -> "DimensionCheck":
        """Build the combined test of a path dimension, so a miss costs one call."""
        if self.rules and all(isinstance(v, str) for r, _ in self.rules for v in r.values):
            literals = self.literals = frozenset(v for r, _ in self.rules if r.match == "literal" for v in r.values)
            prefixes = self.prefixes = tuple(v for r, _ in self.rules if r.match == "prefix" for v in r.values)
            globs = tuple(v for r, _ in self.rules if r.match == "glob" for v in r.values)
            rx = self.glob = base.glob_regex(globs).match if globs else None

            def any_rule(v):
                return v is not None and (v in literals or v.startswith(prefixes) or (rx is not None and rx(v) is not None))

            self.any = any_rule
        return self

    def run(self, value):
        """The first matching rule, or None; the combined test keeps the usual miss cheap.

        Several target paths (a tuple) follow ES: muted only when every path is matched (the
        first path's rule gets the hit), selected when any path is.
        """
        if type(value) is tuple:
            hits = [self.run(v) for v in value if v is not None]
            if not hits:
                return None
            if self.inverted:
                return next((h for h in hits if h is not None), None)
            return hits[0] if all(h is not None for h in hits) else None
        if self.any is not None and not self.any(value):
            return None
        for rule, test in self.rules:
            if test(value):
                return rule
        return None


def getter(dimension: str, layout):
    """``get(actor, objs)`` reading a dimension's value in this table's rows; None if it has none.

    The table's declaration says where: ``process_path`` names the column ES mutes a
    process by when it is not the row's process (exec: the caller, ``caller_path``), and
    ``target`` the columns holding the paths a target-path rule tests.  An event with two
    target paths (rename, link, ...) reads as the tuple of both.
    """
    spec = layout.spec
    if dimension == "process_path":
        if not spec.process_path:
            return lambda actor, objs: actor.ctx.path
        return _column_getter(layout, spec.process_path, dimension)
    if dimension == "target_path":
        if not spec.target:
            return None
        gets = [_column_getter(layout, c, dimension) for c in spec.target]
        if len(gets) == 1:
            return gets[0]
        return lambda actor, objs: tuple(g(actor, objs) for g in gets)
    attr = _CTX_ATTR[dimension]
    return lambda actor, objs: getattr(actor.ctx, attr)


def _column_getter(layout, column: str, dimension: str):
    kind, i = layout.where(column)
    if kind == "actor":  # the process group's columns, then the lineage group's (osq_esf.layout)
        if i < len(PROCESS_COLUMNS):
            return lambda actor, objs: actor.ctx.values[i]
        j = i - len(PROCESS_COLUMNS)
        return lambda actor, objs: actor.lineage[j]
    if kind != "obj":
        raise RuleError(f"{layout.name}.{dimension}", f"{column} is not a path column")
    return lambda actor, objs: objs[i]


def reads_row(dimension: str, layout) -> bool:
    """Whether the dimension's value comes from the event (objs) rather than the row's process."""
    columns = {"process_path": (layout.spec.process_path,), "target_path": layout.spec.target}.get(dimension, ())
    return any(c and layout.where(c)[0] != "actor" for c in columns)


def dimension_checks(rules: list[MuteRule], layout, short: str) -> tuple[list, list, bool]:
    """(checks decided once per actor, checks per event, whether the per-actor checks also read
    the row), normal dimensions before inverted ones.

    A check whose value is the row's own process (signing id, a process path, exec's target,
    the new image) is cached per actor; a target path read from the event is checked per
    event.  A process path read from the event (exec's caller) stays in the cached list but
    the cache must key on it too (third value).
    """
    by_dim: dict[str, DimensionCheck] = {}
    for r in rules:
        if r.action == "mute-unselected" or not r.applies_to(short):
            continue
        get = getter(r.dimension, layout)
        if get is None:
            continue
        chk = by_dim.setdefault(r.dimension, DimensionCheck(get))
        chk.rules.append((r, value_test(r)))
    for r in rules:  # an inverted dimension applies even when none of its rules covers this type
        if r.action == "mute-unselected":
            get = getter(r.dimension, layout)
            if get is None:
                continue
            chk = by_dim.setdefault(r.dimension, DimensionCheck(get))
            chk.inverted, chk.unselected = True, r
    for chk in by_dim.values():
        chk.seal()
    ordered = sorted(by_dim.items(), key=lambda kv: kv[1].inverted)
    per_event = [c for d, c in ordered if d == "target_path" and reads_row(d, layout)]
    cached = [c for d, c in ordered if not (d == "target_path" and reads_row(d, layout))]
    keyed_by_row = any(reads_row(d, layout) for d, c in ordered if c in cached)
    return cached, per_event, keyed_by_row


def run_checks(checks: list[DimensionCheck], actor, objs):
    """(muting rule or None, rules that selected the event)."""
    selected = ()
    for chk in checks:
        hit = chk.run(chk.get(actor, objs))
        if chk.inverted:
            if hit is None:
                return chk.unselected, ()
            selected += (hit,)
        elif hit is not None:
            return hit, ()
    return None, selected
