"""Process context: the acting process of an event, interned.

Most events of a busy Mac come from a few hundred processes, so the decoded
:class:`~osq_esf.decode.Process` (a frozen, hashable Struct), or on the pipeline's path
the raw JSON bytes of it, is used as the key of a pool and each distinct process is
turned into one :class:`ProcessContext` whose column values are computed once.  A ring
row then holds one reference instead of two dozen values, which is what keeps a buffered
event near 100 bytes.
"""

from __future__ import annotations

import sys
import threading

from osq_esf.decode import AuditToken, Process, decode_process, parse_time

_getsizeof = sys.getsizeof
# Estimated bytes of a context and an actor beyond their strings (measured with tracemalloc on
# eslogger processes): slots, the value tuple, the pool's entries, the encoded columns.
CONTEXT_BYTES, ACTOR_BYTES = 1024, 1024
STRUCT_KEY_BYTES = 1024  # a decoded Process as a pool key, with its tokens, file and strings

# Column order of the process group in tables/_groups.toml; ProcessContext.values follows it.
PROCESS_COLUMNS: tuple[str, ...] = (
    "pid",
    "pidversion",
    "parent",
    "parent_pidversion",
    "original_parent",
    "responsible_pid",
    "responsible_pidversion",
    "path",
    "uid",
    "euid",
    "gid",
    "egid",
    "auid",
    "session_id",
    "group_id",
    "signing_id",
    "team_id",
    "cdhash",
    "platform_binary",
    "codesigning_flags",
    "cs_flags",
    "is_es_client",
    "tty",
    "start_time",
    "cs_validation_category",
    "cs_validation_category_name",
    "cs_flag_names",
    "asid",
)

# kern/cs_blobs.h bits osquery reports (es_utils.cpp); we keep its wording.
CS_VALID = 0x1
CS_ADHOC = 0x2
CS_INSTALLER = 0x8
CS_RUNTIME = 0x10000
# Every code-signing flag by its kern/cs_blobs.h name (CS_ prefix dropped), for cs_flag_names.
CS_FLAG_NAMES = (
    (0x1, "VALID"), (0x2, "ADHOC"), (0x4, "GET_TASK_ALLOW"), (0x8, "INSTALLER"),
    (0x10, "FORCED_LV"), (0x20, "INVALID_ALLOWED"), (0x100, "HARD"), (0x200, "KILL"),
    (0x400, "CHECK_EXPIRATION"), (0x800, "RESTRICT"), (0x1000, "ENFORCEMENT"), (0x2000, "REQUIRE_LV"),
    (0x4000, "ENTITLEMENTS_VALIDATED"), (0x8000, "NVRAM_UNRESTRICTED"), (0x10000, "RUNTIME"),
    (0x20000, "LINKER_SIGNED"), (0x100000, "EXEC_SET_HARD"), (0x200000, "EXEC_SET_KILL"),
    (0x400000, "EXEC_SET_ENFORCEMENT"), (0x800000, "EXEC_INHERIT_SIP"), (0x1000000, "KILLED"),
    (0x2000000, "DYLD_PLATFORM"), (0x4000000, "PLATFORM_BINARY"), (0x8000000, "PLATFORM_PATH"),
    (0x10000000, "DEBUGGED"), (0x20000000, "SIGNED"), (0x40000000, "DEV_CODE"),
    (0x80000000, "DATAVAULT_CONTROLLER"),
)
# es_cs_validation_category_t (ESTypes.h, macOS 14.3+, message version 10).
CS_VALIDATION_CATEGORIES = {
    0: "invalid", 1: "platform", 2: "testflight", 3: "development", 4: "app_store", 5: "enterprise",
    6: "developer_id", 7: "local_signing", 8: "rosetta", 9: "oop_jit", 10: "none",
}
_CS_NAMES: dict[int, str] = {}


def cs_flag_names(flags: int) -> str:
    """``VALID|RUNTIME|...``: every set bit by name, unknown bits as hex (cached per mask)."""
    text = _CS_NAMES.get(flags)
    if text is None:
        parts, rest = [], flags & 0xFFFFFFFF
        for bit, name in CS_FLAG_NAMES:
            if rest & bit:
                parts.append(name)
                rest &= ~bit
        if rest:
            parts.append(hex(rest))
        text = "|".join(parts)
        if len(_CS_NAMES) < 4096:
            _CS_NAMES[flags] = text
    return text


def codesigning_flags_text(flags: int) -> str:
    """osquery's rendering: NOT_VALID, ADHOC, NOT_RUNTIME, INSTALLER joined by ", "."""
    out = []
    if not flags & CS_VALID:
        out.append("NOT_VALID")
    if flags & CS_ADHOC:
        out.append("ADHOC")
    if not flags & CS_RUNTIME:
        out.append("NOT_RUNTIME")
    if flags & CS_INSTALLER:
        out.append("INSTALLER")
    return ", ".join(out)


def token_fields(tok) -> tuple[int, int, int, int, int, int, int, int]:
    """(auid, euid, egid, ruid, rgid, pid, asid, pidversion) from either token form."""
    if isinstance(tok, AuditToken):
        return (tok.auid, tok.euid, tok.egid, tok.ruid, tok.rgid, tok.pid, tok.asid, tok.pidversion)
    return tuple(tok)


def _cdhash_text(cdhash: str) -> str | None:
    if not cdhash:
        return None
    low = cdhash.lower()
    # osquery writes "" for an all-zero hash (every digit equal to the first).
    return None if low.count(low[0]) == len(low) else low


class ProcessContext:
    """One distinct acting process, with its column values in PROCESS_COLUMNS order."""

    __slots__ = ("values", "pid", "pidversion", "ppid", "path", "signing_id", "team_id",
                 "euid", "uid", "platform_binary", "parent_pidversion", "responsible_pid",
                 "responsible_pidversion", "original_ppid", "start_time", "actor", "unpaid")

    def __init__(self, p: Process):
        auid, euid, egid, ruid, rgid, pid, asid, pidversion = token_fields(p.audit_token)
        parent_pv = responsible_pid = responsible_pv = None
        if p.parent_audit_token is not None:
            parent_pv = token_fields(p.parent_audit_token)[7]
        if p.responsible_audit_token is not None:
            rt = token_fields(p.responsible_audit_token)
            responsible_pid, responsible_pv = rt[5], rt[7]
        start = parse_time(p.start_time)[0] if p.start_time else None
        self.pid, self.pidversion, self.ppid = pid, pidversion, p.ppid
        self.path = p.executable.path
        self.signing_id = p.signing_id or None
        self.team_id = p.team_id or None
        self.uid, self.euid = ruid, euid
        self.platform_binary = int(p.is_platform_binary)
        self.parent_pidversion = parent_pv
        self.responsible_pid, self.responsible_pidversion = responsible_pid, responsible_pv
        self.original_ppid = p.original_ppid
        self.start_time = start
        self.values = (
            pid,
            pidversion,
            p.ppid,
            parent_pv,
            p.original_ppid,
            responsible_pid,
            responsible_pv,
            self.path,
            ruid,
            euid,  # the real euid: osquery's own table puts the egid here (a known bug)
            rgid,
            egid,
            auid,
            p.session_id,
            p.group_id,
            self.signing_id,
            self.team_id,
            _cdhash_text(p.cdhash),
            self.platform_binary,
            codesigning_flags_text(p.codesigning_flags),
            p.codesigning_flags,
            int(p.is_es_client),
            p.tty.path if p.tty is not None else None,
            start,
            p.cs_validation_category,
            CS_VALIDATION_CATEGORIES.get(p.cs_validation_category),
            cs_flag_names(p.codesigning_flags),
            asid,
        )
        self.actor = None  # this process as a row's actor when no lineage stage runs (Actor.bare)
        # Bytes it holds (its JSON as the pool's key, the struct, the values), until a ring row pays them.
        self.unpaid = CONTEXT_BYTES + 3 * _getsizeof(self.path)  # the path, in the key, struct and values


class Actor:
    """What a row stores about its process: the interned context and the real-parent answer.

    One reference per row stands for the process group and the lineage group of columns;
    the lineage stage interns one Actor per (context, answer), so rows of one process share
    it and the reply encoder writes its columns once (``encoded``).  An answer that changes
    later (a parent arrives) makes a new Actor; rows already stored keep the one they got.
    """

    __slots__ = ("ctx", "lineage", "pid", "encoded", "unpaid")

    def __init__(self, ctx: ProcessContext, lineage: tuple):
        self.ctx = ctx
        self.lineage = lineage  # values in osq_esf.layout.LINEAGE_COLUMNS order
        self.pid = ctx.pid
        self.encoded = None  # filled lazily by the row encoder
        self.unpaid = ACTOR_BYTES

    def charge(self) -> int:
        """What storing this actor adds to a ring's bytes: itself (and its encoding) the first
        time, its context the first time any actor of it is stored; then nothing (osq_esf.rings)."""
        n = self.unpaid
        if n:
            self.unpaid = 0
            ctx = self.ctx
            n += ctx.unpaid
            ctx.unpaid = 0
        return n

    @property
    def values(self) -> tuple:
        """The process columns then the lineage columns (osq_esf.layout.ACTOR_COLUMNS)."""
        return self.ctx.values + self.lineage

    @staticmethod
    def bare(ctx: ProcessContext, nulls: tuple) -> "Actor":
        """``ctx`` with NULL lineage columns, made once per context."""
        a = ctx.actor
        if a is None:
            a = ctx.actor = Actor(ctx, nulls)
        return a


class ProcessPool:
    """Interns Process structs to ProcessContexts; bounded by clearing when full.

    Full means ``limit`` entries or about ``max_bytes`` of keys (a raw key is as long as the
    process's paths and ids make it, a decoded one about STRUCT_KEY_BYTES): counting entries
    alone let a stream of distinct processes hold hundreds of MB.  Clearing only forgets the index: contexts already
    referenced by ring rows stay alive.
    """

    def __init__(self, limit: int = 65536, max_bytes: int = 16 << 20):
        self._pool: dict[Process, ProcessContext] = {}
        self._limit = limit
        self._max_bytes = max_bytes
        self._bytes = 0  # estimated bytes of the keys held
        self._lock = threading.Lock()
        # The hit path for callers that look up a key many times (the pipeline, by raw bytes):
        # one C call instead of a method call; on None they call get/get_raw.
        self.known = self._pool.get

    def get(self, p: Process) -> ProcessContext:
        ctx = self._pool.get(p)
        if ctx is None:
            ctx = ProcessContext(p)
            with self._lock:
                self._bytes += STRUCT_KEY_BYTES
                if len(self._pool) >= self._limit or self._bytes > self._max_bytes:
                    self._pool.clear()
                    self._bytes = STRUCT_KEY_BYTES
                self._pool[p] = ctx
        return ctx

    def get_raw(self, raw) -> ProcessContext:
        """The context of a ``process`` object still as JSON (:class:`~osq_esf.decode.IngestMessage`).

        Keyed by the bytes (a copy: the Raw would keep the whole line alive).  eslogger's key
        order varies between records (endpoint-security.md §12.3), so one process can come
        as several byte strings: a miss decodes the struct and goes through :meth:`get`,
        so they all share one context.  Raises DecodeError for an invalid process.
        """
        key = bytes(raw)
        ctx = self._pool.get(key)
        if ctx is None:
            ctx = self.get(decode_process(key))
            with self._lock:
                self._bytes += len(key)
                if len(self._pool) >= self._limit or self._bytes > self._max_bytes:
                    self._pool.clear()
                    self._bytes = len(key)
                self._pool[key] = ctx
        return ctx

    def __len__(self) -> int:
        return len(self._pool)
