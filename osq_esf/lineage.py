"""Process lineage: a (pid, pidversion) process table and the real parent of every row.

On macOS the Unix parent of most processes is launchd, so ``ppid`` rarely answers "who
started this?".  This stage keeps a bounded table of processes fed by fork/exec/exit and
by the acting process of every message (with its parent and responsible tokens), and
resolves for each row a *real parent*: ``rppid``, ``rp_pidversion``, ``rp_path``,
``rp_reason`` and, for launchd jobs, ``launchd_job``.  The order of the rules and why
is in docs/lineage.md (from Apple's `es_process_t` notes and Mac Monitor's
LaunchedByParent).

Hot path: for an event that is not fork/exec/exit, :meth:`Lineage.observe` is one dict
lookup keyed by the interned ProcessContext.  A cached answer is dropped only when
something it depended on and did not have yet arrives (the parent's record, the exec
that names a launchd job), so out-of-order arrival across clients heals for later rows.
"""

from __future__ import annotations

from collections import OrderedDict

import msgspec

from osq_esf.decode import decode_process, parse_time
from osq_esf.layout import LINEAGE_COLUMNS, LINEAGE_NULLS
from osq_esf.process import Actor, ProcessContext, token_fields
from osq_esf.rules.redact import safe_text

LAUNCHD_PATH = "/sbin/launchd"
XPCPROXY_PATH = "/usr/libexec/xpcproxy"
_XPC_SERVICE = "XPC_SERVICE_NAME="

# rp_reason values: which rule named the real parent.
UNIX_PARENT = "unix_parent"
RESPONSIBLE = "responsible_process"
LAUNCHD_JOB = "launchd_job"
ADOPTED = "adopted"
UNKNOWN = "unknown"

PROCESS_EVENTS = frozenset(("fork", "exec", "exit"))
MAX_ANCESTRY = 64

# The answer's values follow this order (an Actor's lineage).
assert LINEAGE_COLUMNS == ("rppid", "rp_pidversion", "rp_path", "rp_reason", "launchd_job", "parent_path",
                           "responsible_path")


def xpc_service_label(env: list[str]) -> str | None:
    """The launchd job label xpcproxy put in the environment; ``0`` or empty means none."""
    for item in env:
        if item.startswith(_XPC_SERVICE):
            label = item[len(_XPC_SERVICE):]
            return label if label and label != "0" else None
    return None


class ProcessRecord:
    """One execution (pid, pidversion): the latest context seen plus what fork/exec/exit told."""

    __slots__ = ("pid", "pidversion", "ctx", "created_by", "first_seen", "state", "end_time", "exit_code",
                 "caller_path", "launchd_job", "origin_known", "forked_by")

    def __init__(self, ctx: ProcessContext, created_by: str, now: int):
        self.pid, self.pidversion = ctx.pid, ctx.pidversion
        self.ctx = ctx
        self.created_by = created_by  # fork, exec, or seen (first met as an event's process)
        self.origin_known = created_by != "seen"
        self.first_seen = now
        self.state = "running"  # running, exited, or replaced (exec'd into a newer pidversion)
        self.end_time = None
        self.exit_code = None
        self.caller_path = None  # exec: the image that called exec (xpcproxy for launchd jobs)
        self.launchd_job = None  # set only when xpcproxy exec'd this image
        self.forked_by = None  # (pid, pidversion) of the forking process, when the fork was seen


class Lineage:
    """The pipeline's ``lineage`` stage: process table + real-parent resolver.

    ``exited_seconds``/``exited_max`` bound how long and how many exited (or exec-replaced)
    processes stay, measured in event time so a replay behaves like a live run;
    ``max_processes`` bounds the whole table (a missed exit cannot grow it forever).
    Not thread-safe by itself: the pipeline calls it under its lock, and es_processes
    reads it under the same lock.
    """

    def __init__(self, exited_seconds: int = 600, exited_max: int = 10_000, max_processes: int = 50_000,
                 cache_max: int = 8192, pool=None):
        self.exited_seconds = exited_seconds
        self.exited_max = exited_max
        self.max_processes = max_processes
        self.cache_max = cache_max
        # The pipeline's ProcessPool, so a fork's child or an exec's caller is interned once for
        # the table and for the rows it later acts in.
        self._context = pool.get if pool is not None else ProcessContext
        self._context_raw = pool.get_raw if pool is not None else (
            lambda raw: ProcessContext(decode_process(bytes(raw))))
        self.records: dict[tuple[int, int], ProcessRecord] = {}
        self._pidversions: dict[int, list[int]] = {}  # pid -> pidversions in the table
        self._ended: OrderedDict[tuple[int, int], int] = OrderedDict()  # in end order -> end time
        self._cache: dict[ProcessContext, Actor] = {}
        # What a cached answer lacked: (pid, pidversion), or (pid, None) for "any image of pid".
        # A set per key: a context re-resolved for another reason must not be listed twice.
        self._waiting: dict[tuple, set[ProcessContext]] = {}
        # The hit path of observe() for an event that is not fork/exec/exit, for the pipeline
        # to call without a method call per event (the dict is cleared, never replaced).
        self.cached = self._cache.get
        self.now = 0  # latest event time seen by a fork/exec/exit or a cache miss (UNIX seconds)
        self.evicted = 0  # records forgotten (retention, bounds)
        self.errors = 0  # events whose lineage failed (their rows get NULL lineage columns)
        self.last_error: str | None = None

    @classmethod
    def from_config(cls, cfg, pool=None) -> "Lineage | None":
        """The stage for a ``[lineage]`` section (config.LineageConfig); None when disabled."""
        if cfg is None:
            return cls(pool=pool)
        if not cfg.enabled:
            return None
        return cls(cfg.exited_seconds, cfg.exited_max, cfg.max_processes, pool=pool)

    # -- the per-event entry point ------------------------------------------------------

    def observe(self, short: str, msg, ctx: ProcessContext) -> Actor:
        """The Actor of a row whose process is ``ctx``: the context with its real-parent columns."""
        try:  # free in 3.11 unless raised; a lineage bug must not cost the event its row
            process_event = short in PROCESS_EVENTS
            if process_event:
                self._process_event(short, msg, ctx)
            hit = self._cache.get(ctx)
            if hit is None:
                if not process_event:
                    self._tick(msg)  # so a process first met here gets its first_seen
                hit = self._resolve(ctx)
            return hit
        except Exception as e:
            self.errors += 1
            self.last_error = safe_text(f"{type(e).__name__}: {e}")  # it may quote event data
            return Actor.bare(ctx, LINEAGE_NULLS)

    def _tick(self, msg) -> int:
        sec = parse_time(msg.time)[0]
        if sec > self.now:
            self.now = sec
        return sec

    def _process_event(self, short: str, msg, ctx: ProcessContext) -> None:
        sec = self._tick(msg)
        if short == "fork":
            self._record(ctx, "seen")
            child = self._record_process(msg.event.fork.child, "fork")
            if child.forked_by is None:
                child.forked_by = (ctx.pid, ctx.pidversion)
                self._changed(child.pid, child.pidversion)
        elif short == "exec":
            # ctx is the new image; msg.process the image that called exec (same pid).
            caller = self._record_process(msg.process, "seen")
            rec = self._record(ctx, "exec")
            if caller is not rec:
                self._end(caller, sec, "replaced", None)
            if not rec.origin_known or rec.caller_path is None:
                rec.origin_known = True
                caller_ctx = caller.ctx
                rec.caller_path = caller_ctx.path
                rec.forked_by = rec.forked_by or caller.forked_by
                # Only xpcproxy (a platform binary) sets the label of the job it starts; a label
                # anywhere else was inherited (Mac Monitor testOnlyXPCProxyNamesAJob).
                if caller_ctx.path == XPCPROXY_PATH and caller_ctx.platform_binary:
                    rec.launchd_job = xpc_service_label(msg.event.exec.env)
                self._changed(rec.pid, rec.pidversion)
        else:  # exit
            self._end(self._record(ctx, "seen"), sec, "exited", msg.event.exit.stat)
        self._prune()

    # -- the table ----------------------------------------------------------------------

    def _record(self, ctx: ProcessContext, how: str) -> ProcessRecord:
        key = (ctx.pid, ctx.pidversion)
        rec = self.records.get(key)
        if rec is None:
            rec = self.records[key] = ProcessRecord(ctx, how, self.now)
            self._pidversions.setdefault(ctx.pid, []).append(ctx.pidversion)
            self._changed(ctx.pid, ctx.pidversion)
            if len(self.records) > self.max_processes:
                self._evict_live()
        else:
            rec.ctx = ctx  # the latest view (e.g. the ppid after re-parenting)
            if how != "seen" and rec.created_by == "seen":
                rec.created_by = how
        return rec

    def _record_process(self, p, how: str) -> ProcessRecord:
        """The record of a process that is not the row's context (fork child, exec caller):
        a decoded Process, or its JSON as the pipeline's messages carry the acting process."""
        if isinstance(p, msgspec.Raw):
            ctx = self._context_raw(p)
            key = (ctx.pid, ctx.pidversion)
        else:
            ctx = None
            t = token_fields(p.audit_token)
            key = (t[5], t[7])
        rec = self.records.get(key)
        if rec is None:
            return self._record(ctx if ctx is not None else self._context(p), how)
        if how == "fork" and rec.created_by == "seen":  # its own events came before its fork
            rec.created_by, rec.origin_known = how, True
        return rec

    def _end(self, rec: ProcessRecord, sec: int, state: str, code) -> None:
        if rec.state == "running":
            rec.state, rec.end_time, rec.exit_code = state, sec, code
            self._ended[(rec.pid, rec.pidversion)] = sec
        elif code is not None and rec.exit_code is None:
            rec.exit_code = code

    def _prune(self) -> None:
        """Forget the oldest ended processes beyond the count or older than the retention."""
        ended, limit = self._ended, self.now - self.exited_seconds
        while ended:
            key, t = next(iter(ended.items()))
            if len(ended) <= self.exited_max and t >= limit:
                break
            del ended[key]
            self._forget(key)

    def _forget(self, key: tuple[int, int]) -> None:
        if self.records.pop(key, None) is not None:
            self.evicted += 1
            pvs = self._pidversions.get(key[0])
            if pvs is not None:
                pvs.remove(key[1])
                if not pvs:
                    del self._pidversions[key[0]]

    def _evict_live(self) -> None:
        """Table full (missed exits): drop ended records, then the oldest tenth of the rest."""
        for key in list(self._ended):
            self._forget(key)
        self._ended.clear()
        excess = len(self.records) - self.max_processes
        if excess > 0:
            for key in list(self.records)[: max(excess, self.max_processes // 10)]:
                self._forget(key)
        # A cached answer would keep a forgotten process from being recorded again.
        self._cache.clear()
        self._waiting.clear()

    def _changed(self, pid: int, pidversion: int) -> None:
        """Drop cached answers that were waiting for this process."""
        waiting = self._waiting
        if not waiting:
            return
        for key in ((pid, pidversion), (pid, None)):
            ctxs = waiting.pop(key, None)
            if ctxs:
                for c in ctxs:
                    self._cache.pop(c, None)

    def find(self, pid: int, pidversion: int | None, before: int | None = None) -> ProcessRecord | None:
        """The record of (pid, pidversion); with pidversion None, the newest image of pid
        older than ``before`` (pidversions grow with every fork and exec)."""
        if pidversion is not None:
            return self.records.get((pid, pidversion))
        pvs = self._pidversions.get(pid)
        if not pvs:
            return None
        best = None
        for v in pvs:
            if (before is None or v < before) and (best is None or v > best):
                best = v
        return None if best is None else self.records[(pid, best)]

    # -- resolution ---------------------------------------------------------------------

    def _lookup(self, pid: int, pidversion: int | None, before: int | None, waits: list):
        """find(), noting in ``waits`` what a later arrival could change: a missing image,
        or any new image of pid for a lookup by pid alone."""
        rec = self.find(pid, pidversion, before)
        # launchd is named by its well-known path whether or not it was seen: nothing to wait for.
        if (rec is None or pidversion is None) and pid != 1:
            waits.append((pid, pidversion))
        return rec

    def _resolve(self, ctx: ProcessContext) -> Actor:
        rec = self.records.get((ctx.pid, ctx.pidversion))
        if rec is None:
            rec = self._record(ctx, "seen")
        else:
            rec.ctx = ctx
        waits: list = []
        pid, ppid, pv = ctx.pid, ctx.ppid, ctx.pidversion
        parent_pv = ctx.parent_pidversion
        parent = None
        if ppid > 0:
            parent = self._lookup(ppid, parent_pv, pv, waits)
            if parent is not None and parent_pv is None:
                parent_pv = parent.pidversion
        parent_path = parent.ctx.path if parent is not None else (LAUNCHD_PATH if ppid == 1 else None)
        job = None
        if ppid <= 0 or pid <= 1:
            # launchd, kernel_task, or a process reported without a parent.
            rppid = rp_pv = rp_path = None
            reason = UNKNOWN
        elif ppid != 1:
            # An ordinary child: its Unix parent (a label it carries was inherited).
            rppid, rp_pv, rp_path, reason = ppid, parent_pv, parent_path, UNIX_PARENT
        elif ctx.original_ppid > 1 and ctx.original_ppid != pid:
            # launchd adopted it (nohup, a daemonising double fork): the original parent, by pid.
            rppid, reason = ctx.original_ppid, ADOPTED
            fb = rec.forked_by
            adopter = self.records.get(fb) if fb is not None and fb[0] == rppid else None
            if adopter is None:
                adopter = self._lookup(rppid, None, pv, waits)
                waits.append((pid, pv))  # its fork may still come and name the exact image
            rp_pv = adopter.pidversion if adopter is not None else None
            rp_path = adopter.ctx.path if adopter is not None else None
        else:
            # A child of launchd: the responsible process (an XPC service's host app), else
            # the job xpcproxy started, else launchd itself.
            job = rec.launchd_job
            rpid = ctx.responsible_pid
            if rpid is not None and rpid > 1 and rpid != pid:
                rppid, rp_pv, reason = rpid, ctx.responsible_pidversion, RESPONSIBLE
                resp = self._lookup(rpid, rp_pv, None if rp_pv is not None else pv, waits)
                rp_path = resp.ctx.path if resp is not None else None
            else:
                rppid, rp_pv, rp_path = 1, parent_pv, parent_path
                reason = LAUNCHD_JOB if job is not None else UNIX_PARENT
            if not rec.origin_known:
                waits.append((pid, pv))  # its exec may still come and name a job
        responsible_path = None
        rpid = ctx.responsible_pid
        if rpid is not None and rpid > 0:
            if rpid == pid:
                responsible_path = ctx.path
            else:
                rpv = ctx.responsible_pidversion
                resp = self._lookup(rpid, rpv, None if rpv is not None else pv, waits)
                responsible_path = resp.ctx.path if resp is not None else (LAUNCHD_PATH if rpid == 1 else None)
        hit = Actor(ctx, (rppid, rp_pv, rp_path, reason, job, parent_path, responsible_path))
        cache = self._cache
        if len(cache) >= self.cache_max:
            cache.clear()
            self._waiting.clear()
        cache[ctx] = hit
        for key in waits:
            self._waiting.setdefault(key, set()).add(ctx)
        return hit

    def resolution(self, rec: ProcessRecord) -> tuple:
        """The real-parent answer for a record's latest context (cached like a row's), in
        LINEAGE_COLUMNS order."""
        hit = self._cache.get(rec.ctx)
        return (hit if hit is not None else self._resolve(rec.ctx)).lineage

    def ancestry(self, rec: ProcessRecord) -> list[dict]:
        """Real parents, nearest first, until launchd, an unknown process, a loop or 64 steps."""
        steps: list[dict] = []
        seen = {(rec.pid, rec.pidversion)}
        cur = rec
        while len(steps) < MAX_ANCESTRY:
            rppid, rp_pv, rp_path, reason, job = self.resolution(cur)[:5]
            if rppid is None:
                break
            steps.append({"pid": rppid, "pidversion": rp_pv, "path": rp_path, "reason": reason,
                          "launchd_job": job})
            nxt = self.find(rppid, rp_pv, None if rp_pv is not None else cur.pidversion)
            if nxt is None or (nxt.pid, nxt.pidversion) in seen:
                break
            seen.add((nxt.pid, nxt.pidversion))
            cur = nxt
        return steps


def ancestry_text(steps: list[dict]) -> str:
    """``/bin/sh <- /bin/zsh <- /sbin/launchd[com.example.agent]``: a launchd job's label in
    brackets; a process never seen as ``[pid N]``."""
    return " <- ".join(
        (s["path"] or f"[pid {s['pid']}]") + (f"[{s['launchd_job']}]" if s["reason"] == LAUNCHD_JOB else "")
        for s in steps
    )
