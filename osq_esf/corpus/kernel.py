"""Kernel events beyond the everyday file and process ones of :mod:`.world`.

A mixin of :class:`~osq_esf.corpus.world.Mac`: process access (task ports, ptrace,
thread injection, suspend/resume, code-signing invalidation), file attributes and
ownership, lookups, links and copies, UNIX sockets, mounts, credentials, devices, time,
XPC connections.  Each
method emits one message shaped as eslogger writes it for the message version
(fields newer than the version are left out) and updates the world where the
operation changes it (a chown changes the file's stat, an invalidation the process's
code-signing flags).  Field names follow Apple's ESMessage.h; values are made up.
"""

from __future__ import annotations

import hashlib

from osq_esf.corpus.render import iso_ns

# Constants a caller passes (ESTypes.h, sys/mount.h, sys/socket.h, mach/arm/thread_status.h).
GET_TASK_FOR_PID, GET_TASK_EXPOSE, GET_TASK_IDENTITY_TOKEN = 0, 1, 2  # es_get_task_type_t
SUSPEND, RESUME, SHUTDOWN_SOCKETS = 0, 1, 3  # es_proc_suspend_resume_type_t
PROC_CHECK_LISTPIDS, PROC_CHECK_PIDINFO = 0x1, 0x2  # es_proc_check_type_t
ARM_THREAD_STATE64 = 6
AF_UNIX, SOCK_STREAM, SOCK_DGRAM = 1, 1, 2
UF_HIDDEN, UF_IMMUTABLE, SF_RESTRICTED = 0x8000, 0x2, 0x80000
MNT_RDONLY, MNT_NOSUID, MNT_NODEV, MNT_QUARANTINE = 0x1, 0x8, 0x10, 0x400
MNT_LOCAL, MNT_DOVOLFS, MNT_DONTBROWSE, MNT_IGNORE_OWNERSHIP, MNT_JOURNALED = (
    0x1000, 0x8000, 0x100000, 0x200000, 0x800000)
# es_mount_disposition_t
DISPOSITION_EXTERNAL, DISPOSITION_INTERNAL, DISPOSITION_NETWORK, DISPOSITION_VIRTUAL = 0, 1, 2, 3
ES_SET, ES_CLEAR = 0, 1  # es_set_or_clear_t
# A few filesystem type numbers (f_type); made up but stable per type name.
FS_TYPES = {"apfs": 26, "hfs": 17, "devfs": 19, "msdos": 28, "smbfs": 29, "nullfs": 34}
F_GETPATH, F_SETFL, F_NOCACHE = 50, 4, 48  # fcntl commands
ATTR_CMN_NAME, ATTR_CMN_OBJTYPE, ATTR_CMN_MODTIME, ATTR_CMN_FNDRINFO = 0x1, 0x8, 0x400, 0x4000


class Volume:
    """A mounted file system, rendered as eslogger's ``statfs`` object."""

    __slots__ = ("on", "source", "fstype", "flags", "owner", "blocks", "free", "files", "fsid")

    def __init__(self, on: str, source: str, fstype: str, flags: int, owner: int = 0, blocks: int = 0,
                 free: int = 0, files: int = 0):
        self.on, self.source, self.fstype, self.flags, self.owner = on, source, fstype, flags, owner
        self.blocks, self.free, self.files = blocks, free, files
        h = hashlib.sha1(f"osq-esf:{source}".encode()).digest()  # stable made-up fsid
        self.fsid = [int.from_bytes(h[:4], "little", signed=True), FS_TYPES.get(fstype, 30)]

    def statfs(self) -> dict:
        return {
            "f_bsize": 4096, "f_iosize": 1048576, "f_blocks": self.blocks, "f_bfree": self.free,
            "f_bavail": self.free, "f_files": self.files, "f_ffree": max(0, self.free * 8 - self.files),
            "f_fsid": self.fsid, "f_owner": self.owner, "f_type": FS_TYPES.get(self.fstype, 30),
            "f_flags": self.flags, "f_fssubtype": 0, "f_fstypename": self.fstype, "f_mntonname": self.on,
            "f_mntfromname": self.source, "f_flags_ext": 0,
        }


def _attrlist(commonattr: int, fileattr: int = 0, dirattr: int = 0, volattr: int = 0) -> dict:
    return {"bitmapcount": 5, "reserved": 0, "commonattr": commonattr, "volattr": volattr, "dirattr": dirattr,
            "fileattr": fileattr, "forkattr": 0}


class KernelEvents:
    """The kernel's other NOTIFY events (mixed into Mac: uses emit/notify, file, render_*)."""

    # -- process access -------------------------------------------------------------------

    def get_task(self, proc, target, *, kind: str = "get_task", type: int = GET_TASK_FOR_PID) -> None:
        """task_for_pid and its weaker siblings: ``kind`` get_task, get_task_read, get_task_inspect
        or get_task_name; ``type`` (message version 5+) says how the port was obtained."""
        def build(v: int, form: str) -> dict:
            d = {"target": self.render_proc(target, v, form)}
            if v >= 5:
                d["type"] = type
            return d

        self.notify(kind, proc, build)

    def trace(self, proc, target, *, thread: int | None = None) -> None:
        """ptrace attach (``thread`` NO_THREAD when the target called PT_TRACE_ME)."""
        self.notify("trace", proc, lambda v, form: {"target": self.render_proc(target, v, form)}, thread)

    def remote_thread_create(self, proc, target, *, running: bool = True) -> None:
        """thread_create_running (a thread state) or thread_create (none) in another task."""
        state = {"flavor": ARM_THREAD_STATE64, "state": None} if running else None
        self.notify("remote_thread_create", proc,
                    lambda v, form: {"target": self.render_proc(target, v, form), "thread_state": state})

    def proc_suspend_resume(self, proc, target, type: int) -> None:
        self.notify("proc_suspend_resume", proc,
                    lambda v, form: {"target": self.proc_or_null(target, v, form), "type": type})

    def proc_check(self, proc, target, type: int = PROC_CHECK_PIDINFO, flavor: int = 3) -> None:
        self.notify("proc_check", proc,
                    lambda v, form: {"target": self.proc_or_null(target, v, form), "type": type, "flavor": flavor})

    def cs_invalidated(self, proc, *, thread: int | None = None) -> None:
        """CS_VALID is cleared: an invalid page was paged in (the process's later messages show it);
        ``thread`` NO_THREAD when another process's csops(CS_OPS_MARKINVALID) did it."""
        self.notify("cs_invalidated", proc, lambda v, form: {}, thread)
        proc.cs_invalid = True
        proc.dirty()

    # -- file attributes and ownership ------------------------------------------------------

    def _target_event(self, kind: str, proc, path: str, extra: dict | None = None, key: str = "target") -> None:
        f = self.file(path)
        self.notify(kind, proc, lambda v, form: {key: self.render_file(f), **(extra or {})})

    def setextattr(self, proc, path: str, name: str) -> None:
        self._target_event("setextattr", proc, path, {"extattr": name})

    def deleteextattr(self, proc, path: str, name: str) -> None:
        self._target_event("deleteextattr", proc, path, {"extattr": name})

    def getextattr(self, proc, path: str, name: str) -> None:
        self._target_event("getextattr", proc, path, {"extattr": name})

    def listextattr(self, proc, path: str) -> None:
        self._target_event("listextattr", proc, path)

    def setowner(self, proc, path: str, uid: int, gid: int) -> None:
        f = self.file(path)
        f.uid, f.gid, f.ctime = uid, gid, self.now
        f.changed()
        self.notify("setowner", proc, lambda v, form: {"uid": uid, "gid": gid, "target": self.render_file(f)})

    def setflags(self, proc, path: str, flags: int) -> None:
        f = self.file(path)
        f.flags, f.ctime = flags, self.now
        f.changed()
        self.notify("setflags", proc, lambda v, form: {"flags": flags, "target": self.render_file(f)})

    def utimes(self, proc, path: str, atime_ns: int, mtime_ns: int) -> None:
        """utimes(2): eslogger writes the requested times like the stat times."""
        f = self.file(path)
        target = self.render_file(f)  # the file as it was: the event comes before the change
        f.atime, f.mtime, f.ctime = atime_ns, mtime_ns, self.now
        f.changed()
        self.notify("utimes", proc, lambda v, form: {"target": target, "atime": iso_ns(atime_ns),
                                                    "mtime": iso_ns(mtime_ns)})

    def setacl(self, proc, path: str, acl: str | None) -> None:
        """Set (an ACL's text) or clear (None) a file's ACL."""
        self._target_event("setacl", proc, path, {"set_or_clear": ES_SET if acl else ES_CLEAR, "acl": acl})

    def setattrlist(self, proc, path: str) -> None:
        self._target_event("setattrlist", proc, path, {"attrlist": _attrlist(ATTR_CMN_MODTIME | ATTR_CMN_FNDRINFO)})

    def getattrlist(self, proc, path: str) -> None:
        self._target_event("getattrlist", proc, path, {"attrlist": _attrlist(ATTR_CMN_NAME | ATTR_CMN_OBJTYPE)})

    def searchfs(self, proc, volume_root: str) -> None:
        self._target_event("searchfs", proc, volume_root, {"attrlist": _attrlist(ATTR_CMN_NAME)})

    # -- lookups that only name a file ---------------------------------------------------------

    def file_access(self, proc, kind: str, path: str) -> None:
        """stat, chdir, chroot, readdir, fsgetpath, dup, truncate: a target file and nothing else."""
        self._target_event(kind, proc, path)

    def access(self, proc, path: str, mode: int = 4) -> None:
        self._target_event("access", proc, path, {"mode": mode})

    def fcntl(self, proc, path: str, cmd: int = F_GETPATH) -> None:
        self._target_event("fcntl", proc, path, {"cmd": cmd})

    def readlink(self, proc, path: str) -> None:
        self._target_event("readlink", proc, path, key="source")

    def lookup(self, proc, directory: str, relative: str) -> None:
        d = self.dir(directory)
        self.notify("lookup", proc, lambda v, form: {"source_dir": self.render_file(d), "relative_target": relative})

    # -- links and copies ---------------------------------------------------------------------

    def link(self, proc, source: str, target: str) -> None:
        src = self.file(source)
        parent, _, name = target.rpartition("/")
        d = self.dir(parent or "/")
        src.nlink += 1
        src.changed()
        self.notify("link", proc, lambda v, form: {"source": self.render_file(src), "target_dir": self.render_file(d),
                                                   "target_filename": name})

    def clone(self, proc, source: str, target: str) -> None:
        src = self.file(source)
        parent, _, name = target.rpartition("/")
        d = self.dir(parent or "/")
        self.notify("clone", proc, lambda v, form: {"source": self.render_file(src), "target_dir": self.render_file(d),
                                                    "target_name": name})
        self.file(target, mode=src.mode, uid=proc.euid, gid=proc.egid, size=src.size, age_ns=0)

    def copyfile(self, proc, source: str, target: str, mode: int = 0, flags: int = 0) -> None:
        src = self.file(source)
        existing = self.files.get(target)
        parent, _, name = target.rpartition("/")
        d = self.dir(parent or "/")
        self.notify("copyfile", proc, lambda v, form: {
            "source": self.render_file(src), "target_file": self.render_file(existing) if existing else None,
            "target_dir": self.render_file(d), "target_name": name, "mode": mode, "flags": flags})
        self.file(target, mode=src.mode, uid=proc.euid, gid=proc.egid, size=src.size, age_ns=0)

    def exchangedata(self, proc, path1: str, path2: str) -> None:
        f1, f2 = self.file(path1), self.file(path2)
        self.notify("exchangedata", proc, lambda v, form: {"file1": self.render_file(f1), "file2": self.render_file(f2)})

    # -- UNIX-domain sockets ----------------------------------------------------------------------

    def uipc_bind(self, proc, path: str, mode: int = 0o777) -> None:
        """bind(2) of a UNIX socket to ``path``; the socket file exists afterwards."""
        parent, _, name = path.rpartition("/")
        d = self.dir(parent or "/")
        self.notify("uipc_bind", proc, lambda v, form: {"dir": self.render_file(d), "filename": name, "mode": mode})
        self.file(path, mode=0o140000 | mode, uid=proc.euid, gid=proc.egid, size=0, age_ns=0)

    def uipc_connect(self, proc, path: str, type: int = SOCK_STREAM) -> None:
        f = self.file(path, mode=0o140777, size=0)
        self.notify("uipc_connect", proc, lambda v, form: {"file": self.render_file(f), "domain": AF_UNIX,
                                                           "type": type, "protocol": 0})

    # -- mounts ---------------------------------------------------------------------------------------

    def mount(self, proc, volume: Volume, disposition: int = DISPOSITION_VIRTUAL) -> None:
        self.dir(volume.on)

        def build(v: int, form: str) -> dict:
            d = {"statfs": volume.statfs()}
            if v >= 8:
                d["disposition"] = disposition
            return d

        self.notify("mount", proc, build)

    def unmount(self, proc, volume: Volume) -> None:
        self.notify("unmount", proc, lambda v, form: {"statfs": volume.statfs()})

    def remount(self, proc, volume: Volume, remount_flags: int, disposition: int = DISPOSITION_INTERNAL) -> None:
        def build(v: int, form: str) -> dict:
            d = {"statfs": volume.statfs()}
            if v >= 8:
                d["remount_flags"] = remount_flags
                d["disposition"] = disposition
            return d

        self.notify("remount", proc, build)

    # -- credentials, devices, time -------------------------------------------------------------------

    def set_credentials(self, proc, kind: str, **ids: int) -> None:
        """setuid(uid=), setgid(gid=), seteuid(euid=), setegid(egid=), setreuid(ruid=, euid=),
        setregid(rgid=, egid=); the process's credentials change accordingly."""
        self.notify(kind, proc, lambda v, form: dict(ids))
        for key, attr in (("uid", ("euid", "ruid")), ("euid", ("euid",)), ("ruid", ("ruid",)),
                          ("gid", ("egid", "rgid")), ("egid", ("egid",)), ("rgid", ("rgid",))):
            if key in ids:
                for a in attr:
                    setattr(proc, a, ids[key])
        proc.dirty()

    def pty(self, proc, kind: str, dev: int) -> None:
        """pty_grant or pty_close of a pseudo-terminal (``dev``: its major/minor numbers)."""
        self.notify(kind, proc, lambda v, form: {"dev": dev})

    def kext(self, proc, kind: str, identifier: str) -> None:
        """kextload or kextunload."""
        self.notify(kind, proc, lambda v, form: {"identifier": identifier})

    def settime(self, proc) -> None:
        self.notify("settime", proc, lambda v, form: {})

    def xpc_connect(self, proc, service: str, domain_type: int) -> None:
        """A connection to a named XPC service (``domain_type``: es_xpc_domain_type_t, 1 system, 8 gui...)."""
        self.notify("xpc_connect", proc, lambda v, form: {"service_name": service, "service_domain_type": domain_type})
