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
from osq_esf.schema import load_enums

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


# The code-signing flags and validation category by name (tables/_enums.toml).
cs_flag_names = load_enums()["cs_flags"].name_of
cs_validation_category_name = load_enums()["cs_validation_category"].name_of


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
            cs_validation_category_name(p.cs_validation_category),
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

    __slots__ = ("ctx", "lineage", "pid", "encoded", "narrow", "unpaid")

    def __init__(self, ctx: ProcessContext, lineage: tuple):
        self.ctx = ctx
        self.lineage = lineage  # values in osq_esf.layout.LINEAGE_COLUMNS order
        self.pid = ctx.pid
        self.encoded = None  # filled lazily by the row encoder
        self.narrow = None  # the encoder's blobs of some of the columns (a query's colsUsed), by column set
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
        order varies between records (an eslogger quirk seen in real captures), so one process can come
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
