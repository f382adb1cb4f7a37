"""One event, two renderings: the ES message the simulator hands the shim, and eslogger's line for it.

An event is a set of plain values (text, numbers, :class:`Token`, :class:`File`, :class:`Proc`,
...) keyed by the dotted JSON path eslogger writes them at.  Both renderings come from those
values and nothing else:

* **ES**: every value is set in the simulated ``es_message_t`` at the C member of the same
  name along the same path (eslogger names its keys after the C fields), converted by the
  member's C type: a :class:`File` becomes an ``es_file_t *``, text an ``es_string_token_t``,
  ``None`` a NULL pointer or ES's empty token.  Where the C form differs from the JSON (a
  ``has_`` flag, a union picked by a type field, a list with its count) a field says how.
* **eslogger**: the key schema's message (``tests/eslines.py``) with every key set from the same
  values, full stat blocks included, at the message version's keys only, and checked with
  :mod:`osq_esf.schema_check`.

A :class:`Family` is an event type (and, for unions, one arm).  Its fields are the key schema's
own keys for the type, so a key eslogger writes cannot be forgotten; the strategy of each is
derived from its schema type and C type unless the family overrides it.  Values are drawn with
hypothesis (:func:`draw_event`).
"""

from __future__ import annotations

import time
from dataclasses import astuple, dataclass, field
from functools import lru_cache

from hypothesis import strategies as st

from osq_esf import events
from osq_esf.schema_check import TOKEN_KEYS, VERSION_GATES, check
from tests.eslines import body as eslogger_body
from tests.key_schema import key_schema

# -- values ---------------------------------------------------------------------------------


def _rfc3339(sec: int, frac: int, digits: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{frac:0{digits}d}Z"


@dataclass(frozen=True)
class Time:
    """A struct timespec; eslogger writes it as RFC 3339 with 9 fractional digits."""
    sec: int
    nsec: int

    def json(self) -> str:
        return _rfc3339(self.sec, self.nsec, 9)


@dataclass(frozen=True)
class Token:
    """An audit_token_t, in the order of its val[] words."""
    auid: int
    euid: int
    egid: int
    ruid: int
    rgid: int
    pid: int
    asid: int
    pidversion: int

    def json(self, form: str):
        values = list(astuple(self))
        return values if form == "array" else dict(zip(TOKEN_KEYS, values))


@dataclass(frozen=True)
class Hex:
    """Bytes eslogger writes as upper-case hex (cdhash, sha256)."""
    data: bytes

    def json(self) -> str:
        return self.data.hex().upper()


@dataclass(frozen=True)
class Uuid:
    """A uuid_t; eslogger writes it as NSUUID does (upper case, 8-4-4-4-12)."""
    data: bytes

    def json(self) -> str:
        h = self.data.hex().upper()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


@dataclass(frozen=True)
class File:
    """An es_file_t: eslogger writes the whole struct stat; the simulated one holds some of it."""
    path: str
    truncated: bool
    dev: int
    ino: int
    mode: int
    nlink: int
    uid: int
    gid: int
    rdev: int
    atime: Time
    mtime: Time
    ctime: Time
    birth: Time
    size: int
    blocks: int
    blksize: int
    flags: int
    gen: int

    def json(self) -> dict:
        stat = {"st_dev": self.dev, "st_ino": self.ino, "st_mode": self.mode, "st_nlink": self.nlink,
                "st_uid": self.uid, "st_gid": self.gid, "st_rdev": self.rdev, "st_atimespec": self.atime.json(),
                "st_mtimespec": self.mtime.json(), "st_ctimespec": self.ctime.json(),
                "st_birthtimespec": self.birth.json(), "st_size": self.size, "st_blocks": self.blocks,
                "st_blksize": self.blksize, "st_flags": self.flags, "st_gen": self.gen}
        return {"path": self.path, "path_truncated": self.truncated, "stat": stat}


@dataclass(frozen=True)
class Proc:
    """An es_process_t."""
    token: Token
    ppid: int
    original_ppid: int
    group_id: int
    session_id: int
    codesigning_flags: int
    is_platform_binary: bool
    is_es_client: bool
    cdhash: Hex
    signing_id: str
    team_id: str | None
    executable: File
    tty: File | None
    start: tuple[int, int]  # struct timeval: seconds, microseconds
    responsible: Token
    parent: Token
    cs_validation_category: int

    def json(self, version: int, form: str) -> dict:
        d = {"audit_token": self.token.json(form), "ppid": self.ppid, "original_ppid": self.original_ppid,
             "group_id": self.group_id, "session_id": self.session_id, "codesigning_flags": self.codesigning_flags,
             "is_platform_binary": self.is_platform_binary, "is_es_client": self.is_es_client,
             "cdhash": self.cdhash.json(), "signing_id": self.signing_id, "team_id": self.team_id,
             "executable": self.executable.json()}
        if version >= 2:
            d["tty"] = None if self.tty is None else self.tty.json()
        if version >= 3:
            d["start_time"] = _rfc3339(*self.start, 6)
        if version >= 4:
            d["responsible_audit_token"] = self.responsible.json(form)
            d["parent_audit_token"] = self.parent.json(form)
        if version >= 10:
            d["cs_validation_category"] = self.cs_validation_category
        return d


@dataclass(frozen=True)
class Fd:
    """An es_fd_t of exec; eslogger writes ``pipe`` only for a pipe."""
    fd: int
    fdtype: int
    pipe_id: int

    def json(self) -> dict:
        d = {"fd": self.fd, "fdtype": self.fdtype}
        if self.fdtype == PROX_FDTYPE_PIPE:
            d["pipe"] = {"pipe_id": self.pipe_id}
        return d


PROX_FDTYPE_PIPE = 6


def to_json(value, version: int, form: str):
    if isinstance(value, Proc):
        return value.json(version, form)
    if isinstance(value, Token):
        return value.json(form)
    if isinstance(value, list):
        return [to_json(v, version, form) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v, version, form) for k, v in value.items()}
    if hasattr(value, "json"):
        return value.json()
    return value


# -- strategies -----------------------------------------------------------------------------

def ints(bits: int, signed: bool):
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else st.integers(0, (1 << bits) - 1)


I32, U32, U64 = ints(32, True), ints(32, False), ints(64, False)
MODE = ints(16, False)  # mode_t is 16 bits on macOS (32 in the simulator's Linux types)
# What a kernel counter or address can hold: int64's range (osquery's BIGINT).
I64_POSITIVE = st.integers(0, (1 << 63) - 1)
# Any text ES can hand over in a token: valid UTF-8 (the shim turns other bytes into U+FFFD,
# which eslogger may not), no NUL (C strings end there).
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)
SOME_TEXT = TEXT.filter(bool)
OPT_TEXT = st.none() | SOME_TEXT  # ES's optional strings: NULL or something; never empty
PATH = st.builds(lambda parts: "/" + "/".join(parts), st.lists(SOME_TEXT.map(lambda s: s.replace("/", "_")),
                                                                min_size=1, max_size=3))
SECONDS = st.integers(0, 4_102_444_800)  # up to 2100
TIMES = st.builds(Time, SECONDS, st.integers(0, 999_999_999))
TOKENS = st.builds(Token, U32, U32, U32, U32, U32, st.integers(0, 99_999), I32, st.integers(0, 1 << 30))
FILES = st.builds(File, PATH, st.booleans(), I32, U64, MODE, ints(16, False), U32, U32, I32, TIMES, TIMES, TIMES,
                  TIMES, I64_POSITIVE, I64_POSITIVE, I32, U32, U32)
HEX20 = st.binary(min_size=20, max_size=20).map(Hex)
HEX32 = st.binary(min_size=32, max_size=32).map(Hex)
UUIDS = st.binary(min_size=16, max_size=16).map(Uuid)
PROCS = st.builds(Proc, TOKENS, I32, I32, I32, I32, U32, st.booleans(), st.booleans(), HEX20, TEXT, OPT_TEXT, FILES,
                  st.none() | FILES, st.tuples(SECONDS, st.integers(0, 999_999)), TOKENS, TOKENS, I32)
# Schema types with one strategy whatever the C type.
BY_SCHEMA_TYPE = {
    "string": TEXT, "string|null": OPT_TEXT, "bool": st.booleans(), "file": FILES, "file|null": st.none() | FILES,
    "process": PROCS, "process|null": st.none() | PROCS, "audit_token": TOKENS,
    "audit_token|null": st.none() | TOKENS, "string(time)": TIMES, "array[string]": st.lists(TEXT, max_size=3),
    "string(hex)": HEX20, "string(hex)|null": st.none() | HEX32, "null": st.none(),
}
# C integer types -> (bits, signed); the simulator's types are the canonical C names.
C_INTS = {"int": (32, True), "int32_t": (32, True), "uint32_t": (32, False), "unsigned int": (32, False),
          "uint64_t": (64, False), "int64_t": (64, True), "unsigned short": (16, False), "uint16_t": (16, False),
          "size_t": (64, False)}


# -- families -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """How one JSON path differs from the default: its strategy, and how ES holds it.

    ``strategy`` draws the value (default: from the schema and C types); ``count`` makes it the
    length of another field's list; ``cpath`` is the C member path when it differs from the JSON
    path; ``has`` names the bool flag of a one-arm ``{uid}`` union that eslogger writes as int|null;
    ``es`` is a setter ``(builder, message, body, value, event)`` for what none of that covers
    (``False``: another field's setter sets it)."""
    strategy: object = None
    count: str = ""
    cpath: str = ""
    has: str = ""
    es: object = None


@dataclass(frozen=True, eq=False)  # hashed by identity: the fields hold strategies
class Family:
    short: str
    variant: str = ""
    drop: tuple[str, ...] = ()  # JSON paths (and what is under them) this variant never writes
    fields: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.short + (f"[{self.variant}]" if self.variant else "")


def _flat_keys(short: str) -> dict[str, str]:
    """The key schema's keys of a type: dotted path (no ``?``) -> type."""
    return {k.replace("?", ""): t for k, t in key_schema()["events"][short].items()}


@lru_cache(maxsize=None)
def leaf_paths(family: Family) -> dict[str, str]:
    """path -> schema type of every leaf the family draws: object keys with children are not
    leaves, unless they may be null (then they are drawn as null or as their children)."""
    keys = _flat_keys(family.short)
    out = {}
    for path, typ in keys.items():
        if any(path == d or path.startswith(d + ".") for d in family.drop):
            continue
        if "[]" in path:
            continue  # array items: the array's own field draws them
        has_children = any(k.startswith(path + ".") for k in keys)
        if has_children and typ == "object":
            continue
        out[path] = typ
    return out


def _c_member_type(ffi, ctype, cpath: str):
    for part in cpath.split("."):
        if ctype.kind == "pointer":
            ctype = ctype.item
        ctype = dict(ctype.fields)[part].type
    return ctype


def body_ctype(ffi, short: str):
    return ffi.typeof(f"es_event_{short}_t")


def _int_strategy(ctype):
    if ctype.kind == "enum":
        return I32
    if ctype.kind == "primitive" and ctype.cname == "_Bool":
        return st.booleans()
    bits, signed = C_INTS[ctype.cname]
    return ints(bits, signed)


@lru_cache(maxsize=None)
def _strategies(ffi, family: Family) -> tuple:
    """((path, strategy-or-None, Field), ...) in schema order; None for counted fields."""
    out = []
    root = body_ctype(ffi, family.short)
    leaves = leaf_paths(family)
    for path, typ in leaves.items():
        f = family.fields.get(path, Field())
        s = f.strategy
        if s is None and not f.count:
            if typ in ("int", "int|null"):
                s = _int_strategy(_c_member_type(ffi, root, f.cpath or path)) if not f.has else U32
                if typ == "int|null":
                    s = st.none() | s
            elif typ == "object|null":
                s = st.booleans()  # present (its children drawn) or null
            elif typ.startswith("object") or typ == "array":
                raise ValueError(f"{family.name}: {path} ({typ}) needs a Field")
            else:
                s = BY_SCHEMA_TYPE[typ]
        out.append((path, s, f))
    for path in family.fields:
        if path not in leaves:
            raise ValueError(f"{family.name}: {path} is not a key eslogger writes for {family.short}")
    return tuple(out)


@st.composite
def draw_event(draw, ffi, family: Family) -> dict:
    """{JSON path: value} for every leaf of the family; a null object leaves its children out."""
    ev: dict = {}
    null: list[str] = []
    counted = []
    for path, s, f in _strategies(ffi, family):
        if any(path.startswith(p + ".") for p in null):
            continue
        if f.count:
            counted.append((path, f.count))
        elif leaf_paths(family)[path] == "object|null":
            if not draw(s):
                ev[path] = None
                null.append(path)
        else:
            ev[path] = draw(s)
    for path, of in counted:  # ES's counts are the lengths of their lists
        ev[path] = len(ev[of])
    return ev


def present(short: str, path: str, version: int) -> bool:
    """Whether eslogger writes ``path`` at ``version`` (schema_check.VERSION_GATES)."""
    parts = path.split(".")
    for i in range(len(parts)):
        gate = ".".join([short, *parts[:i]])
        since = VERSION_GATES.get((gate, parts[i]), (0, True))[0]
        if version < since:
            return False
    return True


# -- the eslogger line ----------------------------------------------------------------------

@dataclass(frozen=True)
class Envelope:
    time: Time
    mach_time: int
    thread_id: int | None
    result: tuple[int, int]  # result_type (0 auth, 1 flags), value
    actor: Proc


ENVELOPES = st.builds(Envelope, TIMES, I64_POSITIVE, st.none() | I64_POSITIVE,
                      st.one_of(st.tuples(st.just(0), st.integers(0, 1)), st.tuples(st.just(1), U32)), PROCS)


def eslogger_message(family: Family, ev: dict, env: Envelope, version: int, form: str, seq: int, gseq: int) -> dict:
    """The message eslogger writes for the event, checked against its key schema."""
    short = family.short
    values = {p: to_json(v, version, form) for p, v in ev.items() if present(short, p, version)}
    kind, value = env.result
    msg = {"schema_version": 1, "version": version, "time": env.time.json(), "mach_time": env.mach_time,
           "event_type": events.number_of(short), "action_type": 1,
           "action": {"result": {"result_type": kind, "result": {"flags" if kind else "auth": value}}},
           "process": env.actor.json(version, form),
           "event": {short: eslogger_body(short, values, version=version, form=form)}}
    if version >= 2:
        msg["seq_num"] = seq
    if version >= 4:
        msg["global_seq_num"] = gseq
        msg["thread"] = None if env.thread_id is None else {"thread_id": env.thread_id}
    errors = check(msg)
    assert not errors, f"{family.name} v{version}: not what eslogger writes: {errors}"
    return msg


def leaves_of(obj, path: str = ""):
    """The dotted paths of a JSON body's leaves (lists and scalars)."""
    if isinstance(obj, dict) and (obj or not path):
        for k, v in obj.items():
            yield from leaves_of(v, f"{path}.{k}" if path else k)
    else:
        yield path


# -- the ES message -------------------------------------------------------------------------

class EsWriter:
    """Sets values in simulated ES structs by their C member types (tests/native_sim.Builder)."""

    def __init__(self, builder):
        self.b, self.ffi = builder, builder.ffi

    def token(self, t: Token):
        # val[] is unsigned; asid, pid and pidversion read back signed (audit_token_to_asid ...)
        return self.b.new("audit_token_t *", {"val": [v & 0xFFFFFFFF for v in astuple(t)]})

    def file(self, f: File | None):
        if f is None:
            return self.ffi.NULL
        p = self.b.new("es_file_t *")
        p.path, p.path_truncated = self.b.tok(f.path), f.truncated
        s = p.stat
        s.st_dev, s.st_ino, s.st_mode, s.st_uid, s.st_gid = f.dev & 0xFFFFFFFF, f.ino, f.mode, f.uid, f.gid
        s.st_size, s.st_flags = f.size, f.flags
        s.st_mtimespec.tv_sec, s.st_mtimespec.tv_nsec = f.mtime.sec, f.mtime.nsec
        s.st_birthtimespec.tv_sec, s.st_birthtimespec.tv_nsec = f.birth.sec, f.birth.nsec
        return p

    def process(self, pr: Proc | None):
        if pr is None:
            return self.ffi.NULL
        p = self.b.new("es_process_t *")
        p.audit_token = self.token(pr.token)[0]
        p.ppid, p.original_ppid, p.group_id, p.session_id = pr.ppid, pr.original_ppid, pr.group_id, pr.session_id
        p.codesigning_flags, p.is_platform_binary, p.is_es_client = (pr.codesigning_flags, pr.is_platform_binary,
                                                                     pr.is_es_client)
        for i, byte in enumerate(pr.cdhash.data):
            p.cdhash[i] = byte
        p.signing_id, p.team_id = self.b.tok(pr.signing_id), self.b.tok(pr.team_id)
        p.executable, p.tty = self.file(pr.executable), self.file(pr.tty)
        p.start_time.tv_sec, p.start_time.tv_usec = pr.start
        p.responsible_audit_token = self.token(pr.responsible)[0]
        p.parent_audit_token = self.token(pr.parent)[0]
        p.cs_validation_category = pr.cs_validation_category
        return p

    def convert(self, value, ctype):
        """``value`` as a C value of ``ctype`` (a cdata to assign, or a Python number)."""
        name = ctype.cname
        if name == "es_string_token_t":
            return self.b.tok(value)
        if ctype.kind == "pointer":
            if value is None:
                return self.ffi.NULL
            item = ctype.item.cname
            if item == "es_file_t":
                return self.file(value)
            if item == "es_process_t":
                return self.process(value)
            if item == "audit_token_t":
                return self.token(value)
            if item == "es_string_token_t":
                return self.b.toks(value)
            if item == "struct _acl":
                acl = self.b.new("struct _acl *")
                acl.text = self.b.chars(value)
                return acl
            if ctype.item.kind == "array":  # es_sha256_t *
                return self.b.new(ctype, list(value.data))
        if name == "audit_token_t":
            return self.token(value)[0]
        if name == "struct timespec":
            return self.b.new("struct timespec *", {"tv_sec": value.sec, "tv_nsec": value.nsec})[0]
        if ctype.kind == "array":  # an inline digest, uuid or char array
            if isinstance(value, str):
                return value.encode()
            return list(value.data) if isinstance(value, (Hex, Uuid)) else list(value)
        return value

    def member(self, body, cpath: str, allocate: bool = True):
        """(struct, member name) of a dotted C path, allocating NULL struct pointers on the way."""
        *parents, last = cpath.split(".")
        obj = body
        for part in parents:
            child = getattr(obj, part)
            if self.ffi.typeof(child).kind == "pointer" and child == self.ffi.NULL and allocate:
                child = self.b.new(self.ffi.typeof(child))
                setattr(obj, part, child)
            obj = child
        return obj, last

    def set(self, body, cpath: str, value) -> None:
        obj, name = self.member(body, cpath)
        ctype = self.ffi.typeof(self.ffi.addressof(obj, name)).item
        setattr(obj, name, self.convert(value, ctype))


def es_message(builder, family: Family, ev: dict, env: Envelope, version: int):
    """The es_message_t of the event: every value set, whatever the version (ES leaves a field
    newer than the message version undefined; the shim must not read it)."""
    w = EsWriter(builder)
    m = builder.message(family.short, version=version, process=w.process(env.actor), thread_id=env.thread_id)
    m.time.tv_sec, m.time.tv_nsec = env.time.sec, env.time.nsec
    m.mach_time = env.mach_time
    kind, value = env.result
    m.action.notify.result_type = kind
    if kind:
        m.action.notify.result.flags = value
    else:
        m.action.notify.result.auth = value
    body = getattr(m.event, family.short)
    if builder.ffi.typeof(body).kind == "pointer":  # events since macOS 13 hold a pointer
        body = builder.new(builder.ffi.typeof(body))
        setattr(m.event, family.short, body)
    fields = family.fields
    for path, value in ev.items():
        f = fields.get(path, Field())
        if f.es is False:
            continue
        if f.es is not None:
            f.es(builder, m, body, value, ev)
        elif f.has:
            obj, name = w.member(body, f.cpath or path)
            setattr(obj, f.has, value is not None)
            getattr(obj, name).uid = value or 0
        elif value is None and leaf_paths(family).get(path) == "object|null":
            w.set(body, f.cpath or path, None)
        else:
            w.set(body, f.cpath or path, value)
    return m



# -- the families -----------------------------------------------------------------------------

def _exec_lists(b, m, body, args, ev) -> None:
    b.exec_lists(m, args, ev["env"], [(f.fd, f.fdtype, f.pipe_id) for f in ev["fds"]])


def _authorization_results(b, m, body, results, ev) -> None:
    arr = b.new("es_authorization_result_t[]", max(len(results), 1))
    for i, r in enumerate(results):
        arr[i].right_name, arr[i].rule_class, arr[i].granted = b.tok(r["right_name"]), r["rule_class"], r["granted"]
    body.results = arr


def _member_uuids(b, m, body, uuids, ev) -> None:
    arr = b.new("uuid_t[]", max(len(uuids), 1))
    for i, u in enumerate(uuids):
        arr[i] = list(u.data)
    if body.members == b.ffi.NULL:
        body.members = b.new("es_od_member_id_array_t *")
    body.members.member_array.uuids = arr


FDS = st.lists(st.builds(Fd, I32, st.just(PROX_FDTYPE_PIPE) | U32, U64), max_size=3)
RESULTS = st.lists(st.fixed_dictionaries({"right_name": TEXT, "rule_class": I32, "granted": st.booleans()}),
                   max_size=3)
STATFS = {"statfs.f_fsid": Field(st.lists(I32, min_size=2, max_size=2), cpath="statfs.f_fsid.val"),
          "statfs.f_fstypename": Field(TEXT.filter(lambda s: len(s.encode()) < 16)),
          "statfs.f_mntonname": Field(PATH), "statfs.f_mntfromname": Field(PATH)}


def _union(short: str, key: str, arms: dict[int, tuple[str, str, dict]], common: dict | None = None) -> list[Family]:
    """One family per arm of a union: ``key`` fixed to the arm's number, the other arms' paths dropped.
    ``arms``: number -> (variant name, the arm's JSON path or "", the arm's fields); ``common``: fields
    of every arm."""
    return [Family(short, name, drop=tuple(p for _, p, _ in arms.values() if p and p != path),
                   fields={key: Field(st.just(n)), **(common or {}), **fields})
            for n, (name, path, fields) in arms.items()]


_DESTINATION = {0: ("existing_file", "destination.existing_file", {}),
                1: ("new_path", "destination.new_path", {})}
_OD_MEMBER = {0: ("name", "", {"member.member_value": Field(TEXT, cpath="member.member_value.name")}),
              1: ("uuid", "", {"member.member_value": Field(UUIDS, cpath="member.member_value.uuid")})}

FAMILIES: list[Family] = [
    Family("exec", drop=("entitlements",), fields={
        "args": Field(st.lists(TEXT, max_size=4), es=_exec_lists), "env": Field(st.lists(TEXT, max_size=3), es=False),
        "fds": Field(FDS, es=False)}),
    Family("open"), Family("write"), Family("fork"), Family("exit"), Family("iokit_open"), Family("close"),
    *_union("create", "destination_type", {
        0: ("existing_file", "destination.existing_file", {}),
        1: ("new_path", "destination.new_path", {"destination.new_path.mode": Field(MODE)})}),
    *_union("rename", "destination_type", _DESTINATION),
    Family("btm_launch_item_add"), Family("btm_launch_item_remove"), Family("unlink"), Family("tcc_modify"),
    Family("xp_malware_detected"), Family("xp_malware_remediated"),
    *_union("gatekeeper_user_override", "file_type", {
        0: ("path", "", {"file": Field(PATH, cpath="file.file_path")}),
        1: ("file", "", {"file": Field(FILES, cpath="file.file")})}),
    *_union("authentication", "type", {
        0: ("od", "data.od", {}), 1: ("touchid", "data.touchid", {"data.touchid.uid": Field(has="has_uid")}),
        2: ("token", "data.token", {}), 3: ("auto_unlock", "data.auto_unlock", {})}),
    Family("sudo", fields={"from_uid": Field(has="has_from_uid"), "to_uid": Field(has="has_to_uid")}),
    Family("su", fields={"to_uid": Field(has="has_to_uid"), "argc": Field(count="argv"),
                         "env_count": Field(count="env")}),
    Family("openssh_login", fields={"uid": Field(has="has_uid")}), Family("openssh_logout"),
    Family("screensharing_attach"), Family("screensharing_detach"),
    Family("login_login", fields={"uid": Field(has="has_uid")}), Family("login_logout"),
    *[Family(f"lw_session_{s}") for s in ("login", "logout", "lock", "unlock")],
    *[f for short in ("od_group_add", "od_group_remove") for f in _union(short, "member.member_type", _OD_MEMBER)],
    *_union("od_group_set", "members.member_type", {
        0: ("names", "", {"members.member_array": Field(st.lists(TEXT, max_size=3),
                                                        cpath="members.member_array.names")}),
        1: ("uuids", "", {"members.member_array": Field(st.lists(UUIDS, max_size=3), es=_member_uuids)})},
        {"members.member_count": Field(count="members.member_array")}),
    *[Family(f"od_{s}") for s in ("modify_password", "disable_user", "enable_user", "attribute_value_add",
                                  "attribute_value_remove", "create_user", "create_group", "delete_user",
                                  "delete_group")],
    Family("od_attribute_set", fields={"attribute_value_count": Field(count="attribute_values")}),
    Family("profile_add"), Family("profile_remove"),
    *[Family(s) for s in ("get_task", "get_task_read", "get_task_inspect", "get_task_name")],
    Family("remote_thread_create", fields={"thread_state.state": Field(es=False)}),
    # file_pos is a uint64_t (mmap(2)'s off_t); one past int64 does not fit the BIGINT column from any
    # source alike (the pipeline refuses the row as a decode error), so it is no native difference
    Family("mmap", fields={"file_pos": Field(I64_POSITIVE)}), Family("deleteextattr"), Family("setextattr"),
    Family("mount", fields=STATFS), Family("unmount", fields=STATFS),
    Family("signal"), Family("cs_invalidated"), Family("uipc_connect"),
    Family("uipc_bind", fields={"mode": Field(MODE)}),
    Family("authorization_petition", fields={"right_count": Field(count="rights")}),
    Family("authorization_judgement", fields={"results": Field(RESULTS, es=_authorization_results),
                                              "result_count": Field(count="results")}),
    Family("setmode", fields={"mode": Field(MODE)}), Family("setowner"), Family("setflags"), Family("utimes"),
    Family("xpc_connect"), Family("trace"), Family("proc_suspend_resume"),
]
