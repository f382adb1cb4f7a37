"""The ``types`` scenario: every one of the 104 NOTIFY event types, again and again.

Each type has one example here (:data:`EXAMPLES`), a plausible thing that makes a Mac
send it: alice's shell and tools, a root helper, apps, and the daemons that report the
user-space events.  A cycle runs them all in type-number order; cycles repeat until the
requested number of messages, varying what varies (authentication's four kinds, both
create and rename destinations, suspend then resume, ...).  A type the message version
cannot carry (btm_* before v6, tcc_modify before v9) is left out, as that macOS would.
The bench mix draws its rarer types from the same examples (:func:`other_event`).
"""

from __future__ import annotations

from typing import Callable, Iterator

from osq_esf.corpus import kernel as k
from osq_esf.corpus import userspace as u
from osq_esf.corpus.scenarios import ALICE, GUI_ASID, HOME, SAFARI, hex_id, uuid_of
from osq_esf.corpus.world import FREAD, FWRITE, GID_STAFF, NO_THREAD, O_CREAT, SHORT, TMPDIR, Mac, Proc

WORK = f"{HOME}/Documents/work"
TMP = f"/private{TMPDIR}"
SSH_FROM = "192.0.2.10"  # TEST-NET-1 (RFC 5737): a documentation address


class Cast:
    """The processes and files the examples act with, made when the scenario starts."""

    def __init__(self, mac: Mac):
        self.mac = mac
        self.rng = mac.rng
        img = mac.image
        self.zsh = mac.running(img("/bin/zsh", "com.apple.zsh"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID, threads=1)
        self.zsh.tty = mac.file("/dev/ttys002", mode=0o20620, uid=ALICE, gid=4, size=0)
        self.zsh.cwd = mac.dir(WORK)
        self.app = mac.running(img(SAFARI, "com.apple.Safari"), uid=ALICE, gid=GID_STAFF, asid=GUI_ASID,
                               label="application.com.apple.Safari.0.0")
        self.helper = mac.running(img("/Library/PrivilegedHelperTools/com.example.invalid.helper",
                                      "com.example.invalid.helper", "EXAMPLE9QX", "devid"), threads=2)
        self.runningboardd = mac.running(img("/usr/libexec/runningboardd", "com.apple.runningboardd"))
        self.children: list[Proc] = []
        self.cycle = 0
        self.serial = 0

    def next(self) -> int:
        self.serial += 1
        return self.serial

    def work_file(self, ext: str = "txt") -> str:
        return f"{WORK}/note-{self.next()}.{ext}"


def _spawn(c: Cast, path: str, signing_id: str, args: list[str], setuid: int | None = None) -> Proc:
    """A command alice's shell runs (it exits with the next ``exit`` example)."""
    child = c.mac.fork(c.zsh, new_group=True)
    c.children.append(child)
    return c.mac.exec(child, c.mac.image(path, signing_id), args, c.zsh.env, setuid=setuid)


def _exit_children(c: Cast) -> None:
    if not c.children:
        c.children.append(c.mac.fork(c.zsh, new_group=True))
    for child in c.children:
        c.mac.exit(child, 0)
    c.children.clear()


def _written(c: Cast, path: str) -> str:
    mac = c.mac
    mac.open(c.zsh, path, FWRITE | O_CREAT)
    mac.write(c.zsh, path, 2048)
    mac.close(c.zsh, path, modified=True)
    return path


def _create(c: Cast) -> None:
    c.mac.create(c.zsh, c.work_file(), 0o644, new_path=c.cycle % 2 == 1)


def _rename(c: Cast) -> None:
    src = _written(c, c.work_file("tmp"))
    dst = f"{WORK}/report.txt" if c.cycle % 2 else f"{WORK}/renamed-{c.next()}.txt"
    if c.cycle % 2:
        c.mac.file(dst)  # an atomic save: the destination exists
    c.mac.rename(c.zsh, src, dst)


def _volume(c: Cast) -> k.Volume:
    return k.Volume("/Volumes/Example Tool", "/dev/disk4s1", "apfs", k.MNT_RDONLY | k.MNT_NOSUID | k.MNT_NODEV
                    | k.MNT_QUARANTINE | k.MNT_LOCAL | k.MNT_IGNORE_OWNERSHIP, owner=ALICE, blocks=30_000,
                    free=1_200, files=41)


def _authentication(c: Cast) -> None:
    arm = list(u.AUTHENTICATION)[c.cycle % 4]
    fields = {
        "od": {"record_type": "Users", "record_name": "alice", "node_name": u.LOCAL_NODE, "db_path": u.LOCAL_DB},
        "touchid": {"touchid_mode": 0, "uid": ALICE},
        "token": {"pubkey_hash": hex_id(c.rng, 40), "token_id": "com.example.invalid.piv:" + hex_id(c.rng, 8),
                  "kerberos_principal": None},
        "auto_unlock": {"username": "alice", "type": u.AUTO_UNLOCK_MACHINE},
    }[arm]
    c.mac.authentication(arm, True, fields, instigator=c.mac.reporter("loginwindow"))


def _od(kind: str, fields: Callable[[Cast], dict]):
    return lambda c: c.mac.od(kind, c.helper, fields(c))


def _sshd(c: Cast) -> Proc:
    sshd = c.mac.jobs.get("com.openssh.sshd")
    if sshd is None or not sshd.alive:
        sshd = c.mac.launch_job("com.openssh.sshd", c.mac.image("/usr/sbin/sshd", "com.apple.sshd"), ["sshd", "-i"])
    return sshd


# One example per eslogger event name; a test checks every NOTIFY type has one.
EXAMPLES: dict[str, Callable[[Cast], None]] = {
    "exec": lambda c: _spawn(c, "/bin/ls", "com.apple.ls", ["ls", "-la"]),
    "open": lambda c: c.mac.open(c.zsh, f"{HOME}/.zshrc", FREAD),
    "fork": lambda c: c.children.append(c.mac.fork(c.zsh, new_group=True)),
    "close": lambda c: c.mac.close(c.zsh, f"{HOME}/.zshrc", mapped_writable=c.cycle % 3 == 2),
    "create": _create,
    "exchangedata": lambda c: c.mac.exchangedata(c.zsh, _written(c, c.work_file()), _written(c, c.work_file())),
    "exit": _exit_children,
    "get_task": lambda c: c.mac.get_task(c.helper, c.app, type=k.GET_TASK_FOR_PID),
    "kextload": lambda c: c.mac.kext(c.helper, "kextload", "com.example.invalid.driver"),
    "kextunload": lambda c: c.mac.kext(c.helper, "kextunload", "com.example.invalid.driver"),
    "link": lambda c: c.mac.link(c.zsh, _written(c, c.work_file()), c.work_file()),
    "mmap": lambda c: c.mac.mmap(c.app, "/usr/lib/libsqlite3.dylib", protection=5, max_protection=5, flags=0x12),
    "mprotect": lambda c: c.mac.mprotect(c.app, 0x3_0000_0000 + c.rng.getrandbits(20) * 0x4000, 0x4000, 5),
    "mount": lambda c: c.mac.mount(c.helper, _volume(c)),
    "unmount": lambda c: c.mac.unmount(c.helper, _volume(c)),
    "iokit_open": lambda c: c.mac.iokit_open(c.app, "IOSurfaceRootUserClient", 0, 0x1000_0311,
                                             "IOService:/IOResources/IOSurfaceRoot"),
    "rename": _rename,
    "setattrlist": lambda c: c.mac.setattrlist(c.zsh, _written(c, c.work_file())),
    "setextattr": lambda c: c.mac.setextattr(c.app, _written(c, c.work_file("zip")), "com.apple.quarantine"),
    "setflags": lambda c: c.mac.setflags(c.zsh, _written(c, c.work_file()), k.UF_HIDDEN),
    "setmode": lambda c: c.mac.setmode(c.zsh, _written(c, c.work_file("sh")), 0o755),
    "setowner": lambda c: c.mac.setowner(c.helper, _written(c, c.work_file()), 0, 0),
    "signal": lambda c: c.mac.signal(c.zsh, c.app, 30),
    "unlink": lambda c: c.mac.unlink(c.zsh, _written(c, c.work_file())),
    "write": lambda c: c.mac.write(c.zsh, f"{WORK}/journal.md", 512),
    "file_provider_materialize": lambda c: c.mac.file_provider_materialize(
        f"{HOME}/Library/Application Support/FileProvider/staged-{c.next()}",
        f"{HOME}/Library/CloudStorage/Example-Drive/plan-{c.serial}.pdf", instigator=c.app),
    "file_provider_update": lambda c: c.mac.file_provider_update(
        f"{HOME}/Library/Application Support/FileProvider/staged-{c.next()}",
        f"{HOME}/Library/CloudStorage/Example-Drive/plan-{c.serial}.pdf"),
    "readlink": lambda c: c.mac.readlink(c.zsh, "/private/etc/localtime"),
    "truncate": lambda c: c.mac.file_access(c.zsh, "truncate", _written(c, c.work_file("log"))),
    "lookup": lambda c: c.mac.lookup(c.zsh, WORK, "journal.md"),
    "chdir": lambda c: c.mac.file_access(c.zsh, "chdir", WORK),
    "getattrlist": lambda c: c.mac.getattrlist(c.app, f"{HOME}/Downloads"),
    "stat": lambda c: c.mac.file_access(c.zsh, "stat", f"{HOME}/.gitconfig"),
    "access": lambda c: c.mac.access(c.zsh, "/usr/bin/git", 1),
    "chroot": lambda c: c.mac.file_access(c.helper, "chroot", "/private/var/empty"),
    "utimes": lambda c: c.mac.utimes(c.zsh, _written(c, c.work_file()), c.mac.now - 86_400 * 10**9,
                                     c.mac.now - 86_400 * 10**9),
    "clone": lambda c: c.mac.clone(c.zsh, f"{WORK}/journal.md", c.work_file("md")),
    "fcntl": lambda c: c.mac.fcntl(c.app, f"{HOME}/Library/Safari/History.db", k.F_NOCACHE),
    "getextattr": lambda c: c.mac.getextattr(c.app, f"{HOME}/Downloads", "com.apple.metadata:kMDItemWhereFroms"),
    "listextattr": lambda c: c.mac.listextattr(c.zsh, f"{HOME}/Downloads"),
    "readdir": lambda c: c.mac.file_access(c.zsh, "readdir", WORK),
    "deleteextattr": lambda c: c.mac.deleteextattr(c.zsh, _written(c, c.work_file("zip")), "com.apple.quarantine"),
    "fsgetpath": lambda c: c.mac.file_access(c.app, "fsgetpath", f"{HOME}/Library/Safari/History.db"),
    "dup": lambda c: c.mac.file_access(c.zsh, "dup", "/dev/ttys002"),
    "settime": lambda c: c.mac.settime(c.helper),
    "uipc_bind": lambda c: c.mac.uipc_bind(c.helper, f"/private/var/run/example-{c.next()}.sock", 0o666),
    "uipc_connect": lambda c: c.mac.uipc_connect(c.zsh, f"{HOME}/.colima/default/docker.sock"),
    "setacl": lambda c: c.mac.setacl(c.zsh, _written(c, c.work_file()),
                                     "!#acl 1\nuser:ABCDEFAB-CDEF-ABCD-EFAB-CDEF000001F5:alice:501:allow:read\n"
                                     if c.cycle % 2 == 0 else None),
    "pty_grant": lambda c: c.mac.pty(c.zsh, "pty_grant", 0x10000003),
    "pty_close": lambda c: c.mac.pty(c.zsh, "pty_close", 0x10000003),
    "proc_check": lambda c: c.mac.proc_check(c.zsh, c.app, k.PROC_CHECK_PIDINFO, 3),
    "searchfs": lambda c: c.mac.searchfs(c.app, "/System/Volumes/Data"),
    "proc_suspend_resume": lambda c: c.mac.proc_suspend_resume(c.runningboardd, c.app,
                                                               k.RESUME if c.cycle % 2 else k.SUSPEND),
    "cs_invalidated": lambda c: c.mac.cs_invalidated(c.helper, thread=NO_THREAD if c.cycle % 2 else None),
    "get_task_name": lambda c: c.mac.get_task(c.zsh, c.app, kind="get_task_name"),
    "trace": lambda c: c.mac.trace(c.helper, c.app),
    "remote_thread_create": lambda c: c.mac.remote_thread_create(c.helper, c.app, running=c.cycle % 2 == 0),
    "remount": lambda c: c.mac.remount(c.helper, k.Volume("/", "/dev/disk3s1s1", "apfs", k.MNT_RDONLY | k.MNT_LOCAL
                                                          | k.MNT_JOURNALED | k.MNT_DOVOLFS, blocks=60_000_000,
                                                          free=21_000_000, files=900_000), remount_flags=0x10000),
    "get_task_read": lambda c: c.mac.get_task(c.helper, c.app, kind="get_task_read"),
    "get_task_inspect": lambda c: c.mac.get_task(c.helper, c.app, kind="get_task_inspect"),
    "setuid": lambda c: c.mac.set_credentials(c.helper, "setuid", uid=0),
    "setgid": lambda c: c.mac.set_credentials(c.helper, "setgid", gid=0),
    "seteuid": lambda c: c.mac.set_credentials(c.helper, "seteuid", euid=0),
    "setegid": lambda c: c.mac.set_credentials(c.helper, "setegid", egid=0),
    "setreuid": lambda c: c.mac.set_credentials(c.helper, "setreuid", ruid=0, euid=0),
    "setregid": lambda c: c.mac.set_credentials(c.helper, "setregid", rgid=0, egid=0),
    "copyfile": lambda c: c.mac.copyfile(c.zsh, f"{WORK}/journal.md", f"{WORK}/journal-copy.md"),
    "authentication": _authentication,
    "xp_malware_detected": lambda c: c.mac.xp_malware_detected(
        "MACOS.EXAMPLE.A", uuid_of(c.rng), f"{HOME}/Downloads/Example.app",
        f"{HOME}/Downloads/Example.app/Contents/MacOS/Example", "5301"),
    "xp_malware_remediated": lambda c: c.mac.xp_malware_remediated(
        "MACOS.EXAMPLE.A", uuid_of(c.rng), action="path_delete", success=True, description="deleted",
        path=f"{HOME}/Downloads/Example.app", signature_version="5301"),
    "lw_session_login": lambda c: c.mac.lw_session("login", "alice", 257),
    "lw_session_logout": lambda c: c.mac.lw_session("logout", "alice", 257),
    "lw_session_lock": lambda c: c.mac.lw_session("lock", "alice", 257),
    "lw_session_unlock": lambda c: c.mac.lw_session("unlock", "alice", 257),
    "screensharing_attach": lambda c: c.mac.screensharing("attach", 257, address=SSH_FROM, auth_username="ituser",
                                                          session_username="alice"),
    "screensharing_detach": lambda c: c.mac.screensharing("detach", 257, address=SSH_FROM),
    "openssh_login": lambda c: c.mac.openssh("login", _sshd(c), SSH_FROM, "ituser", 502),
    "openssh_logout": lambda c: c.mac.openssh("logout", _sshd(c), SSH_FROM, "ituser", 502),
    "login_login": lambda c: c.mac.login("login", _spawn(c, "/usr/bin/login", "com.apple.login",
                                                         ["login", "-pf", "alice"], setuid=0), "alice", ALICE),
    "login_logout": lambda c: c.mac.login("logout", c.children[-1] if c.children else c.zsh, "alice", ALICE),
    "btm_launch_item_add": lambda c: c.mac.btm_launch_item(
        "add", f"file://{HOME}/Library/LaunchAgents/com.example.invalid.agent.plist",
        executable_path="/Applications/Example.app/Contents/MacOS/agent", instigator=c.zsh),
    "btm_launch_item_remove": lambda c: c.mac.btm_launch_item(
        "remove", f"file://{HOME}/Library/LaunchAgents/com.example.invalid.agent.plist"),
    "profile_add": lambda c: c.mac.profile("add", "com.example.invalid.wifi", uuid_of(c.rng), display_name="Wi-Fi",
                                           organization="Example Org", instigator=c.helper),
    "profile_remove": lambda c: c.mac.profile("remove", "com.example.invalid.wifi", uuid_of(c.rng),
                                              display_name="Wi-Fi", organization="Example Org", instigator=c.helper),
    "su": lambda c: c.mac.su(_spawn(c, "/usr/bin/su", "com.apple.su", ["su", "-", "alice"], setuid=0), True, from_uid=0, from_username="root", to_uid=ALICE, to_username="alice",
                             shell="/bin/zsh", argv=("-zsh",), env=("HOME=/Users/alice", "USER=alice")),
    "authorization_petition": lambda c: c.mac.authorization("petition", c.app, rights=("system.privilege.admin",),
                                                            flags=3),
    "authorization_judgement": lambda c: c.mac.authorization(
        "judgement", c.app, results=(("system.privilege.admin", u.RULE_USER, True),)),
    "sudo": lambda c: c.mac.sudo(_spawn(c, "/usr/bin/sudo", "com.apple.sudo", ["sudo", "launchctl", "list"],
                                        setuid=0), True, command="/bin/launchctl list", from_uid=ALICE,
                                 from_username="alice"),
    "od_group_add": _od("group_add", lambda c: {"group_name": "staff", "member": {
        "member_type": u.OD_MEMBER_USER_NAME, "member_value": "alice"}}),
    "od_group_remove": _od("group_remove", lambda c: {"group_name": "staff", "member": {
        "member_type": u.OD_MEMBER_USER_NAME, "member_value": "alice"}}),
    "od_group_set": _od("group_set", lambda c: {"group_name": "example-devs", "members": {
        "member_type": u.OD_MEMBER_USER_NAME, "member_count": 2, "member_array": ["alice", "ituser"]}}),
    "od_modify_password": _od("modify_password", lambda c: {"account_type": u.OD_ACCOUNT_USER,
                                                            "account_name": "alice"}),
    "od_disable_user": _od("disable_user", lambda c: {"user_name": "Guest"}),
    "od_enable_user": _od("enable_user", lambda c: {"user_name": "Guest"}),
    "od_attribute_value_add": _od("attribute_value_add", lambda c: {
        "record_type": u.OD_RECORD_USER, "record_name": "alice", "attribute_name": "Comment",
        "attribute_value": "example-devs"}),
    "od_attribute_value_remove": _od("attribute_value_remove", lambda c: {
        "record_type": u.OD_RECORD_USER, "record_name": "alice", "attribute_name": "Comment",
        "attribute_value": "example-devs"}),
    "od_attribute_set": _od("attribute_set", lambda c: {
        "record_type": u.OD_RECORD_USER, "record_name": "alice", "attribute_name": "UserShell",
        "attribute_value_count": 1, "attribute_values": ["/bin/zsh"]}),
    "od_create_user": _od("create_user", lambda c: {"user_name": f"test{c.next()}"}),
    "od_create_group": _od("create_group", lambda c: {"group_name": f"group{c.next()}"}),
    "od_delete_user": _od("delete_user", lambda c: {"user_name": f"test{c.serial}"}),
    "od_delete_group": _od("delete_group", lambda c: {"group_name": f"group{c.serial}"}),
    "xpc_connect": lambda c: c.mac.xpc_connect(c.app, "com.apple.tccd", u.XPC_DOMAIN_SYSTEM),
    "gatekeeper_user_override": lambda c: c.mac.gatekeeper_user_override(
        _written(c, f"{HOME}/Downloads/Example-{c.next()}.pkg"), sha256=hex_id(c.rng, 64),
        signing=c.helper.image if c.cycle % 2 else None, as_file=c.cycle % 3 != 2),
    "tcc_modify": lambda c: c.mac.tcc_modify("kTCCServiceAccessibility", "com.example.invalid.helper",
                                             instigator=c.app, responsible=c.app),
}


def types(mac: Mac, events: int) -> Iterator[None]:
    """Cycles of every NOTIFY type in number order until ``events`` messages."""
    mac.next_pid, mac.next_pidversion = 612, 4_100
    cast = Cast(mac)
    order = [SHORT[n] for n in sorted(SHORT)]
    while True:
        for short in order:
            EXAMPLES[short](cast)
        yield
        cast.cycle += 1
        if mac.emitted >= events:
            return


def other_event(cast: Cast, short: str) -> None:
    """One example of ``short`` (for a mix that needs the rarer types now and then); a command
    it ran (sudo, su, login) exits right after."""
    cast.cycle += 1
    EXAMPLES[short](cast)
    if cast.children:
        _exit_children(cast)
