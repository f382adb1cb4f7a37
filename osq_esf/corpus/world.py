"""A small simulated Mac: files, code-signed images, a process table, and the ES
messages its activity produces, rendered the moment they happen.

Semantics follow Apple's `ESMessage.h` (`es_process_t`, the fork/exec/exit events) and Mac Monitor's
real-parent rules: fork gives a new pid with the
same image; exec keeps the pid and takes a new pidversion (``process`` is the caller
before exec, ``target`` the new image); pidversion is one counter for the whole
machine, bumped by fork and exec; exit reports ``stat`` in wait(2) format and the
children of an exited process are adopted by launchd (``ppid`` 1, ``original_ppid``
unchanged).  Every number, hash and name is made up.
"""

from __future__ import annotations

import hashlib
import math
import random
from typing import Callable

from osq_esf import events
from osq_esf.corpus.kernel import KernelEvents
from osq_esf.corpus.render import Style, Variants, iso_ns, iso_us, token_json
from osq_esf.corpus.userspace import UserspaceEvents

# -- constants --------------------------------------------------------------------------

# Every NOTIFY event type (es_event_type_t) and eslogger's name for it.
SHORT = {t.number: t.short for t in events.BY_NUMBER.values() if t.action == "NOTIFY"}
NUMBER = {v: k for k, v in SHORT.items()}
EXEC, OPEN, FORK, CLOSE, CREATE, EXIT = (NUMBER[n] for n in ("exec", "open", "fork", "close", "create", "exit"))
MMAP, MPROTECT, IOKIT_OPEN, RENAME, SETMODE, SIGNAL, UNLINK, WRITE = (
    NUMBER[n] for n in ("mmap", "mprotect", "iokit_open", "rename", "setmode", "signal", "unlink", "write"))
NO_THREAD = -1  # emit(thread=NO_THREAD): the message's thread is null (ES: "when not applicable")

# Kernel file flags as ES reports them in open.fflag (FFLAGS: O_RDONLY -> FREAD, ...).
FREAD, FWRITE, FNONBLOCK, FAPPEND = 0x1, 0x2, 0x4, 0x8
O_CREAT, O_TRUNC, O_EXCL, O_CLOEXEC = 0x200, 0x400, 0x800, 0x1000000

# Code-signing flags (cs_blobs.h).
CS_VALID, CS_ADHOC, CS_HARD, CS_KILL = 0x1, 0x2, 0x100, 0x200
CS_RESTRICT, CS_ENFORCEMENT, CS_ENTITLEMENTS_VALIDATED = 0x800, 0x1000, 0x4000
CS_RUNTIME, CS_LINKER_SIGNED = 0x10000, 0x20000
CS_DYLD_PLATFORM, CS_PLATFORM_BINARY, CS_SIGNED = 0x2000000, 0x4000000, 0x20000000
SIGNING = {
    # kind: (codesigning_flags, is_platform_binary, cs_validation_category)
    "platform": (CS_SIGNED | CS_PLATFORM_BINARY | CS_DYLD_PLATFORM | CS_RUNTIME | CS_ENTITLEMENTS_VALIDATED
                 | CS_ENFORCEMENT | CS_RESTRICT | CS_KILL | CS_HARD | CS_VALID, True, 1),
    "devid": (CS_SIGNED | CS_DYLD_PLATFORM | CS_RUNTIME | CS_KILL | CS_HARD | CS_VALID, False, 6),
    "appstore": (CS_SIGNED | CS_DYLD_PLATFORM | CS_RUNTIME | CS_KILL | CS_HARD | CS_VALID, False, 4),
    # Linker-signed ad hoc: what a freshly compiled, never-signed binary carries on Apple
    # silicon.  Category LOCAL_SIGNING (7) is our reading of the enum, not observed.
    "adhoc": (CS_SIGNED | CS_DYLD_PLATFORM | CS_LINKER_SIGNED | CS_ADHOC | CS_VALID, False, 7),
}
CPU_TYPE_ARM64 = 0x0100000C
CPU_SUBTYPE_ARM64E = -2147483646  # 0x80000002 (arm64e, ptrauth ABI) as eslogger's signed int
CPU_SUBTYPE_ARM64_ALL = 0

PROX_FDTYPE_VNODE, PROX_FDTYPE_SOCKET, PROX_FDTYPE_PIPE = 1, 2, 6
AU_DEFAUDITID = 4294967295
UID_ROOT, GID_WHEEL, GID_STAFF, GID_TTY = 0, 0, 20, 4

# Made-up st_dev numbers for the volumes.
DEV_SYSTEM, DEV_DATA, DEV_PREBOOT, DEV_DEVFS = 16777232, 16777234, 16777229, 402653184
SYSTEM_PREFIXES = ("/System/", "/usr/", "/bin/", "/sbin/")
OS_BUILD_NS = 1_788_000_000 * 1_000_000_000  # 2026-08-29: when the system volume was sealed

LAUNCHD_PATH = "/sbin/launchd"
XPCPROXY_PATH = "/usr/libexec/xpcproxy"
MACH_TICKS_PER_NS = (3, 125)  # 24 MHz timebase on Apple silicon

# Msg: one ES message, rendered except for its envelope (which carries per-client numbers).
# (event_type, time_ns, mach_time, thread_id | None, version, process bytes, event bytes)
Msg = tuple


class FileNode:
    """A file or directory: path and stat, rendered as eslogger's file object."""

    __slots__ = ("path", "ino", "dev", "mode", "uid", "gid", "size", "flags", "nlink", "rdev",
                 "birth", "mtime", "ctime", "atime", "renders", "grown", "gen")

    def __init__(self, path: str, ino: int, mode: int, uid: int, gid: int, size: int, t_ns: int,
                 flags: int = 0, rdev: int = 0, nlink: int = 1):
        self.path = path
        self.ino = ino
        self.dev = _dev_of(path)
        self.mode, self.uid, self.gid, self.size = mode, uid, gid, size
        self.flags, self.rdev, self.nlink = flags, rdev, nlink
        self.birth = self.mtime = self.ctime = self.atime = t_ns
        self.renders: list[bytes] = []
        self.grown = 0  # bytes written but not yet in the stat (Mac(live_stat=False))
        self.gen = 0  # bumped by every change: renderings that embed this file know they are stale

    def stat(self) -> dict:
        return {
            "st_dev": self.dev, "st_ino": self.ino, "st_mode": self.mode, "st_nlink": self.nlink,
            "st_uid": self.uid, "st_gid": self.gid, "st_rdev": self.rdev,
            "st_atimespec": iso_ns(self.atime), "st_mtimespec": iso_ns(self.mtime),
            "st_ctimespec": iso_ns(self.ctime), "st_birthtimespec": iso_ns(self.birth),
            "st_size": self.size, "st_blocks": (self.size + 4095) // 4096 * 8, "st_blksize": 4096,
            "st_flags": self.flags, "st_gen": 0,
        }

    def obj(self) -> dict:
        return {"path": self.path, "path_truncated": False, "stat": self.stat()}

    def changed(self) -> None:
        """The stat changed: render again (every cached rendering must show the same stat)."""
        if self.grown:
            self.size += self.grown
            self.grown = 0
        self.gen += 1
        self.renders.clear()


def _dev_of(path: str) -> int:
    if path.startswith("/System/Volumes/Preboot/"):
        return DEV_PREBOOT
    if path.startswith("/dev/"):
        return DEV_DEVFS
    if path.startswith(SYSTEM_PREFIXES) and not path.startswith(("/usr/local/", "/System/Volumes/Data/")):
        return DEV_SYSTEM
    return DEV_DATA


class Image:
    """An executable on disk and its code signature."""

    __slots__ = ("file", "signing_id", "team_id", "cdhash", "cs_flags", "platform", "category",
                 "cpusubtype", "entitlements")

    def __init__(self, file: FileNode, signing_id: str, team_id: str | None, kind: str,
                 entitlements: dict | None = None):
        self.file = file
        self.signing_id = signing_id
        self.team_id = team_id
        self.cs_flags, self.platform, self.category = SIGNING[kind]
        self.cpusubtype = CPU_SUBTYPE_ARM64E if self.platform else CPU_SUBTYPE_ARM64_ALL
        # A made-up but stable cdhash: the same binary has the same hash in every corpus.
        self.cdhash = hashlib.sha1(f"osq-esf:{file.path}:{signing_id}".encode()).hexdigest().upper()
        self.entitlements = entitlements if entitlements is not None else (
            {"platform-application": True} if self.platform else {})

    @property
    def path(self) -> str:
        return self.file.path


class Proc:
    """One live process; ``renders`` caches its JSON per (version, token form)."""

    __slots__ = ("pid", "pidversion", "ppid", "original_ppid", "pgid", "sid", "auid", "euid", "egid",
                 "ruid", "rgid", "asid", "image", "tty", "start_ns", "parent", "resp_token", "is_es_client",
                 "cwd", "env", "threads", "children", "alive", "renders", "label", "execs", "cs_invalid",
                 "exe_gen")

    def __init__(self, pid: int, pidversion: int, image: Image, start_ns: int, parent: "Proc | None"):
        self.pid, self.pidversion, self.image, self.start_ns, self.parent = pid, pidversion, image, start_ns, parent
        self.ppid = self.original_ppid = parent.pid if parent else 0
        self.pgid = self.sid = pid
        self.auid, self.asid = AU_DEFAUDITID, 100000
        self.euid = self.ruid = UID_ROOT
        self.egid = self.rgid = GID_WHEEL
        self.tty: FileNode | None = None
        self.resp_token: tuple | None = None  # None: responsible for itself
        self.is_es_client = False
        self.cwd: FileNode | None = None
        self.env: tuple = ()
        self.threads: list[int] = []
        self.children: set[Proc] = set()
        self.alive = True
        self.renders: dict[tuple, list[bytes]] = {}
        self.label: str | None = None  # launchd job label, for scenario bookkeeping
        self.execs = 0
        self.cs_invalid = False  # CS_VALID cleared (cs_invalidated) since its exec
        self.exe_gen = 0  # the executable's FileNode.gen when ``renders`` were made

    def token(self) -> tuple:
        """(auid, euid, egid, ruid, rgid, pid, asid, pidversion): eslogger's array order."""
        return (self.auid, self.euid, self.egid, self.ruid, self.rgid, self.pid, self.asid, self.pidversion)

    def user(self, uid: int, gid: int) -> None:
        self.euid = self.ruid = uid
        self.egid = self.rgid = gid
        self.dirty()

    def dirty(self) -> None:
        self.renders.clear()

    def __repr__(self) -> str:
        return f"<Proc {self.pid}/{self.pidversion} {self.image.path}>"


KERNEL_TOKEN = (AU_DEFAUDITID, 0, 0, 0, 0, 0, 0, 0)


# -- the machine ----------------------------------------------------------------------------


class Mac(KernelEvents, UserspaceEvents):
    """The simulated machine.  Operations emit messages into ``out`` in time order.

    The everyday process and file operations are here; the other kernel events come from
    :class:`~osq_esf.corpus.kernel.KernelEvents`, the events system daemons report from
    :class:`~osq_esf.corpus.userspace.UserspaceEvents`.  A message of a type newer than every
    allowed message version is not emitted: that macOS could not have sent it.
    """

    def __init__(self, seed: int, *, versions: tuple[int, ...], token_forms: tuple[str, ...],
                 shuffle: bool, escape: bool, t0_ns: int, uptime_ns: int, rate: float,
                 live_stat: bool = True):
        self.rng = random.Random(f"world:{seed}")  # what happens
        self.pick = random.Random(f"pick:{seed}")  # which version/token form a message gets
        self.style = Style(random.Random(f"render:{seed}"), shuffle, escape)
        self.variants = Variants(4 if shuffle else 1)
        self.versions = versions
        self.token_forms = token_forms
        self.now = t0_ns
        self.boot = t0_ns - uptime_ns
        self.mean_step = 1e9 / rate
        self.live_stat = live_stat  # False: file stats change on close only (cheaper)
        self.out: list[Msg] = []
        self.emitted = 0
        self.procs: dict[int, Proc] = {}
        self.files: dict[str, FileNode] = {}
        self.images: dict[str, Image] = {}
        self.next_pid = 2
        self.next_pidversion = 2
        self.next_tid = 200_000
        self.next_ino = 1_000_000
        self._env_cache: dict[tuple, bytes] = {}
        self._versions_of: dict[int, tuple[int, ...]] = {}  # event type -> the versions that can carry it
        self.jobs: dict[str, Proc] = {}  # launchd job label -> its process (the latest started)
        self.expected: list = []  # what the detection pack must report (osq_esf.corpus.detections.Expected)
        launchd_img = self.image(LAUNCHD_PATH, "com.apple.xpc.launchd")
        self.launchd = Proc(1, 1, launchd_img, self.boot, None)
        self.launchd.threads = [self.tid() for _ in range(4)]
        self.launchd.cwd = self.dir("/")
        self.procs[1] = self.launchd

    # -- clock and ids --------------------------------------------------------------------

    def step(self) -> None:
        """Advance the clock by one inter-event gap (exponential, mean 1/rate)."""
        self.now += 1 + int(-math.log(1.0 - self.rng.random()) * self.mean_step)

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)

    def tid(self) -> int:
        self.next_tid += self.rng.randint(1, 40)
        return self.next_tid

    def alloc_pid(self) -> int:
        while True:
            pid = self.next_pid
            self.next_pid = pid + 1 if pid < 99_998 else 100
            if pid not in self.procs:
                return pid

    def alloc_pidversion(self) -> int:
        self.next_pidversion += 1
        return self.next_pidversion

    # -- files and images -------------------------------------------------------------------

    def file(self, path: str, *, mode: int | None = None, uid: int | None = None, gid: int | None = None,
             size: int | None = None, age_ns: int | None = None) -> FileNode:
        """The file at ``path``, made up on first use with owner and mode by location."""
        f = self.files.get(path)
        if f is None:
            user = path.startswith(("/Users/", "/private/var/folders/", "/opt/homebrew/"))
            system = _dev_of(path) in (DEV_SYSTEM, DEV_PREBOOT)
            if mode is None:
                mode = 0o100755 if system and "/bin/" in path else 0o100644
            self.next_ino += self.rng.randint(1, 500)
            if size is None:
                size = int(self.rng.lognormvariate(9, 2)) % 50_000_000
            if uid is None:
                uid = 501 if user else UID_ROOT
            f = FileNode(path, self.next_ino, mode, uid, (GID_STAFF if user else GID_WHEEL) if gid is None else gid, size,
                         OS_BUILD_NS if system else self.now - (age_ns if age_ns is not None else
                                                               int(self.rng.random() * 8e14)),
                         flags=0x80020 if system else 0)  # SF_RESTRICTED | UF_COMPRESSED
            self.files[path] = f
        return f

    def dir(self, path: str) -> FileNode:
        d = self.files.get(path)
        if d is None:
            d = self.file(path, mode=0o40755, size=self.rng.choice((64, 96, 128, 192, 256, 448, 1024)))
            d.nlink = d.size // 32
        return d

    def image(self, path: str, signing_id: str, team_id: str | None = None, kind: str = "platform",
              entitlements: dict | None = None) -> Image:
        img = self.images.get(path)
        if img is None:
            f = self.file(path, mode=0o100755, size=self.rng.randint(60_000, 9_000_000))
            img = self.images[path] = Image(f, signing_id, team_id, kind, entitlements)
        return img

    # -- rendering ----------------------------------------------------------------------------

    def render_file(self, f: FileNode) -> bytes:
        return self.variants.pick(f.renders, f.obj, self.style)

    def render_proc(self, p: Proc, version: int, form: str) -> bytes:
        if p.exe_gen != p.image.file.gen:  # its executable's stat changed (chmod, chown...)
            p.renders.clear()
            p.exe_gen = p.image.file.gen
        key = (version, form)
        cache = p.renders.get(key)
        if cache is None:
            cache = p.renders[key] = []
        return self.variants.pick(cache, lambda: self.proc_obj(p, version, form), self.style)

    def proc_obj(self, p: Proc, version: int, form: str) -> dict:
        img = p.image
        d = {
            "audit_token": token_json(p.token(), form),
            "ppid": p.ppid,
            "original_ppid": p.original_ppid,
            "group_id": p.pgid,
            "session_id": p.sid,
            "codesigning_flags": img.cs_flags & ~CS_VALID if p.cs_invalid else img.cs_flags,
            "is_platform_binary": img.platform,
            "is_es_client": p.is_es_client,
            "cdhash": img.cdhash,
            "signing_id": img.signing_id,
            "team_id": img.team_id,
            "executable": self.render_file(img.file),
        }
        if version >= 2:
            d["tty"] = self.render_file(p.tty) if p.tty is not None else None
        if version >= 3:
            d["start_time"] = iso_us(p.start_ns)
        if version >= 4:
            d["responsible_audit_token"] = token_json(p.resp_token or p.token(), form)
            d["parent_audit_token"] = token_json(p.parent.token() if p.parent else KERNEL_TOKEN, form)
        if version >= 10:
            d["cs_validation_category"] = img.category
        return d

    def render_strings(self, items: tuple) -> bytes:
        """An args/env array; environments repeat across execs, so they are cached."""
        b = self._env_cache.get(items)
        if b is None:
            if len(self._env_cache) > 4096:
                self._env_cache.clear()
            b = self._env_cache[items] = self.style.encode(list(items))
        return b

    # -- emission -------------------------------------------------------------------------------

    def emit(self, event_type: int, proc: Proc, build: Callable[[int, str], dict],
             thread: int | None = None) -> bool:
        """Render one message now (False: no allowed message version can carry its type).
        ``process`` is rendered before ``build`` runs, so an exec's ``build`` may turn the
        caller into the new image before rendering ``target``."""
        versions = self._versions_of.get(event_type)
        if versions is None:
            first = events.first_message_version(SHORT.get(event_type, "")) or 1
            versions = self._versions_of[event_type] = tuple(v for v in self.versions if v >= first)
        if not versions:
            return False
        forms, pick = self.token_forms, self.pick
        v = versions[0] if len(versions) == 1 else pick.choice(versions)
        form = forms[0] if len(forms) == 1 else pick.choice(forms)
        pb = self.render_proc(proc, v, form)
        event = self.style.wrap(SHORT.get(event_type, "future_thing"), build(v, form))
        if thread == NO_THREAD or v < 4:
            thread = None
        elif thread is None:
            ts = proc.threads
            thread = ts[0] if len(ts) == 1 else ts[int(self.rng.random() * len(ts))] if ts else None
        mach = (self.now - self.boot) * MACH_TICKS_PER_NS[0] // MACH_TICKS_PER_NS[1]
        self.out.append((event_type, self.now, mach, thread, v, pb, event))
        self.emitted += 1
        self.step()
        return True

    def notify(self, short: str, proc: Proc, build: Callable[[int, str], dict], thread: int | None = None) -> bool:
        """:meth:`emit` by eslogger's name of the event type."""
        return self.emit(NUMBER[short], proc, build, thread)

    def proc_or_null(self, p: "Proc | None", v: int, form: str):
        """A process an event names: rendered while it lives, null once it has exited (or when None)."""
        return self.render_proc(p, v, form) if p is not None and p.alive else None

    # -- processes -------------------------------------------------------------------------------

    def fork(self, parent: Proc, *, self_responsible: bool = False, responsible: Proc | None = None,
             new_session: bool = False, new_group: bool = False, pgid: int | None = None) -> Proc:
        """fork(2)/posix_spawn's first half: a new pid running the parent's image."""
        child = Proc(self.alloc_pid(), self.alloc_pidversion(), parent.image, self.now, parent)
        child.pgid, child.sid = parent.pgid, parent.sid
        child.auid, child.asid = parent.auid, parent.asid
        child.euid, child.ruid, child.egid, child.rgid = parent.euid, parent.ruid, parent.egid, parent.rgid
        child.tty, child.cwd, child.env = parent.tty, parent.cwd, parent.env
        child.threads = [self.tid()]
        if self_responsible:
            child.resp_token = None
        elif responsible is not None:
            child.resp_token = responsible.token()
        else:  # responsibility is inherited
            child.resp_token = parent.resp_token or parent.token()
        if new_session:
            child.pgid = child.sid = child.pid
        elif new_group:  # a shell puts each job in its own process group
            child.pgid = child.pid
        elif pgid is not None:
            child.pgid = pgid
        parent.children.add(child)
        self.procs[child.pid] = child
        self.emit(FORK, parent, lambda v, f: {"child": self.render_proc(child, v, f)})
        return child

    def exec(self, proc: Proc, image: Image, args: list[str], env: tuple | list | None = None, *,
             cwd: FileNode | None = None, fds: list[tuple] | None = None, script: FileNode | None = None,
             dyld_exec_path: str | None = None, setuid: int | None = None) -> Proc:
        """execve/posix_spawn: same pid, new pidversion and image; returns the same Proc."""
        env = tuple(env) if env is not None else proc.env
        if fds is None:
            fds = [(0, PROX_FDTYPE_VNODE, None), (1, PROX_FDTYPE_VNODE, None), (2, PROX_FDTYPE_VNODE, None)]
        cwd = cwd or proc.cwd or self.dir("/")
        args_b = self.render_strings(tuple(args))
        env_b = self.render_strings(env)

        def build(v: int, form: str) -> dict:
            proc.pidversion = self.alloc_pidversion()
            proc.image, proc.env, proc.cwd = image, env, cwd
            proc.execs += 1
            if setuid is not None:
                proc.euid = setuid
            proc.dirty()
            for c in proc.children:  # their parent_audit_token names the new pidversion
                c.dirty()
            d = {"target": self.render_proc(proc, v, form), "args": args_b, "env": env_b}
            if v >= 2:
                d["script"] = self.render_file(script) if script is not None else None
            if v >= 3:
                d["cwd"] = self.render_file(cwd)
            if v >= 4:
                d["fds"] = [{"fd": n, "fdtype": t} if pipe is None else {"fd": n, "fdtype": t, "pipe": {"pipe_id": pipe}}
                            for n, t, pipe in fds]
                d["last_fd"] = max((n for n, _, _ in fds), default=0)
            if v >= 6:
                d["image_cputype"] = CPU_TYPE_ARM64
                d["image_cpusubtype"] = image.cpusubtype
            if v >= 7:
                d["dyld_exec_path"] = dyld_exec_path or image.path
            if v >= 11:
                d["entitlements"] = image.entitlements
            return d

        self.emit(EXEC, proc, build)
        return proc

    def exit(self, proc: Proc, code: int = 0, *, signal: int = 0) -> None:
        """exit(2) or death by ``signal``; children are adopted by launchd."""
        stat = signal & 0x7F if signal else (code & 0xFF) << 8  # wait(2) status
        self.emit(EXIT, proc, lambda v, f: {"stat": stat})
        proc.alive = False
        self.procs.pop(proc.pid, None)
        if proc.parent is not None:
            proc.parent.children.discard(proc)
        for c in proc.children:
            c.ppid, c.parent = 1, self.launchd  # original_ppid stays: the adoption is visible
            c.dirty()
            self.launchd.children.add(c)
        proc.children = set()

    def spawn(self, parent: Proc, image: Image, args: list[str], env=None, **kw) -> Proc:
        """posix_spawn: fork then exec (ES reports both)."""
        fork_kw = {k: kw.pop(k) for k in ("self_responsible", "responsible", "new_session", "new_group", "pgid")
                   if k in kw}
        child = self.fork(parent, **fork_kw)
        return self.exec(child, image, args, env, **kw)

    def running(self, image: Image, *, uid: int = UID_ROOT, gid: int = GID_WHEEL, asid: int | None = None,
                threads: int = 4, label: str | None = None) -> Proc:
        """A process launchd started before the recording began (no fork or exec is seen)."""
        p = Proc(self.alloc_pid(), self.alloc_pidversion(), image,
                 self.now - int(self.rng.uniform(60, 18_000) * 1e9), self.launchd)
        p.pgid = p.sid = p.pid
        if uid:
            p.user(uid, gid)
        if asid is not None:
            p.auid, p.asid = uid, asid
        p.threads = [self.tid() for _ in range(threads)]
        p.cwd = self.dir("/")
        p.label = label
        if label:
            self.jobs[label] = p
        self.launchd.children.add(p)
        self.procs[p.pid] = p
        return p

    def launch_job(self, label: str, image: Image, args: list[str] | None = None, *, uid: int = 0,
                   gid: int = GID_WHEEL, env: list[str] | None = None, responsible: Proc | None = None,
                   asid: int | None = None) -> Proc:
        """launchd -> xpcproxy -> job, the way launchd starts every daemon, agent, XPC service and app."""
        child = self.fork(self.launchd, self_responsible=responsible is None, responsible=responsible,
                          new_session=True)
        if asid is not None:
            child.asid = asid
            child.auid = uid if uid else AU_DEFAUDITID
            child.dirty()  # renders made for the fork must not be reused
        child.cwd = self.dir("/")
        xpcproxy = self.image(XPCPROXY_PATH, "com.apple.xpc.proxy")
        self.exec(child, xpcproxy, ["xpcproxy", label], [])
        child.user(uid, gid)  # xpcproxy drops to the job's user before the final exec
        job_env = [f"XPC_SERVICE_NAME={label}", "PATH=/usr/bin:/bin:/usr/sbin:/sbin", "XPC_FLAGS=0x0"]
        if uid:
            name, home = USERS.get(uid, (f"_uid{uid}", "/var/empty"))
            job_env[1:1] = [f"HOME={home}", f"USER={name}", f"LOGNAME={name}"]
            if home.startswith("/Users/"):
                job_env[4:4] = [f"TMPDIR={TMPDIR}/", "SHELL=/bin/zsh",
                                "SSH_AUTH_SOCK=/private/tmp/com.apple.launchd.Yx3Ae7Rm2K/Listeners"]
        job_env += env or []
        child.label = label
        self.jobs[label] = child
        return self.exec(child, image, args or [image.path], job_env)

    # -- file events ------------------------------------------------------------------------------

    def _touch_write(self, f: FileNode, nbytes: int, live: bool) -> None:
        if live:
            f.size += nbytes
            f.mtime = f.ctime = self.now
            f.changed()
        else:  # the stat shows it at the next change (a modified close)
            f.grown += nbytes

    def _new_file_of(self, proc: Proc, path: str, **kw) -> FileNode:
        """A file ``proc`` brings into existence: owned by its effective user."""
        if path not in self.files:
            kw.setdefault("uid", proc.euid)
            kw.setdefault("gid", proc.egid)
            kw.setdefault("age_ns", 0)
            kw.setdefault("size", 0)
        return self.file(path, **kw)

    def open(self, proc: Proc, path: str, fflag: int = FREAD, **kw) -> FileNode:
        f = self._new_file_of(proc, path, **kw) if fflag & O_CREAT else self.file(path, **kw)
        if fflag & O_TRUNC and (f.size or f.grown):
            f.size = f.grown = 0
            f.changed()
        self.emit(OPEN, proc, lambda v, form: {"fflag": fflag, "file": self.render_file(f)})
        return f

    def write(self, proc: Proc, path: str, nbytes: int = 4096) -> None:
        f = self.file(path)
        self._touch_write(f, nbytes, self.live_stat)
        self.emit(WRITE, proc, lambda v, form: {"target": self.render_file(f)})

    def close(self, proc: Proc, path: str, modified: bool = False, mapped_writable: bool = False) -> None:
        f = self.file(path)
        if modified and not self.live_stat:
            f.mtime = f.ctime = self.now
            f.changed()

        def build(v: int, form: str) -> dict:
            d = {"modified": modified, "target": self.render_file(f)}
            if v >= 6:
                d["was_mapped_writable"] = mapped_writable
            return d

        self.emit(CLOSE, proc, build)

    def create(self, proc: Proc, path: str, mode: int = 0o644, *, new_path: bool = False) -> FileNode:
        """NOTIFY_CREATE; normally the existing-file arm (the file exists when it is reported)."""
        parent, _, name = path.rpartition("/")
        d = self.dir(parent or "/")
        f = self._new_file_of(proc, path, mode=0o100000 | mode)
        f.birth = f.mtime = f.ctime = f.atime = self.now
        f.changed()

        def build(v: int, form: str) -> dict:
            if new_path:
                body = {"destination_type": 1,
                        "destination": {"new_path": {"dir": self.render_file(d), "filename": name, "mode": mode}}}
            else:
                body = {"destination_type": 0, "destination": {"existing_file": self.render_file(f)}}
            if v >= 2:
                body["acl"] = None
            return body

        self.emit(CREATE, proc, build)
        return f

    def rename(self, proc: Proc, src: str, dst: str) -> None:
        f = self.file(src)
        existing = self.files.get(dst)
        parent, _, name = dst.rpartition("/")
        d = self.dir(parent or "/")
        source = self.render_file(f)

        def build(v: int, form: str) -> dict:
            if existing is not None:
                return {"source": source, "destination_type": 0,
                        "destination": {"existing_file": self.render_file(existing)}}
            return {"source": source, "destination_type": 1,
                    "destination": {"new_path": {"dir": self.render_file(d), "filename": name}}}

        self.emit(RENAME, proc, build)
        del self.files[src]
        f.path, f.ctime = dst, self.now
        f.changed()
        self.files[dst] = f

    def unlink(self, proc: Proc, path: str) -> None:
        f = self.file(path)
        d = self.dir(path.rpartition("/")[0] or "/")
        self.emit(UNLINK, proc, lambda v, form: {"target": self.render_file(f), "parent_dir": self.render_file(d)})
        self.files.pop(path, None)

    def setmode(self, proc: Proc, path: str, mode: int) -> None:
        f = self.file(path)
        f.mode = (f.mode & ~0o7777) | mode
        f.ctime = self.now
        f.changed()
        self.emit(SETMODE, proc, lambda v, form: {"mode": mode, "target": self.render_file(f)})

    def mmap(self, proc: Proc, path: str, protection: int = 5, max_protection: int = 5, flags: int = 0x12,
             file_pos: int = 0) -> None:
        f = self.file(path)
        self.emit(MMAP, proc, lambda v, form: {"protection": protection, "max_protection": max_protection,
                                               "flags": flags, "file_pos": file_pos, "source": self.render_file(f)})

    def mprotect(self, proc: Proc, address: int, size: int, protection: int) -> None:
        self.emit(MPROTECT, proc, lambda v, form: {"protection": protection, "address": address, "size": size})

    def iokit_open(self, proc: Proc, user_client_class: str, user_client_type: int = 0,
                   parent_registry_id: int = 0, parent_path: str = "") -> None:
        def build(v: int, form: str) -> dict:
            d = {"user_client_type": user_client_type, "user_client_class": user_client_class}
            if v >= 10:
                d["parent_registry_id"] = parent_registry_id
                d["parent_path"] = parent_path
            return d

        self.emit(IOKIT_OPEN, proc, build)

    def signal(self, sender: Proc, target: Proc, sig: int, instigator: Proc | None = None) -> None:
        """kill(2) of another process (ES reports no signal a process sends itself)."""
        def build(v: int, form: str) -> dict:
            d = {"sig": sig, "target": self.render_proc(target, v, form)}
            if v >= 9:
                d["instigator"] = self.render_proc(instigator, v, form) if instigator is not None else None
            return d

        self.emit(SIGNAL, sender, build)

    def future_message(self, proc: Proc, event_type: int, path: str) -> Msg:
        """A message of a type newer than any schema (e.g. 200), for decoders' unknown-type path."""
        f = self.file(path)
        self.emit(event_type, proc, lambda v, form: {"target": self.render_file(f), "flags": 0})
        self.emitted -= 1  # not part of the scenario's count
        return self.out.pop()


USERS = {501: ("alice", "/Users/alice"), 88: ("_windowserver", "/var/empty")}
TMPDIR = "/var/folders/7k/f3qz1vxn0bq6l2r9ws8c4h5m0000gn/T"
